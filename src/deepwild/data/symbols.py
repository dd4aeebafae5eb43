"""The in-memory type of symbol-annotated page datasets (DeepScores-style), shared by every reader,
writer, generator, augmentation and the detector.

Coordinates are pixels of the page image; boxes are (x0, y0, x1, y1) with x1/y1 exclusive, as in
DeepScoresV2's `a_bbox`. Class names are DeepScoresV2's (see `deepscores_classes`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

SPLITS = ("train", "val", "test", "test-unseen-font")


@dataclass(frozen=True)
class SymbolAnnotation:
    class_name: str
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 (exclusive), pixels
    o_bbox: tuple[float, ...] | None = None  # oriented box: 4 corners (x, y), DeepScoresV2 order
    area: int = 0  # ink pixels of the symbol (DeepScoresV2 "area")
    instance: int = 0  # its value in the page's instance mask (0 = not in a mask)

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def center(self) -> tuple[float, float]:
        return (self.bbox[0] + self.bbox[2]) / 2, (self.bbox[1] + self.bbox[3]) / 2


@dataclass(frozen=True)
class ScorePage:
    image: str  # path of the page image, relative to the dataset folder
    width: int
    height: int
    symbols: tuple[SymbolAnnotation, ...]
    piece: str = ""  # the source piece: splits are by piece, never by page
    font: str = ""
    split: str = ""
    class_mask: str | None = None  # per-pixel DeepScoresV2 class id (uint8 PNG), relative path
    instance_mask: str | None = None  # per-pixel instance id (uint16 PNG; 0 = background), relative path
    staff_space: float | None = None  # distance between staff lines, pixels (the detector's scale)

    def with_symbols(self, symbols: tuple[SymbolAnnotation, ...]) -> ScorePage:
        return replace(self, symbols=symbols)


@dataclass(frozen=True)
class SymbolDataset:
    pages: tuple[ScorePage, ...]
    root: Path | None = None  # folder that page paths are relative to
    info: dict = field(default_factory=dict)

    def split(self, name: str) -> SymbolDataset:
        return replace(self, pages=tuple(p for p in self.pages if p.split == name))

    def class_counts(self, split: str | None = None) -> Counter[str]:
        pages = self.pages if split is None else [p for p in self.pages if p.split == split]
        return Counter(symbol.class_name for page in pages for symbol in page.symbols)

    def image_path(self, page: ScorePage) -> Path:
        return (self.root or Path(".")) / page.image
