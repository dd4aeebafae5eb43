"""The error landscape of a real network: `lecture descent`'s bowl, in millions of dimensions.

A trained network's loss l(W) cannot be drawn over all its weights, but it can be drawn over a plane
through them: l(W + α·D1 + β·D2) for two random directions D1, D2 (Li, Xu, Taylor, Studer & Goldstein,
"Visualizing the loss landscape of neural nets", NeurIPS 2018). Random directions alone mislead, because
a ReLU network with batch norm computes the same function when a filter's weights are scaled: a step of
one unit means a lot to a small filter and nothing to a large one. So each direction is
**filter-normalised**: drawn from N(0, 1), then every filter (a conv layer's output channel, a linear
layer's output unit) is rescaled to the norm of the same filter in W. Biases and batch-norm parameters
get no component (Li et al.'s default), and batch norm runs in eval mode, on its running statistics, so
that every grid point is a fixed function of its input.

The loss is the mean cross-entropy on one fixed batch of validation data; the centre of the grid
(α = β = 0) is the trained model itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepwild.core.config import config_to_dict
from deepwild.core.errors import ConfigError, DeepwildError
from deepwild.core.figures import pyplot, save_figure
from deepwild.core.io import atomic_write_json, read_json
from deepwild.core.package import ModelPackage, read_model_package
from deepwild.engine.records import mark_run
from deepwild.engine.run import RunDir, resolve_model

CHUNK = 64  # inputs per forward pass: on a CPU, 64 at a time ran ~1.5× faster per input than 128 at once
LossFunction = Callable[[nn.Module], tuple[float, float | None]]  # model → (loss, accuracy or None) on a fixed batch


@dataclass(frozen=True)
class LandscapeConfig:
    steps: int = 21  # grid points per direction; odd, so that the trained weights are a grid point
    span: float = 1.0  # α and β run over [−span, span]: 1 = a step as long as every filter itself
    samples: int = 64  # validation inputs in the fixed batch (the cost is steps² forward passes of them)
    seed: int = 0  # of the two random directions
    threads: int = 1  # torch CPU threads: one is fastest for a small model on a small, busy CPU; 0 = torch's default

    def validate(self) -> None:
        if self.steps < 3 or self.steps % 2 == 0:
            raise ConfigError(f"steps must be odd and at least 3 (the centre is the trained model), got {self.steps}")
        if self.span <= 0 or self.samples < 1 or self.threads < 0:
            raise ConfigError("span must be positive, samples at least 1 and threads not negative")


@dataclass(frozen=True)
class LossProblem:
    """What the landscape is drawn for: a network in eval mode and its loss on a fixed batch."""

    model: nn.Module
    loss: LossFunction
    name: str  # the model, for titles
    data: str  # the fixed batch, in words


@dataclass(frozen=True)
class LandscapeResult:
    alphas: np.ndarray  # (steps,)
    betas: np.ndarray  # (steps,)
    losses: np.ndarray  # (steps, steps): losses[j, i] at (alphas[i], betas[j])
    accuracies: np.ndarray | None  # same shape, where the loss function gives one
    centre_loss: float  # the trained model's loss on the batch, measured before any perturbation
    seconds: float
    run: RunDir
    figure: Path


def filter_normalised_direction(model: nn.Module, generator: torch.Generator) -> list[torch.Tensor]:
    """One random direction, a tensor per parameter: N(0, 1), each filter scaled to its weight filter's norm;
    zero for parameters of one dimension (biases, batch-norm scales and shifts)."""
    direction = []
    for parameter in model.parameters():
        if parameter.dim() <= 1:
            direction.append(torch.zeros_like(parameter))
            continue
        random = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype).to(parameter.device)
        dims = tuple(range(1, parameter.dim()))  # a filter: everything of one output channel / unit
        weight_norm = torch.linalg.vector_norm(parameter.detach(), dim=dims, keepdim=True)
        random_norm = torch.linalg.vector_norm(random, dim=dims, keepdim=True).clamp_min(1e-12)
        direction.append(random * weight_norm / random_norm)
    return direction


@torch.no_grad()
def loss_surface(model: nn.Module, loss: LossFunction, directions: tuple[list[torch.Tensor], list[torch.Tensor]],
                 alphas: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """loss(W + α·D1 + β·D2) on the grid; the weights are restored afterwards, whatever happens."""
    parameters = list(model.parameters())
    original = [p.detach().clone() for p in parameters]
    losses = np.zeros((len(betas), len(alphas)))
    accuracies = np.zeros_like(losses)
    has_accuracy = True
    model.eval()
    try:
        for j, beta in enumerate(betas):
            for i, alpha in enumerate(alphas):
                for p, p0, d1, d2 in zip(parameters, original, *directions):
                    p.copy_(p0 + float(alpha) * d1 + float(beta) * d2)
                losses[j, i], accuracy = loss(model)
                has_accuracy = has_accuracy and accuracy is not None
                accuracies[j, i] = accuracy if accuracy is not None else np.nan
    finally:
        for p, p0 in zip(parameters, original):
            p.copy_(p0)
    return losses, accuracies if has_accuracy else None


def landscape(problem: LossProblem, config: LandscapeConfig, root: str | Path | None = None,
              name: str | None = None) -> LandscapeResult:
    """Draw the loss around `problem.model` in a new lecture run; the model's weights are left as they were."""
    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    start = time.perf_counter()
    model = problem.model.eval()
    with torch.no_grad():
        centre_loss = problem.loss(model)[0]
    generator = torch.Generator().manual_seed(config.seed)
    directions = (filter_normalised_direction(model, generator), filter_normalised_direction(model, generator))
    grid = np.linspace(-config.span, config.span, config.steps)
    losses, accuracies = loss_surface(model, problem.loss, directions, grid, grid)
    seconds = time.perf_counter() - start
    run = RunDir.create("lecture-landscape", root, name)
    run.write_config({"task": "lecture-landscape", "model": problem.name, "data": problem.data, **config_to_dict(config)})
    figure = plot_landscape(run.plots / "landscape.png", grid, losses, problem, config)
    result = LandscapeResult(alphas=grid, betas=grid, losses=losses, accuracies=accuracies, centre_loss=centre_loss,
                             seconds=seconds, run=run, figure=figure)
    atomic_write_json(run.path / "result.json", summary(result, problem))
    mark_run(run, "lecture-landscape", "finished", metrics={"centre_loss": centre_loss,
                                                           "max_loss": float(losses.max())})
    return result


