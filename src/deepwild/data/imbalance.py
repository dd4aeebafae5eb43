"""Class imbalance: class weights, the focal loss, oversampling of rare classes (indices of a
classifier's items, a crop sampler for pages), and the per-split class count table.

Music is imbalanced by nature: a DeepScores page holds hundreds of noteheads and stems but rarely a
segno or a double flat. The three remedies here act at different places: `class_weights` and
`focal_loss` in the loss (rare and hard pixels count more), `RareClassCropSampler` in the data
(crops around rare symbols are drawn more often); `oversampled_indices` repeats a classifier's rare
items.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from deepwild.data.symbols import SPLITS, SymbolDataset

WeightScheme = Literal["inverse_sqrt", "inverse", "effective_number"]


def class_weights(counts: Mapping[str, int], classes: Sequence[str], scheme: WeightScheme = "inverse_sqrt",
                  beta: float = 0.999, max_weight: float = 10.0,
                  absent: Literal["zero", "max"] = "zero") -> np.ndarray:
    """Loss weights (len(classes),) float32, in the order of `classes`.

    Schemes, for a class seen n times: "inverse" 1/n; "inverse_sqrt" 1/sqrt(n) (milder, usually
    better for very skewed data); "effective_number" (1 - beta) / (1 - beta**n) (Cui et al. 2019:
    beyond ~1/(1 - beta) samples, more of a class adds little new). Weights of present classes are
    capped at `max_weight` and scaled so that their mean is exactly 1, so the loss keeps its scale.

    Classes with no count: "zero" (default) gives them weight 0: they can't occur in targets drawn
    from these counts, and a weight is meaningless there; "max" gives them `max_weight`, for when
    they may still appear (pasted symbols, another split)."""
    if max_weight < 1.0:
        raise ValueError(f"max_weight must be >= 1 (weights average 1), got {max_weight}")
    n = np.array([counts.get(name, 0) for name in classes], np.float64)
    present = n > 0
    raw = np.zeros(len(classes))
    if scheme == "inverse":
        raw[present] = 1.0 / n[present]
    elif scheme == "inverse_sqrt":
        raw[present] = 1.0 / np.sqrt(n[present])
    elif scheme == "effective_number":
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must lie in (0, 1), got {beta}")
        raw[present] = (1.0 - beta) / (1.0 - np.power(beta, n[present]))
    else:
        raise ValueError(f"unknown class weight scheme {scheme!r}; valid: inverse_sqrt, inverse, effective_number")
    weights = np.zeros(len(classes))
    weights[present] = _capped_unit_mean(raw[present], max_weight)
    weights[~present] = 0.0 if absent == "zero" else max_weight
    return weights.astype(np.float32)


def _capped_unit_mean(raw: np.ndarray, cap: float) -> np.ndarray:
    """Scale `raw` (all > 0) so that min(scale * raw, cap) has mean 1 (water filling: capped
    classes stay at the cap, the others share what is left; the capped set only grows)."""
    if len(raw) == 0:
        return raw
    capped = np.zeros(len(raw), bool)
    while True:
        free = ~capped
        scale = (len(raw) - cap * capped.sum()) / raw[free].sum()
        newly = free & (scale * raw > cap)
        if not newly.any():
            return np.where(capped, cap, scale * raw)
        capped |= newly


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0, weight: torch.Tensor | None = None,
               ignore_index: int = -100, reduction: Literal["mean", "sum", "none"] = "mean") -> torch.Tensor:
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_t)**gamma, so pixels the
    model already gets right (the sea of white paper) add little and hard ones dominate.

    logits (B, C, ...) (e.g. (B, C, H, W) per pixel), targets (B, ...) long class indices,
    weight (C,). "mean" divides by the summed weights of non-ignored targets, like
    `torch.nn.functional.cross_entropy`, so gamma = 0 gives exactly cross-entropy; with every target
    ignored it returns 0 (not NaN), so one empty crop can't end a run."""
    log_probs = F.log_softmax(logits.float(), dim=1)  # (B, C, ...)
    valid = targets != ignore_index
    safe_targets = torch.where(valid, targets, torch.zeros_like(targets))
    log_p_target = log_probs.gather(1, safe_targets.unsqueeze(1)).squeeze(1)  # (B, ...)
    loss = -log_p_target
    if gamma != 0:
        loss = loss * (1.0 - log_p_target.exp()).clamp_min(0.0).pow(gamma)
    pixel_weight = valid.to(loss.dtype)
    if weight is not None:
        pixel_weight = pixel_weight * weight.to(loss.device, loss.dtype)[safe_targets]
    loss = loss * pixel_weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / pixel_weight.sum().clamp_min(torch.finfo(loss.dtype).tiny)


