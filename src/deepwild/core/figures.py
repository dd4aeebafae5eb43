"""Matplotlib, headless: one place that picks the Agg backend and saves figures atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepwild.core.io import atomic_path


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (imported on first use: it costs ~0.5 s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, target: Path, dpi: int = 110) -> Path:
    """Write a figure as PNG atomically and free it."""
    with atomic_path(target) as temp:
        fig.savefig(temp, format="png", dpi=dpi)
    pyplot().close(fig)
    return target
