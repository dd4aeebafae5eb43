"""What every image classifier task shares: the step, validation, metrics, evaluation files, loading."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from deepwild.core.figures import pyplot, save_figure
from deepwild.core.io import atomic_write_json, atomic_write_text
from deepwild.core.package import ModelPackage
from deepwild.engine.loop import StepOutput
from deepwild.models.packaged import load_packaged_model


def classification_step(net: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
    images, labels = batch
    logits = net(images)
    loss = F.cross_entropy(logits, labels)
    accuracy = (logits.detach().argmax(dim=1) == labels).float().mean()
    return StepOutput(loss=loss, metrics={"accuracy": accuracy})


def classification_validate(model: torch.nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:
    loss_sum, correct, count = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == labels).sum())
        count += len(labels)
    return {"loss": loss_sum / max(count, 1), "accuracy": correct / max(count, 1)}


@torch.no_grad()
def predict_probabilities(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    outputs = [F.softmax(model(images[i:i + batch_size]).float(), dim=1) for i in range(0, len(images), batch_size)]
    return torch.cat(outputs) if outputs else torch.empty(0)


def classification_metrics(labels: np.ndarray, predictions: np.ndarray,
                           class_names: tuple[str, ...]) -> tuple[dict[str, float], dict[str, dict[str, float]], np.ndarray]:
    """Accuracy, macro F1, per-class precision/recall/F1/support, and the confusion matrix (rows = truth)."""
    n = len(class_names)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class: dict[str, dict[str, float]] = {}
    for index, name in enumerate(class_names):
        true_positive = confusion[index, index]
        precision = true_positive / max(confusion[:, index].sum(), 1)
        recall = true_positive / max(confusion[index].sum(), 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                           "support": int(confusion[index].sum())}
    present = [v for v in per_class.values() if v["support"] > 0]
    metrics = {"accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)),
               "macro_f1": float(np.mean([v["f1"] for v in present])) if present else 0.0,
               "samples": int(confusion.sum())}
    return metrics, per_class, confusion


def write_classification_eval(directory: Path, metrics: dict[str, Any], per_class: dict[str, dict[str, float]],
                              confusion: np.ndarray, class_names: tuple[str, ...], title: str) -> list[Path]:
    """metrics.json, per_class.csv, confusion.csv and confusion.png in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_json(directory / "metrics.json", {"metrics": metrics, "per_class": per_class})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["class", "precision", "recall", "f1", "support"])
    for name, row in per_class.items():
        writer.writerow([name, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}", row["support"]])
    atomic_write_text(directory / "per_class.csv", buffer.getvalue())
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["truth\\predicted", *class_names],
                                  *[[name, *row.tolist()] for name, row in zip(class_names, confusion)]])
    atomic_write_text(directory / "confusion.csv", buffer.getvalue())
    plot = plot_confusion(confusion, class_names, directory / "confusion.png", title)
    return [directory / "metrics.json", directory / "per_class.csv", directory / "confusion.csv", plot]


def plot_confusion(confusion: np.ndarray, class_names: tuple[str, ...], target: Path, title: str) -> Path:
    plt = pyplot()

    size = max(4.0, 0.45 * len(class_names) + 1.5)
    fig, axis = plt.subplots(figsize=(size, size * 0.9))
    axis.imshow(confusion, cmap="Blues")
    axis.set_xticks(range(len(class_names)), class_names, rotation=90 if len(class_names) > 12 else 0)
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("truth")
    if len(class_names) <= 20:
        for (row, col), value in np.ndenumerate(confusion):
            if value:
                axis.text(col, row, str(value), ha="center", va="center", fontsize=7,
                          color="white" if value > confusion.max() / 2 else "black")
    axis.set_title(title)
    fig.tight_layout()
    return save_figure(fig, target, dpi=110)


def load_classifier(model_dir: Path, task: str) -> tuple[ModelPackage, torch.nn.Module]:
    """A model package's network, checked against the task it is used for."""
    return load_packaged_model(model_dir, task, f"a {task!r} classifier")
