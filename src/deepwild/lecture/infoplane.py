"""The information plane of Shwartz-Ziv & Tishby (2017), "Opening the black box of deep neural networks
via information", in their setting, and Saxe et al.'s (2018) contrast with ReLU.

Data: all 4,096 patterns of 12 binary inputs. Shwartz-Ziv & Tishby label them by a spherically
symmetric function of the pattern (12 points on a sphere; their data file is not public). Here the 12
points are the vertices of a regular icosahedron, f(x) = |Σ_i x_i v_i|² (the squared length of the
active vertices' sum, unchanged by the icosahedron's rotations), and y = 1 where f exceeds the
threshold that splits the patterns closest to half and half. Network 12-10-7-5-4-3-2 (tanh, or ReLU
for the contrast), softmax output, trained on 85 % of the patterns with Adam; at log-spaced epochs
every layer's (I(X;T), I(T;Y)) is estimated on all 4,096 patterns by binning (30 bins; ReLU layers
binned over [0, the layer's maximum]) and, if asked, by KDE (see `deepwild.interpret.infoplane`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from deepwild.core.config import config_to_dict
from deepwild.core.errors import ConfigError
from deepwild.core.figures import pyplot, save_figure
from deepwild.core.io import atomic_write_json
from deepwild.engine.records import mark_run
from deepwild.engine.run import RunDir
from deepwild.interpret.infoplane import binning_information, kde_information

LAYERS = (12, 10, 7, 5, 4, 3, 2)


@dataclass(frozen=True)
class InfoPlaneConfig:
    activation: Literal["tanh", "relu"] = "tanh"
    epochs: int = 3000
    points: int = 60  # epochs at which the information plane is measured (log-spaced, always the first and last)
    lr: float = 1e-3
    batch_size: int = 256
    train_fraction: float = 0.85
    bins: int = 30
    estimator: Literal["binning", "kde", "both"] = "binning"
    kde_noise_variance: float = 0.1
    seed: int = 0

    def validate(self) -> None:
        if self.epochs < 1 or self.points < 2:
            raise ConfigError("epochs must be at least 1 and points at least 2")
        if not 0 < self.train_fraction < 1:
            raise ConfigError(f"train_fraction must lie in (0, 1), got {self.train_fraction}")
        if self.bins < 2 or self.kde_noise_variance <= 0 or self.lr <= 0 or self.batch_size < 1:
            raise ConfigError("bins ≥ 2, kde_noise_variance > 0, lr > 0 and batch_size ≥ 1 are required")


@dataclass(frozen=True)
class InfoPlaneResult:
    epochs: np.ndarray  # (P,) epochs measured
    binning: np.ndarray | None  # (P, layers, 2): I(X;T), I(T;Y) in bits
    kde: np.ndarray | None
    train_accuracy: np.ndarray  # (P,)
    test_accuracy: np.ndarray
    seconds_per_binning: float  # mean time of one epoch's binning estimate over all layers
    run: RunDir
    figure: Path


def icosahedron() -> np.ndarray:
    """The 12 vertices (12, 3) of a regular icosahedron on the unit sphere."""
    phi = (1 + 5 ** 0.5) / 2
    vertices = []
    for a in (-1, 1):
        for b in (-phi, phi):
            vertices += [(0, a, b), (a, b, 0), (b, 0, a)]
    points = np.array(vertices, np.float64)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def szt_data() -> tuple[np.ndarray, np.ndarray]:
    """All 4,096 12-bit patterns (4096, 12) in {0, 1} and their labels (4096,) from a spherically symmetric rule."""
    patterns = ((np.arange(4096)[:, None] >> np.arange(12)[None, :]) & 1).astype(np.float64)
    f = np.linalg.norm(patterns @ icosahedron(), axis=1) ** 2
    candidates = np.unique(f)
    shares = np.array([(f > t).mean() for t in candidates])
    threshold = candidates[int(np.abs(shares - 0.5).argmin())]
    return patterns, (f > threshold).astype(np.int64)


class SZTNet(nn.Module):
    def __init__(self, activation: str) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(LAYERS[:-1], LAYERS[1:]))
        self.activation = nn.Tanh() if activation == "tanh" else nn.ReLU()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's output: hidden layers after the activation, the last as softmax probabilities."""
        outputs = []
        for index, layer in enumerate(self.layers):
            x = layer(x)
            x = torch.softmax(x, dim=1) if index == len(self.layers) - 1 else self.activation(x)
            outputs.append(x)
        return outputs


def measured_epochs(epochs: int, points: int) -> np.ndarray:
    return np.unique(np.round(np.geomspace(1, epochs, points)).astype(int))


