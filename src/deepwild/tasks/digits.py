"""The first task: classify scikit-learn's handwritten digits (8×8, upsampled) with a small CNN.

    deepwild train digits      → a run with records, checkpoints, curves and a model package
    deepwild eval RUN          → accuracy, per-class table and confusion matrix on the stored test split
    deepwild predict RUN img…  → class and probability for any PNG/JPEG
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepwild.core.config import config_from_dict, config_to_dict
from deepwild.core.errors import ConfigError, DeepwildError
from deepwild.core.images import DEFAULT_MAX_PIXELS, load_grayscale
from deepwild.core.io import read_json
from deepwild.core.package import ModelPackage
from deepwild.core.results import Classification, EvaluationResult
from deepwild.data.digits import (CLASS_NAMES, DigitsDataset, digit_from_grayscale, digits_dataset_id,
                                  load_digits_arrays, upsample)
from deepwild.data.splits import Split, stratified_split
from deepwild.engine.config import TrainConfig
from deepwild.engine.hooks import HookBase
from deepwild.engine.loop import TrainingProblem, seed_everything
from deepwild.engine.run import RunDir, resolve_model, runs_root
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.probe import Probe
from deepwild.models import build_model
from deepwild.tasks.classification import (ClassifierExport, TrainOutcome, classification_step, classification_validate,
                                           classifications, evaluate_classifier, fit_classifier, load_classifier,
                                           start_run, write_run_records)

TASK = "digits"


@dataclass(frozen=True)
class Config:
    image_size: int = 32
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 0
    max_shift: int = 2  # augmentation: random translation in pixels (at image_size); 0 = off
    model: str = "small_cnn"
    width: int = 32
    dropout: float = 0.1
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, batch_size=64, lr=3e-3,
                                                                   weight_decay=1e-4, warmup_steps=20))
    interpret: InterpretConfig = field(default_factory=InterpretConfig)

    def validate(self) -> None:
        if not 8 <= self.image_size <= 256:
            raise ConfigError(f"image_size must be between 8 and 256, got {self.image_size}")
        if not (0 < self.val_fraction < 0.5 and 0 < self.test_fraction < 0.5):
            raise ConfigError("val_fraction and test_fraction must each lie between 0 and 0.5")


def make_split(config: Config) -> Split:
    _, labels = load_digits_arrays()
    return stratified_split(labels, config.val_fraction, config.test_fraction, config.split_seed)


def split_tensors(config: Config, split: Split, part: str) -> tuple[torch.Tensor, np.ndarray]:
    images, labels = load_digits_arrays()
    indices = np.asarray(split.indices(part), dtype=np.int64)
    return upsample(images[indices], config.image_size), labels[indices]


def build_problem(config: Config, split: Split) -> TrainingProblem:
    train_images, train_labels = split_tensors(config, split, "train")
    val_images, val_labels = split_tensors(config, split, "val")
    model = build_model(config.model, in_channels=1, num_classes=len(CLASS_NAMES), width=config.width,
                        dropout=config.dropout)
    return TrainingProblem(
        model=model,
        train_set=DigitsDataset(train_images, train_labels, max_shift=config.max_shift),
        val_set=DigitsDataset(val_images, val_labels),
        step=classification_step,
        validate=classification_validate,
        monitor="val_accuracy",
        monitor_mode="max",
    )


def interpret_probe(config: Config, split: Split) -> Probe:
    """Validation digits for the interpretability hooks: one per class to explain, the rest as the pool."""
    images, labels = split_tensors(config, split, "val")
    first_of_class = [int(np.flatnonzero(labels == c)[0]) for c in range(len(CLASS_NAMES)) if (labels == c).any()]
    chosen = first_of_class[:config.interpret.attribution_inputs]
    pool = slice(0, config.interpret.infoplane_samples)
    return Probe(inputs=images[chosen], labels=torch.from_numpy(labels[chosen]), pool=images[pool],
                 pool_labels=torch.from_numpy(labels[pool]), class_names=tuple(CLASS_NAMES),
                 layers=("conv1", "conv2", "conv3"), kind="classifier")


def data_record(config: Config, split: Split) -> dict[str, Any]:
    return {"dataset": "sklearn-digits", "id": digits_dataset_id(), "image_size": config.image_size,
            "split_seed": config.split_seed, "counts": {k: len(v) for k, v in split.to_json().items()},
            "split": split.to_json()}


def export_model(run: RunDir, config: Config, split: Split) -> ClassifierExport:
    """At the end of training: the best checkpoint, scored on val and test, becomes `model/`."""
    package = ModelPackage(
        name=f"digits-{run.name}", task=TASK, architecture=config.model,
        model_args={"in_channels": 1, "num_classes": len(CLASS_NAMES), "width": config.width, "dropout": config.dropout},
        class_names=CLASS_NAMES,
        input={"kind": "digit", "image_size": config.image_size, "source_size": 8, "levels": 16, "ink": "bright"},
        config=config_to_dict(config), data={k: v for k, v in data_record(config, split).items() if k != "split"},
        provenance={"seed": config.train.seed, "split_seed": config.split_seed},
    )
    return ClassifierExport(run, package, {part: (lambda part=part: split_tensors(config, split, part))
                                           for part in ("val", "test")})


def train(config: Config, root: str | Path | None = None, name: str | None = None, resume: str | Path | None = None,
          extra_hooks: tuple[HookBase, ...] = (), track: str | None = None, tracking_uri: str | None = None) -> TrainOutcome:
    """Train a digits classifier in a new run (or continue `resume`); returns the run and its model."""
    run, dist = start_run(TASK, config.train, root, name, resume, track, tracking_uri)
    split = Split.from_json(read_json(run.path / "data.json")["split"]) if resume else make_split(config)
    write_run_records(run, dist, TASK, config, None if resume else data_record(config, split))
    seed_everything(config.train.seed)
    problem = build_problem(config, split)
    return fit_classifier(problem, TASK, config.train, config.interpret, interpret_probe(config, split), run, dist,
                          export_model(run, config, split), resume is not None, extra_hooks, track=track,
                          tracking_uri=tracking_uri)


def config_of_run(run: RunDir) -> Config:
    data = {k: v for k, v in run.read_config().items() if k != "task"}
    return config_from_dict(Config, data)


def classifier_inputs(package: ModelPackage, run: RunDir | None, split_name: str) -> tuple[torch.Tensor, np.ndarray]:
    """A split's images as the packaged model takes them, and their labels: the run's stored split, else
    the split its config makes (the same seed gives the same split)."""
    config = config_from_dict(Config, package.config)
    stored = run.path / "data.json" if run else None
    split = Split.from_json(read_json(stored)["split"]) if stored and stored.is_file() else make_split(config)
    if split_name not in ("train", "val", "test"):
        raise DeepwildError(f"unknown split {split_name!r}; valid: train, val, test")
    return split_tensors(config, split, split_name)


def evaluate(ref: str | Path, split_name: str = "test", root: str | Path | None = None) -> EvaluationResult:
    """Accuracy, macro F1, per-class metrics and confusion matrix on a split of the digits."""
    model_dir, run = resolve_model(ref, root)
    package, model = load_classifier(model_dir, TASK)
    images, labels = classifier_inputs(package, run, split_name)
    out_dir = (run.eval_dir if run else runs_root(root) / f"eval-{package.name}") / split_name
    return evaluate_classifier(model, package, images, labels, out_dir, split_name)


def predict(ref: str | Path, images: list[Path], root: str | Path | None = None, top_k: int = 3,
            max_pixels: int = DEFAULT_MAX_PIXELS, require_detector: bool = False) -> list[Classification]:
    """Class and probability for each image file (any size; dark-on-light or light-on-dark)."""
    model_dir, _ = resolve_model(ref, root)
    package, model = load_classifier(model_dir, TASK)
    size = int(package.input["image_size"])
    batch = torch.stack([digit_from_grayscale(load_grayscale(path, max_pixels), size) for path in images])
    return classifications(images, batch, model, package, top_k, require_detector)


def write_example_images(run: RunDir, folder: Path, count: int = 6, scale: int = 12) -> list[Path]:
    """Test-split digits saved as a user would scan them (large, dark ink on white), to try `predict` on."""
    from PIL import Image

    images, labels = load_digits_arrays()
    split = Split.from_json(read_json(run.path / "data.json")["split"])
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in split.test[:count]:
        ink = np.kron(images[index], np.ones((scale, scale)))
        page = np.pad(ink, scale * 2)
        path = folder / f"test{index:04d}-label{labels[index]}.png"
        Image.fromarray(((1.0 - page) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths
