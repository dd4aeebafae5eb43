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
from deepwild.data.symbols import SymbolDataset
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.hooks import interpret_hooks
from deepwild.interpret.probe import Probe
from deepwild.models import build_model
from deepwild.tasks.omr.curves import MarkerTally, PerClassCurves
from deepwild.tasks.omr.data import CropConfig, CropDataset, symbol_crops
from deepwild.tasks.omr.model_io import TASK
from deepwild.tasks.omr.postprocess import PostprocessConfig
from deepwild.tasks.omr.targets import TargetConfig, group_count, group_of_classes

# Long symbols that span others (their centres lie on other symbols) are left to other tools.
DEFAULT_EXCLUDED = ("staff", "slur", "tie", "dynamicCrescendoHairpin", "dynamicDiminuendoHairpin", "tupletBracket",
                    "ottavaBracket", "brace")
# Symbols that share centres or pixels with others get energy maps of their own (see targets.py):
# stems run into noteheads; ledger lines are centred on noteheads, beams cross stems.
DEFAULT_ENERGY_GROUPS = (("stem",), ("beam", "legerLine"))


@dataclass(frozen=True)
class Config:
    data: str = ""  # dataset folder (deepwild data scores --out DIR)
    init: str = ""  # fine-tune: start from this model package's weights (and keep its classes and widths)
    widths: tuple[int, ...] = (12, 24, 48, 96)
    head_width: int = 48  # hidden channels of the (half-resolution) class and box heads
    # Energy groups beyond the first (which holds every class not named here).
    energy_groups: tuple[tuple[str, ...], ...] = DEFAULT_ENERGY_GROUPS
    crop: CropConfig = field(default_factory=CropConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    # Imbalance handling: "weighted" = marker pixels weighted up in the energy cross-entropy (as the DWD
    # paper; small symbols' markers more, see targets.py), the same size weights and inverse-sqrt class
    # weights on the class and box maps; "focal" = focal loss on the energy map (it learned far slower
    # here and left the energy maps under-confident) plus the class and size weights;
    # "none" = plain cross-entropy everywhere, every pixel alike (for ablations).
    imbalance: Literal["focal", "weighted", "none"] = "weighted"
    exclude_classes: tuple[str, ...] = DEFAULT_EXCLUDED
    min_class_count: int = 1  # classes seen fewer times in train are not learned
    box_loss_weight: float = 1.0
    class_loss_weight: float = 1.0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=20, batch_size=12, lr=3e-3, weight_decay=1e-4, warmup_steps=50, grad_clip=5.0, num_workers=1,
        checkpoint_every=50))
    interpret: InterpretConfig = field(default_factory=InterpretConfig)

    def validate(self) -> None:
        if len(self.widths) != 4 or min(self.widths) < 1:
            raise ConfigError(f"widths must be four positive channel counts, got {self.widths}")
        if self.head_width < 1:
            raise ConfigError(f"head_width must be positive, got {self.head_width}")
        named = [name for group in self.energy_groups for name in group]
        if len(named) != len(set(named)):
            raise ConfigError(f"a class is in two energy groups: {self.energy_groups}")
        if self.crop.crop_size % 8:
            raise ConfigError(f"crop.crop_size must be a multiple of 8, got {self.crop.crop_size}")


@dataclass(frozen=True)
class TrainOutcome:
    run: RunDir
    result: TrainResult
    package: ModelPackage | None