def run_infoplane(config: InfoPlaneConfig, root: str | Path | None = None, name: str | None = None) -> InfoPlaneResult:
    config.validate()
    patterns, labels = szt_data()
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(patterns))
    cut = int(round(config.train_fraction * len(patterns)))
    train_index, test_index = order[:cut], order[cut:]
    torch.manual_seed(config.seed)
    net = SZTNet(config.activation).double()
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    x_all, y_all = torch.from_numpy(patterns), torch.from_numpy(labels)
    x_train, y_train = x_all[train_index], y_all[train_index]
    measure_at = set(measured_epochs(config.epochs, config.points).tolist())
    generator = torch.Generator().manual_seed(config.seed)

    run = RunDir.create("lecture-infoplane", root, name)
    run.write_config({"task": "lecture-infoplane", **config_to_dict(config)})
    epochs, binned, kde, train_acc, test_acc, binning_seconds = [], [], [], [], [], []
    for epoch in range(1, config.epochs + 1):
        permutation = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(x_train), config.batch_size):
            batch = permutation[start:start + config.batch_size]
            probabilities = net(x_train[batch])[-1]
            loss = nn.functional.nll_loss(torch.log(probabilities.clamp_min(1e-12)), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch not in measure_at:
            continue
        with torch.no_grad():
            layers = [t.numpy() for t in net(x_all)]
        predicted = layers[-1].argmax(axis=1)
        epochs.append(epoch)
        train_acc.append(float((predicted[train_index] == labels[train_index]).mean()))
        test_acc.append(float((predicted[test_index] == labels[test_index]).mean()))
        if config.estimator in ("binning", "both"):
            start_time = time.perf_counter()
            binned.append([binning_information(t, labels, config.bins, _bin_range(t, index, config.activation, len(layers)))
                           for index, t in enumerate(layers)])
            binning_seconds.append(time.perf_counter() - start_time)
        if config.estimator in ("kde", "both"):
            kde.append([kde_information(t, labels, config.kde_noise_variance) for t in layers])
        run.append_metrics({"kind": "epoch", "epoch": epoch, "train_accuracy": train_acc[-1], "test_accuracy": test_acc[-1],
                            **({"binning": binned[-1]} if binned else {}), **({"kde": kde[-1]} if kde else {})})
    result = InfoPlaneResult(
        epochs=np.array(epochs), binning=np.array(binned) if binned else None, kde=np.array(kde) if kde else None,
        train_accuracy=np.array(train_acc), test_accuracy=np.array(test_acc),
        seconds_per_binning=float(np.mean(binning_seconds)) if binning_seconds else float("nan"), run=run,
        figure=run.plots / "infoplane.png")
    plot_infoplane(result, config)
    atomic_write_json(run.path / "result.json", summary(result))
    mark_run(run, "lecture-infoplane", "finished", epochs=config.epochs,
             metrics={"train_accuracy": train_acc[-1], "test_accuracy": test_acc[-1]})
    return result


def _bin_range(values: np.ndarray, index: int, activation: str, layer_count: int) -> tuple[float, float]:
    if index == layer_count - 1:
        return 0.0, 1.0  # softmax probabilities
    if activation == "tanh":
        return -1.0, 1.0
    return 0.0, max(float(values.max()), 1e-6)  # ReLU: unbounded above, binned up to this epoch's maximum


def summary(result: InfoPlaneResult) -> dict[str, Any]:
    return {"epochs": result.epochs.tolist(),
            "binning": result.binning.tolist() if result.binning is not None else None,
            "kde": result.kde.tolist() if result.kde is not None else None,
            "train_accuracy": result.train_accuracy.tolist(), "test_accuracy": result.test_accuracy.tolist(),
            "seconds_per_binning": result.seconds_per_binning, "layers": list(LAYERS[1:]),
            "limits": "binning: I(X;T) ≤ log2 4096 = 12 bits; depends on the bin count (and, for ReLU, on the range); "
                      "KDE: depends on the noise variance"}


def plot_infoplane(result: InfoPlaneResult, config: InfoPlaneConfig) -> Path:
    plt = pyplot()
    estimates = [(label, values) for label, values in (("binning", result.binning), ("KDE", result.kde)) if values is not None]
    fig, axes = plt.subplots(1, len(estimates) + 1, figsize=(6 * len(estimates) + 5, 4.8), squeeze=False)
    colours = plt.get_cmap("viridis")(np.linspace(0, 1, len(result.epochs)))
    for axis, (label, values) in zip(axes[0], estimates):
        for layer in range(values.shape[1]):
            axis.plot(values[:, layer, 0], values[:, layer, 1], color="grey", linewidth=0.5, alpha=0.5)
        for point, colour in enumerate(colours):
            axis.scatter(values[point, :, 0], values[point, :, 1], color=colour, s=14, zorder=2)
            axis.plot(values[point, :, 0], values[point, :, 1], color=colour, linewidth=0.4, alpha=0.4)
        axis.set_xlabel("I(X;T) [bits]")
        axis.set_ylabel("I(T;Y) [bits]")
        axis.set_title(f"information plane ({label}, {config.activation}), layers 10-7-5-4-3-2")
    scale = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(result.epochs.min(), result.epochs.max()))
    fig.colorbar(scale, ax=axes[0, len(estimates) - 1], label="epoch")
    axis = axes[0, -1]
    axis.semilogx(result.epochs, result.train_accuracy, label="train")
    axis.semilogx(result.epochs, result.test_accuracy, label="test")
    axis.set_xlabel("epoch")
    axis.set_ylabel("accuracy")
    axis.set_title("learning curve")
    axis.legend()
    fig.tight_layout()
    return save_figure(fig, result.figure, dpi=100)
