"""The training process, recorded while it happens: how each layer's gradients, weights and activations
move, and which ReLU units die.

- Every `every` optimizer steps: the L2 norm of the gradient of each module that owns parameters
  (`conv1.0`, `classifier`; the gradient the optimizer just used, after any clipping), their total,
  and the learning rate.
- Before the first epoch and after every epoch: a histogram of each layer's weights (modules with a
  `weight` of two or more dimensions: convolutions, linear layers), a histogram of each probe layer's
  activations on a fixed slice of the probe pool, and the dead-unit share of every `nn.ReLU` module that
  the probe's forward pass runs through: a channel is dead when it is zero at every position of every
  probe input. The probe pass runs in eval mode without gradients and puts every module back into the
  mode it was in. A model that calls `F.relu` instead of `nn.ReLU` modules shows no dead-unit share.

Records are appended to `interpret/process/steps.jsonl` and `epochs.jsonl`, one JSON object per line
(a crash can cut only the last line, which reading skips); a resumed run first drops the records after
its checkpoint, as `metrics.jsonl` does, so nothing is lost or counted twice. After every epoch the
figures (SVG, drawn in milliseconds by `core.charts`) and the report section with a table of the latest
numbers are rewritten, so a report built mid-training shows the process up to the last epoch.

Cost on a digits run (20 steps of 64 an epoch): two gradient-norm records, one eval pass over 16 inputs,
histograms and the redrawn figures per epoch, about 1 % of the CPU time of training.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from deepwild.core.charts import Series, colour_scale, grid, heatmap, line_chart, ordered_colors
from deepwild.core.io import atomic_write_text, read_jsonl
from deepwild.engine.hooks import HookBase
from deepwild.interpret.probe import Probe
from deepwild.interpret.sections import Figure, Section, section_dir, write_section

if TYPE_CHECKING:
    from deepwild.engine.loop import Trainer

KEY = "process"
ORDER = 10  # the first section after the report's own learning curves
HISTOGRAM_BINS = 40
# Pool inputs behind the activation histograms and the dead-unit share. A digits epoch is 20 steps of 64:
# 16 inputs in eval mode cost ~0.5 % of it (128 cost ~3.5 %); a channel still has 16 × H × W chances to fire.
PROBE_INPUTS = 16
PUBLISH_EVERY_S = 10.0  # figures and section redrawn at most this often while training (always at the end)
PROBE_CHUNK = 32  # inputs per forward pass, to bound memory on large inputs (detector crops)
VALUES_PER_CHUNK = 1 << 16  # activation values per layer and chunk that the histogram samples


@dataclass(frozen=True)
class Histogram:
    low: float
    high: float
    counts: tuple[int, ...]  # equal-width bins over [low, high]

    @classmethod
    def of(cls, values: torch.Tensor, bins: int = HISTOGRAM_BINS) -> Histogram:
        values = values.detach().float().flatten()
        values = values[torch.isfinite(values)]
        if values.numel() == 0:
            return cls(0.0, 0.0, (0,) * bins)
        low, high = float(values.min()), float(values.max())
        if high <= low:  # all values equal: a narrow range around them keeps the bins well defined
            margin = max(abs(low) * 1e-6, 1e-12)
            low, high = low - margin, high + margin
        counts = torch.histc(values, bins=bins, min=low, max=high)
        return cls(low, high, tuple(int(c) for c in counts.round().tolist()))

    def rebinned(self, edges: np.ndarray) -> np.ndarray:
        """Counts on other bin edges, assuming values spread evenly within each own bin."""
        own = np.linspace(self.low, self.high, len(self.counts) + 1)
        cumulative = np.concatenate([[0.0], np.cumsum(self.counts, dtype=np.float64)])
        return np.diff(np.interp(edges, own, cumulative))

    def to_json(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "counts": list(self.counts)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        return cls(float(data["low"]), float(data["high"]), tuple(int(c) for c in data["counts"]))


@dataclass(frozen=True)
class StepRecord:
    step: int
    epoch: int  # the (1-based) epoch the step belongs to
    lr: float
    grad_norm: dict[str, float]  # module → L2 norm of its own parameters' gradients
    grad_norm_total: float

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "lr": self.lr, "grad_norm": self.grad_norm,
                "grad_norm_total": self.grad_norm_total}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepRecord:
        return cls(int(data["step"]), int(data["epoch"]), float(data["lr"]), dict(data["grad_norm"]),
                   float(data["grad_norm_total"]))


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # finished epochs: 0 is before training
    step: int
    weights: dict[str, Histogram]  # layer → histogram of its weight
    activations: dict[str, Histogram]  # probe layer → histogram of its activations on the probe inputs
    dead_share: dict[str, float]  # ReLU module → share of its channels that are dead on the probe inputs

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "step": self.step,
                "weights": {k: h.to_json() for k, h in self.weights.items()},
                "activations": {k: h.to_json() for k, h in self.activations.items()},
                "dead_share": self.dead_share}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EpochRecord:
        return cls(int(data["epoch"]), int(data["step"]),
                   {k: Histogram.from_json(h) for k, h in data["weights"].items()},
                   {k: Histogram.from_json(h) for k, h in data["activations"].items()},
                   {k: float(v) for k, v in data["dead_share"].items()})


class ProcessLog:
    """The process records of one run: two append-only JSONL files."""

    def __init__(self, folder: Path) -> None:
        self.steps_path, self.epochs_path = folder / "steps.jsonl", folder / "epochs.jsonl"

    @staticmethod
    def _append(path: Path, record: dict[str, Any]) -> None:
        # One write call per line: a crash can only cut the last line, which reading skips.
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def append_step(self, record: StepRecord) -> None:
        self._append(self.steps_path, record.to_json())

    def append_epoch(self, record: EpochRecord) -> None:
        self._append(self.epochs_path, record.to_json())

    def steps(self) -> list[StepRecord]:
        return [StepRecord.from_json(r) for r in read_jsonl(self.steps_path)]

    def epochs(self) -> list[EpochRecord]:
        return [EpochRecord.from_json(r) for r in read_jsonl(self.epochs_path)]

    def truncate(self, step: int, epoch: int) -> tuple[list[StepRecord], list[EpochRecord]]:
        """Keep the records up to a checkpoint (`step` steps, `epoch` finished epochs), drop the rest;
        return the kept ones (so a resumed run reads each file once)."""
        steps = [r for r in read_jsonl(self.steps_path) if r["step"] <= step]
        epochs = [r for r in read_jsonl(self.epochs_path) if r["epoch"] <= epoch]
        for path, kept in ((self.steps_path, steps), (self.epochs_path, epochs)):
            atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
        return [StepRecord.from_json(r) for r in steps], [EpochRecord.from_json(r) for r in epochs]


# -- measurements ---------------------------------------------------------------------------------

def parameter_modules(model: nn.Module) -> dict[str, tuple[nn.Parameter, ...]]:
    """Every module that owns trainable parameters itself (not through children), by name."""
    found = {}
    for name, module in model.named_modules():
        own = tuple(p for p in module.parameters(recurse=False) if p.requires_grad)
        if own:
            found[name or type(model).__name__] = own
    return found


def gradient_norms(modules: dict[str, tuple[nn.Parameter, ...]]) -> tuple[dict[str, float], float]:
    """(module → gradient norm, total norm); modules without gradients are left out."""
    names, norms = [], []
    for name, params in modules.items():
        grads = [p.grad.detach() for p in params if p.grad is not None]
        if grads:
            names.append(name)
            norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))
    if not norms:
        return {}, 0.0
    values = torch.stack(norms).cpu().tolist()  # one device sync for all modules
    return dict(zip(names, values)), math.sqrt(sum(v * v for v in values))


def weight_histograms(model: nn.Module, bins: int = HISTOGRAM_BINS) -> dict[str, Histogram]:
    return {name: Histogram.of(module.weight, bins) for name, module in model.named_modules()
            if isinstance(getattr(module, "weight", None), torch.Tensor) and module.weight.dim() >= 2}


def probe_activations(model: nn.Module, probe: Probe, count: int = PROBE_INPUTS,
                      bins: int = HISTOGRAM_BINS) -> tuple[dict[str, Histogram], dict[str, float]]:
    """Histograms of the probe layers' activations and the dead-unit share of each ReLU module, on the
    first `count` pool inputs, in eval mode without gradients; every module's mode is restored after."""
    inputs = probe.pool[:count]
    device = next(model.parameters()).device
    modes = {module: module.training for module in model.modules()}
    alive: dict[str, torch.Tensor] = {}  # ReLU key → (C,) bool: the channel was positive somewhere
    calls: dict[str, int] = {}

    def watch(name: str) -> Any:
        def hook(_module: nn.Module, _args: Any, output: torch.Tensor) -> None:
            # A ReLU module called twice in one pass (a shared activation) is counted per call.
            calls[name] = calls.get(name, 0) + 1
            if not torch.is_tensor(output) or output.dim() < 2:
                return
            key = name if calls[name] == 1 else f"{name}@{calls[name]}"
            positive = output.detach().amax(dim=[0, *range(2, output.dim())]) > 0  # (C,)
            alive[key] = positive | alive[key] if key in alive else positive
        return hook

    handles = [module.register_forward_hook(watch(name)) for name, module in model.named_modules()
               if isinstance(module, nn.ReLU)]
    sampled: dict[str, list[torch.Tensor]] = {name: [] for name in probe.layers}
    sampler = torch.Generator().manual_seed(0)  # never the global RNG: training must draw the same numbers
    try:
        model.eval()
        with torch.no_grad():
            for start in range(0, len(inputs), PROBE_CHUNK):
                calls.clear()
                features = probe.features(model, inputs[start:start + PROBE_CHUNK].to(device))
                for name, values in features.items():
                    flat = values.detach().flatten().float().cpu()
                    if flat.numel() > VALUES_PER_CHUNK:
                        flat = flat[torch.randint(flat.numel(), (VALUES_PER_CHUNK,), generator=sampler)]
                    sampled[name].append(flat)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.train(training)
    histograms = {name: Histogram.of(torch.cat(parts), bins) for name, parts in sampled.items() if parts}
    dead = {key: float((~positive).float().mean()) for key, positive in alive.items()}
    return histograms, dead


