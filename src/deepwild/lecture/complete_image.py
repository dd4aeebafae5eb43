"""The slide "complete an image": a small DCGAN (Radford et al. 2016) learns to draw digits, then a
masked digit is completed by searching the generator's input for an image that fits what is left
(Yeh et al. 2016, as Brandon Amos explains it in "Image Completion with Deep Learning in TensorFlow", 2016).

Training: scikit-learn's digits (the training split), upsampled to 32 × 32 and scaled to [-1, 1], the
generator G: z ∈ [-1, 1]^d → image and the discriminator D: image → logit trained with Adam
(lr 2e-4, β1 0.5), the non-saturating GAN loss and one-sided label smoothing.

Completion of an image y with mask M (1 = pixel known): find ẑ = argmin_z ‖M ⊙ (G(z) − y)‖₁ + λ·p(z),
the contextual loss (agree with the known pixels) plus λ times the perceptual loss p(z) = −log σ(D(G(z)))
(look like a real digit), by Adam on z from several random starts, z clipped to [-1, 1] after every
step; the start with the lowest loss wins. The completion is M ⊙ y + (1 − M) ⊙ G(ẑ): the known pixels
are kept exactly, only the hole is filled (Amos blends the seam with Poisson blending; 32-px digits on
a black ground have none to hide). The test images were never seen by the GAN.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepwild.core.config import config_to_dict
from deepwild.core.errors import ConfigError
from deepwild.core.figures import pyplot, save_figure
from deepwild.data.digits import load_digits_arrays, upsample
from deepwild.data.splits import stratified_split
from deepwild.engine.records import mark_run
from deepwild.engine.run import RunDir
from deepwild.lecture.page import Section, write_lecture_page

MASKS = ("centre", "left", "bottom", "pixels")
IMAGE_SIZE = 32


@dataclass(frozen=True)
class CompleteImageConfig:
    steps: int = 1500  # GAN training steps
    batch_size: int = 64
    latent: int = 32
    width: int = 32  # channels of the generator's last and the discriminator's first layer
    lr: float = 2e-4
    # One-sided label smoothing (Salimans et al. 2016): real digits are 0.9 real to the discriminator, so
    # that it cannot become certain and starve the generator of gradient (without it the discriminator's loss
    # sat near zero for hundreds of steps at a time, and every mask's completions were worse).
    real_label: float = 0.9
    images: int = 6  # test digits completed per mask
    masks: tuple[str, ...] = MASKS
    search_steps: int = 300  # Adam steps on z per completion
    search_lr: float = 0.03
    starts: int = 8  # random z starts per image; the best one is kept
    perceptual_weight: float = 0.1  # λ
    keep_fraction: float = 0.2  # "pixels" mask: share of pixels kept
    threads: int = 1
    seed: int = 0

    def validate(self) -> None:
        if min(self.steps, self.batch_size, self.latent, self.width, self.images, self.search_steps, self.starts) < 1:
            raise ConfigError("steps, batch_size, latent, width, images, search_steps and starts must be positive",
                              hint="e.g. --steps 1500")
        unknown = [m for m in self.masks if m not in MASKS]
        if unknown or not self.masks:
            raise ConfigError(f"unknown mask(s) {', '.join(unknown) or '(none given)'}; valid: {', '.join(MASKS)}")
        if self.lr <= 0 or self.search_lr <= 0 or self.perceptual_weight < 0 or not 0 < self.keep_fraction < 1:
            raise ConfigError("lr and search_lr must be positive, perceptual_weight not negative, keep_fraction in (0, 1)")
        if not 0.5 < self.real_label <= 1:
            raise ConfigError(f"real_label must lie in (0.5, 1], got {self.real_label}")
        if self.threads < 0:
            raise ConfigError("threads must not be negative")


class Generator(nn.Module):
    def __init__(self, latent: int, width: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Linear(latent, 4 * width * 4 * 4, bias=False), nn.BatchNorm1d(4 * width * 16),
                                     nn.ReLU())
        self.width = width
        self.up = nn.Sequential(  # 4 → 8 → 16 → 32
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.project(z).view(len(z), 4 * self.width, 4, 4))  # (B, 1, 32, 32) in [-1, 1]


class Discriminator(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.down = nn.Sequential(  # 32 → 16 → 8 → 4; no batch norm on the first layer, as in DCGAN
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * width), nn.LeakyReLU(0.2))
        self.head = nn.Linear(4 * width * 16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.down(x).flatten(1))[:, 0]  # (B,) logits: real > 0


@dataclass(frozen=True)
class Completion:
    mask: str
    originals: torch.Tensor  # (N, 1, S, S) in [-1, 1]
    masks: torch.Tensor  # (N, 1, S, S) 1 = known
    generated: torch.Tensor  # G(ẑ)
    completed: torch.Tensor  # M ⊙ y + (1 − M) ⊙ G(ẑ)
    hole_error: float  # mean |completed − original| over the hole, in [0, 1] grey levels
    mean_fill_error: float  # the same for a hole filled with the training images' mean: the baseline


@dataclass(frozen=True)
class CompleteImageResult:
    completions: tuple[Completion, ...]
    losses: np.ndarray  # (steps, 2): discriminator and generator loss
    seconds: float
    grid: Path
    samples: Path
    curves: Path
    page: Path
    run: RunDir


def digit_images(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and test digits (N, 1, 32, 32) in [-1, 1]."""
    images, labels = load_digits_arrays()
    split = stratified_split(labels, 0.0, 0.2, seed)
    scaled = upsample(images, IMAGE_SIZE) * 2 - 1
    return scaled[list(split.train)], scaled[list(split.test)]


