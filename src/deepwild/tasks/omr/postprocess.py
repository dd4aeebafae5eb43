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
    # Per class (by class index, overriding its group's threshold): a class is reported from the
    # decoding at its own threshold (small symbols such as dots need a lower one than clefs).
    class_thresholds: tuple[float, ...] = ()
    class_split_margins: tuple[float, ...] = ()  # likewise (time-signature digits touch; most symbols do not)
    # Ledger lines extend the staff: one found between a staff's top and bottom lines is a staff line
    # through a notehead, which looks the same up close (see `find_staves`).
    ledger_lines_outside_staves: bool = True
    # Whole and half rests are the same bar: a whole rest hangs from a staff line, a half rest sits on one.
    # The class map confuses them; the staff line next to the symbol does not (see `rests_by_staff_line`).
    rests_by_staff_line: bool = True
    min_component_px: int = 1
    min_score: float = 0.05
    # px per tile side (multiple of 8). On a 1240 × 1754 page tiles of 768–2048 px take the same time (the
    # overlap costs what one big pass loses in cache), and 1024 keeps peak memory at ~1.0 GB instead of 1.3.
    tile: int = 1024
    overlap: int = 64  # px of context on each side of a tile, cut off afterwards

    def threshold(self, group: int) -> float:
        return self.group_thresholds[group] if group < len(self.group_thresholds) else self.energy_threshold

    def margin(self, group: int) -> float:
        return self.group_split_margins[group] if group < len(self.group_split_margins) else self.split_margin

    def thresholds_of_classes(self, class_groups: np.ndarray) -> np.ndarray:
        """(C,) the threshold each class is decoded at."""
        if len(self.class_thresholds) == len(class_groups):
            return np.asarray(self.class_thresholds, np.float64)
        return np.array([self.threshold(int(g)) for g in class_groups], np.float64)

    def margins_of_classes(self, class_groups: np.ndarray) -> np.ndarray:
        """(C,) the split margin each class is decoded with."""
        if len(self.class_split_margins) == len(class_groups):
            return np.asarray(self.class_split_margins, np.float64)
        return np.array([self.margin(int(g)) for g in class_groups], np.float64)


@dataclass(frozen=True)
class RawDetection:
    class_index: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the network's input pixels
    score: float


@dataclass
class GroupCandidates:
    """One energy group's pixels that may belong to a core at any threshold in use (expected energy ≥
    the lowest), with what the heads say there."""

    index: np.ndarray  # (n,) flat page index
    probs: np.ndarray  # (n, C) float32 class probabilities among the group's classes
    sizes: np.ndarray  # (n, 2) float32 log(h / unit), log(w / unit)


@dataclass
class NetworkOutputs:
    """What the network says about one page, enough to decode it at any threshold ≥ `lowest`."""

    expected: np.ndarray  # (G, H, W) float32 expected energy level
    foreground: np.ndarray  # (G, H, W) float32 1 − p(level 0)
    candidates: list[GroupCandidates]
    class_groups: np.ndarray  # (C,)
    lowest: float


def detect_array(model: torch.nn.Module, ink: np.ndarray, config: PostprocessConfig, box_unit: float,
                 class_groups: np.ndarray | None = None) -> list[RawDetection]:
    """ink: (H, W) float32, 1 = ink, 0 = paper (the network's input). class_groups (C,): the energy
    group of each class (None: one group). Each group's energy map is decoded on its own; a symbol's
    class is voted among its group's classes only."""
    groups = np.zeros(int(model.num_classes), np.int64) if class_groups is None else np.asarray(class_groups)
    lowest = float(config.thresholds_of_classes(groups).min())
    return decode(network_outputs(model, ink, config, groups, lowest), config, box_unit)


@torch.no_grad()
def network_outputs(model: torch.nn.Module, ink: np.ndarray, config: PostprocessConfig, class_groups: np.ndarray,
                    lowest: float) -> NetworkOutputs:
    """Run the network over the page in overlapping tiles (`config.tile`, `config.overlap`); keep the
    energy maps at full resolution and the heads' readings only where expected energy ≥ `lowest`, so
    that memory stays proportional to the page, not to the page times the number of classes."""
    height, width = ink.shape
    groups = int(getattr(model, "groups", 1))
    outside = torch.stack([torch.from_numpy((class_groups != g).astype(np.float32) * -1e4) for g in range(groups)])
    foreground = np.zeros((groups, height, width), np.float32)
    expected = np.zeros((groups, height, width), np.float32)  # expected energy level: sub-pixel centres
    parts: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(groups)]
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
                own = (slice(oy0, oy1), slice(ox0, ox1))
                foreground[g, top:top + oy1 - oy0, left:left + ox1 - ox0] = (1.0 - energy[0])[own].numpy()
                expected[g, top:top + oy1 - oy0, left:left + ox1 - ox0] = expectation[own].numpy()
                rows, cols = np.nonzero((expectation[own] >= lowest).numpy())
                if len(rows) == 0:
                    continue
                logits = _sample(maps["classes"][0], oy0 + rows, ox0 + cols, padded_h, padded_w) + outside[g]
                sizes = _sample(maps["box"][0][2 * g:2 * g + 2], oy0 + rows, ox0 + cols, padded_h, padded_w)
                parts[g].append(((top + rows) * width + left + cols, F.softmax(logits, dim=1).numpy(), sizes.numpy()))
    candidates = []
    for g in range(groups):
        if parts[g]:
            candidates.append(GroupCandidates(*(np.concatenate([part[k] for part in parts[g]]) for k in range(3))))
        else:
            candidates.append(GroupCandidates(np.zeros(0, np.int64), np.zeros((0, len(class_groups)), np.float32),
                                              np.zeros((0, 2), np.float32)))
    return NetworkOutputs(expected, foreground, candidates, class_groups, lowest)


