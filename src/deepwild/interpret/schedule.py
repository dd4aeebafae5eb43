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
    def __init__(self, share: float | None = 0.03) -> None:
        self.share = share
        self.spent_s = 0.0  # time the analyses took so far
        self.started = time.monotonic()

    def restart(self) -> None:
        """Call at before_train: a resumed run's budget counts from its restart."""
        self.spent_s, self.started = 0.0, time.monotonic()

    def allows(self) -> bool:
        if self.share is None or self.spent_s == 0.0:
            return True
        training_s = time.monotonic() - self.started - self.spent_s
        return self.spent_s <= self.share * max(training_s, 0.0)

    @contextlib.contextmanager
    def spend(self) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.spent_s += time.monotonic() - start
