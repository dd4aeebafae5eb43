"""The newspaper segmentation model that ships inside the package (made by scripts/ship_news_model.py)."""

from __future__ import annotations

from pathlib import Path

from deepwild.core.errors import ModelPackageError
from deepwild.core.package import is_model_package
from deepwild.engine.run import model_and_pages

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "assets" / "news-fcn"


def shipped_model() -> Path:
    if not is_model_package(SHIPPED_MODEL):
        raise ModelPackageError("the shipped newspaper segmentation model is missing from this installation",
                                hint="reinstall deepwild, or give a model: deepwild segment RUN_OR_MODEL PAGE ...")
    return SHIPPED_MODEL


def resolve_segmenter_model(items: list[str], root: str | Path | None = None) -> tuple[Path, list[str]]:
    """`[MODEL] PAGE ...`: the first item is the model when it names a model package or a run."""
    return model_and_pages(items, SHIPPED_MODEL, "deepwild segment [MODEL] PAGE [PAGE ...]", root)
