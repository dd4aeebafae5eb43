"""Training targets of the Deep Watershed Detector for one crop.

For every symbol, an oval marker of `marker_scale` × its box (semi-axes at least `min_radius` px,
so thin stems and tiny dots still get pixels) carries:
- energy: the distance to the symbol's centre quantised into levels K (centre) … 1 (rim), 0 outside;
- class: the symbol's class index on the marker;
- box: log(height / unit), log(width / unit) on the marker.
Where markers overlap, a pixel belongs to the symbol with the higher energy there (ties: the smaller
symbol), as the watershed would split them.
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


@dataclass
class CropTargets:
    energy: np.ndarray  # (H, W) int64 in 0..K
    classes: np.ndarray  # (H, W) int64 class index, -100 where no marker (ignored by the loss)
    box: np.ndarray  # (2, H, W) float32 log(h/unit), log(w/unit); meaningful where classes >= 0


def make_targets(height: int, width: int, boxes: np.ndarray, labels: np.ndarray, config: TargetConfig) -> CropTargets:
    """boxes (N, 4) x0, y0, x1, y1 in crop pixels; labels (N,) class indices."""
    levels = config.energy_levels
    energy = np.zeros((height, width), np.int64)
    owner_energy = np.zeros((height, width), np.float32)  # continuous energy of the current owner
    owner_area = np.full((height, width), np.inf, np.float32)
    classes = np.full((height, width), -100, np.int64)
    box = np.zeros((2, height, width), np.float32)
    for (x0, y0, x1, y1), label in zip(boxes, labels):
        w, h = x1 - x0, y1 - y0
        if w <= 0 or h <= 0:
            continue
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
        wins = (value > 0) & ((value > owner_energy[region]) | ((value == owner_energy[region]) & (area < owner_area[region])))
        if not wins.any():
            continue
        owner_energy[region][wins] = value[wins]
        owner_area[region][wins] = area
        energy[region][wins] = np.ceil(value[wins] * levels).astype(np.int64).clip(1, levels)
        classes[region][wins] = label
        box[0][region][wins] = np.log(h / config.box_unit)
        box[1][region][wins] = np.log(w / config.box_unit)
    return CropTargets(energy=energy, classes=classes, box=box)
