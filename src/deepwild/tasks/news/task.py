"""`deepwild train news --data DIR`: Meier et al.'s FCN learns to cut newspaper pages into articles.

Each page becomes two channels at 256 × 256 (`tasks.news.data`) and a target of border/background (1)
against article (0), articles shrunk apart (`tasks.news.postprocess`). The loss is binary cross-entropy
with the paper's weight of 1.8 on border pixels: calling a border "article" merges two articles, which
costs a client a wrong clipping, while the opposite error only trims one. Validation scores the decoded
articles of the validation pages by DER (`tasks.news.metrics`), which picks the best checkpoint.

Prepared pages (the layout channel from the image takes ~0.5 s a page) are cached beside the data in
`DIR/cache/`, keyed by the preparation settings, so later runs and resumed ones start at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from deepwild.core.config import config_from_dict, config_to_dict
from deepwild.core.errors import ConfigError, InputError
from deepwild.core.io import atomic_path, atomic_write_json
from deepwild.core.package import ModelPackage, save_model_package
from deepwild.data.newspapers import NewspaperPage, load_newspaper_dataset
from deepwild.engine.checkpoint import load_checkpoint
from deepwild.engine.config import TrainConfig
from deepwild.engine.distributed import setup_distributed, teardown_distributed
from deepwild.engine.hooks import HookBase
from deepwild.engine.loop import StepOutput, Trainer, TrainingProblem, TrainResult, seed_everything
from deepwild.engine.records import prepare_run, run_training
from deepwild.engine.run import RunDir
from deepwild.engine.tracking import check_tracking
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.hooks import interpret_hooks
from deepwild.interpret.probe import Probe
from deepwild.models import build_model
from deepwild.tasks.news.data import INPUT_SIZE, prepare_page
from deepwild.tasks.news.metrics import score_page, score_pages
from deepwild.tasks.news.postprocess import MIN_AREA, SHRINK, THRESHOLD, decode

TASK = "news"
PROBE_LAYERS = ("stem", "down2", "down4", "context", "up4", "up2")
PREPARATION_VERSION = 1  # bump when page preparation changes: old caches are then ignored


@dataclass(frozen=True)
class Config:
    data: str = ""
    input_size: int = INPUT_SIZE
    layout: Literal["image", "truth"] = "image"  # the layout channel: computed from the image, or the drawn one
    shrink: int = SHRINK
    border_weight: float = 1.8  # the paper's weight on border pixels
    threshold: float = THRESHOLD
    min_area: int = MIN_AREA
    max_shift: int = 8  # augmentation: random shift of the page in its square, px; 0 = off
    model: str = "meier_fcn"
    width: int = 16
    max_width: int = 128
    deep: bool = False
    dropout: float = 0.3
    input_dropout: float = 0.1
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=40, batch_size=8, lr=0.01, optimizer="sgd", momentum=0.9, weight_decay=1e-4, warmup_steps=50))
    interpret: InterpretConfig = field(default_factory=lambda: InterpretConfig(infoplane=False))

    def validate(self) -> None:
        if self.input_size % 64:
            raise ConfigError(f"input_size must be a multiple of 64 (six halvings), got {self.input_size}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold must lie between 0 and 1, got {self.threshold}")
        if self.shrink < 0 or self.max_shift < 0 or self.min_area < 0 or self.border_weight <= 0:
            raise ConfigError("shrink, max_shift and min_area must not be negative; border_weight must be positive")


@dataclass(frozen=True)
class TrainOutcome:
    run: RunDir
    result: TrainResult
    package: ModelPackage | None


@dataclass(frozen=True)
class PreparedSet:
    names: tuple[str, ...]
    inputs: torch.Tensor  # (N, 2, S, S) uint8 (×255)
    targets: torch.Tensor  # (N, 1, S, S) uint8 (0/1)
    masks: np.ndarray  # (N, S, S) int32 article ids


def preparation_key(config: Config) -> str:
    settings = {"version": PREPARATION_VERSION, "size": config.input_size, "layout": config.layout,
                "shrink": config.shrink}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def prepared_pages(pages: tuple[NewspaperPage, ...], config: Config, root: Path, log: Any = print) -> PreparedSet:
    """Every page prepared, from the cache in `root/cache/` where it holds them."""
    cache = root / "cache" / f"news-{preparation_key(config)}.npz"
    names = tuple(p.name for p in pages)
    stored: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            # each data[key] reads the whole array from the file again: read each once
            inputs, targets, masks = data["inputs"], data["targets"], data["masks"]
            for index, name in enumerate(data["names"].tolist()):
                stored[name] = (inputs[index], targets[index], masks[index])
    missing = [p for p in pages if p.name not in stored]
    for count, page in enumerate(missing, start=1):
        prepared = prepare_page(page.image, page.mask, page.layout if config.layout == "truth" else None,
                                config.input_size, config.shrink)
        stored[page.name] = ((prepared.inputs.numpy() * 255).round().astype(np.uint8),
                             prepared.target.numpy().astype(np.uint8), prepared.mask.astype(np.int32))
        if count % 50 == 0 or count == len(missing):
            log(f"prepared {count}/{len(missing)} pages")
    if missing:
        cache.parent.mkdir(parents=True, exist_ok=True)
        every = sorted(stored)
        with atomic_path(cache) as temp:
            with open(temp, "wb") as handle:
                np.savez(handle, names=np.array(every), inputs=np.stack([stored[n][0] for n in every]),
                         targets=np.stack([stored[n][1] for n in every]), masks=np.stack([stored[n][2] for n in every]))
    return PreparedSet(names, torch.from_numpy(np.stack([stored[n][0] for n in names])),
                       torch.from_numpy(np.stack([stored[n][1] for n in names])), np.stack([stored[n][2] for n in names]))


class PageSet(Dataset):
    """Prepared pages as (inputs float32, target float32); training shifts each page a little in its square
    (inputs and target together) with the dataset's own generator, so the epoch order stays the engine's."""

    def __init__(self, prepared: PreparedSet, max_shift: int = 0, seed: int = 0) -> None:
        self.prepared, self.max_shift = prepared, max_shift
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.prepared.names)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = self.prepared.inputs[index].float() / 255.0
        target = self.prepared.targets[index].float()
        if self.max_shift:
            dy, dx = (torch.randint(-self.max_shift, self.max_shift + 1, (2,), generator=self.generator)).tolist()
            inputs = shift(inputs, dy, dx, fill=0.0)  # paper is 0 in ink-bright inputs
            target = shift(target, dy, dx, fill=1.0)  # and background in the target
        return inputs, target


def shift(picture: torch.Tensor, dy: int, dx: int, fill: float) -> torch.Tensor:
    moved = torch.full_like(picture, fill)
    height, width = picture.shape[-2:]
    moved[..., max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        picture[..., max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
    return moved


class BorderLoss:
    def __init__(self, border_weight: float) -> None:
        self.border_weight = border_weight

    def __call__(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
        inputs, target = batch
        logits = model(inputs)
        weights = torch.where(target > 0.5, self.border_weight, 1.0)
        loss = F.binary_cross_entropy_with_logits(logits, target, weight=weights)
        accuracy = ((logits.detach() > 0) == (target > 0.5)).float().mean()
        return StepOutput(loss=loss, metrics={"pixel_accuracy": accuracy})


def validate_pages(loss: BorderLoss, prepared: PreparedSet, config: Config):  # type: ignore[no-untyped-def]
    """Validation: the loss, and the decoded articles' DER, F1 and completeness over the validation pages."""

    @torch.no_grad()
    def run(model: torch.nn.Module, loader: Any, device: torch.device) -> dict[str, float]:
        model.eval()
        losses, probabilities = [], []
        for inputs, target in loader:
            inputs, target = inputs.to(device), target.to(device)
            losses.append(float(loss(model, (inputs, target)).loss) * len(inputs))
            probabilities.append(torch.sigmoid(model(inputs)).float().cpu()[:, 0])
        border = torch.cat(probabilities).numpy()
        scores = score_pages([score_page(mask, decode(p, config.threshold, config.min_area, config.shrink))
                              for mask, p in zip(prepared.masks, border)])
        return {"loss": sum(losses) / max(len(prepared.names), 1), "der": scores.der, "f1": scores.f1,
                "completeness": scores.completeness}

    return run