# -- the hook -------------------------------------------------------------------------------------

class ProcessHook(HookBase):
    def __init__(self, probe: Probe, every: int = 10, probe_inputs: int = PROBE_INPUTS) -> None:
        self.probe, self.every, self.probe_inputs = probe, every, probe_inputs
        self.log: ProcessLog | None = None
        self.run_path: Path | None = None
        self.steps: list[StepRecord] = []
        self.epochs: list[EpochRecord] = []
        self.modules: dict[str, tuple[nn.Parameter, ...]] = {}
        self.published = -float("inf")

    def before_train(self, trainer: Trainer) -> None:
        if trainer.run is None:  # a bare loop has nowhere to write
            return
        self.run_path = trainer.run.path
        self.log = ProcessLog(section_dir(self.run_path, KEY))
        # A resumed run drops what was recorded after its checkpoint (a fresh run: everything).
        self.steps, self.epochs = self.log.truncate(trainer.state.step, trainer.state.epoch)
        self.modules = parameter_modules(trainer.model)
        if trainer.state.step == 0:
            self._record_epoch(trainer)  # the initial weights and activations: epoch 0

    def after_step(self, trainer: Trainer) -> None:
        if self.log is None or trainer.state.step % self.every:
            return
        norms, total = gradient_norms(self.modules)
        record = StepRecord(step=trainer.state.step, epoch=trainer.state.epoch + 1,
                            lr=float(trainer.optimizer.param_groups[0]["lr"]), grad_norm=norms, grad_norm_total=total)
        self.log.append_step(record)
        self.steps.append(record)

    def after_epoch(self, trainer: Trainer) -> None:
        if self.log is None:
            return
        self._record_epoch(trainer)
        # Redrawn at most every PUBLISH_EVERY_S while training: short epochs (a digits epoch is ~1 s) would
        # otherwise spend a percent of training on drawing; the records themselves are kept every epoch.
        if time.monotonic() - self.published >= PUBLISH_EVERY_S:
            self.publish()

    def after_train(self, trainer: Trainer) -> None:
        if self.log is not None:
            self.publish()

    def _record_epoch(self, trainer: Trainer) -> None:
        assert self.log is not None
        activations, dead = probe_activations(trainer.model, self.probe, self.probe_inputs)
        record = EpochRecord(epoch=trainer.state.epoch, step=trainer.state.step,
                             weights=weight_histograms(trainer.model), activations=activations, dead_share=dead)
        self.log.append_epoch(record)
        self.epochs.append(record)

    def publish(self) -> None:
        """Redraw the figures (SVG: milliseconds) and rewrite the report section."""
        assert self.run_path is not None
        self.published = time.monotonic()
        figures = draw_process(self.steps, self.epochs, self.run_path, self.every)
        write_section(self.run_path, process_section(self.steps, self.epochs, figures, self.every,
                                                     self.probe_inputs, len(self.probe.pool)))


