"""Training targets of the Deep Watershed Detector for one crop.

For every symbol, an oval marker of `marker_scale` × its box (semi-axes at least `min_radius` px,
so thin stems and tiny dots still get pixels) carries:
- energy: the distance to the symbol's centre quantised into levels K (centre) … 1 (rim), 0 outside;
- class: the symbol's class index on the marker;
- box: log(height / unit), log(width / unit) on the marker;
- weight: how much the marker's pixels count in the loss — more for small symbols, so that a dot
  (a dozen marker pixels) weighs about as much as a clef (hundreds), instead of vanishing.

Symbols come in energy groups, each with its own maps: a ledger line is centred exactly on the
notehead it carries and a stem runs into its notehead, so in one map the watershed would give their
pixels to one symbol and lose the other. Within a group, where markers overlap, a pixel belongs to the
symbol with the higher energy there (ties: the smaller symbol), as the watershed would split them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TargetConfig:
    energy_levels: int = 8
    marker_scale: float = 0.8  # the marker oval is this fraction of the box (the DWD paper's 0.8)
    min_radius: float = 1.0  # px
    box_unit: float = 10.0  # px; box targets are log(size / box_unit)
    # Small symbols weigh up to `max_size_boost` × more per pixel: sqrt(reference area / marker area).
    reference_marker_area: float = 60.0  # px² (about a notehead's marker at 10 px staff space)
    max_size_boost: float = 4.0


@dataclass
class CropTargets:
    energy: np.ndarray  # (G, H, W) int64 in 0..K
    classes: np.ndarray  # (G, H, W) int64 class index, -100 where no marker (ignored by the loss)
    box: np.ndarray  # (G, 2, H, W) float32 log(h/unit), log(w/unit); meaningful where classes >= 0
    size_weight: np.ndarray  # (G, H, W) float32: 1 off markers, 1 … max_size_boost on them


def group_count(class_groups: np.ndarray) -> int:
    """How many energy groups the classes fall into (group indices 0 … n − 1)."""
    return int(np.max(class_groups)) + 1 if len(class_groups) else 1


def make_targets(height: int, width: int, boxes: np.ndarray, labels: np.ndarray, config: TargetConfig,
                 class_groups: np.ndarray | None = None) -> CropTargets:
    """boxes (N, 4) x0, y0, x1, y1 in crop pixels; labels (N,) class indices; class_groups (C,) the
    energy group of each class (None: all in group 0)."""
    levels = config.energy_levels
    groups = group_count(class_groups) if class_groups is not None else 1
    energy = np.zeros((groups, height, width), np.int64)
    owner_energy = np.zeros((groups, height, width), np.float32)  # continuous energy of the current owner
    owner_area = np.full((groups, height, width), np.inf, np.float32)
    classes = np.full((groups, height, width), -100, np.int64)
    box = np.zeros((groups, 2, height, width), np.float32)
    size_weight = np.ones((groups, height, width), np.float32)
    for (x0, y0, x1, y1), label in zip(boxes, labels):
        w, h = x1 - x0, y1 - y0
        if w <= 0 or h <= 0:
            continue
        group = int(class_groups[label]) if class_groups is not None else 0
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ax = max(config.marker_scale * w / 2, config.min_radius)
        ay = max(config.marker_scale * h / 2, config.min_radius)
        c0, c1 = max(int(np.floor(cx - ax)), 0), min(int(np.ceil(cx + ax)) + 1, width)
        r0, r1 = max(int(np.floor(cy - ay)), 0), min(int(np.ceil(cy + ay)) + 1, height)
        if c0 >= c1 or r0 >= r1:
            continue
        xs = (np.arange(c0, c1) + 0.5 - cx) / ax
        ys = (np.arange(r0, r1) + 0.5 - cy) / ay
        distance = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)  # 0 at the centre, 1 on the rim
        value = 1.0 - distance  # > 0 inside the oval
        area = w * h
        region = (slice(r0, r1), slice(c0, c1))
        current, current_area = owner_energy[group][region], owner_area[group][region]
        wins = (value > 0) & ((value > current) | ((value == current) & (area < current_area)))
        if not wins.any():
            continue
        boost = float(np.clip(np.sqrt(config.reference_marker_area / (np.pi * ax * ay)), 1.0, config.max_size_boost))
        current[wins] = value[wins]
        current_area[wins] = area
        energy[group][region][wins] = np.ceil(value[wins] * levels).astype(np.int64).clip(1, levels)
        classes[group][region][wins] = label
        box[group, 0][region][wins] = np.log(h / config.box_unit)
        box[group, 1][region][wins] = np.log(w / config.box_unit)
        size_weight[group][region][wins] = boost
    return CropTargets(energy=energy, classes=classes, box=box, size_weight=size_weight)


def group_of_classes(classes: list[str] | tuple[str, ...], energy_groups: tuple[tuple[str, ...], ...]) -> np.ndarray:
    """(C,) energy group per class: group i + 1 for classes in energy_groups[i], 0 for the rest."""
    index = {name: number + 1 for number, members in enumerate(energy_groups) for name in members}
    return np.array([index.get(name, 0) for name in classes], np.int64)
