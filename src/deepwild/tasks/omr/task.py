"""Music symbol detection with the Deep Watershed Detector: training.

    deepwild train omr --data DIR   → a run whose model/ detects DeepScoresV2 symbols on pages
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from deepwild.core.config import config_from_dict, config_to_dict
from deepwild.core.errors import ConfigError, InputError
from deepwild.core.io import atomic_write_json
from deepwild.core.package import ModelPackage, load_model_package, save_model_package
from deepwild.data.dataset_folder import load_symbol_dataset
from deepwild.data.imbalance import class_weights, focal_loss
from deepwild.engine.checkpoint import load_checkpoint
from deepwild.engine.config import TrainConfig
from deepwild.engine.distributed import setup_distributed, teardown_distributed
from deepwild.engine.hooks import HookBase
from deepwild.engine.loop import StepOutput, Trainer, TrainingProblem, TrainResult, seed_everything
from deepwild.engine.records import prepare_run, run_training
from deepwild.engine.run import RunDir
from deepwild.engine.tracking import check_tracking
from deepwild.models import build_model
from deepwild.tasks.omr.data import CropConfig, CropDataset
from deepwild.tasks.omr.model_io import TASK
from deepwild.tasks.omr.postprocess import PostprocessConfig
from deepwild.tasks.omr.targets import TargetConfig

# Long symbols that span others (their centres lie on other symbols) are left to other tools.
DEFAULT_EXCLUDED = ("staff", "slur", "tie", "dynamicCrescendoHairpin", "dynamicDiminuendoHairpin", "tupletBracket",
                    "ottavaBracket", "brace")


@dataclass(frozen=True)
class Config:
    data: str = ""  # dataset folder (deepwild data scores --out DIR)
    init: str = ""  # fine-tune: start from this model package's weights (and keep its classes and widths)
    widths: tuple[int, ...] = (12, 24, 48, 96)
    crop: CropConfig = field(default_factory=CropConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    # Imbalance handling: "weighted" = marker levels weighted up in the energy cross-entropy (as the DWD
    # paper) and inverse-sqrt class weights on the class map; "focal" = focal loss on the energy map
    # (it learned far slower here and left the energy maps under-confident) plus the class weights;
    # "none" = plain cross-entropy everywhere (for ablations).
    imbalance: Literal["focal", "weighted", "none"] = "weighted"
    exclude_classes: tuple[str, ...] = DEFAULT_EXCLUDED
    min_class_count: int = 1  # classes seen fewer times in train are not learned
    box_loss_weight: float = 1.0
    class_loss_weight: float = 1.0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=20, batch_size=12, lr=3e-3, weight_decay=1e-4, warmup_steps=50, grad_clip=5.0, num_workers=1,
        checkpoint_every=50))

    def validate(self) -> None:
        if len(self.widths) != 4 or min(self.widths) < 1:
            raise ConfigError(f"widths must be four positive channel counts, got {self.widths}")
        if self.crop.crop_size % 8:
            raise ConfigError(f"crop.crop_size must be a multiple of 8, got {self.crop.crop_size}")


@dataclass(frozen=True)
class TrainOutcome:
    run: RunDir
    result: TrainResult
    package: ModelPackage | None


class OMRLoss:
    """Energy (focal or weighted CE) + class (CE on markers, class-weighted) + box (smooth L1 on markers)."""

    def __init__(self, config: Config, weights: torch.Tensor | None) -> None:
        self.config, self.weights = config, weights
        levels = config.targets.energy_levels
        # Markers are a small share of pixels: without focal loss, weight the marker levels up instead.
        self.energy_weight = torch.tensor([1.0] + [4.0] * levels) if config.imbalance == "weighted" else None

    def __call__(self, net: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> StepOutput:
        images, energy, classes, box = batch
        out = net(images)
        energy_logits, class_logits, box_pred = out["energy"].float(), out["classes"].float(), out["box"].float()
        if self.config.imbalance == "focal":
            energy_loss = focal_loss(energy_logits, energy, gamma=2.0)
        else:
            weight = self.energy_weight.to(energy_logits.device) if self.energy_weight is not None else None
            energy_loss = F.cross_entropy(energy_logits, energy, weight=weight)
        marker = classes >= 0
        if marker.any():
            weight = self.weights.to(class_logits.device) if self.weights is not None else None
            class_loss = F.cross_entropy(class_logits, classes, weight=weight, ignore_index=-100)
            box_loss = F.smooth_l1_loss(box_pred.permute(0, 2, 3, 1)[marker], box.permute(0, 2, 3, 1)[marker])
            accuracy = (class_logits.argmax(dim=1)[marker] == classes[marker]).float().mean()
        else:
            class_loss = box_loss = class_logits.sum() * 0.0
            accuracy = torch.tensor(0.0)
        loss = energy_loss + self.config.class_loss_weight * class_loss + self.config.box_loss_weight * box_loss
        return StepOutput(loss=loss, metrics={"energy_loss": energy_loss.detach(), "class_loss": class_loss.detach(),
                                              "box_loss": box_loss.detach(), "marker_accuracy": accuracy.detach()})


def validate(loss: OMRLoss) -> Any:
    def run(model: torch.nn.Module, loader: Any, device: torch.device) -> dict[str, float]:
        sums: dict[str, float] = {}
        count = 0
        for batch in loader:
            out = loss(model, tuple(t.to(device) for t in batch))
            for key, value in {"loss": out.loss, **out.metrics}.items():
                sums[key] = sums.get(key, 0.0) + float(value) * len(batch[0])
            count += len(batch[0])
        return {key: value / max(count, 1) for key, value in sums.items()}
    return run


class SetCropEpoch(HookBase):
    """Crop windows change every epoch; every rank must switch (and a resumed run must start at its epoch)."""

    all_ranks = True

    def __init__(self, dataset: CropDataset) -> None:
        self.dataset = dataset

    def before_train(self, trainer: Trainer) -> None:
        self.dataset.set_epoch(trainer.state.epoch)

    def after_epoch(self, trainer: Trainer) -> None:
        self.dataset.set_epoch(trainer.state.epoch)


class ExportDetector(HookBase):
    """At the end: the best checkpoint becomes the model package, with everything detection needs."""

    def __init__(self, run: RunDir, config: Config, classes: list[str], staff_space: float, data: dict[str, Any]) -> None:
        self.run, self.config, self.classes, self.staff_space, self.data = run, config, classes, staff_space, data
        self.package: ModelPackage | None = None

    def after_train(self, trainer: Trainer) -> None:
        load_checkpoint(self.run.checkpoints / "best", trainer.model)
        info = self.run.info()
        package = ModelPackage(
            name=f"omr-{self.run.name}", task=TASK, architecture="dwd",
            model_args={"num_classes": len(self.classes), "energy_levels": self.config.targets.energy_levels,
                        "widths": list(self.config.widths)},
            class_names=tuple(self.classes),
            input={"kind": "score-page", "staff_space": self.staff_space, "ink": "bright",
                   "box_unit": self.config.targets.box_unit},
            config=config_to_dict(self.config), data=self.data,
            metrics={"best_epoch": trainer.state.best_epoch, "val_loss": trainer.state.best},
            provenance={"command": info.get("command", ""), "run": self.run.name, "seed": self.config.train.seed},
        )
        self.package = save_model_package(self.run.model_dir, package, trainer.model.state_dict())


def choose_classes(counts: dict[str, int], config: Config) -> list[str]:
    return sorted(name for name, count in counts.items()
                  if count >= config.min_class_count and name not in config.exclude_classes)


def train(config: Config, root: str | Path | None = None, name: str | None = None, resume: str | Path | None = None,
          extra_hooks: tuple[HookBase, ...] = (), track: str | None = None, tracking_uri: str | None = None) -> TrainOutcome:
    if not config.data:
        raise ConfigError("no training data given", hint="pass --data DIR (made by `deepwild data scores --out DIR`)")
    check_tracking(track, tracking_uri)
    dataset = load_symbol_dataset(config.data)
    train_set, val_set = dataset.split("train"), dataset.split("val")
    if not train_set.pages:
        raise InputError(f"dataset {config.data} has no train pages")
    if not val_set.pages:
        val_set = dataset.split("test")  # a tiny dataset may have no validation pieces
    counts = dict(train_set.class_counts())
    initial: tuple[ModelPackage, dict[str, Any]] | None = None
    if config.init:
        initial = load_model_package(config.init)
        if initial[0].task != TASK:
            raise ConfigError(f"--set init={config.init} is a {initial[0].task!r} model, not a music symbol detector")
        # The network must be the package's: its classes, widths and energy levels.
        config = replace(config, widths=tuple(initial[0].model_args["widths"]),
                         targets=replace(config.targets, energy_levels=int(initial[0].model_args["energy_levels"])))
    classes = list(initial[0].class_names) if initial else choose_classes(counts, config)
    class_index = {name: index for index, name in enumerate(classes)}
    staff_spaces = [p.staff_space for p in train_set.pages if p.staff_space]
    staff_space = float(np.median(staff_spaces)) if staff_spaces else 10.0

    dist = setup_distributed(config.train.device)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    run = prepare_run(TASK, dist, root, name, resume)
    data_info = {"folder": str(config.data), "manifest_seed": dataset.info.get("seed"),
                 "train_pages": len(train_set.pages), "val_pages": len(val_set.pages), "classes": len(classes),
                 "staff_space": staff_space}
    if dist.is_main:
        run.write_config({"task": TASK, **config_to_dict(config)})
        atomic_write_json(run.path / "data.json", {**data_info, "class_counts": counts})
    seed_everything(config.train.seed)
    model = build_model("dwd", num_classes=len(classes), energy_levels=config.targets.energy_levels, widths=config.widths)
    if initial is not None:
        model.load_state_dict(initial[1])
    weights = None
    if config.imbalance != "none":
        weights = torch.from_numpy(class_weights(counts, classes, scheme="inverse_sqrt", max_weight=10.0))
    loss = OMRLoss(config, weights)
    crops = CropDataset(train_set, class_index, config.crop, config.targets, config.train.seed, train=True)
    val_crop = CropConfig(crop_size=config.crop.crop_size, crops_per_epoch=min(200, config.crop.crops_per_epoch),
                          oversample_rare=False, augment=False)
    val_crops = CropDataset(val_set, class_index, val_crop, config.targets, config.train.seed + 1, train=False)
    problem = TrainingProblem(model=model, train_set=crops, val_set=val_crops, step=loss, validate=validate(loss),
                              monitor="val_loss", monitor_mode="min")
    export = ExportDetector(run, config, classes, staff_space, data_info)
    try:
        result = run_training(problem, config.train, run, TASK, dist, resume=resume is not None,
                              extra_hooks=(SetCropEpoch(crops), *extra_hooks, export), track=track,
                              tracking_uri=tracking_uri)
    finally:
        teardown_distributed()
    return TrainOutcome(run=run, result=result, package=export.package)


def config_of_run(run: RunDir) -> Config:
    return config_from_dict(Config, {k: v for k, v in run.read_config().items() if k != "task"})
