"""Train/val/test splits made once, by seed, and stored with the run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Split:
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]

    def indices(self, name: str) -> tuple[int, ...]:
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}; valid: train, val, test")
        return getattr(self, name)

    def to_json(self) -> dict[str, Any]:
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Split:
        return cls(tuple(data["train"]), tuple(data["val"]), tuple(data["test"]))


def stratified_split(labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> Split:
    """Split indices so that every class keeps its share in each part (same seed → same split)."""
    rng = np.random.default_rng(seed)
    train, val, test = [], [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        n_test = int(round(len(members) * test_fraction))
        n_val = int(round(len(members) * val_fraction))
        test += members[:n_test].tolist()
        val += members[n_test:n_test + n_val].tolist()
        train += members[n_test + n_val:].tolist()
    return Split(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test)))
