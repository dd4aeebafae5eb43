"""Music symbol classification: the classification part of DeepScores (Tuggener et al. 2018) — a crop around
each symbol of a score dataset, labelled with its DeepScoresV2 class, classified by the small CNN.

    deepwild train symbols --data DIR   → a run whose model/ classifies symbol crops
    deepwild eval RUN --split test      → top-1 accuracy per class (recall) and macro, confusion matrix;
                                          also --split test-unseen-font (a font no training page uses)
    deepwild predict RUN crop.png …     → class and probability of crop images cut around a symbol

How crops are made is `data.symbol_crops` (the package's `input` records it). Imbalance: the classes with
fewer than `min_count` training symbols are dropped (listed in data.json); a class keeps at most
`max_per_class` crops per split (a seeded choice: stems and noteheads would otherwise be 40 % of the data
and of the training time); what imbalance remains is met by inverse-square-root class weights in the loss
(`imbalance=weights`), by repeating rare crops (`imbalance=oversample`), or not at all (`none`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Subset

from deepwild.core.config import config_from_dict, config_to_dict
from deepwild.core.errors import ConfigError, InputError
from deepwild.core.images import DEFAULT_MAX_PIXELS, load_grayscale
from deepwild.core.package import ModelPackage
from deepwild.core.results import Classification, EvaluationResult
from deepwild.data.dataset_folder import load_symbol_dataset
from deepwild.data.digits import DigitsDataset
from deepwild.data.imbalance import class_weights, oversampled_indices
from deepwild.data.symbol_crops import (CropSettings, SymbolCrops, choose_classes, crop_from_image, extract_crops,
                                        split_pages, window_image)
from deepwild.data.symbols import SymbolDataset
from deepwild.engine.config import TrainConfig
from deepwild.engine.hooks import HookBase
from deepwild.engine.loop import TrainingProblem, seed_everything
from deepwild.engine.run import RunDir, resolve_model, runs_root
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.probe import Probe
from deepwild.models import build_model
from deepwild.tasks.classification import (ClassificationStep, ClassifierExport, TrainOutcome, classification_validate,
                                           classifications, evaluate_classifier, fit_classifier, load_classifier,
                                           start_run, write_run_records)

TASK = "symbols"
PROBE_LAYERS = ("conv1", "conv2", "conv3")


@dataclass(frozen=True)
class Config:
    data: str = ""  # dataset folder (deepwild data scores --out DIR)
    crop: CropSettings = field(default_factory=CropSettings)
    min_count: int = 20  # classes with fewer training symbols are dropped: too few to learn or to measure
    max_per_class: int = 400  # crops per class and split (train, val); 0 = all. Evaluation uses every symbol.
    selection_seed: int = 0  # which symbols a capped class keeps
    imbalance: Literal["weights", "oversample", "none"] = "weights"
    oversample_power: float = 0.5  # imbalance=oversample: class c repeated to n_c · (n_max / n_c) ** power
    max_shift: int = 2  # augmentation: random translation in crop pixels (a detector's imprecise centre); 0 = off
    model: str = "small_cnn"
    width: int = 32
    dropout: float = 0.1
    # ~14 k crops × 8 epochs: about 4 minutes on one busy CPU core.
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8, batch_size=128, lr=3e-3,
                                                                   weight_decay=1e-4, warmup_steps=50))
    interpret: InterpretConfig = field(default_factory=InterpretConfig)

    def validate(self) -> None:
        self.crop.validate()
        if self.min_count < 1 or self.max_per_class < 0:
            raise ConfigError("min_count must be at least 1 and max_per_class not negative (0 = no cap)")
        if not 0.0 <= self.oversample_power <= 1.0:
            raise ConfigError(f"oversample_power must lie between 0 and 1, got {self.oversample_power}")
        if not 0 <= self.max_shift <= self.crop.crop_size // 4:
            raise ConfigError(f"max_shift must lie between 0 and crop_size / 4, got {self.max_shift}")
        if self.width < 1:
            raise ConfigError(f"width must be positive, got {self.width}")


@dataclass(frozen=True)
class SymbolData:
    """The crops a training run learns from and validates on, and where they come from."""

    dataset: SymbolDataset
    classes: tuple[str, ...]
    dropped: dict[str, int]  # classes below min_count → their training symbols
    train: SymbolCrops
    val: SymbolCrops
    val_split: str  # "val", or "test" for a dataset without validation pages


def load_data(config: Config) -> SymbolData:
    """Read the dataset folder, choose the classes and cut the train and validation crops; every problem
    with the folder is an `InputError` (one line on the command line), raised before a run exists."""
    if not config.data:
        raise ConfigError("no training data given", hint="pass --data DIR (made by `deepwild data scores --out DIR`)")
    dataset = load_symbol_dataset(config.data)
    train_pages = dataset.split("train")
    if not train_pages.pages:
        raise InputError(f"dataset {config.data} has no train pages", hint="a folder made by `deepwild data scores`")
    counts = train_pages.class_counts()
    if not counts:
        raise InputError(f"the train pages of {config.data} hold no annotated symbols")
    classes, dropped = choose_classes(counts, config.min_count)
    if len(classes) < 2:
        raise InputError(f"only {len(classes)} class(es) of {config.data} have at least min_count={config.min_count} "
                         "training symbols", hint="more pages, or a lower --set min_count=N")
    val_split = "val" if dataset.split("val").pages else "test"
    val_pages = dataset.split(val_split)
    if not val_pages.pages:
        raise InputError(f"dataset {config.data} has neither val nor test pages to validate on")
    cap, seed = config.max_per_class, config.selection_seed
    return SymbolData(dataset=dataset, classes=classes, dropped=dropped, val_split=val_split,
                      train=extract_crops(train_pages, classes, config.crop, cap, seed),
                      val=extract_crops(val_pages, classes, config.crop, cap, seed))


def data_record(config: Config, data: SymbolData) -> dict[str, Any]:
    info = data.dataset.info
    return {"dataset": "score-data", "folder": str(Path(config.data).resolve()), "generator": info.get("generator"),
            "manifest_seed": info.get("seed"), "classes": list(data.classes), "min_count": config.min_count,
            "dropped_classes": data.dropped, "max_per_class": config.max_per_class,
            "selection_seed": config.selection_seed, "val_split": data.val_split,
            "pages": {"train": len(data.dataset.split("train").pages), "val": len(data.dataset.split(data.val_split).pages)},
            "crops": {"train": len(data.train), "val": len(data.val)},
            "class_counts": {"train": data.train.counts(), "val": data.val.counts()}}


def build_problem(config: Config, data: SymbolData) -> TrainingProblem:
    model = build_model(config.model, in_channels=1, num_classes=len(data.classes), width=config.width,
                        dropout=config.dropout)
    train_set: torch.utils.data.Dataset = DigitsDataset(data.train.images, data.train.labels, max_shift=config.max_shift)
    weights = None
    if config.imbalance == "weights":
        weights = torch.from_numpy(class_weights(data.train.counts(), data.classes, scheme="inverse_sqrt", max_weight=10.0))
    elif config.imbalance == "oversample":
        indices = oversampled_indices(data.train.labels, config.oversample_power, config.train.seed)
        train_set = Subset(train_set, indices.tolist())
    return TrainingProblem(model=model, train_set=train_set, val_set=DigitsDataset(data.val.images, data.val.labels),
                           step=ClassificationStep(weights), validate=partial(classification_validate, macro=True),
                           monitor="val_accuracy", monitor_mode="max")


def interpret_probe(config: Config, crops: SymbolCrops) -> Probe:
    """Validation crops for the interpretability hooks: the first crop of each of the most frequent classes
    to explain (noteheads, stems, beams: what a page is made of), a seeded mix of all as the pool."""
    order = np.argsort(-np.bincount(crops.labels, minlength=len(crops.class_names)), kind="stable")
    chosen = [int(np.flatnonzero(crops.labels == label)[0]) for label in order if (crops.labels == label).any()]
    chosen = chosen[:config.interpret.attribution_inputs]
    pool = np.random.default_rng(0).permutation(len(crops))[:config.interpret.infoplane_samples]
    pool_tensor = torch.from_numpy(pool)
    return Probe(inputs=crops.images[chosen], labels=torch.from_numpy(crops.labels[chosen]),
                 pool=crops.images[pool_tensor], pool_labels=torch.from_numpy(crops.labels[pool]),
                 class_names=crops.class_names, layers=PROBE_LAYERS, kind="classifier")


def package_input(settings: CropSettings) -> dict[str, Any]:
    """How the model's inputs are made, so that a user's image can be prepared the same way."""
    return {"kind": "symbol-crop", "crop_size": settings.crop_size,
            "context_staff_spaces": settings.context_staff_spaces, "context_px": settings.context_px,
            "box_scale": settings.box_scale, "ink": "bright",
            "window": "square centred on the symbol's box centre, side max(context_staff_spaces × staff space "
                      "(context_px where unknown), box_scale × the box's longer side); paper outside the page",
            "resample": "area average (box of max(1, side / crop_size) page pixels per crop pixel)"}


def export_model(run: RunDir, config: Config, data: SymbolData) -> ClassifierExport:
    """At the end of training: the best checkpoint, scored on the validation crops and every test symbol."""
    package = ModelPackage(
        name=f"symbols-{run.name}", task=TASK, architecture=config.model,
        model_args={"in_channels": 1, "num_classes": len(data.classes), "width": config.width, "dropout": config.dropout},
        class_names=data.classes, input=package_input(config.crop), config=config_to_dict(config),
        data={k: v for k, v in data_record(config, data).items() if k != "class_counts"},
        provenance={"seed": config.train.seed, "selection_seed": config.selection_seed},
    )
    parts = {"val": lambda: (data.val.images, data.val.labels)}
    if data.dataset.split("test").pages:
        def test_crops() -> tuple[torch.Tensor, np.ndarray]:
            crops = extract_crops(data.dataset.split("test"), data.classes, config.crop)
            return crops.images, crops.labels
        parts["test"] = test_crops
    return ClassifierExport(run, package, parts, macro=True)


def train(config: Config, root: str | Path | None = None, name: str | None = None, resume: str | Path | None = None,
          extra_hooks: tuple[HookBase, ...] = (), track: str | None = None, tracking_uri: str | None = None) -> TrainOutcome:
    """Train a symbol classifier in a new run (or continue `resume`); returns the run and its model."""
    config.validate()
    data = load_data(config)  # the same seeded choice when resuming; a bad folder fails before a run exists
    run, dist = start_run(TASK, config.train, root, name, resume, track, tracking_uri)
    write_run_records(run, dist, TASK, config, None if resume else data_record(config, data))
    seed_everything(config.train.seed)
    problem = build_problem(config, data)
    return fit_classifier(problem, TASK, config.train, config.interpret, interpret_probe(config, data.val), run, dist,
                          export_model(run, config, data), resume is not None, extra_hooks, track=track,
                          tracking_uri=tracking_uri)


def config_of_run(run: RunDir) -> Config:
    return config_from_dict(Config, {k: v for k, v in run.read_config().items() if k != "task"})


def _data_folder(package: ModelPackage, data: str | Path | None) -> str | Path:
    folder = data or package.data.get("folder") or package.config.get("data")
    if not folder:
        raise InputError("no evaluation data given", hint="pass --data DIR (a score dataset folder)")
    return folder


def classifier_inputs(package: ModelPackage, run: RunDir | None, part: str,
                      data: str | Path | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """A split's crops as the packaged model takes them, and their labels: for train and val the capped,
    seeded choice the model was trained on; for test, test-unseen-font and all, every symbol of its classes."""
    config = config_from_dict(Config, package.config)
    pages = split_pages(load_symbol_dataset(_data_folder(package, data)), part)
    cap = config.max_per_class if part in ("train", "val") else 0
    crops = extract_crops(pages, package.class_names, config.crop, cap, config.selection_seed)
    return crops.images, crops.labels


def evaluate(ref: str | Path, split_name: str = "test", root: str | Path | None = None,
             data: str | Path | None = None) -> EvaluationResult:
    """Top-1 accuracy (overall, per class as recall, macro), F1 and the confusion matrix on every symbol of the
    model's classes in a split of the training data (or of `data`: any score dataset folder)."""
    model_dir, run = resolve_model(ref, root)
    package, model = load_classifier(model_dir, TASK)
    config = config_from_dict(Config, package.config)
    folder = _data_folder(package, data)
    pages = split_pages(load_symbol_dataset(folder), split_name)
    crops = extract_crops(pages, package.class_names, config.crop)
    if not len(crops):
        raise InputError(f"the {split_name} pages of {folder} hold no symbols of the model's classes")
    name = split_name if any(page.split for page in pages.pages) else Path(folder).name  # unsplit: named by folder
    out_dir = (run.eval_dir if run else runs_root(root) / f"eval-{package.name}") / name
    return evaluate_classifier(model, package, crops.images, crops.labels, out_dir, name,
                               {"symbols_of_other_classes": crops.skipped})