def train_gan(images: torch.Tensor, config: CompleteImageConfig, run: RunDir | None = None
              ) -> tuple[Generator, Discriminator, np.ndarray]:
    torch.manual_seed(config.seed)
    generator_rng = torch.Generator().manual_seed(config.seed)
    g, d = Generator(config.latent, config.width), Discriminator(config.width)
    g_opt = torch.optim.Adam(g.parameters(), lr=config.lr, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d.parameters(), lr=config.lr, betas=(0.5, 0.999))
    losses = []
    for step in range(1, config.steps + 1):
        real = images[torch.randint(len(images), (config.batch_size,), generator=generator_rng)]
        fake = g(torch.rand(config.batch_size, config.latent, generator=generator_rng) * 2 - 1)
        real_logits = d(real)
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, config.real_label))
                  + F.softplus(d(fake.detach())).mean())  # − log(1 − σ(D(G(z))))
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        g_loss = F.softplus(-d(fake)).mean()  # non-saturating: −log σ(D(G(z)))
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        losses.append((d_loss.item(), g_loss.item()))
        if run is not None and (step % 50 == 0 or step == config.steps):
            recent = np.mean(losses[-50:], axis=0)
            run.append_metrics({"kind": "step", "step": step, "d_loss": float(recent[0]), "g_loss": float(recent[1])})
    return g.eval(), d.eval(), np.array(losses)


def make_masks(kind: str, count: int, keep_fraction: float, seed: int) -> torch.Tensor:
    """(count, 1, S, S) masks, 1 where a pixel is known."""
    mask = torch.ones(count, 1, IMAGE_SIZE, IMAGE_SIZE)
    quarter, half = IMAGE_SIZE // 4, IMAGE_SIZE // 2
    if kind == "centre":
        mask[..., quarter:IMAGE_SIZE - quarter, quarter:IMAGE_SIZE - quarter] = 0
    elif kind == "left":
        mask[..., :half] = 0
    elif kind == "bottom":
        mask[..., half:, :] = 0
    else:
        generator = torch.Generator().manual_seed(seed)
        mask = (torch.rand(count, 1, IMAGE_SIZE, IMAGE_SIZE, generator=generator) < keep_fraction).float()
    return mask


