"""The newspaper segmentation model that ships inside the package (made by scripts/ship_news_model.py)."""

from __future__ import annotations

from pathlib import Path

from deepwild.engine.run import model_and_pages, shipped_package

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "assets" / "news-fcn"
USAGE = "deepwild segment [MODEL] PAGE [PAGE ...]"


def shipped_model() -> Path:
    return shipped_package(SHIPPED_MODEL, "the shipped newspaper segmentation model", USAGE)


def resolve_segmenter_model(items: list[str], root: str | Path | None = None) -> tuple[Path, list[str]]:
    """`[MODEL] PAGE ...`: the first item is the model when it names a model package or a run."""
    return model_and_pages(items, SHIPPED_MODEL, USAGE, root)