def predict(ref: str | Path, images: list[Path], root: str | Path | None = None, top_k: int = 3,
            max_pixels: int = DEFAULT_MAX_PIXELS, require_detector: bool = False) -> list[Classification]:
    """Class and probability of each crop image: a window cut around one symbol as `write_example_crops` cuts
    them (the symbol centred, about three staff spaces across or twice a larger symbol), any resolution."""
    model_dir, _ = resolve_model(ref, root)
    package, model = load_classifier(model_dir, TASK)
    size = int(package.input["crop_size"])
    batch = torch.stack([crop_from_image(load_grayscale(path, max_pixels), size) for path in images])
    return classifications(images, batch, model, package, top_k, require_detector)


def write_example_crops(ref: str | Path, folder: Path, split: str = "test", count: int = 6,
                        root: str | Path | None = None, data: str | Path | None = None) -> list[Path]:
    """Windows around symbols of a split, cut from their pages at page resolution as a user would hand them
    to `predict` (dark ink on white), named by their true class."""
    from PIL import Image

    model_dir, _ = resolve_model(ref, root)
    package, _ = load_classifier(model_dir, TASK)
    config = config_from_dict(Config, package.config)
    pages = split_pages(load_symbol_dataset(_data_folder(package, data)), split)
    crops = extract_crops(pages, package.class_names, config.crop, max_per_class=1)  # one of each class
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(min(count, len(crops))):
        page = pages.pages[int(crops.pages[index])]
        centre_x, centre_y, side = crops.windows[index]
        window = window_image(load_grayscale(pages.image_path(page)), centre_x, centre_y, side)
        path = folder / f"{split}{index:03d}-{package.class_names[crops.labels[index]]}.png"
        Image.fromarray(np.round(window * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths
