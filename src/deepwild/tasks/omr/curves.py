"""Per-class learning curves of the detector, at no extra cost: the validation pass after every epoch
also counts, per class, the marker pixels (the pixels around each symbol's centre that decoding reads)
where the network is right: its energy map says "symbol here" and its class map names the class. A
class whose curve stays low is one the detector will miss, long before an evaluation on whole pages
says so; the curves show which classes are still learning when training stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from deepwild.core.charts import Series, line_chart
from deepwild.core.io import atomic_write_json, atomic_write_text, read_json
from deepwild.engine.hooks import HookBase
from deepwild.interpret.sections import Figure, Section, section_dir, write_section

if TYPE_CHECKING:
    from deepwild.engine.loop import Trainer

KEY = "per_class"
ORDER = 5  # right after the learning curves
WEAKEST_DRAWN = 10  # the chart shows the classes that end lowest


class MarkerTally:
    """Per class: marker pixels seen, and those with foreground energy and the right class, in one validation pass."""

    def __init__(self, class_count: int) -> None:
        self.seen = np.zeros(class_count, np.int64)
        self.right = np.zeros(class_count, np.int64)

    def reset(self) -> None:
        self.seen[:] = 0
        self.right[:] = 0

    def add(self, labels: torch.Tensor, correct: torch.Tensor) -> None:
        """labels (n,) class of each marker pixel; correct (n,) bool."""
        count = len(self.seen)
        self.seen += np.bincount(labels.cpu().numpy(), minlength=count)
        self.right += np.bincount(labels[correct].cpu().numpy(), minlength=count)

    def recall(self) -> np.ndarray:
        """(C,) share of each class's marker pixels got right; NaN for a class without markers."""
        return np.where(self.seen > 0, self.right / np.maximum(self.seen, 1), np.nan)


class PerClassCurves(HookBase):
    """After every epoch: the tally of that epoch's validation pass, kept in `interpret/per_class/curves.json`
    (trimmed to the checkpoint on resume), a chart of the weakest classes and a table of every class."""

    def __init__(self, tally: MarkerTally, classes: list[str]) -> None:
        self.tally, self.classes = tally, classes
        self.epochs: list[int] = []
        self.recall: list[list[float | None]] = []  # per recorded epoch, per class

    def _path(self, trainer: Trainer) -> Path:
        return section_dir(trainer.run.path, KEY) / "curves.json"

    def before_train(self, trainer: Trainer) -> None:
        if trainer.run is None or not self._path(trainer).is_file():
            return
        stored = read_json(self._path(trainer))
        kept = [i for i, epoch in enumerate(stored["epochs"]) if epoch <= trainer.state.epoch]
        self.epochs = [stored["epochs"][i] for i in kept]
        self.recall = [stored["recall"][i] for i in kept]

    def after_epoch(self, trainer: Trainer) -> None:
        if trainer.run is None or not self.tally.seen.any():
            return
        self.epochs.append(trainer.state.epoch)
        self.recall.append([None if np.isnan(v) else round(float(v), 4) for v in self.tally.recall()])
        atomic_write_json(self._path(trainer), {"classes": self.classes, "epochs": self.epochs, "recall": self.recall})
        self.publish(trainer.run.path)

    def publish(self, run_path: Path) -> None:
        values = np.array([[np.nan if v is None else v for v in row] for row in self.recall], np.float64)  # (E, C)
        last = values[-1]
        present = [c for c in range(len(self.classes)) if not np.isnan(last[c])]
        ordered = sorted(present, key=lambda c: (last[c], self.classes[c]))
        series = [Series(self.classes[c], tuple(float(e) for e in self.epochs), tuple(float(v) for v in values[:, c]))
                  for c in ordered[:WEAKEST_DRAWN]]
        svg = line_chart(f"marker recall of the {min(WEAKEST_DRAWN, len(ordered))} weakest classes", series,
                         y_range=(0.0, 1.0), width=520)
        folder = section_dir(run_path, KEY)
        atomic_write_text(folder / "weakest.svg", svg)
        every = -(-len(self.epochs) // 8)  # at most about eight epoch columns, always the last
        columns = sorted(set(range(0, len(self.epochs), every)) | {len(self.epochs) - 1})
        table = [{"class": self.classes[c], **{f"epoch {self.epochs[i]}": round(float(values[i, c]), 3) for i in columns},
                  "markers (last val)": int(self.tally.seen[c])} for c in ordered]
        write_section(run_path, Section(
            key=KEY, title="Per-class learning curves", order=ORDER,
            text=("After every epoch, on the validation crops: per class, the share of its marker pixels (around each "
                  "symbol's centre, where decoding reads the maps) at which the energy map says 'symbol here' and "
                  "the class map names the right class (among its energy group's classes). It comes from the "
                  "validation pass itself, at no extra cost. A class that stays low will be missed on whole pages; "
                  "one still rising when training stopped wants more epochs. It is a pixel measure, not AP: "
                  "`deepwild eval` scores whole pages. Classes are sorted by their last value, weakest first."),
            figures=(Figure(str((folder / "weakest.svg").relative_to(run_path)), "the weakest classes over epochs"),),
            tables=(table,)))
