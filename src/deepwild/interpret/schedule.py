"""When the heavier analyses run: often enough to watch, rarely enough that nobody turns them off.

Feature visualisation, attribution and the KDE estimate cost seconds, an epoch of a small model less.
The hooks that run them share one `CostBudget`: an analysis that is due by its epoch schedule runs
only while the analyses' total time stays under `share` of the training time so far (the first epoch
always runs one, and the end of training always draws the final pictures). `share=None` turns the
budget off (every due analysis runs), which tests use so that what they check never depends on timing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class CostBudget:
    def __init__(self, share: float | None) -> None:
        self.share = share
        self.spent_s = 0.0  # time the analyses took so far
        self.started = time.monotonic()

    def restart(self) -> None:
        """Call at before_train: a resumed run's budget counts from its restart."""
        self.spent_s, self.started = 0.0, time.monotonic()

    def training_s(self) -> float:
        """Time since the (re)start not spent on the analyses."""
        return max(time.monotonic() - self.started - self.spent_s, 0.0)

    def allows(self) -> bool:
        return self.share is None or self.spent_s == 0.0 or self.spent_s <= self.share * self.training_s()

    @contextlib.contextmanager
    def spend(self) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.spent_s += time.monotonic() - start


class BudgetShare:
    """One analysis's part of a shared `CostBudget`.

    Hooks run in a fixed order, so on a shared budget the first analysis that is due every epoch would take
    every turn and starve the ones after it. A share runs only while the whole budget allows it and its own
    spending stays under `fraction` of the budget; its first run is always allowed, so that every analysis
    shows up from the first epoch on.
    """

    def __init__(self, budget: CostBudget, fraction: float) -> None:
        self.budget, self.fraction = budget, fraction
        self.spent_s = 0.0

    def restart(self) -> None:
        self.budget.restart()
        self.spent_s = 0.0

    def allows(self) -> bool:
        if self.budget.share is None or self.spent_s == 0.0:
            return True
        return self.budget.allows() and self.spent_s <= self.fraction * self.budget.share * self.budget.training_s()

    @contextlib.contextmanager
    def spend(self) -> Iterator[None]:
        start = time.monotonic()
        try:
            with self.budget.spend():
                yield
        finally:
            self.spent_s += time.monotonic() - start