# -- figures and the report section ---------------------------------------------------------------

FIGURES = (  # (file, what it shows) in report order
    ("training_process.svg", "Gradient norm per module (log scale) and learning rate over optimizer steps; share of "
                             "dead channels per ReLU module over epochs (epoch 0 = before training). Early layers "
                             "dark, late layers light."),
    ("weight_histograms.svg", "Weights per layer over epochs: the colour is log10 of the share of values in each bin."),
    ("activation_histograms.svg", "Activations per probe layer on fixed validation inputs over epochs: the colour is "
                                  "log10 of the share of values in each bin; ReLU layers pile up at 0."),
)
HEATMAP_ROWS = 48
SHARE_FLOOR = 1e-4  # log10 of a share is drawn from -4 (1 value in 10,000) to 0
MAX_LEGEND = 16  # more series than this: colours from dark (early) to light (late), no legend


def draw_process(steps: list[StepRecord], epochs: list[EpochRecord], run_path: Path, every: int) -> tuple[Figure, ...]:
    """Write the process figures into interpret/process/ and return them (paths relative to the run)."""
    folder = section_dir(run_path, KEY)
    drawn = []
    charts = {FIGURES[0][0]: _curves(steps, epochs, every) if steps or epochs else None,
              FIGURES[1][0]: _heatmaps(epochs, "weights"), FIGURES[2][0]: _heatmaps(epochs, "activations")}
    for name, caption in FIGURES:
        if charts[name] is not None:
            atomic_write_text(folder / name, charts[name])
            drawn.append(Figure(f"interpret/{KEY}/{name}", caption))
    return tuple(drawn)


