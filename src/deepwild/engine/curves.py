"""Learning curves from a run's metrics.jsonl: train and validation loss and metrics per epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepwild.core.figures import pyplot, save_figure


def plot_learning_curves(epoch_records: list[dict[str, Any]], target: Path, title: str = "") -> Path | None:
    """Draw one panel per metric (loss first), train and val overlaid; None if nothing to draw."""
    if not epoch_records:
        return None
    plt = pyplot()

    names = sorted({key.split("_", 1)[1] for r in epoch_records for key in r
                    if key.startswith(("train_", "val_"))}, key=lambda n: (n != "loss", n))
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    for axis, name in zip(axes[0], names):
        for split, style in (("train", "-o"), ("val", "-s")):
            points = [(r["epoch"], r[f"{split}_{name}"]) for r in epoch_records if f"{split}_{name}" in r]
            if points:
                xs, ys = zip(*points)
                axis.plot(xs, ys, style, markersize=3, label=split)
        axis.set_title(name)
        axis.set_xlabel("epoch")
        if name == "loss" and all(r.get("train_loss", 1) > 0 for r in epoch_records):
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, target, dpi=110)