def oversampled_indices(labels: np.ndarray, power: float = 0.5, seed: int = 0) -> np.ndarray:
    """Indices into `labels` (N,) that repeat rare classes: every item once, then class c topped up with
    seeded draws (with replacement) to n_c · (n_max / n_c) ** power items. power 0 leaves the data as it
    is, 1 gives every class as many items as the largest, 0.5 meets them halfway on a log scale (the
    classifier's resampling; augmentation makes the repeats differ). The loader shuffles."""
    if not 0.0 <= power <= 1.0:
        raise ValueError(f"power must lie in [0, 1], got {power}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    chosen = [np.arange(len(labels))]
    for label, count in zip(classes, counts):
        extra = int(round(count * (counts.max() / count) ** power)) - count
        if extra > 0:
            chosen.append(rng.choice(np.flatnonzero(labels == label), size=extra, replace=True))
    return np.concatenate(chosen)


class CropWindow(NamedTuple):
    page_index: int
    x0: int
    y0: int


@dataclass(frozen=True)
class CropSamplerConfig:
    power: float = 1.0  # a symbol is chosen ∝ count(class)**-power: 1 → every class equally often
    uniform_fraction: float = 0.1  # crops anywhere on any page (∝ page area): background, context
    jitter: float = 0.3  # a chosen symbol sits within ±jitter · crop size of the crop's centre
    samples_per_epoch: int = 1000
    seed: int = 0


class RareClassCropSampler:
    """Crop windows over a `SymbolDataset`, oversampling rare classes.

    Each crop is centred (± jitter) on a symbol drawn with probability ∝ count(class)**-power,
    except a `uniform_fraction` of crops placed uniformly. Windows always lie inside their page;
    a page smaller than the crop gets x0 = 0 / y0 = 0 (the reader pads). The windows of an epoch
    depend on (seed, epoch) only, as the engine's epoch order does (call `set_epoch`)."""

    def __init__(self, dataset: SymbolDataset, crop_size: int | tuple[int, int],
                 config: CropSamplerConfig = CropSamplerConfig()) -> None:
        if not dataset.pages:
            raise ValueError("RareClassCropSampler needs a dataset with at least one page")
        self.crop_width, self.crop_height = (crop_size, crop_size) if isinstance(crop_size, int) else crop_size
        self.config = config
        self.epoch = 0
        self.page_sizes = np.array([(page.width, page.height) for page in dataset.pages], np.int64)  # (P, 2)
        symbols = [(index, symbol) for index, page in enumerate(dataset.pages) for symbol in page.symbols]
        self.symbol_pages = np.array([index for index, _ in symbols], np.int64)  # (N,)
        centres = [symbol.center for _, symbol in symbols]
        self.symbol_centres = np.array(centres, np.float64).reshape(-1, 2)  # (N, 2) x, y
        counts = dataset.class_counts()
        weights = np.array([counts[symbol.class_name] ** -config.power for _, symbol in symbols], np.float64)
        self.symbol_probability = weights / weights.sum() if len(weights) else weights
        # What a class gets in total: count · count**-power, normalised (reported, e.g. in logs).
        shares = {name: count ** (1.0 - config.power) for name, count in counts.items()}
        self.class_probability = {name: share / sum(shares.values()) for name, share in shares.items()}

    def __len__(self) -> int:
        return self.config.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[CropWindow]:
        return iter(self.windows(self.config.samples_per_epoch, self.epoch))

    def windows(self, count: int, epoch: int = 0) -> list[CropWindow]:
        """`count` crop windows, the same for the same (seed, epoch)."""
        rng = np.random.default_rng([self.config.seed, epoch])
        uniform = rng.random(count) < self.config.uniform_fraction
        if len(self.symbol_pages) == 0:
            uniform[:] = True
        crop = np.array([self.crop_width, self.crop_height], np.int64)
        pages = np.empty(count, np.int64)
        corners = np.empty((count, 2))  # top-left x, y before clamping
        # Symbol-centred crops: the chosen symbol's centre plus jitter.
        chosen = rng.choice(len(self.symbol_pages), size=int((~uniform).sum()), p=self.symbol_probability) \
            if (~uniform).any() else np.empty(0, np.int64)
        jitter = rng.uniform(-1.0, 1.0, (len(chosen), 2)) * self.config.jitter * crop
        pages[~uniform] = self.symbol_pages[chosen]
        corners[~uniform] = np.rint(self.symbol_centres[chosen] + jitter - crop / 2)
        # Uniform crops: a page ∝ its area, then any window inside it, all equally likely.
        areas = self.page_sizes.prod(axis=1).astype(np.float64)
        pages[uniform] = rng.choice(len(areas), size=int(uniform.sum()), p=areas / areas.sum())
        room = np.maximum(self.page_sizes[pages[uniform]] - crop, 0) + 1  # (U, 2) possible corners
        corners[uniform] = np.floor(rng.random((int(uniform.sum()), 2)) * room)
        # Clamp into the page; a page smaller than the crop starts at 0.
        limits = np.maximum(self.page_sizes[pages] - crop, 0)  # (count, 2)
        corners = np.clip(corners, 0, limits).astype(np.int64)
        return [CropWindow(int(page), int(x), int(y)) for page, (x, y) in zip(pages, corners)]


@dataclass(frozen=True)
class ClassCountRow:
    class_name: str
    counts: Mapping[str, int]  # split → symbols of this class, for every split of the table

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict:
        return {"class": self.class_name, **self.counts, "total": self.total}


def class_count_table(dataset: SymbolDataset) -> list[ClassCountRow]:
    """Symbols per class and split (train, val, test, test-unseen-font, then any other split
    names; pages without a split under "unassigned"), most frequent class first."""
    split_names = list(SPLITS)
    for page in dataset.pages:
        name = page.split or "unassigned"
        if name not in split_names:
            split_names.append(name)
    per_split = {name: dataset.split("" if name == "unassigned" else name).class_counts() for name in split_names}
    classes = set().union(*per_split.values())
    rows = [ClassCountRow(name, {split: per_split[split][name] for split in split_names}) for name in classes]
    return sorted(rows, key=lambda row: (-row.total, row.class_name))


def plot_class_counts(rows: Sequence[ClassCountRow], target_png: Path, title: str = "Symbols per class") -> Path:
    """Horizontal bars on a log scale, one group per class (most frequent on top), one bar per split."""
    from deepwild.core.figures import pyplot, save_figure

    plt = pyplot()
    splits = [split for split in (rows[0].counts if rows else {}) if any(row.counts[split] for row in rows)]
    fig, axis = plt.subplots(figsize=(8, 1.5 + 0.22 * max(len(rows), 1) * max(len(splits), 1) ** 0.5))
    bar = 0.8 / max(len(splits), 1)
    positions = np.arange(len(rows))
    for offset, split in enumerate(splits):
        values = [row.counts[split] for row in rows]
        axis.barh(positions - 0.4 + bar * (offset + 0.5), values, height=bar, label=split)
    axis.set_yticks(positions, [row.class_name for row in rows], fontsize=7)
    axis.invert_yaxis()  # most frequent first, reading top-down
    axis.set_xscale("log")
    axis.set_xlim(left=0.7)  # a class seen once still gets a visible bar
    axis.set_xlabel("symbols (log scale)")
    axis.set_title(title)
    if splits:
        axis.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, Path(target_png))
