"""The slide "search for optimal parameters of a function": gradient descent on a two-parameter model.

f_W(x) = w1·x + w2 predicts diabetes progression from one clinical feature of scikit-learn's bundled
diabetes data (the feature rescaled to [0, 1], the progression standardised). Because the feature is
not centred, slope and intercept are coupled and the bowl is a long, tilted valley: descent zig-zags
across it and crawls along it, as it does in the loss landscapes of real networks. The loss l(W) = 1/N Σ (f_W(x_i) − y_i)² is a bowl over the plane
(w1, w2); plain gradient descent walks down it from a random start. Because the model is linear, the
bottom of the bowl is also known in closed form (least squares), so the two can be compared. The
Hessian is constant, H = 2/N · XᵀX, so descent is stable exactly when lr < 2/λ_max(H).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepwild.core.config import config_to_dict
from deepwild.core.errors import ConfigError
from deepwild.core.figures import pyplot, save_figure
from deepwild.core.io import atomic_write_json
from deepwild.engine.records import mark_run
from deepwild.engine.run import RunDir

FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
DIVERGED_FACTOR = 1e6  # loss growth over the start that counts as divergence


@dataclass(frozen=True)
class DescentConfig:
    feature: str = "bmi"
    lr: float = 0.7
    steps: int = 400
    seed: int = 0
    init_range: float = 2.0  # w1, w2 start uniformly in [-init_range, init_range]

    def validate(self) -> None:
        if self.feature not in FEATURES:
            raise ConfigError(f"unknown feature {self.feature!r}; valid: {', '.join(FEATURES)}")
        if self.lr <= 0 or self.steps < 1:
            raise ConfigError("lr must be positive and steps at least 1")


@dataclass(frozen=True)
class DescentResult:
    path: np.ndarray  # (steps_done + 1, 2): W before each step, and the last W
    losses: np.ndarray  # (steps_done + 1,)
    fitted: tuple[float, float]
    optimum: tuple[float, float]
    optimum_loss: float
    stable_lr_limit: float  # 2 / λ_max(H)
    diverged: bool
    distance: float  # |W − W*|
    original_units: dict[str, float]  # the fitted line in the data's own units
    run: RunDir
    figure: Path

    @property
    def agrees(self) -> bool:
        return not self.diverged and self.distance < 1e-4


def load_feature(feature: str) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """x (one feature, rescaled to [0, 1]), y (progression, standardised), and what undoes both."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    x = bunch.data[:, FEATURES.index(feature)].astype(np.float64)
    y = bunch.target.astype(np.float64)
    stats = {"x_min": x.min(), "x_range": x.max() - x.min(), "y_mean": y.mean(), "y_std": y.std()}
    return (x - stats["x_min"]) / stats["x_range"], (y - stats["y_mean"]) / stats["y_std"], stats