def model_args(config: Config) -> dict[str, Any]:
    return {"in_channels": 2, "width": config.width, "max_width": config.max_width, "deep": config.deep,
            "dropout": config.dropout, "input_dropout": config.input_dropout}


class ExportSegmenter(HookBase):
    def __init__(self, run: RunDir, config: Config, data: dict[str, Any]) -> None:
        self.run, self.config, self.data = run, config, data
        self.package: ModelPackage | None = None

    def after_train(self, trainer: Trainer) -> None:
        load_checkpoint(self.run.checkpoints / "best", trainer.model)
        info = self.run.info()
        package = ModelPackage(
            name=f"news-{self.run.name}", task=TASK, architecture=self.config.model, model_args=model_args(self.config),
            class_names=("article", "border"),
            input={"kind": "newspaper-page", "size": self.config.input_size, "layout": self.config.layout,
                   "ink": "bright", "letterbox": "aspect kept, centred, paper around",
                   "threshold": self.config.threshold, "min_area": self.config.min_area, "shrink": self.config.shrink},
            config=config_to_dict(self.config), data=self.data,
            metrics={"best_epoch": trainer.state.best_epoch, "val_der": trainer.state.best},
            provenance={"command": info.get("command", ""), "run": self.run.name, "seed": self.config.train.seed})
        self.package = save_model_package(self.run.model_dir, package, trainer.model.state_dict())


