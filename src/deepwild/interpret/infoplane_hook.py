"""The information-plane hook: where each of the probe's layers T sits between I(X;T) and I(T;Y) as
training goes on (Shwartz-Ziv & Tishby 2017), by binning and by the KDE upper bound (see
`interpret.infoplane` for both estimators and their limits).

X is the probe's pool of validation inputs (all distinct, taken as equally likely), Y their classes, and
T a layer's representation of them: for a classifier each channel's mean over the image (what global
pooling passes on), for the detector the layer's features at the centre pixel of a symbol-centred crop
(the pixel whose class the detector decides). One measurement costs a forward pass over the pool (on
digits several times the estimates themselves), so measurements spend from the shared `CostBudget`;
the first epoch and the end of training are always measured.

Records go to `interpret/infoplane/records.json`; a resumed run drops those after its checkpoint and
continues the trajectories.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from deepwild.core.charts import Rule, Series, grid, trajectory_chart
from deepwild.core.io import atomic_write_json, atomic_write_text, read_json
from deepwild.engine.hooks import HookBase
from deepwild.interpret.attribution_hook import epoch_ranges
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.infoplane import binning_information, kde_information
from deepwild.interpret.probe import Probe
from deepwild.interpret.schedule import BudgetShare, CostBudget
from deepwild.interpret.sections import Figure, Section, section_dir, write_section

if TYPE_CHECKING:
    from deepwild.engine.loop import Trainer

KEY = "infoplane"
FIGURE = "infoplane.svg"
BINS = 30  # Shwartz-Ziv & Tishby's bin count, over each layer's own [min, max] of the epoch
NOISE_VARIANCE = 0.1  # the KDE's assumed noise (Saxe et al. 2018); the estimate's scale depends on it
SATURATION_SLACK = 0.05  # bits: I(X;T) this close to log2 N means every input has its own bin pattern
BATCH = 64
BUDGET_FRACTION = 0.5  # of the shared budget: attribution takes the other half


@torch.no_grad()
def layer_representations(model: torch.nn.Module, probe: Probe, batch_size: int = BATCH) -> dict[str, np.ndarray]:
    """T for every probe layer: (N, channels) per layer, for the probe's pool."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in probe.layers}
    try:
        for start in range(0, len(probe.pool), batch_size):
            maps = probe.features(model, probe.pool[start:start + batch_size].to(device).float())
            for name, value in maps.items():  # (B, C, h, w)
                if probe.kind == "detector":
                    parts[name].append(value[:, :, value.shape[2] // 2, value.shape[3] // 2].cpu())
                else:
                    parts[name].append(value.float().mean(dim=(2, 3)).cpu())
    finally:
        model.train(was_training)
    return {name: torch.cat(values).double().numpy() for name, values in parts.items()}


def measure(model: torch.nn.Module, probe: Probe) -> dict[str, Any]:
    """One epoch's point per layer: {"binning": [[I(X;T), I(T;Y)], ...], "kde": [...]} in bits."""
    start = time.perf_counter()
    layers = layer_representations(model, probe)
    labels = probe.pool_labels.cpu().numpy()
    binned, kde = [], []
    for values in layers.values():
        low, high = float(values.min()), float(values.max())
        binned.append(list(binning_information(values, labels, BINS, (low, max(high, low + 1e-6)))))
        kde.append(list(kde_information(values, labels, NOISE_VARIANCE)))
    return {"binning": binned, "kde": kde, "seconds": time.perf_counter() - start}


class Records:
    """records.json: the settings once, then one record per measured epoch, in epoch order."""

    def __init__(self, path: Path, probe: Probe) -> None:
        self.path = path
        labels = probe.pool_labels.cpu().numpy()
        counts = np.bincount(labels) if len(labels) else np.zeros(1)
        share = counts[counts > 0] / max(counts.sum(), 1)
        self.header = {"samples": len(probe.pool), "layers": list(probe.layers), "bins": BINS,
                       "noise_variance": NOISE_VARIANCE, "representation": _representation(probe),
                       "h_y": float(-(share * np.log2(share)).sum()), "log2_n": float(np.log2(max(len(probe.pool), 1)))}
        self.records: list[dict[str, Any]] = []
        if path.is_file():
            self.records = [r for r in read_json(path).get("records", []) if isinstance(r.get("epoch"), int)]

    def trim(self, last_epoch: int) -> None:
        self.records = [r for r in self.records if r["epoch"] <= last_epoch]
        self.save()

    def add(self, epoch: int, record: dict[str, Any]) -> None:
        self.records = [r for r in self.records if r["epoch"] != epoch] + [{"epoch": epoch, **record}]
        self.records.sort(key=lambda r: r["epoch"])
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, {**self.header, "records": self.records})


def _representation(probe: Probe) -> str:
    return ("features at the crop's centre pixel" if probe.kind == "detector"
            else "channel means (global average pooling)")


class InfoPlaneHook(HookBase):
    def __init__(self, config: InterpretConfig, probe: Probe, budget: CostBudget) -> None:
        self.probe = probe
        self.budget = BudgetShare(budget, BUDGET_FRACTION)
        self.records: Records | None = None

    def before_train(self, trainer: Trainer) -> None:
        self.budget.restart()
        if trainer.run is not None:
            self.records = Records(section_dir(trainer.run.path, KEY) / "records.json", self.probe)
            self.records.trim(trainer.state.epoch)  # a resumed run continues after its checkpoint

    def after_epoch(self, trainer: Trainer) -> None:
        if self.records is None or not self.budget.allows():
            return
        with self.budget.spend():
            self.records.add(trainer.state.epoch, measure(trainer.model, self.probe))
        if trainer.state.epoch < trainer.config.epochs and self.budget.allows():  # the end draws anyway
            with self.budget.spend():
                self.write(trainer)

    def after_train(self, trainer: Trainer) -> None:
        if self.records is None:
            return
        if not self.records.records or self.records.records[-1]["epoch"] != trainer.state.epoch:
            self.records.add(trainer.state.epoch, measure(trainer.model, self.probe))
        self.write(trainer)

    def write(self, trainer: Trainer) -> None:
        assert self.records is not None and trainer.run is not None
        folder = section_dir(trainer.run.path, KEY)
        atomic_write_text(folder / FIGURE, draw_infoplane(self.records.header, self.records.records))
        write_section(trainer.run.path, section(self.records.header, self.records.records))


def draw_infoplane(header: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """Binning and KDE side by side (an SVG: milliseconds, where matplotlib took a quarter of a second per
    redraw); each layer a trajectory, its points coloured by epoch."""
    epochs = np.array([r["epoch"] for r in records], np.float64)
    shades = (epochs - epochs.min()) / max(epochs.max() - epochs.min(), 1.0)
    charts = []
    for estimator in ("binning", "kde"):
        values = np.array([r[estimator] for r in records])  # (epochs, layers, 2)
        layers = [Series(name, tuple(values[:, layer, 0]), tuple(values[:, layer, 1]))
                  for layer, name in enumerate(header["layers"])]
        # From zero, so that points piled up at the limits read as saturation, not as a zoomed-in trend.
        x_range = (0.0, max(header["log2_n"], float(values[..., 0].max())) * 1.06)
        y_range = (0.0, max(header["h_y"], float(values[..., 1].max())) * 1.08)
        rules = [Rule("y", header["h_y"], dashed=False)]
        if estimator == "binning":
            rules.append(Rule("x", header["log2_n"]))
            saturated = saturated_from(header, records[-1:])
            title = f"binning ({header['bins']} bins): saturates at log2 N = {header['log2_n']:.2f} (dashed)"
            note = f"saturated: {', '.join(saturated)}" if saturated else ""
        else:
            title, note = f"KDE upper bound, noise variance {header['noise_variance']}", ""
        charts.append(trajectory_chart(title, layers, shades, "I(X;T) [bits]", "I(T;Y) [bits]  (dotted: H(Y))",
                                       x_range, y_range, rules, note))
    return grid(charts, columns=2)


def saturated_from(header: dict[str, Any], records: list[dict[str, Any]], estimator: str = "binning") -> dict[str, int]:
    """Layer → the first measured epoch from which the estimate of I(X;T) stayed at log2 N (saturated at the end)."""
    found = {}
    for layer, name in enumerate(header["layers"]):
        first = None
        for record in records:
            if record[estimator][layer][0] >= header["log2_n"] - SATURATION_SLACK:
                first = record["epoch"] if first is None else first
            else:
                first = None
        if first is not None:
            found[name] = first
    return found


def section(header: dict[str, Any], records: list[dict[str, Any]]) -> Section:
    saturated = saturated_from(header, records)
    measured = [r["epoch"] for r in records]
    if saturated:
        note = ("Binning saturated: I(X;T) = log2 N = {:.2f} bits, every input in its own bin pattern, so it says "
                "nothing about compression, for {}.").format(
            header["log2_n"], ", ".join(f"{name} (from epoch {epoch})" for name, epoch in saturated.items()))
    else:
        note = f"Binning did not saturate at log2 N = {header['log2_n']:.2f} bits for any layer."
    kde_saturated = saturated_from(header, records, "kde")
    kde_note = ""
    if kde_saturated:  # the bound cannot exceed log2 N either: inputs far apart relative to the noise
        kde_note = (" The KDE bound reached log2 N too for {}: there the representations of different inputs lie "
                 "far apart compared with the assumed noise.").format(
            ", ".join(f"{name} (from epoch {epoch})" for name, epoch in kde_saturated.items()))
    text = (f"Each layer T of the network on {header['samples']} validation inputs X with classes Y; T is the "
            f"layer's {header['representation']}. Binning ({header['bins']} equal bins over each layer's range "
            f"at that epoch) treats the binned layer as a discrete variable: I(X;T) ≤ log2 N, and layers wider "
            f"than ~16 units put each input in its own bin pattern. {note} The KDE estimate is an upper bound "
            f"that assumes Gaussian noise of variance {header['noise_variance']} on T: it measures how far apart "
            f"the representations lie relative to that noise, and its values move with the assumed variance.{kde_note} "
            f"I(T;Y) ≤ H(Y) = {header['h_y']:.2f} bits (dotted). Measured at epochs {epoch_ranges(measured)}, when the "
            f"interpretability budget allowed and at the end; colour = epoch.")
    last = records[-1]
    rows = [{"layer": name, "binning I(X;T)": last["binning"][i][0], "binning I(T;Y)": last["binning"][i][1],
             "KDE I(X;T)": last["kde"][i][0], "KDE I(T;Y)": last["kde"][i][1],
             "binning saturated": "yes" if name in saturated else "no"}
            for i, name in enumerate(header["layers"])]
    return Section(key=KEY, title="Information plane", order=50, text=text,
                   figures=(Figure(f"interpret/{KEY}/{FIGURE}", f"Information plane at epochs {epoch_ranges(measured)}, on "
                                  f"{header['samples']} validation inputs; T = {header['representation']}. Colour = "
                                  f"epoch, {measured[0]} dark … {measured[-1]} light; one marker shape per layer, "
                                  "named at its last point."),),
                   tables=(rows,), extra={"epochs": measured, "saturated_from": saturated,
                                          "kde_saturated_from": kde_saturated,
                                          "seconds_per_measurement": float(np.mean([r["seconds"] for r in records]))})