def mse(w1: np.ndarray | float, w2: np.ndarray | float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """l(W) on a grid of (w1, w2) at once: broadcasting over a trailing axis of samples."""
    w1, w2 = np.asarray(w1)[..., None], np.asarray(w2)[..., None]
    return ((w1 * x + w2 - y) ** 2).mean(axis=-1)


def gradient_descent(x: np.ndarray, y: np.ndarray, config: DescentConfig) -> tuple[np.ndarray, np.ndarray, bool]:
    """Plain gradient descent with autograd, as a deep network is trained, just with two weights."""
    generator = torch.Generator().manual_seed(config.seed)
    weights = ((torch.rand(2, generator=generator, dtype=torch.float64) * 2 - 1) * config.init_range).requires_grad_()
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    path, losses = [], []
    for _ in range(config.steps + 1):
        loss = ((weights[0] * xs + weights[1] - ys) ** 2).mean()
        path.append(weights.detach().numpy().copy())
        losses.append(loss.item())
        if not np.isfinite(losses[-1]) or losses[-1] > DIVERGED_FACTOR * max(losses[0], 1e-12):
            return np.array(path), np.array(losses), True
        if len(path) > config.steps:
            break
        loss.backward()
        with torch.no_grad():
            weights -= config.lr * weights.grad
            weights.grad = None
    return np.array(path), np.array(losses), False


def run_descent(config: DescentConfig, root: str | Path | None = None, name: str | None = None) -> DescentResult:
    x, y, stats = load_feature(config.feature)
    design = np.stack([x, np.ones_like(x)], axis=1)
    optimum = np.linalg.lstsq(design, y, rcond=None)[0]
    hessian = 2.0 / len(x) * design.T @ design
    stable_lr_limit = float(2.0 / np.linalg.eigvalsh(hessian).max())
    path, losses, diverged = gradient_descent(x, y, config)

    run = RunDir.create("lecture-descent", root, name)
    run.write_config({"task": "lecture-descent", **config_to_dict(config)})
    for step, (w, loss) in enumerate(zip(path, losses)):
        run.append_metrics({"kind": "step", "step": step, "w1": float(w[0]), "w2": float(w[1]), "loss": float(loss)})
    fitted = path[-1]
    slope = fitted[0] * stats["y_std"] / stats["x_range"]
    original = {"slope": float(slope), "intercept": float(stats["y_mean"] + fitted[1] * stats["y_std"] - slope * stats["x_min"])}
    figure = plot_descent(run.plots / "descent.png", x, y, path, losses, optimum, config, diverged, stable_lr_limit)
    result = DescentResult(path=path, losses=losses, fitted=(float(fitted[0]), float(fitted[1])),
                           optimum=(float(optimum[0]), float(optimum[1])), optimum_loss=float(mse(*optimum, x, y)),
                           stable_lr_limit=stable_lr_limit, diverged=diverged,
                           distance=float(np.linalg.norm(fitted - optimum)), original_units=original, run=run,
                           figure=figure)
    atomic_write_json(run.path / "result.json", summary(result))
    mark_run(run, "lecture-descent", "diverged" if diverged else "finished", epochs=len(path) - 1,
             metrics={"final_loss": float(losses[-1]), "distance_to_optimum": result.distance})
    return result


def summary(result: DescentResult) -> dict[str, Any]:
    return {"fitted": result.fitted, "optimum": result.optimum, "final_loss": float(result.losses[-1]),
            "optimum_loss": result.optimum_loss, "steps": len(result.path) - 1, "diverged": result.diverged,
            "distance": result.distance, "stable_lr_limit": result.stable_lr_limit,
            "original_units": result.original_units, "agrees": result.agrees, "finished": time.time()}


def plot_descent(target: Path, x: np.ndarray, y: np.ndarray, path: np.ndarray, losses: np.ndarray, optimum: np.ndarray,
                 config: DescentConfig, diverged: bool, stable_lr_limit: float) -> Path:
    plt = pyplot()

    # The view is centred on the optimum and shows the start; a diverging path leaves the frame.
    start_radius = float(np.abs(path[0] - optimum).max())
    radius = 1.25 * max(start_radius, float(np.abs(path[np.isfinite(path).all(axis=1)] - optimum).max()) if not diverged else 0.0, 0.5)
    radius = min(radius, 3 * max(start_radius, 0.5))
    w1s = np.linspace(optimum[0] - radius, optimum[0] + radius, 121)
    w2s = np.linspace(optimum[1] - radius, optimum[1] + radius, 121)
    grid1, grid2 = np.meshgrid(w1s, w2s)
    surface = mse(grid1, grid2, x, y)

    fig = plt.figure(figsize=(17, 4.4))
    axis = fig.add_subplot(1, 4, 1)
    axis.contourf(grid1, grid2, surface, levels=np.geomspace(surface.min(), surface.max(), 25), cmap="viridis", alpha=0.85)
    axis.plot(path[:, 0], path[:, 1], "-o", color="white", markersize=2.5, linewidth=1)
    axis.plot(*path[0], "o", color="orange", label="start")
    axis.plot(*optimum, "*", color="red", markersize=12, label="least-squares optimum")
    axis.set_xlim(w1s[0], w1s[-1])
    axis.set_ylim(w2s[0], w2s[-1])
    axis.set_xlabel("w1 (slope)")
    axis.set_ylabel("w2 (intercept)")
    axis.set_title(f"error landscape, lr {config.lr:g}" + (" — DIVERGED" if diverged else ""))
    axis.legend(loc="upper right", fontsize=7)

    axis3d = fig.add_subplot(1, 4, 2, projection="3d")
    axis3d.plot_surface(grid1, grid2, surface, cmap="viridis", alpha=0.6, linewidth=0)
    inside = (np.abs(path - optimum) <= radius).all(axis=1)
    axis3d.plot(path[inside, 0], path[inside, 1], losses[inside], "-o", color="red", markersize=2)
    axis3d.set_xlabel("w1")
    axis3d.set_ylabel("w2")
    axis3d.set_zlabel("l(W)")
    axis3d.set_title("l(W) = 1/N Σ (f_W(x) − y)²")

    axis = fig.add_subplot(1, 4, 3)
    axis.semilogy(np.arange(len(losses)), np.maximum(losses, 1e-300), "-o", markersize=2, label="gradient descent")
    axis.axhline(float(mse(*optimum, x, y)), color="red", linestyle="--", label="optimum")
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.set_title(f"loss per step (stable for lr < {stable_lr_limit:.3g})")
    axis.legend(fontsize=7)

    axis = fig.add_subplot(1, 4, 4)
    axis.scatter(x, y, s=4, alpha=0.4, label="patients")
    line = np.linspace(x.min(), x.max(), 2)
    if np.isfinite(path[-1]).all() and not diverged:
        axis.plot(line, path[-1][0] * line + path[-1][1], color="orange", label="f_W, gradient descent")
    axis.plot(line, optimum[0] * line + optimum[1], "--", color="red", label="least squares")
    axis.set_xlabel(f"{config.feature} (rescaled to [0, 1])")
    axis.set_ylabel("progression (standardised)")
    axis.set_title("the fitted function")
    axis.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, target, dpi=100)
