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
from deepwild.core.io import atomic_write_json, read_json
from deepwild.core.package import ModelPackage, save_model_package
from deepwild.core.results import Classification, ClassScore, EvaluationResult
from deepwild.data.digits import (CLASS_NAMES, DigitsDataset, digit_from_grayscale, digits_dataset_id,
                                  load_digits_arrays, upsample)
from deepwild.data.splits import Split, stratified_split
from deepwild.engine.checkpoint import load_checkpoint
from deepwild.engine.config import TrainConfig
from deepwild.engine.distributed import setup_distributed, teardown_distributed
from deepwild.engine.hooks import HookBase
from deepwild.engine.loop import Trainer, TrainingProblem, TrainResult, seed_everything
from deepwild.engine.records import prepare_run, run_training
from deepwild.engine.run import RunDir, resolve_model, runs_root
from deepwild.engine.tracking import check_tracking
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.hooks import interpret_hooks
from deepwild.interpret.probe import Probe
from deepwild.models import build_model
from deepwild.tasks.classification import (classification_metrics, classification_step, classification_validate,
                                           load_classifier, predict_probabilities, write_classification_eval)

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


@dataclass(frozen=True)
class TrainOutcome:
    run: RunDir
    result: TrainResult
    package: ModelPackage | None  # None on ranks other than 0


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


class ExportModel(HookBase):
    """At the end of training: the best checkpoint, scored on val and test, becomes `model/`."""

    def __init__(self, run: RunDir, config: Config, split: Split) -> None:
        self.run, self.config, self.split = run, config, split
        self.package: ModelPackage | None = None

    def after_train(self, trainer: Trainer) -> None:
        model = trainer.model
        load_checkpoint(self.run.checkpoints / "best", model)
        metrics: dict[str, Any] = {"best_epoch": trainer.state.best_epoch}
        for part in ("val", "test"):
            images, labels = split_tensors(self.config, self.split, part)
            predictions = predict_probabilities(model, images.to(trainer.dist.device)).argmax(dim=1).cpu().numpy()
            metrics[f"{part}_accuracy"] = float((predictions == labels).mean())
        info = self.run.info()
        package = ModelPackage(
            name=f"digits-{self.run.name}", task=TASK, architecture=self.config.model,
            model_args={"in_channels": 1, "num_classes": len(CLASS_NAMES), "width": self.config.width,
                        "dropout": self.config.dropout},
            class_names=CLASS_NAMES,
            input={"kind": "digit", "image_size": self.config.image_size, "source_size": 8, "levels": 16,
                   "ink": "bright"},
            config=config_to_dict(self.config), data={k: v for k, v in data_record(self.config, self.split).items()
                                                       if k != "split"},
            metrics=metrics,
            provenance={"command": info.get("command", ""), "run": self.run.name, "seed": self.config.train.seed,
                        "split_seed": self.config.split_seed},
        )
        self.package = save_model_package(self.run.model_dir, package, model.state_dict())


def train(config: Config, root: str | Path | None = None, name: str | None = None, resume: str | Path | None = None,
          extra_hooks: tuple[HookBase, ...] = (), track: str | None = None, tracking_uri: str | None = None) -> TrainOutcome:
    """Train a digits classifier in a new run (or continue `resume`); returns the run and its model."""
    check_tracking(track, tracking_uri)  # before anything is written
    dist = setup_distributed(config.train.device)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    run = prepare_run(TASK, dist, root, name, resume)
    split = Split.from_json(read_json(run.path / "data.json")["split"]) if resume else make_split(config)
    if dist.is_main:
        run.write_config({"task": TASK, **config_to_dict(config)})
        if not resume:
            atomic_write_json(run.path / "data.json", data_record(config, split))
    seed_everything(config.train.seed)
    problem = build_problem(config, split)
    export = ExportModel(run, config, split)
    try:
        result = run_training(problem, config.train, run, TASK, dist, resume=resume is not None,
                              extra_hooks=(*interpret_hooks(config.interpret, interpret_probe(config, split)),
                                           *extra_hooks, export), track=track, tracking_uri=tracking_uri)
    finally:
        teardown_distributed()
    return TrainOutcome(run=run, result=result, package=export.package)


def config_of_run(run: RunDir) -> Config:
    data = {k: v for k, v in run.read_config().items() if k != "task"}
    return config_from_dict(Config, data)


def evaluate(ref: str | Path, split_name: str = "test", root: str | Path | None = None) -> EvaluationResult:
    """Accuracy, macro F1, per-class metrics and confusion matrix on a split of the digits."""
    model_dir, run = resolve_model(ref, root)
    package, model = load_classifier(model_dir, TASK)
    config = config_from_dict(Config, package.config)
    stored = run.path / "data.json" if run else None
    split = Split.from_json(read_json(stored)["split"]) if stored and stored.is_file() else make_split(config)
    if split_name not in ("train", "val", "test"):
        raise DeepwildError(f"unknown split {split_name!r}; valid: train, val, test")
    images, labels = split_tensors(config, split, split_name)
    predictions = predict_probabilities(model, images).argmax(dim=1).numpy()
    metrics, per_class, confusion = classification_metrics(labels, predictions, package.class_names)
    out_dir = (run.eval_dir if run else runs_root(root) / f"eval-{package.name}") / split_name
    files = write_classification_eval(out_dir, metrics, per_class, confusion, package.class_names,
                                      f"{package.name} — {split_name}")
    return EvaluationResult(model=package.name, split=split_name, metrics=metrics, per_class=per_class,
                            files=tuple(str(f) for f in files))


def predict(ref: str | Path, images: list[Path], root: str | Path | None = None, top_k: int = 3,
            max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Classification]:
    """Class and probability for each image file (any size; dark-on-light or light-on-dark)."""
    model_dir, _ = resolve_model(ref, root)
    package, model = load_classifier(model_dir, TASK)
    size = int(package.input["image_size"])
    batch = torch.stack([digit_from_grayscale(load_grayscale(path, max_pixels), size) for path in images])
    probabilities = predict_probabilities(model, batch)
    results = []
    for path, row in zip(images, probabilities):
        values, indices = row.topk(min(top_k, len(package.class_names)))
        top = tuple(ClassScore(package.class_names[i], float(v)) for v, i in zip(values.tolist(), indices.tolist()))
        results.append(Classification(image=str(path), label=top[0].label, probability=top[0].probability,
                                      top=top, model=package.name))
    return results


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