def complete(g: Generator, d: Discriminator, images: torch.Tensor, masks: torch.Tensor,
             config: CompleteImageConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(G(ẑ), M ⊙ y + (1 − M) ⊙ G(ẑ)) for images y (N, 1, S, S) with masks M, from `starts` random z each."""
    for module in (g, d):
        module.requires_grad_(False)
    count, starts = len(images), config.starts
    generator_rng = torch.Generator().manual_seed(config.seed)
    z = (torch.rand(count * starts, config.latent, generator=generator_rng) * 2 - 1).requires_grad_()
    targets, known = images.repeat_interleave(starts, 0), masks.repeat_interleave(starts, 0)  # (N·starts, 1, S, S)
    optimizer = torch.optim.Adam([z], lr=config.search_lr)
    for _ in range(config.search_steps):
        loss = search_loss(g, d, z, targets, known, config.perceptual_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        with torch.no_grad():
            z.clamp_(-1, 1)
    with torch.no_grad():
        final = search_loss(g, d, z, targets, known, config.perceptual_weight).view(count, starts)
        best = z.view(count, starts, -1)[torch.arange(count), final.argmin(1)]
        generated = g(best)
    for module in (g, d):
        module.requires_grad_(True)
    return generated, masks * images + (1 - masks) * generated


def search_loss(g: Generator, d: Discriminator, z: torch.Tensor, targets: torch.Tensor, known: torch.Tensor,
                weight: float) -> torch.Tensor:
    """(B,) contextual L1 over the known pixels plus λ × the perceptual loss."""
    images = g(z)
    contextual = (known * (images - targets)).abs().flatten(1).sum(1)
    return contextual + weight * F.softplus(-d(images))


def run_complete_image(config: CompleteImageConfig, root: str | Path | None = None,
                       name: str | None = None) -> CompleteImageResult:
    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    train, test = digit_images(config.seed)
    run = RunDir.create("lecture-complete-image", root, name)
    run.write_config({"task": "lecture-complete-image", **config_to_dict(config)})
    started = time.perf_counter()
    g, d, losses = train_gan(train, config, run)
    seconds = time.perf_counter() - started
    mean_image = train.mean(0, keepdim=True)
    completions = []
    for index, kind in enumerate(config.masks):
        originals = test[:config.images]
        masks = make_masks(kind, len(originals), config.keep_fraction, config.seed + index)
        generated, completed = complete(g, d, masks * originals, masks, config)
        hole = 1 - masks
        error = float(((completed - originals).abs() * hole).sum() / hole.sum().clamp_min(1)) / 2  # [-1, 1] → grey levels
        fill = masks * originals + hole * mean_image
        baseline = float(((fill - originals).abs() * hole).sum() / hole.sum().clamp_min(1)) / 2
        completions.append(Completion(kind, originals, masks, generated, completed, error, baseline))
    with torch.no_grad():
        samples = g(torch.rand(64, config.latent, generator=torch.Generator().manual_seed(config.seed + 1)) * 2 - 1)
    result_files = draw_figures(completions, samples, losses, run)
    summary: dict[str, Any] = {"gan_seconds": seconds, "final_losses": losses[-50:].mean(0).tolist(),
                               "completions": [{"mask": c.mask, "hole_error": c.hole_error,
                                                "mean_fill_error": c.mean_fill_error} for c in completions]}
    table = [["mask", "hole error (GAN)", "hole error (mean digit)"]]
    table += [[c.mask, f"{c.hole_error:.3f}", f"{c.mean_fill_error:.3f}"] for c in completions]
    page = write_lecture_page(run, "Complete an image", f"A DCGAN trained on digits for {config.steps} steps "
                              f"({seconds:.0f} s); masked test digits completed by a search over its input z.",
                              [Section("Completions", "Per mask: the masked input, the completion, the original.",
                                       picture=result_files[0], table=table),
                               Section("What the generator draws", picture=result_files[1]),
                               Section("GAN losses", picture=result_files[2])], summary)
    mark_run(run, "lecture-complete-image", "finished",
             metrics={f"hole_error_{c.mask}": c.hole_error for c in completions})
    return CompleteImageResult(tuple(completions), losses, seconds, *result_files, page, run)


def mosaic(rows: list[torch.Tensor], gap: int = 2) -> np.ndarray:
    """Rows of images (each (N, 1, S, S) in [-1, 1]) tiled into one grey picture in [0, 1], a gap between."""
    size = IMAGE_SIZE + gap
    columns = max(len(row) for row in rows)
    picture = np.ones((len(rows) * size - gap, columns * size - gap), np.float32)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            picture[r * size:r * size + IMAGE_SIZE, c * size:c * size + IMAGE_SIZE] = ((image[0].numpy() + 1) / 2).clip(0, 1)
    return picture


def draw_figures(completions: list[Completion], samples: torch.Tensor, losses: np.ndarray,
                 run: RunDir) -> tuple[Path, Path, Path]:
    plt = pyplot()
    rows, labels = [], []
    for completion in completions:
        masked = completion.masks * completion.originals  # the hole in mid grey (0 of [-1, 1])
        rows += [masked, completion.completed, completion.originals]
        labels += [f"{completion.mask}: masked", "completed", "original"]
    fig, axis = plt.subplots(figsize=(1.0 * len(rows[0]) + 1.6, 0.95 * len(rows)))
    axis.imshow(mosaic(rows), cmap="gray", vmin=0, vmax=1)
    axis.set_yticks([(IMAGE_SIZE + 2) * r + IMAGE_SIZE / 2 for r in range(len(rows))], labels, fontsize=8)
    axis.set_xticks([])
    fig.tight_layout()
    grid = save_figure(fig, run.plots / "completions.png", dpi=100)

    fig, axis = plt.subplots(figsize=(6, 6.3))
    axis.imshow(mosaic([samples[i:i + 8] for i in range(0, len(samples), 8)]), cmap="gray", vmin=0, vmax=1)
    axis.axis("off")
    axis.set_title("G(z) for 64 random z")
    fig.tight_layout()
    sample_grid = save_figure(fig, run.plots / "samples.png", dpi=100)

    fig, axis = plt.subplots(figsize=(7, 3.5))
    window = min(50, len(losses))
    smooth = np.array([np.convolve(losses[:, i], np.ones(window) / window, mode="valid") for i in range(2)])
    axis.plot(np.arange(window, len(losses) + 1), smooth[0], label="discriminator")
    axis.plot(np.arange(window, len(losses) + 1), smooth[1], label="generator")
    axis.set_xlabel("step")
    axis.set_ylabel(f"loss (mean of {window} steps)")
    axis.legend()
    fig.tight_layout()
    return grid, sample_grid, save_figure(fig, run.plots / "gan_losses.png", dpi=100)
