"""Adversarial-input flags for the music symbol detector: Amirian et al.'s entropy score on whole pages.

The classifiers' detector (`robust.entropy`) scores one small input. A page at the detector's scale is
about 1300 × 1800 px, and a guided backward pass over all of it would double detection's time. The page
score therefore looks at the page's `TILES` inkiest `TILE` × `TILE` tiles at the model's scale — where
the symbols are, so where an attacker who wants symbols to vanish or change class must draw — and
averages their feature-response-map entropy (guided backpropagation of the network's last feature map,
3 × 3 patches, 16 bins: the classifiers' settings). One threshold, set on clean pages, flags a page.

To measure it, `attack_tiles` attacks the same tiles the way a detector is attacked: L∞ sign steps up the
cross-entropy of the energy and class maps against the network's own clean answer, so that symbols vanish
or change class (no ground truth needed). `lost_markers` says how much of the clean answer was destroyed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from deepwild.core.errors import ConfigError, DeepwildError
from deepwild.core.package import update_model_package
from deepwild.robust.attacks import sign_ascent
from deepwild.robust.entropy import EntropyDetector, EntropySettings
from deepwild.robust.evaluate import check_false_positive_rate, clean_threshold
from deepwild.tasks.classification import entropy_calibration
from deepwild.tasks.omr.detect import Detector
from deepwild.tasks.robustness import Calibration

TILE = 128  # px at the model's scale: about 12 staff spaces, a few bars of one staff
TILES = 8  # the inkiest tiles a page is scored on


@dataclass(frozen=True)
class PageCalibration(Calibration):
    """A classifier's calibration record (`inputs` counts pages here), and the tiles a page is scored on."""

    tile: int = TILE
    tiles: int = TILES


