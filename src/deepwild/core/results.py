"""Result types that cross every boundary (library, CLI, service, report), with JSON round trips."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClassScore:
    label: str
    probability: float


@dataclass(frozen=True)
class Classification:
    """The prediction of a classifier for one input."""

    image: str
    label: str
    probability: float
    top: tuple[ClassScore, ...]
    model: str

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["top"] = [dataclasses.asdict(score) for score in self.top]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Classification:
        return cls(
            image=data["image"],
            label=data["label"],
            probability=float(data["probability"]),
            top=tuple(ClassScore(s["label"], float(s["probability"])) for s in data["top"]),
            model=data["model"],
        )


@dataclass(frozen=True)
class EvaluationResult:
    """Metrics of a model on one split, plus where the detailed files were written."""

    model: str
    split: str
    metrics: dict[str, float]
    per_class: dict[str, dict[str, float]]
    files: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["files"] = list(self.files)
        return data
