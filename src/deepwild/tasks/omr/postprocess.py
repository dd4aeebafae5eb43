"""From the network's maps to symbols: the watershed-style decoding of the DWD paper.

Pixels whose expected energy level (Σ k·p_k) is at least `energy_threshold` form cores (an
expectation, not the argmax: the argmax over 9 levels lets "background" win wherever the network
spreads its belief over neighbouring levels, and the expectation still peaks at every centre); every 8-connected
core of at least `min_component_px` pixels is one symbol, centred on the core's centroid. Symbols that
touch (the two digits of a time signature, chords of noteheads) can merge into one core; the watershed
step splits them: pixels at least `split_margin` levels above the threshold are seeds, and a core
holding several seeds is divided among them (each pixel to its nearest seed). Its class is the vote of
the class head over the core (summed probabilities, among the classes of the core's energy group), its
size the median of the box head there, its score the voted class's mean probability times the core's
mean foreground probability. Each energy group has its own threshold and margin (chosen on validation
pages for the shipped model). Pages are processed in overlapping tiles; only the cores are kept at full resolution, so memory stays
proportional to the page, not to the page times the number of classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class PostprocessConfig:
    energy_threshold: float = 2.0  # expected level of 8
    split_margin: float = 0.0  # seeds lie this many levels above the threshold; 0: cores are never split
    # Per energy group (overriding the two above when given); chosen on validation pages for the shipped model.
    group_thresholds: tuple[float, ...] = ()
    group_split_margins: tuple[float, ...] = ()
    min_component_px: int = 1
    min_score: float = 0.05
    tile: int = 1024  # px per tile side (multiple of 8)
    overlap: int = 64  # px of context on each side of a tile, cut off afterwards


    def threshold(self, group: int) -> float:
        return self.group_thresholds[group] if group < len(self.group_thresholds) else self.energy_threshold

    def margin(self, group: int) -> float:
        return self.group_split_margins[group] if group < len(self.group_split_margins) else self.split_margin


@dataclass(frozen=True)
class RawDetection:
    class_index: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the network's input pixels
    score: float


@torch.no_grad()
def detect_array(model: torch.nn.Module, ink: np.ndarray, config: PostprocessConfig, box_unit: float,
                 class_groups: np.ndarray | None = None) -> list[RawDetection]:
    """ink: (H, W) float32, 1 = ink, 0 = paper (the network's input). class_groups (C,): the energy
    group of each class (None: one group). Each group's energy map is decoded on its own; a symbol's
    class is voted among its group's classes only."""
    height, width = ink.shape
    groups = int(getattr(model, "groups", 1))
    num_classes = int(model.num_classes)
    class_groups = np.zeros(num_classes, np.int64) if class_groups is None else np.asarray(class_groups)
    outside = torch.stack([torch.from_numpy((class_groups != g).astype(np.float32) * -1e4) for g in range(groups)])
    core = np.zeros((groups, height, width), bool)
    foreground = np.zeros((groups, height, width), np.float32)
    expected = np.zeros((groups, height, width), np.float32)  # expected energy level: sub-pixel centres
    core_index: list[list[np.ndarray]] = [[] for _ in range(groups)]
    class_probs: list[list[np.ndarray]] = [[] for _ in range(groups)]
    boxes: list[list[np.ndarray]] = [[] for _ in range(groups)]
    step = config.tile
    for top in range(0, height, step):
        for left in range(0, width, step):
            y0, x0 = max(top - config.overlap, 0), max(left - config.overlap, 0)
            y1, x1 = min(top + step + config.overlap, height), min(left + step + config.overlap, width)
            tile = torch.from_numpy(np.ascontiguousarray(ink[y0:y1, x0:x1]))[None, None]
            padded_h, padded_w = -(-tile.shape[-2] // 8) * 8, -(-tile.shape[-1] // 8) * 8
            tile = F.pad(tile, (0, padded_w - tile.shape[-1], 0, padded_h - tile.shape[-2]))
            maps = model.forward_maps(tile)
            energy_all = maps["energy"][0].float()  # (G·(K+1), h, w)
            per_group = energy_all.shape[0] // groups
            # The part of this tile that it owns (without its context margins).
            oy0, ox0 = top - y0, left - x0
            oy1, ox1 = oy0 + min(step, height - top), ox0 + min(step, width - left)
            for g in range(groups):
                energy = F.softmax(energy_all[g * per_group:(g + 1) * per_group], dim=0)
                levels = torch.arange(per_group, dtype=energy.dtype)[:, None, None]
                expectation = (energy * levels).sum(dim=0)
                own_core = (expectation >= config.threshold(g))[oy0:oy1, ox0:ox1]
                foreground[g, top:top + oy1 - oy0, left:left + ox1 - ox0] = (1.0 - energy[0])[oy0:oy1, ox0:ox1].numpy()
                expected[g, top:top + oy1 - oy0, left:left + ox1 - ox0] = expectation[oy0:oy1, ox0:ox1].numpy()
                rows, cols = np.nonzero(own_core.numpy())
                if len(rows) == 0:
                    continue
                core[g, top + rows, left + cols] = True
                logits = _sample(maps["classes"][0], oy0 + rows, ox0 + cols, padded_h, padded_w) + outside[g]
                sizes = _sample(maps["box"][0][2 * g:2 * g + 2], oy0 + rows, ox0 + cols, padded_h, padded_w)
                core_index[g].append((top + rows) * width + left + cols)
                class_probs[g].append(F.softmax(logits, dim=1).numpy())
                boxes[g].append(sizes.numpy())
    detections: list[RawDetection] = []
    for g in range(groups):
        if core_index[g]:
            labels = split_touching(core[g], expected[g], config.threshold(g) + config.margin(g)) \
                if config.margin(g) > 0 else None
            detections += _components(core[g], foreground[g], expected[g], np.concatenate(core_index[g]),
                                      np.concatenate(class_probs[g]), np.concatenate(boxes[g]), config, box_unit,
                                      labels)
    return detections


def _sample(maps: torch.Tensor, rows: np.ndarray, cols: np.ndarray, height: int, width: int) -> torch.Tensor:
    """Values (n, C) of maps (C, h, w) — at any resolution that divides the input's (height, width) — at
    the centres of input pixels (rows, cols), interpolated as `F.interpolate(bilinear)` to full size would."""
    x = (torch.from_numpy(cols).double() + 0.5) / width * 2 - 1
    y = (torch.from_numpy(rows).double() + 0.5) / height * 2 - 1
    grid = torch.stack([x, y], dim=-1).float()[None, None]  # (1, 1, n, 2)
    values = F.grid_sample(maps[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return values[0, :, 0].T  # (n, C)


def split_touching(core: np.ndarray, expected: np.ndarray, seed_level: float) -> tuple[np.ndarray, int]:
    """Labels (H, W) of the symbols in `core`, and their count: its 8-connected components, except that
    a component holding several seeds (connected areas of expected energy ≥ seed_level) is divided
    among them, each pixel going to the nearest seed."""
    from scipy import ndimage

    eight = np.ones((3, 3), bool)
    labels, count = ndimage.label(core, structure=eight)
    seeds, seed_count = ndimage.label(core & (expected >= seed_level), structure=eight)
    if seed_count < 2:
        return labels, count
    seeded = seeds > 0
    pairs = np.unique(np.stack([labels[seeded], seeds[seeded]]), axis=1)  # (2, n): component, seed
    per_component = np.bincount(pairs[0], minlength=count + 1)
    labels = labels.copy()
    objects = ndimage.find_objects(labels)
    next_label = count + 1
    for component in np.nonzero(per_component >= 2)[0]:
        window = objects[component - 1]
        member = labels[window] == component
        own_seeds = np.where(member, seeds[window], 0)
        _, (near_rows, near_cols) = ndimage.distance_transform_edt(own_seeds == 0, return_indices=True)
        nearest = own_seeds[near_rows, near_cols]  # each pixel's nearest seed (of this component)
        numbers, parts = np.unique(nearest[member], return_inverse=True)
        part_labels = labels[window]
        part_labels[member] = next_label + parts.ravel()
        next_label += len(numbers)
    # Renumber 1..n without gaps (the split components' old numbers vanish).
    used = np.unique(labels[labels > 0])
    renumber = np.zeros(next_label, np.int64)
    renumber[used] = np.arange(1, len(used) + 1)
    return renumber[labels], len(used)


def _components(core: np.ndarray, foreground: np.ndarray, expected: np.ndarray, index: np.ndarray, probs: np.ndarray,
                sizes: np.ndarray, config: PostprocessConfig, box_unit: float,
                labelled: tuple[np.ndarray, int] | None = None) -> list[RawDetection]:
    from scipy import ndimage

    width = core.shape[1]
    labels, count = labelled or ndimage.label(core, structure=np.ones((3, 3), bool))
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
