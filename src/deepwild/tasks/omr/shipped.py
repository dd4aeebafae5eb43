"""The detector that ships inside the package, and telling a model argument from a page argument."""

from __future__ import annotations

from pathlib import Path

from deepwild.engine.run import model_and_pages, shipped_package

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "assets" / "omr-dwd"
USAGE = "deepwild detect [MODEL] PAGE [PAGE ...]"


def shipped_model() -> Path:
    return shipped_package(SHIPPED_MODEL, "the shipped music symbol detector", USAGE)


def resolve_detector_model(items: list[str], root: str | Path | None = None) -> tuple[Path, list[str]]:
    """`[MODEL] PAGE ...`: the first item is the model when it names a model package or a run."""
    return model_and_pages(items, SHIPPED_MODEL, USAGE, root)