def interpret_probe(prepared: PreparedSet, config: Config) -> Probe:
    """Validation pages for the hooks, explained at their centre pixel (article or border)."""
    inputs = prepared.inputs.float() / 255.0
    centre = config.input_size // 2
    labels = prepared.targets[:, 0, centre, centre].long()
    count = config.interpret.attribution_inputs
    return Probe(inputs=inputs[:count], labels=labels[:count], pool=inputs, pool_labels=labels,
                 class_names=("article", "border"), layers=PROBE_LAYERS, kind="detector")


def train(config: Config, root: str | Path | None = None, name: str | None = None, resume: str | Path | None = None,
          extra_hooks: tuple[HookBase, ...] = (), track: str | None = None, tracking_uri: str | None = None,
          log: Any = print) -> TrainOutcome:
    config.validate()
    check_tracking(track, tracking_uri)
    if not config.data:
        raise ConfigError("no training data given", hint="pass --data DIR (made by `deepwild data newspapers --out DIR`)")
    dataset = load_newspaper_dataset(config.data)
    train_pages, val_pages = dataset.split("train"), dataset.split("val")
    if not train_pages:
        raise InputError(f"dataset {config.data} has no train pages")
    val_pages = val_pages or dataset.split("test")
    if not val_pages:
        raise InputError(f"dataset {config.data} has neither val nor test pages to validate on")
    train_set = prepared_pages(train_pages, config, Path(config.data), log)
    val_set = prepared_pages(val_pages, config, Path(config.data), log)
    dist = setup_distributed(config.train.device)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    run = prepare_run(TASK, dist, root, name, resume)
    data_info = {"folder": str(config.data), "manifest_seed": dataset.info.get("seed"), "train_pages": len(train_pages),
                 "val_pages": len(val_pages), "layout": config.layout}
    if dist.is_main:
        run.write_config({"task": TASK, **config_to_dict(config)})
        atomic_write_json(run.path / "data.json", data_info)
    seed_everything(config.train.seed)
    model = build_model(config.model, **model_args(config))
    loss = BorderLoss(config.border_weight)
    problem = TrainingProblem(model=model, train_set=PageSet(train_set, config.max_shift, config.train.seed),
                              val_set=PageSet(val_set), step=loss, validate=validate_pages(loss, val_set, config),
                              monitor="val_der", monitor_mode="min")
    export = ExportSegmenter(run, config, data_info)
    try:
        result = run_training(problem, config.train, run, TASK, dist, resume=resume is not None,
                              extra_hooks=(*interpret_hooks(config.interpret, interpret_probe(val_set, config)),
                                           *extra_hooks, export), track=track, tracking_uri=tracking_uri)
    finally:
        teardown_distributed()
    return TrainOutcome(run=run, result=result, package=export.package)


def config_of_run(run: RunDir) -> Config:
    return config_from_dict(Config, {k: v for k, v in run.read_config().items() if k != "task"})
