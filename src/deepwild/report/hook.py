"""The report while training: `report/index.html` rebuilt after every epoch and at the end of training."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from deepwild.engine.hooks import HookBase
from deepwild.report.html import build_report

if TYPE_CHECKING:
    from deepwild.engine.loop import Trainer


class ReportHook(HookBase):
    """Rebuilds the run's report after every epoch (after the interpretability hooks wrote their sections,
    as it comes after them among the hooks) and once more when training ends. A build costs milliseconds
    plus the size of the run's pictures. Runs on rank 0 only."""

    def __init__(self) -> None:
        self.warned = False

    def after_epoch(self, trainer: Trainer) -> None:
        self.build(trainer)

    def after_train(self, trainer: Trainer) -> None:
        self.build(trainer)

    def build(self, trainer: Trainer) -> None:
        if trainer.run is None:
            return
        try:
            build_report(trainer.run.path)
        except Exception as error:  # a report that fails must never end a training run of hours; say it once
            if not self.warned:
                print(f"deepwild: warning: the report was not rebuilt ({type(error).__name__}: {error}); "
                      f"training goes on, `deepwild report {trainer.run.path}` retries", file=sys.stderr, flush=True)
                self.warned = True