def summary(result: LandscapeResult, problem: LossProblem) -> dict[str, Any]:
    middle = len(result.alphas) // 2
    return {"model": problem.name, "data": problem.data, "alphas": result.alphas.tolist(),
            "losses": result.losses.tolist(),
            "accuracies": result.accuracies.tolist() if result.accuracies is not None else None,
            "centre_loss": result.centre_loss, "grid_centre_loss": float(result.losses[middle, middle]),
            "min_loss": float(result.losses.min()), "max_loss": float(result.losses.max()),
            "seconds": result.seconds,
            "directions": "filter-normalised Gaussian (Li et al. 2018); biases and batch-norm parameters not moved"}


# -- the digits classifier: its own validation split -------------------------------------------------


def digits_problem(ref: str | Path, samples: int, root: str | Path | None = None) -> LossProblem:
    """A digits model (run or package) and cross-entropy on the first `samples` of its validation split."""
    return _digits_problem(*resolve_model(ref, root), samples)


def _digits_problem(model_dir: Path, run: RunDir | None, samples: int) -> LossProblem:
    from deepwild.data.digits import load_digits_arrays, upsample
    from deepwild.data.splits import Split, stratified_split
    from deepwild.models.packaged import load_packaged_model

    package, model = load_packaged_model(model_dir, "digits", "a digits classifier")
    images, labels = load_digits_arrays()
    stored = run.path / "data.json" if run is not None else None
    if stored is not None and stored.is_file():
        split = Split.from_json(read_json(stored)["split"])
    else:  # a bare package: the split its config describes (the training run's, by construction)
        config = package.config
        split = stratified_split(labels, config.get("val_fraction", 0.15), config.get("test_fraction", 0.15),
                                 config.get("split_seed", 0))
    chosen = np.asarray(split.val[:samples], np.int64)
    x = upsample(images[chosen], int(package.input["image_size"]))  # (N, 1, S, S)
    y = torch.from_numpy(labels[chosen])

    def loss(net: nn.Module) -> tuple[float, float | None]:
        logits = torch.cat([net(x[i:i + CHUNK]) for i in range(0, len(x), CHUNK)])  # small batches: cache-friendly
        return float(F.cross_entropy(logits, y)), float((logits.argmax(dim=1) == y).float().mean())

    return LossProblem(model=model, loss=loss, name=package.name,
                       data=f"{len(chosen)} digits of the validation split")