class OMRLoss:
    """Per energy group: energy (focal or weighted CE) + class (CE on markers over the group's classes,
    class-weighted) + box (smooth L1 on markers); markers of small symbols weigh more (size weights)."""

    def __init__(self, config: Config, weights: torch.Tensor | None, class_groups: np.ndarray) -> None:
        self.config, self.weights = config, weights
        levels = config.targets.energy_levels
        self.levels, self.groups = levels, group_count(class_groups)
        self.use_weights = config.imbalance != "none"
        # Markers are a small share of pixels: without focal loss, weight the marker levels up instead.
        self.marker_weight = 4.0 if config.imbalance == "weighted" else 1.0
        # Logit offsets that leave only a group's own classes in its softmax (a stem pixel may also be
        # a notehead pixel: each group's class decision is its own).
        group_ids = torch.from_numpy(class_groups)
        self.outside_group = torch.stack([(group_ids != g).float() * -1e4 for g in range(self.groups)])  # (G, C)

    def __call__(self, net: torch.nn.Module, batch: tuple[torch.Tensor, ...], tally: MarkerTally | None = None) -> StepOutput:
        images, energy, classes, box, size_weight = batch
        out = net(images)
        energy_logits, class_logits, box_pred = out["energy"].float(), out["classes"].float(), out["box"].float()
        levels = self.levels + 1
        energy_loss = class_loss = box_loss = energy_logits.sum() * 0.0
        correct, markers = 0.0, 0
        for g in range(self.groups):
            logits = energy_logits[:, g * levels:(g + 1) * levels]
            target = energy[:, g]
            if self.config.imbalance == "focal":
                energy_loss = energy_loss + focal_loss(logits, target, gamma=2.0)
            else:
                per_pixel = F.cross_entropy(logits, target, reduction="none")
                weight = torch.where(target > 0, size_weight[:, g] * self.marker_weight, 1.0) if self.use_weights \
                    else torch.ones_like(per_pixel)
                energy_loss = energy_loss + (per_pixel * weight).sum() / weight.sum()
            marker = classes[:, g] >= 0  # (B, H, W)
            if not marker.any():
                continue
            picked = class_logits.permute(0, 2, 3, 1)[marker] + self.outside_group[g].to(class_logits.device)
            labels = classes[:, g][marker]
            pixel_weight = size_weight[:, g][marker] if self.use_weights else torch.ones_like(labels, dtype=torch.float32)
            if self.weights is not None:
                pixel_weight = pixel_weight * self.weights.to(picked.device)[labels]
            class_loss = class_loss + (F.cross_entropy(picked, labels, reduction="none") * pixel_weight).sum() / pixel_weight.sum()
            sizes = box_pred[:, 2 * g:2 * g + 2].permute(0, 2, 3, 1)[marker]
            size_error = F.smooth_l1_loss(sizes, box[:, g].permute(0, 2, 3, 1)[marker], reduction="none").sum(dim=1)
            box_loss = box_loss + (size_error * pixel_weight).sum() / pixel_weight.sum()
            right_class = picked.argmax(dim=1) == labels
            correct += float(right_class.sum())
            markers += int(labels.numel())
            if tally is not None:  # validation: per class, markers seen as a symbol of the right class
                tally.add(labels, right_class & (logits.detach().argmax(dim=1)[marker] > 0))
        loss = energy_loss + self.config.class_loss_weight * class_loss + self.config.box_loss_weight * box_loss
        accuracy = torch.tensor(correct / max(markers, 1))
        return StepOutput(loss=loss, metrics={"energy_loss": energy_loss.detach(), "class_loss": class_loss.detach(),
                                              "box_loss": box_loss.detach(), "marker_accuracy": accuracy})


def validate(loss: OMRLoss, tally: MarkerTally | None = None) -> Any:
    def run(model: torch.nn.Module, loader: Any, device: torch.device) -> dict[str, float]:
        sums: dict[str, float] = {}
        count = 0
        if tally is not None:
            tally.reset()
        for batch in loader:
            out = loss(model, tuple(t.to(device) for t in batch), tally)
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

    def __init__(self, run: RunDir, config: Config, classes: list[str], class_groups: np.ndarray, staff_space: float,
                 data: dict[str, Any]) -> None:
        self.run, self.config, self.classes, self.staff_space, self.data = run, config, classes, staff_space, data
        self.class_groups = class_groups
        self.package: ModelPackage | None = None

    def after_train(self, trainer: Trainer) -> None:
        load_checkpoint(self.run.checkpoints / "best", trainer.model)
        info = self.run.info()
        package = ModelPackage(
            name=f"omr-{self.run.name}", task=TASK, architecture="dwd",
            model_args=model_args(self.config, len(self.classes), self.class_groups),
            class_names=tuple(self.classes),
            input={"kind": "score-page", "staff_space": self.staff_space, "ink": "bright",
                   "box_unit": self.config.targets.box_unit, "class_groups": self.class_groups.tolist()},
            config=config_to_dict(self.config), data=self.data,
            metrics={"best_epoch": trainer.state.best_epoch, "val_loss": trainer.state.best},
            provenance={"command": info.get("command", ""), "run": self.run.name, "seed": self.config.train.seed},
        )
        self.package = save_model_package(self.run.model_dir, package, trainer.model.state_dict())


