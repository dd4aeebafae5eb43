"""From the network's maps to symbols: the watershed-style decoding of the DWD paper.

Pixels whose expected energy level (Σ k·p_k) is at least `energy_threshold` form cores (an
expectation, not the argmax: the argmax over 9 levels lets "background" win wherever the network
spreads its belief over neighbouring levels, and the expectation still peaks at every centre); every 8-connected
core of at least `min_component_px` pixels is one symbol, centred on the core's centroid. Its class
is the vote of the class head over the core (summed probabilities), its size the median of the box
head there, its score the voted class's mean probability times the core's mean foreground probability.
Pages are processed in overlapping tiles; only the cores are kept at full resolution, so memory stays
proportional to the page, not to the page times the number of classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class PostprocessConfig:
    energy_threshold: float = 2.0  # expected level of 8; chosen on validation pages for the shipped model
    min_component_px: int = 1
    min_score: float = 0.05
    tile: int = 1024  # px per tile side (multiple of 8)
    overlap: int = 64  # px of context on each side of a tile, cut off afterwards


@dataclass(frozen=True)
class RawDetection:
    class_index: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the network's input pixels
    score: float


@torch.no_grad()
def detect_array(model: torch.nn.Module, ink: np.ndarray, config: PostprocessConfig, box_unit: float) -> list[RawDetection]:
    """ink: (H, W) float32, 1 = ink, 0 = paper (the network's input)."""
    height, width = ink.shape
    core = np.zeros((height, width), bool)
    foreground = np.zeros((height, width), np.float32)
    expected = np.zeros((height, width), np.float32)  # expected energy level: sub-pixel centres
    core_index, class_probs, boxes = [], [], []
    step = config.tile
    for top in range(0, height, step):
        for left in range(0, width, step):
            y0, x0 = max(top - config.overlap, 0), max(left - config.overlap, 0)
            y1, x1 = min(top + step + config.overlap, height), min(left + step + config.overlap, width)
            tile = torch.from_numpy(np.ascontiguousarray(ink[y0:y1, x0:x1]))[None, None]
            padded_h, padded_w = -(-tile.shape[-2] // 8) * 8, -(-tile.shape[-1] // 8) * 8
            tile = F.pad(tile, (0, padded_w - tile.shape[-1], 0, padded_h - tile.shape[-2]))
            features = model.forward_features(tile)["refined"]
            energy = F.softmax(model.energy_head(features).float(), dim=1)[0]  # (K+1, h, w)
            levels = torch.arange(energy.shape[0], dtype=energy.dtype)[:, None, None]
            expectation = (energy * levels).sum(dim=0)
            # The part of this tile that it owns (without its context margins).
            oy0, ox0 = top - y0, left - x0
            oy1, ox1 = oy0 + min(step, height - top), ox0 + min(step, width - left)
            own_core = (expectation >= config.energy_threshold)[oy0:oy1, ox0:ox1]
            fg = 1.0 - energy[0]
            foreground[top:top + oy1 - oy0, left:left + ox1 - ox0] = fg[oy0:oy1, ox0:ox1].numpy()
            expected[top:top + oy1 - oy0, left:left + ox1 - ox0] = expectation[oy0:oy1, ox0:ox1].numpy()
            rows, cols = np.nonzero(own_core.numpy())
            if len(rows) == 0:
                continue
            core[top + rows, left + cols] = True
            picked = features[0][:, oy0 + rows, ox0 + cols].T  # (n, w0)
            logits = F.linear(picked, model.class_head.weight[:, :, 0, 0], model.class_head.bias)
            sizes = F.linear(picked, model.box_head.weight[:, :, 0, 0], model.box_head.bias)
            core_index.append((top + rows) * width + left + cols)
            class_probs.append(F.softmax(logits.float(), dim=1).numpy())
            boxes.append(sizes.float().numpy())
    if not core_index:
        return []
    return _components(core, foreground, expected, np.concatenate(core_index), np.concatenate(class_probs),
                       np.concatenate(boxes), config, box_unit)


def _components(core: np.ndarray, foreground: np.ndarray, expected: np.ndarray, index: np.ndarray, probs: np.ndarray,
                sizes: np.ndarray, config: PostprocessConfig, box_unit: float) -> list[RawDetection]:
    from scipy import ndimage

    width = core.shape[1]
    labels, count = ndimage.label(core, structure=np.ones((3, 3), bool))
    order = np.argsort(index)
    index, probs, sizes = index[order], probs[order], sizes[order]
    component = labels.ravel()[index]  # (n,) component of each core pixel, 1..count
    rows, cols = index // width, index % width
    pixels = np.bincount(component, minlength=count + 1)
    fg_mean = np.bincount(component, weights=foreground.ravel()[index], minlength=count + 1) / np.maximum(pixels, 1)
    detections = []
    group_order = np.argsort(component, kind="stable")
    bounds = np.searchsorted(component[group_order], np.arange(1, count + 2))
    for label in range(1, count + 1):
        members = group_order[bounds[label - 1]:bounds[label]]
        if len(members) < config.min_component_px:
            continue
        vote = probs[members].sum(axis=0)
        class_index = int(vote.argmax())
        score = float(vote[class_index] / len(members) * fg_mean[label])
        if score < config.min_score:
            continue
        log_h, log_w = np.median(sizes[members], axis=0)
        h, w = float(np.exp(log_h) * box_unit), float(np.exp(log_w) * box_unit)
        cx, cy = _refined_centre(labels, expected, label, rows[members], cols[members])
        detections.append(RawDetection(class_index, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), score))
    return detections


def _refined_centre(labels: np.ndarray, expected: np.ndarray, label: int, rows: np.ndarray,
                    cols: np.ndarray) -> tuple[float, float]:
    """Centre of a core with sub-pixel accuracy: the centroid of the expected energy over the core and
    one pixel around it (without other cores). A 1-px stem's centre is found to a fraction of a pixel,
    which its box needs to overlap the truth at all."""
    height, width = labels.shape
    r0, r1 = max(int(rows.min()) - 1, 0), min(int(rows.max()) + 2, height)
    c0, c1 = max(int(cols.min()) - 1, 0), min(int(cols.max()) + 2, width)
    window_labels = labels[r0:r1, c0:c1]
    weights = np.where((window_labels == 0) | (window_labels == label), expected[r0:r1, c0:c1], 0.0)
    total = float(weights.sum())
    if total <= 0:
        return float(cols.mean() + 0.5), float(rows.mean() + 0.5)
    ys = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(c0, c1, dtype=np.float64)[None, :] + 0.5
    return float((weights * xs).sum() / total), float((weights * ys).sum() / total)


def estimate_staff_space(gray: np.ndarray) -> float | None:
    """Staff-line distance of a page from vertical run lengths: the most common (black run + the white
    run after it) in a column, which staff lines dominate; None when the page shows no staff (no long
    horizontal lines)."""
    # A lenient threshold: thin anti-aliased lines split over two pixel rows must not vanish.
    ink = gray < 0.75  # (H, W), True = ink
    if ink.mean() < 0.001 or _long_horizontal_rows(ink) < 3:
        return None
    padded = np.pad(ink, ((1, 1), (0, 0)), constant_values=False).astype(np.int8)
    change = np.diff(padded, axis=0).T  # per column: +1 where a black run starts, -1 where it ends
    starts_col, starts = np.nonzero(change == 1)
    ends_col, ends = np.nonzero(change == -1)
    if len(starts) < 10:
        return None
    black = ends - starts
    same_column = starts_col[1:] == ends_col[:-1]
    period = (black[:-1] + starts[1:] - ends[:-1])[same_column]  # line + gap up to the next black run
    period = period[(period >= 4) & (period <= 200)]
    if len(period) < 10:
        return None
    histogram = np.bincount(period)
    mode = int(histogram.argmax())
    if histogram[mode] < 20:
        return None
    # Sub-pixel: the mean around the mode, as the spacing is rarely a whole number of pixels.
    window = np.arange(max(mode - 1, 0), mode + 2)
    return float((histogram[window] * window).sum() / histogram[window].sum())


def _long_horizontal_rows(ink: np.ndarray) -> int:
    """Rows holding an unbroken ink run of at least a quarter of the page width (staff lines do)."""
    padded = np.pad(ink, ((0, 0), (1, 1)), constant_values=False).astype(np.int8)
    change = np.diff(padded, axis=1)
    start_rows, starts = np.nonzero(change == 1)
    _, ends = np.nonzero(change == -1)
    long_runs = (ends - starts) >= max(ink.shape[1] // 4, 20)
    return len(np.unique(start_rows[long_runs]))