def _ordered_series(names: list[str], points_of: Any) -> list[Series]:
    colors = ordered_colors(len(names))
    series = []
    for name, color in zip(names, colors):
        points = points_of(name)
        if points:
            xs, ys = zip(*points)
            series.append(Series(name, xs, ys, color=color))
    return series


def _curves(steps: list[StepRecord], epochs: list[EpochRecord], every: int) -> str:
    modules = list(dict.fromkeys(name for r in steps for name in r.grad_norm))
    gradients = _ordered_series(modules, lambda name: [(r.step, r.grad_norm[name]) for r in steps if name in r.grad_norm])
    if steps:
        gradients.append(Series("total", tuple(r.step for r in steps), tuple(r.grad_norm_total for r in steps),
                                color="#000000", dashed=True))
    rate = [Series("learning rate", tuple(r.step for r in steps), tuple(r.lr for r in steps))]
    relus = list(dict.fromkeys(name for r in epochs for name in r.dead_share))
    dead = _ordered_series(relus, lambda name: [(r.epoch, r.dead_share[name]) for r in epochs if name in r.dead_share])
    return grid([line_chart(f"gradient norm (every {every} steps)", gradients, "step", log_y=True,
                            legend=len(gradients) <= MAX_LEGEND),
                 line_chart("learning rate", rate, "step", legend=False),
                 line_chart("dead ReLU channels (share)", dead, "epoch", y_range=(0.0, 1.0),
                            legend=len(dead) <= MAX_LEGEND)], columns=3)


def _heatmaps(epochs: list[EpochRecord], attribute: str) -> str | None:
    layers = list(dict.fromkeys(name for r in epochs for name in getattr(r, attribute)))
    if not layers:
        return None
    charts = []
    for layer in layers:
        records = [r for r in epochs if layer in getattr(r, attribute)]
        histograms = [getattr(r, attribute)[layer] for r in records]
        low, high = min(h.low for h in histograms), max(h.high for h in histograms)
        edges = np.linspace(low, high, HEATMAP_ROWS + 1)
        shares = np.stack([h.rebinned(edges) / max(sum(h.counts), 1) for h in histograms], axis=1)  # (rows, epochs)
        charts.append(heatmap(layer, np.log10(shares + SHARE_FLOOR), [r.epoch for r in records], (low, high),
                              value_range=(math.log10(SHARE_FLOOR), 0.0), width=290, height=210))
    per_row = min(4, len(charts))
    charts.insert(per_row, colour_scale("log10 share", (math.log10(SHARE_FLOOR), 0.0), height=210))  # ends row 1
    return grid(charts, columns=per_row + 1)


def process_section(steps: list[StepRecord], epochs: list[EpochRecord], figures: Iterable[Figure], every: int,
                    probe_inputs: int, pool_size: int) -> Section:
    gradient_rows = [{"module": name, "first gradient norm": steps[0].grad_norm.get(name),
                      "last gradient norm": norm} for name, norm in steps[-1].grad_norm.items()] if steps else []
    dead_rows = [{"ReLU module": name, f"dead share, epoch {epochs[0].epoch}": epochs[0].dead_share.get(name),
                  f"dead share, epoch {epochs[-1].epoch}": share}
                 for name, share in epochs[-1].dead_share.items()] if epochs else []
    text = (f"How training went inside the network. Gradient norms per module that owns parameters are recorded every "
            f"{every} optimizer steps (the gradient the optimizer used, after clipping); weight histograms, activation "
            f"histograms of the probe layers and the share of dead ReLU channels after every epoch, on the first "
            f"{min(probe_inputs, pool_size)} validation inputs of the probe (eval mode). A channel counts as dead when "
            f"it is zero at every position of every one of these inputs, so with few inputs the share is an upper "
            f"bound; ReLUs called as functions (F.relu) are not seen. Activation histograms sample at most "
            f"{VALUES_PER_CHUNK:,} values per layer from each batch of up to {PROBE_CHUNK} inputs.")
    return Section(key=KEY, title="Training process", order=ORDER, text=text, figures=tuple(figures),
                   tables=tuple(t for t in (gradient_rows, dead_rows) if t),
                   extra={"steps_recorded": len(steps), "epochs_recorded": len(epochs), "every": every})
