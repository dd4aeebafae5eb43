"""Symbol crops: one square window around each annotated symbol of a score dataset, for classification
(the classification part of DeepScores, Tuggener et al. 2018).

The recipe (the same for training, evaluation and a user's own crop):

- the window is a square centred on the symbol's box centre, of side max(context, box_scale × the box's
  longer side): a symbol fills about half its crop, so that two symbols with one centre (a ledger line and
  the notehead it carries) are seen at different scales; the context is `context_staff_spaces` staff
  spaces where the page records its staff space (generated pages do), so that every page is seen at the
  same musical scale, else `context_px` pixels;
- outside the page is paper;
- it is resampled to crop_size × crop_size by area averaging (each crop pixel the mean ink of the page
  pixels under it; bilinear when a small window is enlarged), so that a stem or a staff line in a large
  window is thinned, not lost between samples, whatever its sub-pixel position;
- ink is bright (1 − grey) as float32 in [0, 1]: zero is paper, as the network's zero-padding.

Pages are read once each; all windows of a page are resampled together (four `grid_sample` reads of the
page's summed-area table).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from deepwild.core.errors import ConfigError, InputError
from deepwild.core.images import load_grayscale
from deepwild.data.symbols import SPLITS, SymbolDataset

@dataclass(frozen=True)
class CropSettings:
    # 32 px: at 3 staff spaces of context a staff space is ~11 px, so staff lines (≈ 1 px) and the
    # notehead/line relation stay visible, while the small CNN trains on thousands of crops a minute
    # on one CPU core (digits use the same size).
    crop_size: int = 32
    # ±1.5 staff spaces around the centre of a small symbol: the staff lines that tell a notehead on a
    # line from one in a space, the notehead beside a dot or below a staccato.
    context_staff_spaces: float = 3.0
    context_px: float = 30.0  # pages without a recorded staff space (≈ 3 staff spaces of generated pages)
    # A symbol larger than half the context fills half its crop: a ledger line (1.9 staff spaces) gets a
    # window 1.27× its notehead's (3 staff spaces); a clef, a slur or a whole staff is seen whole, with its
    # neighbourhood. (4 staff spaces and 1.2 made the two crops identical: a third of ledger lines were
    # called noteheads.)
    box_scale: float = 2.0

    def validate(self) -> None:
        if not 8 <= self.crop_size <= 256:
            raise ConfigError(f"crop.crop_size must be between 8 and 256, got {self.crop_size}")
        if self.context_staff_spaces <= 0 or self.context_px <= 0:
            raise ConfigError("crop.context_staff_spaces and crop.context_px must be positive")
        if self.box_scale < 1.0:
            raise ConfigError(f"crop.box_scale must be at least 1 (the whole symbol), got {self.box_scale}")

    def window_sides(self, boxes: np.ndarray, staff_spaces: np.ndarray) -> np.ndarray:
        """Window sides in page pixels (N,) for boxes (N, 4) x0, y0, x1, y1 on pages of the given staff
        spaces (N,) (NaN where the page records none)."""
        longer = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        known = np.isfinite(staff_spaces) & (staff_spaces > 0)
        context = np.where(known, self.context_staff_spaces * np.where(known, staff_spaces, 0.0), self.context_px)
        return np.maximum(context, self.box_scale * longer)


@dataclass(frozen=True)
class SymbolCrops:
    images: torch.Tensor  # (N, 1, S, S) float32 in [0, 1], ink bright
    labels: np.ndarray  # (N,) int64, indices into class_names
    class_names: tuple[str, ...]
    pages: np.ndarray  # (N,) index of each crop's page in the dataset it was cut from
    windows: np.ndarray  # (N, 3) window centre x, y and side, page pixels
    skipped: int = 0  # symbols of classes outside class_names (not cropped)

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        return {name: int(n) for name, n in zip(self.class_names, np.bincount(self.labels, minlength=len(self.class_names)))}


def choose_classes(counts: Mapping[str, int], min_count: int) -> tuple[tuple[str, ...], dict[str, int]]:
    """The classes with at least `min_count` symbols (sorted by name), and the dropped ones with their counts."""
    kept = tuple(sorted(name for name, count in counts.items() if count >= min_count))
    dropped = {name: int(count) for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
               if count < min_count}
    return kept, dropped


def split_pages(dataset: SymbolDataset, split: str) -> SymbolDataset:
    """A split's pages; `all`, or a dataset whose pages name no split (a DeepScoresV2 file), is every page."""
    if split == "all" or not any(page.split for page in dataset.pages):
        return dataset
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}, all")
    chosen = dataset.split(split)
    if not chosen.pages:
        present = sorted({page.split for page in dataset.pages})
        raise InputError(f"the dataset has no pages in split {split!r}; it has: {', '.join(present)} (or use all)")
    return chosen