def inkiest_tiles(ink: np.ndarray, tile: int = TILE, count: int = TILES) -> np.ndarray:
    """(K, tile, tile): the `count` grid tiles of an ink-bright page (H, W) holding the most ink, in page
    order; a page smaller than a tile is padded with paper."""
    height, width = ink.shape
    rows, columns = max(-(-height // tile), 1), max(-(-width // tile), 1)
    padded = np.zeros((rows * tile, columns * tile), np.float32)
    padded[:height, :width] = ink
    grid = padded.reshape(rows, tile, columns, tile).transpose(0, 2, 1, 3).reshape(rows * columns, tile, tile)
    order = np.argsort(-grid.sum(axis=(1, 2)), kind="stable")[:count]
    return grid[np.sort(order)]


def page_tiles(detector: Detector, gray: np.ndarray, name: str, staff_space: float | None = None,
               tile: int = TILE, count: int = TILES) -> torch.Tensor | None:
    """(K, 1, tile, tile) ink-bright tiles at the model's scale, or None for a blank page."""
    scaled = detector.page_at_model_scale(gray, name, staff_space)
    return None if scaled is None else scaled_tiles(scaled[0], tile, count)


def scaled_tiles(page: np.ndarray, tile: int = TILE, count: int = TILES) -> torch.Tensor:
    """The tiles of a page already at the model's scale (paper bright)."""
    return torch.from_numpy(inkiest_tiles(1.0 - page.astype(np.float32), tile, count))[:, None]


def torch_network(detector: Detector) -> torch.nn.Module:
    """The detector's torch network (guided backpropagation and attacks need gradients, not its ONNX export)."""
    network = detector.gradient_network if detector.gradient_network is not None else detector.model
    if not isinstance(network, torch.nn.Module):
        raise DeepwildError(f"{detector.package.name}: adversarial flags need the PyTorch network",
                            hint="load the detector with Detector.load, which keeps it")
    return network


def tile_scores(detector: Detector, tiles: torch.Tensor, settings: EntropySettings = EntropySettings()) -> np.ndarray:
    return EntropyDetector(settings).characteristics(torch_network(detector), tiles)[:, 0]


def page_score(detector: Detector, gray: np.ndarray, name: str, staff_space: float | None = None,
               settings: EntropySettings = EntropySettings(), tiles_per_page: int = TILES) -> float | None:
    """The mean entropy score of the page's inkiest tiles; None for a blank page."""
    tiles = page_tiles(detector, gray, name, staff_space, TILE, tiles_per_page)
    return None if tiles is None else float(tile_scores(detector, tiles, settings).mean())


def page_flag(detector: Detector, page: np.ndarray, require: bool = False) -> tuple[bool, float] | None:
    """(suspicious, score) of a page at the model's scale (`Detector.page_at_model_scale`) from the package's
    calibrated page detector; None when it has none (an error instead when `require`)."""
    found = entropy_calibration(detector.package, require)
    if found is None:
        return None
    settings, calibration = found
    tiles = scaled_tiles(page, int(calibration.get("tile", TILE)), int(calibration.get("tiles", TILES)))
    score = float(tile_scores(detector, tiles, settings).mean())
    return score > float(calibration["threshold"]), round(score, 4)


def calibrate_pages(detector: Detector, model_dir: Path, pages: Iterable[tuple[str, np.ndarray]],
                    false_positive_rate: float, split: str, settings: EntropySettings = EntropySettings(),
                    tiles_per_page: int = TILES, log: Callable[[str], None] = lambda _: None) -> PageCalibration:
    """Set the page threshold on clean pages so that it flags `false_positive_rate` of them, and save it in
    the model package (`model.json`, "adversarial"); `detect` and the service then flag pages."""
    check_false_positive_rate(false_positive_rate)
    scores = []
    for name, gray in pages:
        score = page_score(detector, gray, name, settings=settings, tiles_per_page=tiles_per_page)
        if score is not None:
            scores.append(score)
            log(f"{name}: {score:.4f}")
    if len(scores) < 10:
        raise DeepwildError(f"only {len(scores)} clean pages with music to calibrate on; at least 10 are needed")
    values = np.array(scores)
    threshold = clean_threshold(values, false_positive_rate)
    calibration = PageCalibration(model=detector.package.name, detector=EntropyDetector.name,
                                  settings=dataclasses.asdict(settings), threshold=threshold,
                                  false_positive_rate=false_positive_rate,
                                  clean_flagged=float((values > threshold).mean()), inputs=len(values), split=split,
                                  tiles=tiles_per_page)
    update_model_package(model_dir, adversarial=calibration.to_json())
    return calibration


def energy_levels(maps: dict[str, torch.Tensor], groups: int) -> torch.Tensor:
    """(B, G, H, W) the argmax energy level per energy group (0 = no symbol)."""
    energy = maps["energy"]
    return energy.reshape(energy.shape[0], groups, -1, *energy.shape[2:]).argmax(dim=2)


def attack_tiles(detector: Detector, tiles: torch.Tensor, epsilon: float, steps: int = 1, seed: int = 0) -> torch.Tensor:
    """Tiles perturbed within an L∞ ball of `epsilon` (pixels in [0, 1]) to destroy the network's own clean
    answer: sign ascent on the cross-entropy of energy levels and classes against it. steps = 1 is FGSM;
    more steps are PGD from a seeded random start with step 2.5 ε / steps."""
    model = torch_network(detector).eval()
    groups = int(model.groups)
    with torch.no_grad():
        clean = model.forward_maps(tiles)
        levels, classes = energy_levels(clean, groups), clean["classes"].argmax(dim=1)

    # Only the symbols' pixels count: summed over the whole tile, background pixels (most of it, and easy
    # to keep) would steer the gradient away from the symbols an attacker wants gone.
    marked = levels > 0  # (B, G, H, W)
    marked_half = F.max_pool2d(marked.any(dim=1, keepdim=True).float(), 2)[:, 0] > 0  # classes are at 1/2

    def loss_of(x: torch.Tensor) -> torch.Tensor:
        maps = model.forward_maps(x)
        energy = maps["energy"].reshape(len(x), groups, -1, *maps["energy"].shape[2:]).movedim(2, -1)
        energy_loss = F.cross_entropy(energy[marked], levels[marked], reduction="sum")
        class_loss = F.cross_entropy(maps["classes"].movedim(1, -1)[marked_half], classes[marked_half], reduction="sum")
        return energy_loss + class_loss

    if steps == 1:
        return sign_ascent(loss_of, tiles, tiles, epsilon, epsilon, 1).detach()
    generator = torch.Generator().manual_seed(seed)
    start = tiles + epsilon * (2 * torch.rand(tiles.shape, generator=generator) - 1)
    return sign_ascent(loss_of, tiles, start, epsilon, 2.5 * epsilon / steps, steps).detach()


def lost_markers(detector: Detector, clean: torch.Tensor, attacked: torch.Tensor) -> float:
    """The share of the clean answer's symbol pixels (energy level > 0 in any group) that the attacked
    tiles call background."""
    model = torch_network(detector).eval()
    groups = int(model.groups)
    with torch.no_grad():
        before = energy_levels(model.forward_maps(clean), groups) > 0
        after = energy_levels(model.forward_maps(attacked), groups) > 0
    marked = int(before.sum())
    return float((before & ~after).sum()) / marked if marked else 0.0


@dataclass(frozen=True)
class PageAttackRow:
    attack: str
    epsilon: float
    lost_markers: float  # share of the clean answer's symbol pixels gone after the attack
    tile_auroc: float
    page_auroc: float
    tile_detection: tuple[float, float, float]  # at 1/5/10 % false positives, tiles


@dataclass(frozen=True)
class PageRobustness:
    model: str
    pages: int
    tiles: int
    rows: tuple[PageAttackRow, ...]
    seconds_per_page: float  # the page score: guided backward and entropy of its tiles

    def markdown(self) -> str:
        lines = ["| attack | ε | symbol pixels lost | AUROC (tiles) | AUROC (pages) | DR@1% | DR@5% | DR@10% |",
                 "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r.attack} | {r.epsilon:g} | {r.lost_markers:.3f} | {r.tile_auroc:.3f} | {r.page_auroc:.3f} | "
                  + " | ".join(f"{d:.2f}" for d in r.tile_detection) + " |" for r in self.rows]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ATTACK_STEPS = {"fgsm": 1, "pgd": 10}  # a detector's L∞ attacks: one step, or ten from a random start


def check_attacks(attacks: tuple[str, ...]) -> None:
    unknown = [a for a in attacks if a not in ATTACK_STEPS]
    if unknown:
        raise ConfigError(f"a detector is attacked with {', '.join(ATTACK_STEPS)}; not with {', '.join(unknown)}")


def page_robustness(detector: Detector, pages: Iterable[tuple[str, np.ndarray]], attacks: tuple[str, ...],
                    epsilons: tuple[float, ...], seed: int = 0,
                    log: Callable[[str], None] = lambda _: None) -> PageRobustness:
    """Each page's inkiest tiles attacked (`attack_tiles`) at each ε; the entropy score of clean against
    attacked tiles, and of clean against attacked pages (the mean over a page's tiles, as `detect` flags)."""
    import time

    from deepwild.robust.evaluate import detection_rate_at, roc

    check_attacks(attacks)
    per_page = [t for t in (page_tiles(detector, gray, name) for name, gray in pages) if t is not None]
    if not per_page:
        raise DeepwildError("none of the pages holds music to attack")
    tiles = torch.cat(per_page)
    owner = np.repeat(np.arange(len(per_page)), [len(t) for t in per_page])
    start = time.perf_counter()
    clean = tile_scores(detector, tiles)
    seconds = (time.perf_counter() - start) / len(per_page)

    def page_means(scores: np.ndarray) -> np.ndarray:
        return np.bincount(owner, weights=scores) / np.bincount(owner)

    rows = []
    for attack in attacks:
        for epsilon in epsilons:
            attacked = attack_tiles(detector, tiles, epsilon, ATTACK_STEPS[attack], seed)
            scores = tile_scores(detector, attacked)
            row = PageAttackRow(attack, epsilon, lost_markers(detector, tiles, attacked), roc(clean, scores)[0],
                                roc(page_means(clean), page_means(scores))[0],
                                tuple(detection_rate_at(clean, scores, rate) for rate in (0.01, 0.05, 0.10)))
            log(f"{attack} ε {epsilon:g}: {row.lost_markers:.1%} of symbol pixels lost, AUROC tiles "
                f"{row.tile_auroc:.3f}, pages {row.page_auroc:.3f}")
            rows.append(row)
    return PageRobustness(detector.package.name, len(per_page), len(tiles), tuple(rows), seconds)
