"""Hooks: how everything that is not the loop itself attaches to training (detectron2's HookBase shape).

A hook gets the `Trainer` and reads what it needs (`trainer.state`, `trainer.last_step`,
`trainer.last_epoch`, `trainer.model`, `trainer.run`). Hooks run on rank 0 only unless they set
`all_ranks = True`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deepwild.engine.loop import Trainer


class HookBase:
    all_ranks = False

    def before_train(self, trainer: Trainer) -> None:
        """Called once, after the model, optimizer and any resumed state are ready."""

    def after_step(self, trainer: Trainer) -> None:
        """Called after every optimizer step; `trainer.last_step` holds its loss and metrics."""

    def after_epoch(self, trainer: Trainer) -> None:
        """Called after every epoch and its validation; `trainer.last_epoch` holds the epoch record."""

    def after_train(self, trainer: Trainer) -> None:
        """Called once when training finished normally."""
