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
    # From the model package's calibrated adversarial-input detector; None when it has none.
    suspicious: bool | None = None
    adversarial_score: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["top"] = [dataclasses.asdict(score) for score in self.top]
        if self.suspicious is None:
            del data["suspicious"], data["adversarial_score"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Classification:
        return cls(
            image=data["image"],
            label=data["label"],
            probability=float(data["probability"]),
            top=tuple(ClassScore(s["label"], float(s["probability"])) for s in data["top"]),
            model=data["model"],
            suspicious=data.get("suspicious"),
            adversarial_score=data.get("adversarial_score"),
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


@dataclass(frozen=True)
class Symbol:
    """One detected music symbol: DeepScoresV2 class, box in page pixels (x1/y1 exclusive), score."""

    class_name: str
    bbox: tuple[float, float, float, float]
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"class": self.class_name, "bbox": [round(v, 2) for v in self.bbox], "score": round(self.score, 4)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Symbol:
        return cls(data["class"], tuple(float(v) for v in data["bbox"]), float(data["score"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class PageDetections:
    """All symbols found on one page (`deepwild detect`)."""

    image: str
    width: int
    height: int
    model: str
    symbols: tuple[Symbol, ...]
    staff_space: float | None = None  # as estimated on the page, pixels
    # From the model's calibrated adversarial-input detector (tasks.omr.adversarial); None without one.
    suspicious: bool | None = None
    adversarial_score: float | None = None

    def to_json(self) -> dict[str, Any]:
        flags = {} if self.suspicious is None else {"suspicious": self.suspicious,
                                                    "adversarial_score": self.adversarial_score}
        return {"image": self.image, "width": self.width, "height": self.height, "model": self.model,
                "staff_space": self.staff_space, **flags, "symbols": [s.to_json() for s in self.symbols]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PageDetections:
        return cls(image=data["image"], width=int(data["width"]), height=int(data["height"]), model=data["model"],
                   symbols=tuple(Symbol.from_json(s) for s in data["symbols"]), staff_space=data.get("staff_space"),
                   suspicious=data.get("suspicious"), adversarial_score=data.get("adversarial_score"))


@dataclass(frozen=True)
class Article:
    """One article of a newspaper page: its outline in page pixels (x1/y1 of the box exclusive), the
    detector's score (1.0 for ground truth) and its place in the page's reading order (1 = first)."""

    id: str  # "a1", "a2", ...
    type: str  # "article"
    polygon: tuple[tuple[float, float], ...]
    bbox: tuple[float, float, float, float]
    score: float = 1.0
    reading_order: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "polygon": [[round(x, 1), round(y, 1)] for x, y in self.polygon],
                "bbox": [round(v, 1) for v in self.bbox], "score": round(self.score, 4),
                "reading_order": self.reading_order}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Article:
        return cls(id=str(data["id"]), type=str(data.get("type", "article")),
                   polygon=tuple((float(x), float(y)) for x, y in data["polygon"]),
                   bbox=tuple(float(v) for v in data["bbox"]),  # type: ignore[arg-type]
                   score=float(data.get("score", 1.0)), reading_order=int(data.get("reading_order", 0)))


@dataclass(frozen=True)
class PageSegmentation:
    """The articles of one newspaper page (`deepwild segment`, or a generated page's ground truth)."""

    image: str
    width: int
    height: int
    model: str
    articles: tuple[Article, ...]

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "width": self.width, "height": self.height, "model": self.model,
                "articles": [a.to_json() for a in self.articles]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PageSegmentation:
        return cls(image=data["image"], width=int(data["width"]), height=int(data["height"]), model=data["model"],
                   articles=tuple(Article.from_json(a) for a in data["articles"]))