def decode(outputs: NetworkOutputs, config: PostprocessConfig, box_unit: float) -> list[RawDetection]:
    """Symbols from the network's outputs: per group and per (threshold, split margin) in use there, the
    cores, split at their seeds, each a symbol with a class vote; a class is reported from the decoding
    at its own settings."""
    class_thresholds = config.thresholds_of_classes(outputs.class_groups)
    class_margins = config.margins_of_classes(outputs.class_groups)
    if class_thresholds.min() < outputs.lowest - 1e-9:
        raise ValueError(f"outputs were kept down to energy {outputs.lowest}, the decoding needs {class_thresholds.min()}")
    detections: list[RawDetection] = []
    for g, candidates in enumerate(outputs.candidates):
        members = outputs.class_groups == g
        if not members.any() or len(candidates.index) == 0:
            continue
        expected = outputs.expected[g]
        settings = sorted({(float(t), float(m)) for t, m in zip(class_thresholds[members], class_margins[members])})
        for threshold, margin in settings:
            keep = expected.ravel()[candidates.index] >= threshold
            if not keep.any():
                continue
            core = expected >= threshold
            labels = split_touching(core, expected, threshold + margin) if margin > 0 else None
            found = _components(core, outputs.foreground[g], expected, candidates.index[keep], candidates.probs[keep],
                                candidates.sizes[keep], config, box_unit, labels)
            detections += [d for d in found
                           if class_thresholds[d.class_index] == threshold and class_margins[d.class_index] == margin]
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
    """One symbol per labelled core (vectorised over cores: a page has thousands). index (n,): the flat
    page index of every core pixel, with its class probabilities (n, C) and log sizes (n, 2)."""
    from scipy import ndimage

    labels, count = labelled or ndimage.label(core, structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    component = labels.ravel()[index]  # (n,) component of each core pixel, 1..count
    order = np.argsort(component, kind="stable")
    component, index, probs, sizes = component[order], index[order], probs[order], sizes[order]
    present, starts, pixels = np.unique(component, return_index=True, return_counts=True)
    votes = np.add.reduceat(probs, starts, axis=0)  # (k, C) summed class probabilities per core
    classes = votes.argmax(axis=1)
    fg_mean = np.add.reduceat(foreground.ravel()[index], starts) / pixels
    scores = votes[np.arange(len(present)), classes] / pixels * fg_mean
    # Size: the box head's reading, weighted towards the core's centre (where it is most reliable).
    weight = expected.ravel()[index].astype(np.float64)
    log_sizes = np.add.reduceat(sizes * weight[:, None], starts, axis=0) / np.add.reduceat(weight, starts)[:, None]
    cx, cy = _refined_centres(labels, expected, count, index, component)
    detections = []
    for k, label in enumerate(present):
        if pixels[k] < config.min_component_px or scores[k] < config.min_score:
            continue
        h, w = float(np.exp(log_sizes[k, 0]) * box_unit), float(np.exp(log_sizes[k, 1]) * box_unit)
        x, y = float(cx[label]), float(cy[label])
        detections.append(RawDetection(int(classes[k]), (x - w / 2, y - h / 2, x + w / 2, y + h / 2), float(scores[k])))
    return detections


def _refined_centres(labels: np.ndarray, expected: np.ndarray, count: int, index: np.ndarray,
                     component: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (count + 1,) of all cores with sub-pixel accuracy: the centroid of the expected energy over
    each core (its pixels `index`, labelled `component`) and the ring of unlabelled pixels around it. A
    1-px stem's centre is found to a fraction of a pixel, which its box needs to overlap the truth at all."""
    height, width = labels.shape
    rows, cols = index // width, index % width
    ring_index, ring_label = [], []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            r, c = rows + dy, cols + dx
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            neighbour = r[inside] * width + c[inside]
            free = labels.ravel()[neighbour] == 0
            ring_index.append(neighbour[free])
            ring_label.append(component[inside][free])
    ring = np.concatenate(ring_index)
    ring_owner = np.concatenate(ring_label)
    # A ring pixel counts once for each core it touches.
    _, first = np.unique(ring.astype(np.int64) * (count + 1) + ring_owner, return_index=True)
    pixels = np.concatenate([index, ring[first]])
    owners = np.concatenate([component, ring_owner[first]])
    weights = expected.ravel()[pixels].astype(np.float64)
    total = np.maximum(np.bincount(owners, weights=weights, minlength=count + 1), 1e-12)
    cx = np.bincount(owners, weights=weights * (pixels % width + 0.5), minlength=count + 1) / total
    cy = np.bincount(owners, weights=weights * (pixels // width + 0.5), minlength=count + 1) / total
    return cx, cy


@dataclass(frozen=True)
class Staff:
    top: float  # centre row of its top line
    bottom: float  # centre row of its bottom line
    left: float
    right: float

    def lines(self) -> np.ndarray:
        """(5,) centre rows of its lines, top to bottom."""
        return np.linspace(self.top, self.bottom, 5)

    def holds(self, x: float, y: float, margin: float) -> bool:
        return self.left <= x <= self.right and self.top - margin < y < self.bottom + margin


def find_staves(gray: np.ndarray, staff_space: float) -> list[Staff]:
    """Five-line staves of a page (gray (H, W), 1 = paper) whose staff-line distance is `staff_space`:
    rows holding a long unbroken ink run are staff-line rows; adjacent rows form one line; five lines
    a staff space apart form a staff."""
    ink = gray < 0.75
    padded = np.pad(ink, ((0, 0), (1, 1)), constant_values=False).astype(np.int8)
    change = np.diff(padded, axis=1)
    start_rows, starts = np.nonzero(change == 1)
    _, ends = np.nonzero(change == -1)
    long_run = (ends - starts) >= max(8 * staff_space, ink.shape[1] // 8)  # beams are shorter than this
    rows, lefts, rights = start_rows[long_run], starts[long_run], ends[long_run]
    lines: list[list[float]] = []  # [first row, last row, left, right]
    for row in np.unique(rows):
        left, right = float(lefts[rows == row].min()), float(rights[rows == row].max())
        if lines and row - lines[-1][1] <= 1:
            line = lines[-1]
            line[1], line[2], line[3] = row, min(line[2], left), max(line[3], right)
        else:
            lines.append([row, row, left, right])
    centres = [(first + last) / 2 for first, last, _, _ in lines]
    staves, i = [], 0
    while i + 5 <= len(lines):
        gaps = np.diff(centres[i:i + 5])
        if np.all(np.abs(gaps - staff_space) <= 0.3 * staff_space):
            group = lines[i:i + 5]
            staves.append(Staff(centres[i], centres[i + 4], min(g[2] for g in group), max(g[3] for g in group)))
            i += 5
        else:
            i += 1
    return staves


def outside_staves(detections: list[RawDetection], staves: list[Staff], staff_space: float,
                   classes: np.ndarray) -> list[RawDetection]:
    """Drops the detections of `classes` (a (C,) mask) whose centre lies within a staff: more than half a
    staff space inside its outer lines, where a ledger line never is."""
    kept = []
    for detection in detections:
        if classes[detection.class_index]:
            cx, cy = (detection.box[0] + detection.box[2]) / 2, (detection.box[1] + detection.box[3]) / 2
            if any(staff.holds(cx, cy, staff_space / 2) for staff in staves):
                continue
        kept.append(detection)
    return kept


def rests_by_staff_line(detections: list[RawDetection], staves: list[Staff], staff_space: float, whole: int,
                        half: int) -> list[RawDetection]:
    """Whole and half rests (class indices `whole`, `half`) named by the staff line nearest to their centre:
    above it, the rest hangs from the line (whole); below it, the rest sits on it (half). Rests outside
    every staff keep the class map's vote."""
    named = []
    for d in detections:
        if d.class_index in (whole, half):
            cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
            staff = next((staff for staff in staves if staff.holds(cx, cy, staff_space)), None)
            if staff is not None:
                lines = staff.lines()
                line = lines[np.argmin(np.abs(lines - cy))]
                d = RawDetection(whole if line < cy else half, d.box, d.score)
        named.append(d)
    return named


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
    window = np.arange(max(mode - 1, 0), min(mode + 2, len(histogram)))  # the mode may be the longest period
    return float((histogram[window] * window).sum() / histogram[window].sum())


def _long_horizontal_rows(ink: np.ndarray) -> int:
    """Rows holding an unbroken ink run of at least a quarter of the page width (staff lines do)."""
    padded = np.pad(ink, ((0, 0), (1, 1)), constant_values=False).astype(np.int8)
    change = np.diff(padded, axis=1)
    start_rows, starts = np.nonzero(change == 1)
    _, ends = np.nonzero(change == -1)
    long_runs = (ends - starts) >= max(ink.shape[1] // 4, 20)
    return len(np.unique(start_rows[long_runs]))