def select_symbols(dataset: SymbolDataset, class_index: Mapping[str, int], max_per_class: int = 0,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(page, symbol, label) index arrays of the symbols to crop, in page order, and how many symbols were of
    other classes. With `max_per_class`, a class with more symbols keeps a seeded random choice of that many."""
    rows = [(page_index, symbol_index, class_index.get(symbol.class_name, -1))
            for page_index, page in enumerate(dataset.pages) for symbol_index, symbol in enumerate(page.symbols)]
    table = np.array(rows, np.int64).reshape(-1, 3)
    known = table[:, 2] >= 0
    skipped, table = int((~known).sum()), table[known]
    if max_per_class > 0:
        rng = np.random.default_rng(seed)
        keep = np.ones(len(table), bool)
        for label in np.unique(table[:, 2]):
            members = np.flatnonzero(table[:, 2] == label)
            if len(members) > max_per_class:
                keep[members] = False
                keep[rng.choice(members, size=max_per_class, replace=False)] = True
        table = table[keep]  # still in page order
    return table[:, 0], table[:, 1], table[:, 2], skipped


def extract_crops(dataset: SymbolDataset, class_names: tuple[str, ...], settings: CropSettings,
                  max_per_class: int = 0, seed: int = 0) -> SymbolCrops:
    """One crop per symbol of the given classes (at most `max_per_class` each), each page read once."""
    class_index = {name: index for index, name in enumerate(class_names)}
    pages, symbols, labels, skipped = select_symbols(dataset, class_index, max_per_class, seed)
    boxes = np.array([dataset.pages[p].symbols[s].bbox for p, s in zip(pages, symbols)], np.float64).reshape(-1, 4)
    staff = np.array([dataset.pages[p].staff_space or np.nan for p in pages], np.float64)
    windows = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                               settings.window_sides(boxes, staff)])
    size = settings.crop_size
    images = torch.zeros((len(labels), 1, size, size), dtype=torch.float32)
    starts = np.flatnonzero(np.r_[True, pages[1:] != pages[:-1]]) if len(pages) else np.empty(0, np.int64)
    for start, end in zip(starts, [*starts[1:], len(pages)]):  # the crops of one page are contiguous
        gray = load_grayscale(dataset.image_path(dataset.pages[pages[start]]))
        images[start:end] = crop_windows(torch.from_numpy(1.0 - gray), windows[start:end], size)
    return SymbolCrops(images=images, labels=labels, class_names=tuple(class_names), pages=pages, windows=windows,
                       skipped=skipped)


def crop_windows(ink: torch.Tensor, windows: np.ndarray, size: int) -> torch.Tensor:
    """Square windows (N, 3: centre x, y, side in pixels) of an ink image (H, W) (0 = paper) resampled to
    (N, 1, size, size). Pixel i covers [i, i + 1); outside the image is paper.

    Each crop pixel is the mean ink of a box of max(1, side / size) page pixels around its centre, read
    from the summed-area table: an area average when shrinking (a thin line is thinned, never lost between
    samples), exactly bilinear interpolation when enlarging, and the same for any sub-pixel position.
    """
    windows = np.asarray(windows, np.float64).reshape(-1, 3)
    count = len(windows)
    if not count:
        return torch.zeros((0, 1, size, size), dtype=torch.float32)
    height, width = ink.shape
    table = summed_area_table(ink)[None, None]  # (1, 1, H + 1, W + 1)
    offsets = (np.arange(size) + 0.5) / size - 0.5  # (S,) crop pixel centres, in sides from the window centre
    half_box = np.maximum(windows[:, 2:3] / size, 1.0) / 2  # (N, 1)
    centres_x = windows[:, 0:1] + offsets[None] * windows[:, 2:3]  # (N, S)
    centres_y = windows[:, 1:2] + offsets[None] * windows[:, 2:3]
    # Box edges clamped to the page: beyond it the sums stop growing (paper holds no ink).
    edges_x = [np.clip(centres_x + sign * half_box, 0, width) * 2 / width - 1 for sign in (-1, 1)]
    edges_y = [np.clip(centres_y + sign * half_box, 0, height) * 2 / height - 1 for sign in (-1, 1)]

    def table_at(grid_x: np.ndarray, grid_y: np.ndarray) -> torch.Tensor:  # (N, S) each → (N, S, S)
        grid = np.stack(np.broadcast_arrays(grid_x[:, None, :], grid_y[:, :, None]), axis=-1)  # (N, S, S, 2)
        # All windows in one call: their grids stacked as the rows of one tall output.
        sampled = F.grid_sample(table, torch.from_numpy(grid.reshape(1, count * size, size, 2)), mode="bilinear",
                                align_corners=True)
        return sampled.reshape(count, size, size)

    (x0, x1), (y0, y1) = edges_x, edges_y
    total = table_at(x1, y1) - table_at(x0, y1) - table_at(x1, y0) + table_at(x0, y0)
    area = torch.from_numpy((2 * half_box[:, 0]) ** 2)[:, None, None]
    return (total / area).clamp_(0.0, 1.0).to(torch.float32)[:, None]


def summed_area_table(ink: torch.Tensor) -> torch.Tensor:
    """(H + 1, W + 1) float64: ink summed over [0, x) × [0, y). Ink is constant within a pixel, so the table
    between its integer corners is exactly bilinear: `grid_sample` reads it at any real position. (float64:
    float32 would lose the last digits of a page's ink sum, and with them the ink of a small box.)"""
    pixels = ink.detach().cpu().numpy()
    table = np.zeros((pixels.shape[0] + 1, pixels.shape[1] + 1), np.float64)
    np.cumsum(pixels, axis=1, dtype=np.float64, out=table[1:, 1:])
    for row in range(2, table.shape[0]):  # row by row: numpy's cumsum down the rows is several times slower
        table[row] += table[row - 1]
    return torch.from_numpy(table)


def crop_from_image(gray: np.ndarray, size: int) -> torch.Tensor:
    """A crop image a user hands in (H, W) grey in [0, 1], any size, to the network input (1, size, size).

    The image is taken as the window itself (padded with paper to a square, centred), so it should be cut
    as training windows are (`window_image`): the symbol centred, about `context_staff_spaces` staff spaces
    across, or `box_scale` × a larger symbol. Dark ink on light paper or the reverse; the paper level (the 10th
    percentile of the ink image) is subtracted, so a grey scan's paper becomes 0 as on generated pages.
    """
    gray = np.asarray(gray, np.float32)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise InputError(f"a symbol crop must be a non-empty grey image, got shape {gray.shape}")
    ink = 1.0 - gray if gray.mean() > 0.5 else gray  # mostly light: dark ink on paper
    paper = float(np.percentile(ink, 10))
    if paper < 0.9:
        ink = np.clip((ink - paper) / (1.0 - paper), 0.0, 1.0)
    height, width = ink.shape
    window = np.array([[width / 2, height / 2, max(height, width)]])
    return crop_windows(torch.from_numpy(np.ascontiguousarray(ink, np.float32)), window, size)[0]


def window_image(gray: np.ndarray, centre_x: float, centre_y: float, side: float) -> np.ndarray:
    """The window around a symbol as a user would cut it from the page: (n, n) grey at page resolution,
    n = round(side), paper (1.0) outside the page."""
    n = max(int(round(side)), 1)
    x0, y0 = int(math.floor(centre_x - n / 2 + 0.5)), int(math.floor(centre_y - n / 2 + 0.5))
    window = np.ones((n, n), np.float32)
    top, left = max(y0, 0), max(x0, 0)
    part = gray[top:max(y0 + n, 0), left:max(x0 + n, 0)]
    window[top - y0:top - y0 + part.shape[0], left - x0:left - x0 + part.shape[1]] = part
    return window