def model_args(config: Config, num_classes: int, class_groups: np.ndarray) -> dict[str, Any]:
    return {"num_classes": num_classes, "energy_levels": config.targets.energy_levels, "widths": list(config.widths),
            "groups": group_count(class_groups), "head_width": config.head_width}


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
        # The network must be the package's: its classes, groups, widths and energy levels.
        args = initial[0].model_args
        config = replace(config, widths=tuple(args["widths"]), head_width=int(args.get("head_width", config.head_width)),
                         targets=replace(config.targets, energy_levels=int(args["energy_levels"])))
        if config.postprocess == PostprocessConfig():  # keep the package's tuned decoding unless told otherwise
            known = PostprocessConfig.__dataclass_fields__
            config = replace(config, postprocess=config_from_dict(PostprocessConfig, {
                key: value for key, value in initial[0].config.get("postprocess", {}).items() if key in known}))
    classes = list(initial[0].class_names) if initial else choose_classes(counts, config)
    if initial is not None:
        class_groups = np.array(initial[0].input.get("class_groups", [0] * len(classes)), np.int64)
    else:
        class_groups = group_of_classes(classes, config.energy_groups)
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
    model = build_model("dwd", **model_args(config, len(classes), class_groups))
    if initial is not None:
        model.load_state_dict(initial[1])
    weights = None
    if config.imbalance != "none":
        weights = torch.from_numpy(class_weights(counts, classes, scheme="inverse_sqrt", max_weight=10.0))
    loss = OMRLoss(config, weights, class_groups)
    crops = CropDataset(train_set, class_index, class_groups, config.crop, config.targets, config.train.seed, train=True)
    val_crop = CropConfig(crop_size=config.crop.crop_size, crops_per_epoch=min(200, config.crop.crops_per_epoch),
                          oversample_rare=False, augment=False)
    val_crops = CropDataset(val_set, class_index, class_groups, val_crop, config.targets, config.train.seed + 1,
                            train=False)
    tally = MarkerTally(len(classes))
    problem = TrainingProblem(model=model, train_set=crops, val_set=val_crops, step=loss, validate=validate(loss, tally),
                              monitor="val_loss", monitor_mode="min")
    export = ExportDetector(run, config, classes, class_groups, staff_space, data_info)
    probe = interpret_probe(config, val_set, classes, class_index, class_groups)
    try:
        result = run_training(problem, config.train, run, TASK, dist, resume=resume is not None,
                              extra_hooks=(SetCropEpoch(crops), PerClassCurves(tally, classes),
                                           *interpret_hooks(config.interpret, probe), *extra_hooks,
                                           export), track=track,
                              tracking_uri=tracking_uri)
    finally:
        teardown_distributed()
    return TrainOutcome(run=run, result=result, package=export.package)


PROBE_LAYERS = ("stem", "down1", "down2", "context", "up2", "up1")
PROBE_CROP = 96  # px: about ten staff spaces around the explained symbol


def interpret_probe(config: Config, val_set: SymbolDataset, classes: list[str], class_index: dict[str, int],
                    class_groups: np.ndarray | None = None) -> Probe:
    """Validation crops centred on symbols: the detector is explained at their centre pixel."""
    n = config.interpret.attribution_inputs
    pool, pool_labels = symbol_crops(val_set, class_index, PROBE_CROP, max(config.interpret.infoplane_samples, n))
    return Probe(inputs=pool[:n], labels=pool_labels[:n], pool=pool, pool_labels=pool_labels,
                 class_names=tuple(classes), layers=PROBE_LAYERS, kind="detector",
                 class_groups=torch.from_numpy(class_groups) if class_groups is not None else None)


def config_of_run(run: RunDir) -> Config:
    return config_from_dict(Config, {k: v for k, v in run.read_config().items() if k != "task"})
