"""Margin augmentation (DeepScores, Tuggener et al. 2018): symbols cut out with their instance
masks are pasted into empty paper (margins, gaps between systems), so that the detector sees
symbols out of their usual context, and rare symbols more often.

A pasted symbol's box never overlaps existing ink (kept `gap` pixels apart) nor, by default,
an existing box; each gets a new instance id, and its box is exactly its pasted pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from deepwild.data.augment_base import Sample, boxes_from_mask


@dataclass(frozen=True, eq=False)
class SymbolCutout:
    """One symbol cut from a page: its pixels inside its tight box."""

    label: object
    pixels: np.ndarray  # (h, w) float32 grey values
    footprint: np.ndarray  # (h, w) bool: the pixels of this instance


def cutouts(sample: Sample, max_size: int) -> list[SymbolCutout]:
    """Every symbol of `sample` that has an instance id and fits in max_size × max_size."""
    if sample.mask is None:
        raise ValueError("margin pasting cuts symbols with their instance mask; this donor page has none")
    boxes, present = boxes_from_mask(sample.mask, sample.instances)
    found = []
    rows = zip(boxes.astype(int), present, sample.instances, sample.labels)
    for (x0, y0, x1, y1), is_present, instance, label in rows:
        if not is_present or x1 - x0 > max_size or y1 - y0 > max_size:
            continue
        footprint = sample.mask[y0:y1, x0:x1] == instance
        found.append(SymbolCutout(label, sample.image[y0:y1, x0:x1].copy(), footprint))
    return found


def summed_area_table(occupied: np.ndarray, pad: int) -> np.ndarray:
    """(H + 2·pad + 1, W + 2·pad + 1) int32: occupied pixels above and left of each corner, of the
    page padded by `pad` free pixels (paper may end at the page edge)."""
    padded = np.pad(occupied, pad)
    table = np.zeros((padded.shape[0] + 1, padded.shape[1] + 1), np.int32)
    table[1:, 1:] = padded.cumsum(axis=0, dtype=np.int32).cumsum(axis=1, dtype=np.int32)
    return table


def free_positions(table: np.ndarray, height: int, width: int, gap: int) -> np.ndarray:
    """(H - h + 1, W - w + 1) bool: top-left corners where an h × w rectangle, grown by `gap`,
    covers no occupied pixel. `table` comes from `summed_area_table(occupied, gap)`: four slices
    give every window's sum at once, and the grown window is the gap-wide dilation, for free."""
    h, w = height + 2 * gap, width + 2 * gap
    covered = table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]
    return covered == 0


@dataclass(frozen=True, eq=False)
class MarginPaste:
    """Paste up to `max_symbols` symbols, cut from `donors` (or, when there are none, from the page
    itself), into empty areas of the page. A symbol with no room left is skipped."""

    donors: tuple[Sample, ...] = ()
    max_symbols: int = 8
    gap: int = 3  # clear paper kept around existing ink and boxes, pixels
    max_symbol_size: int = 96  # long symbols (staffs, slurs, beams) rarely fit; don't try them
    ink_threshold: float = 0.5  # darker than this counts as ink when finding empty paper
    avoid_boxes: bool = True  # keep pasted boxes off existing boxes too (unambiguous annotations)
    class_weights: Mapping[str, float] | None = None  # choose symbols ∝ weight of their class (rare first)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        pool = [cutout for donor in (self.donors or (sample,)) for cutout in cutouts(donor, self.max_symbol_size)]
        if not pool or self.max_symbols <= 0:
            return sample
        chosen = rng.choice(len(pool), size=self.max_symbols, p=self._probabilities(pool))
        image = sample.image.copy()
        mask = None if sample.mask is None else sample.mask.copy()
        table = summed_area_table(self._occupied(sample), self.gap)  # once: later pastes are few rectangles
        placed: list[tuple[int, int, int, int]] = []  # pasted boxes grown by the gap: x0, y0, x1, y1
        used_ids = [int(sample.instances.max(initial=0))] + ([int(mask.max(initial=0))] if mask is not None else [])
        next_instance = max(used_ids) + 1
        boxes, labels, instances = [sample.boxes], list(sample.labels), [sample.instances]
        for index in chosen:
            cutout = pool[index]
            height, width = cutout.footprint.shape
            if height > sample.height or width > sample.width:
                continue
            free = free_positions(table, height, width, self.gap)
            for x0, y0, x1, y1 in placed:  # corners whose rectangle would overlap an earlier paste
                free[max(y0 - height + 1, 0):y1, max(x0 - width + 1, 0):x1] = False
            positions = np.flatnonzero(free)
            if len(positions) == 0:
                continue
            top, left = divmod(int(positions[rng.integers(len(positions))]), free.shape[1])
            region = (slice(top, top + height), slice(left, left + width))
            # Ink over paper: the darker value wins, so anti-aliased edges don't paint white halos.
            image[region] = np.where(cutout.footprint, np.minimum(image[region], cutout.pixels), image[region])
            instance = 0
            if mask is not None:
                instance = next_instance
                next_instance += 1
                mask[region][cutout.footprint] = instance
            boxes.append(np.array([[left, top, left + width, top + height]], np.float32))
            labels.append(cutout.label)
            instances.append(np.array([instance], np.int32))
            placed.append((left - self.gap, top - self.gap, left + width + self.gap, top + height + self.gap))
        # Class ids stay numeric; names (or a mix) become an object array, whatever their lengths.
        label_array = np.array(labels) if sample.labels.dtype.kind in "iu" else np.array(labels, dtype=object)
        return Sample(image, np.concatenate(boxes), label_array, np.concatenate(instances), mask)

    def _probabilities(self, pool: list[SymbolCutout]) -> np.ndarray:
        if self.class_weights is None:
            return np.full(len(pool), 1.0 / len(pool))
        weights = np.array([self.class_weights.get(str(cutout.label), 0.0) for cutout in pool], np.float64)
        if weights.sum() <= 0:
            raise ValueError("class_weights gives weight 0 to every symbol that could be pasted")
        return weights / weights.sum()

    def _occupied(self, sample: Sample) -> np.ndarray:
        """(H, W) bool: ink, instance pixels and (optionally) existing boxes."""
        occupied = sample.image < self.ink_threshold
        if sample.mask is not None:
            occupied |= sample.mask > 0
        if self.avoid_boxes:
            for x0, y0, x1, y1 in sample.boxes:
                occupied[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))] = True
        return occupied