def problem_for(ref: str | Path, samples: int, root: str | Path | None = None) -> LossProblem:
    """The loss problem of a model that needs no data folder (digits); others say what they need."""
    model_dir, run = resolve_model(ref, root)
    package: ModelPackage = read_model_package(model_dir)
    if package.task == "digits":
        return _digits_problem(model_dir, run, samples)
    raise DeepwildError(f"the loss landscape of {package.name} (task {package.task}) needs its validation data",
                        hint="give a dataset folder with --data DIR (made by `deepwild data scores`)")


def plot_landscape(target: Path, grid: np.ndarray, losses: np.ndarray, problem: LossProblem,
                   config: LandscapeConfig) -> Path:
    plt = pyplot()
    alpha, beta = np.meshgrid(grid, grid)
    middle = len(grid) // 2
    fig = plt.figure(figsize=(16, 4.6))
    axis = fig.add_subplot(1, 3, 1)
    low, high = float(losses.min()), float(losses.max())
    levels = np.geomspace(max(low, 1e-6), max(high, low * 1.01 + 1e-6), 30)
    filled = axis.contourf(alpha, beta, np.maximum(losses, levels[0]), levels=levels, cmap="viridis",
                           norm=plt.matplotlib.colors.LogNorm())
    axis.contour(alpha, beta, losses, levels=levels[::3], colors="white", linewidths=0.4, alpha=0.6)
    axis.plot(0, 0, "*", color="red", markersize=12, label=f"trained model (loss {losses[middle, middle]:.3g})")
    axis.set_xlabel("α (direction 1)")
    axis.set_ylabel("β (direction 2)")
    axis.set_title("loss around the trained weights (log colour scale)", fontsize=10)
    axis.legend(loc="upper right", fontsize=7)
    bar = fig.colorbar(filled, ax=axis, label="loss", ticks=levels[::5])
    bar.ax.set_yticklabels([f"{level:.3g}" for level in levels[::5]])
    bar.ax.minorticks_off()

    axis3d = fig.add_subplot(1, 3, 2, projection="3d")
    axis3d.plot_surface(alpha, beta, np.log10(np.maximum(losses, 1e-6)), cmap="viridis", linewidth=0, alpha=0.85)
    axis3d.set_xlabel("α")
    axis3d.set_ylabel("β")
    axis3d.set_zlabel("log10 loss")
    axis3d.set_title("l(W + α·D1 + β·D2)", fontsize=10)

    axis = fig.add_subplot(1, 3, 3)
    axis.semilogy(grid, losses[middle, :], label="along direction 1 (β = 0)")
    axis.semilogy(grid, losses[:, middle], label="along direction 2 (α = 0)")
    axis.axvline(0, color="red", linestyle=":", linewidth=0.8)
    axis.set_xlabel("step (1 = each filter's own norm)")
    axis.set_ylabel("loss")
    axis.set_title("two slices through the minimum", fontsize=10)
    axis.legend(fontsize=7)
    fig.suptitle(f"{problem.name}: filter-normalised random directions (seed {config.seed}), "
                 f"{problem.data}, batch norm in eval mode", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, target, dpi=100)
