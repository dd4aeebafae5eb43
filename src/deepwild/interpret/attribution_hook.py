"""The attribution hook: Grad-CAM, guided backpropagation and integrated gradients of the probe's fixed
validation inputs, every `attribution_every` epochs and at the end, kept per epoch so that the report
shows how the explanations form over training.

Each run's maps go to `interpret/attribution/epochs/epoch-NNNN.npz` (quantised to 8 bits: they are
pictures); a resumed run deletes the files of epochs after its checkpoint and carries on. Computing and
drawing spend from the shared `CostBudget`; the end of training always computes and draws.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deepwild.core.io import atomic_path
from deepwild.engine.hooks import HookBase
from deepwild.interpret.attribution import (METHODS, AttributionConfig, Attributions, attribute, colour,
                                            grid_picture, input_picture, plot_attributions, save_picture)
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.probe import Probe
from deepwild.interpret.schedule import BudgetShare, CostBudget
from deepwild.interpret.sections import Figure, Section, section_dir, write_section

if TYPE_CHECKING:
    from deepwild.engine.loop import Trainer

KEY = "attribution"
IG_STEPS = 16  # during training: ~2 % completeness gap on digits at a fifth of the cost of 64 steps
BUDGET_FRACTION = 0.5  # of the shared budget: the information plane takes the other half
MAX_EPOCH_COLUMNS = 10  # the evolution figure shows at most this many epochs (evenly spread, always the last)
SHORT = {"gradcam": "Grad-CAM", "guided": "guided BP", "ig": "IG"}


def save_epoch(folder: Path, epoch: int, result: Attributions) -> Path:
    """One epoch's maps, 8-bit: Grad-CAM and guided backprop as uint8 of [0, 1], IG as int8 of [−1, 1]."""
    arrays: dict[str, np.ndarray] = {
        "inputs": np.round(np.clip(result.inputs, 0, 1) * 255).astype(np.uint8),
        "targets": result.targets, "predicted": result.predicted, "probabilities": result.probabilities}
    for method, value in result.maps.items():
        arrays[method] = (np.round(value * 127).astype(np.int8) if method == "ig"
                          else np.round(value * 255).astype(np.uint8))
    if result.ig_delta is not None and result.score_gap is not None:
        arrays["ig_delta"], arrays["score_gap"] = result.ig_delta, result.score_gap
    target = folder / f"epoch-{epoch:04d}.npz"
    with atomic_path(target) as temp:
        with open(temp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    return target


def load_epochs(folder: Path) -> dict[int, dict[str, np.ndarray]]:
    """Every stored epoch's maps, back in their display ranges."""
    epochs = {}
    for file in sorted(folder.glob("epoch-*.npz")):
        with np.load(file) as data:
            values = {name: data[name] for name in data.files}
        values["inputs"] = values["inputs"].astype(np.float32) / 255
        for method in METHODS:
            if method in values:
                values[method] = values[method].astype(np.float32) / (127 if method == "ig" else 255)
        epochs[int(file.stem.split("-")[1])] = values
    return epochs


def trim_epochs(folder: Path, last_epoch: int) -> None:
    """A resumed run redoes the epochs after its checkpoint: their maps go."""
    for file in folder.glob("epoch-*.npz"):
        if int(file.stem.split("-")[1]) > last_epoch:
            file.unlink()


def plot_evolution(epochs: dict[int, dict[str, np.ndarray]], class_names: tuple[str, ...], target: Path) -> Path:
    """One strip per input and method across epochs (at most MAX_EPOCH_COLUMNS of them, always the last);
    the predicted class of each epoch in the corner of the input's first strip."""
    shown = sorted(epochs)
    if len(shown) > MAX_EPOCH_COLUMNS:
        picks = np.unique(np.round(np.linspace(0, len(shown) - 1, MAX_EPOCH_COLUMNS)).astype(int))
        shown = [shown[i] for i in picks]
    last = epochs[shown[-1]]
    methods = [m for m in METHODS if m in last]
    tiles, labels, notes = [], [], {}
    for index in range(len(last["inputs"])):
        for offset, method in enumerate(methods):
            if offset == 0:
                for column, epoch in enumerate(shown, start=1):
                    notes[(len(tiles), column)] = class_names[int(epochs[epoch]["predicted"][index])]
            labels.append(f"#{index + 1} ({class_names[int(last['targets'][index])]}) {SHORT[method]}")
            tiles.append([input_picture(last["inputs"][index]) if offset == 0 else None,
                          *(colour(method, epochs[e]["inputs"][index], epochs[e][method][index]) for e in shown)])
    picture = grid_picture(tiles, labels, ["input", *(f"epoch {e}" for e in shown)],
                           "attribution over training (corner: predicted class)", tile_size=80, notes=notes,
                           group_rows=len(methods))
    return save_picture(picture, target)


class AttributionHook(HookBase):
    def __init__(self, config: InterpretConfig, probe: Probe, budget: CostBudget) -> None:
        self.every, self.probe = config.attribution_every, probe
        self.budget = BudgetShare(budget, BUDGET_FRACTION)
        self.settings = AttributionConfig(ig_steps=IG_STEPS)
        self.last: tuple[int, Attributions] | None = None

    def before_train(self, trainer: Trainer) -> None:
        importlib.import_module("captum.attr")  # a one-off second (it loads pyplot): not for the budget to pace

        self.budget.restart()
        if trainer.run is not None:
            trim_epochs(section_dir(trainer.run.path, KEY) / "epochs", trainer.state.epoch)

    def after_epoch(self, trainer: Trainer) -> None:
        epoch = trainer.state.epoch
        if trainer.run is None or epoch % self.every or not self.budget.allows():
            return
        with self.budget.spend():
            self.compute(trainer)
        if epoch < trainer.config.epochs and self.budget.allows():  # the end of training draws anyway
            with self.budget.spend():
                self.write(trainer)

    def after_train(self, trainer: Trainer) -> None:
        if trainer.run is None:
            return
        if self.last is None or self.last[0] != trainer.state.epoch:
            self.compute(trainer)
        self.write(trainer)

    def compute(self, trainer: Trainer) -> None:
        result = attribute(trainer.model, self.probe, self.settings)
        save_epoch(section_dir(trainer.run.path, KEY) / "epochs", trainer.state.epoch, result)  # type: ignore[union-attr]
        self.last = (trainer.state.epoch, result)

    def write(self, trainer: Trainer) -> None:
        if self.last is None:
            return
        run_path = trainer.run.path  # type: ignore[union-attr]
        folder = section_dir(run_path, KEY)
        epoch, result = self.last
        names = self.probe.class_names
        labels = [f"#{i + 1} true {names[int(result.targets[i])]}\npredicted {names[int(result.predicted[i])]} "
                  f"({result.probabilities[i]:.2f})" for i in range(len(result.targets))]
        plot_attributions(result, folder / "attribution.png", f"epoch {epoch}", labels)
        stored = load_epochs(folder / "epochs")
        plot_evolution(stored, names, folder / "evolution.png")
        write_section(run_path, section(self.probe, result, epoch, sorted(stored)))


def section(probe: Probe, result: Attributions, epoch: int, epochs: list[int]) -> Section:
    where = ("the class logit at the centre pixel of a crop centred on a validation symbol (the detector "
             "is explained at one pixel; its predicted class is read among the classes of the explained class's "
             "energy group)" if probe.kind == "detector" else "the class logit of a validation input")
    has_ig = result.ig_delta is not None and result.score_gap is not None
    # Relative to all inputs' score changes together: one input whose score hardly moves from the baseline
    # would make its own ratio meaningless.
    gap = float(np.abs(result.ig_delta).sum() / max(float(np.abs(result.score_gap).sum()), 1e-6)) if has_ig else None
    text = (f"What the network looks at when it scores the true class: {where}. Grad-CAM weights the maps of "
            f"layer {result.layer} by their averaged gradients (coarse: that layer's resolution); guided "
            f"backpropagation passes back only positive gradients through each ReLU (sharp, but hardly "
            f"class-specific: Adebayo et al. 2018); integrated gradients ({IG_STEPS} steps from an all-zero, "
            f"no-ink baseline; red for the class, blue against it) add up to the score's change from the baseline"
            + (f", here within {100 * gap:.1f} % of it" if gap is not None else "")
            + ". Each map is scaled on its own (Grad-CAM by its maximum, the others by their 99th percentile of "
            f"|value|): compare shapes across epochs, not brightness. Computed at epochs {epoch_ranges(epochs)}, "
            "when the interpretability budget allowed, and at the end of training.")
    rows = [{"input": i + 1, "true class": probe.class_names[int(result.targets[i])],
             "predicted": probe.class_names[int(result.predicted[i])],
             "probability": float(result.probabilities[i]),
             **({"score − baseline score": float(result.score_gap[i]),  # type: ignore[index]
                 "IG sum − that": float(result.ig_delta[i])} if has_ig else {})}
            for i in range(len(result.targets))]
    return Section(key=KEY, title="Attribution", order=40, text=text,
                   figures=(Figure(f"interpret/{KEY}/attribution.png", f"attribution maps at epoch {epoch}"),
                            Figure(f"interpret/{KEY}/evolution.png", "the same inputs' maps over training")),
                   tables=(rows,), extra={"epochs": epochs, "layer": result.layer, "ig_steps": IG_STEPS})


def epoch_ranges(values: list[int]) -> str:
    """[1, 2, 3, 5, 7, 8] → '1–3, 5, 7–8'."""
    parts: list[str] = []
    for value in values:
        if parts and value == int(parts[-1].split("–")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('–')[0]}–{value}"
        else:
            parts.append(str(value))
    return ", ".join(parts)
