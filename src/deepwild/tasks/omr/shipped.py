"""The detector that ships inside the package, and telling a model argument from a page argument."""

from __future__ import annotations

from pathlib import Path

from deepwild.core.errors import ModelPackageError
from deepwild.core.package import is_model_package
from deepwild.engine.run import model_and_pages

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "assets" / "omr-dwd"


def shipped_model() -> Path:
    if not is_model_package(SHIPPED_MODEL):
        raise ModelPackageError("the shipped music symbol detector is missing from this installation",
                                hint="reinstall deepwild, or give a model: deepwild detect RUN_OR_MODEL PAGE ...")
    return SHIPPED_MODEL


def resolve_detector_model(items: list[str], root: str | Path | None = None) -> tuple[Path, list[str]]:
    """`[MODEL] PAGE ...`: the first item is the model when it names a model package or a run."""
    return model_and_pages(items, SHIPPED_MODEL, "deepwild detect [MODEL] PAGE [PAGE ...]", root)
