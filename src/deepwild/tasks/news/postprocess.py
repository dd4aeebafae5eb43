"""From article masks to the network's target, and from its output back to article regions.

Target (Meier et al.): one value per pixel, 1 = border or background, 0 = article. Each article is
shrunk by `shrink` pixels at the network's resolution, so that two articles that touch are kept apart
by at least 2·shrink pixels of border (≥ 5 px with the default 3): the network learns to draw the cut,
and connected components of "article" fall apart into articles.

Decoding: pixels whose border probability stays at or below `threshold` (0.35 in the paper: a pixel
must be fairly sure to be article, so cuts win over merges) are article; connected components of them
(8-connected) are the articles; components smaller than `min_area` are noise and dropped; each kept
component grows back by the shrink distance (nearest article wins), so that regions cover their
articles' full extent again. Regions become polygons (their outer contour, simplified) and boxes in page
pixels; the reading order is top to bottom, then left to right, of the boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SHRINK = 3  # px at the network's resolution
THRESHOLD = 0.35  # border probability above which a pixel is border (the paper's)
MIN_AREA = 24  # px at the network's resolution (of 256 × 256): smaller components are noise


def border_target(article_ids: np.ndarray, shrink: int = SHRINK) -> np.ndarray:
    """(H, W) float32: 0 where a pixel and every pixel within `shrink` (square window) belong to the same
    article, else 1 (background, border, or within `shrink` of another article or of background)."""
    ids = np.asarray(article_ids)
    size = 2 * shrink + 1
    same = ndimage.minimum_filter(ids, size=size, mode="nearest") == ndimage.maximum_filter(ids, size=size, mode="nearest")
    return np.where(same & (ids > 0), 0.0, 1.0).astype(np.float32)


def decode(border_probability: np.ndarray, threshold: float = THRESHOLD, min_area: int = MIN_AREA,
           grow: int = SHRINK) -> np.ndarray:
    """(H, W) int32 article ids (0 = none) from the network's border probability at its resolution."""
    article = border_probability <= threshold
    labels, count = ndimage.label(article, structure=np.ones((3, 3), bool))
    if count == 0:
        return labels.astype(np.int32)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= min_area
    keep[0] = False
    relabel = np.zeros(count + 1, np.int32)
    relabel[keep] = np.arange(1, int(keep.sum()) + 1)
    labels = relabel[labels]
    if grow > 0 and labels.any():
        # Chessboard distance: the square window that shrank the articles grows them back to their corners.
        distance, (rows, cols) = ndimage.distance_transform_cdt(labels == 0, metric="chessboard", return_indices=True)
        grown = labels[rows, cols]
        labels = np.where((labels == 0) & (distance <= grow), grown, labels)
    return labels.astype(np.int32)


@dataclass(frozen=True)
class ArticleRegion:
    id: str  # "a1", "a2", … in reading order
    polygon: tuple[tuple[float, float], ...]  # page pixels, closed implicitly
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 (exclusive), page pixels
    score: float  # mean article probability inside the region
    reading_order: int
    area: int  # pixels at the network's resolution
    label: int  # its value in the decoded labels


def regions(labels: np.ndarray, border_probability: np.ndarray, page_size: tuple[int, int],
            tolerance: float = 0.75) -> list[ArticleRegion]:
    """Article regions in page pixels (page_size = (width, height)) from decoded labels at the network's
    resolution; polygons are the outer contours simplified to within `tolerance` network pixels."""
    height, width = labels.shape
    scale_x, scale_y = page_size[0] / width, page_size[1] / height
    found = []
    for label in range(1, int(labels.max()) + 1):
        inside = labels == label
        if not inside.any():
            continue
        ys, xs = np.nonzero(inside)
        contour = simplify(outer_contour(inside), tolerance)
        polygon = tuple((round(float(x) * scale_x, 1), round(float(y) * scale_y, 1)) for x, y in contour)
        bbox = (float(xs.min()) * scale_x, float(ys.min()) * scale_y, float(xs.max() + 1) * scale_x,
                float(ys.max() + 1) * scale_y)
        score = float(1.0 - border_probability[inside].mean())
        found.append((bbox, polygon, score, int(inside.sum()), label))
    # Reading order: top to bottom by the box's top (in bands of a twentieth of the page), then left to right.
    band = page_size[1] / 20
    found.sort(key=lambda item: (int(item[0][1] // band), item[0][0]))
    return [ArticleRegion(id=f"a{index}", polygon=polygon, bbox=tuple(round(v, 1) for v in bbox),  # type: ignore[arg-type]
                          score=round(score, 4), reading_order=index, area=area, label=label)
            for index, (bbox, polygon, score, area, label) in enumerate(found, start=1)]


def outer_contour(inside: np.ndarray) -> np.ndarray:
    """(K, 2) x, y corners of the longest boundary of a boolean region, traced along pixel edges
    (pixel (r, c) spans x ∈ [c, c + 1], y ∈ [r, r + 1]); clockwise on screen, collinear points dropped."""
    padded = np.pad(inside, 1)
    core = padded[1:-1, 1:-1]
    rows, cols = np.nonzero(core)
    edges: dict[tuple[int, int], list[tuple[int, int]]] = {}
    # An edge wherever an inside pixel meets an outside one, directed so that inside lies on its right.
    for outside, start, end in (
            (~padded[:-2, 1:-1], (0, 0), (1, 0)),   # above: along the top, left to right
            (~padded[1:-1, 2:], (1, 0), (1, 1)),    # right side, downwards
            (~padded[2:, 1:-1], (1, 1), (0, 1)),    # below, right to left
            (~padded[1:-1, :-2], (0, 1), (0, 0))):  # left side, upwards
        chosen = outside[rows, cols]
        for r, c in zip(rows[chosen].tolist(), cols[chosen].tolist()):
            edges.setdefault((c + start[0], r + start[1]), []).append((c + end[0], r + end[1]))
    loops = []
    while edges:
        first = next(iter(edges))
        loop, point = [first], first
        while True:
            targets = edges[point]
            following = targets.pop()  # where two pixels touch only at a corner, either way closes a loop
            if not targets:
                del edges[point]
            if following == first:
                break
            loop.append(following)
            point = following
        loops.append(loop)
    ring = np.array(max(loops, key=len), dtype=np.float64)
    turning = np.roll(ring, -1, axis=0) - ring != ring - np.roll(ring, 1, axis=0)
    return ring[turning.any(axis=1)]  # corners only


def simplify(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas–Peucker on a closed polyline: the fewest points within `tolerance` of the original."""
    if len(points) > 1 and np.allclose(points[0], points[-1]):
        points = points[:-1]
    if len(points) <= 4:
        return points
    # Split the ring at its two farthest-apart points and simplify both halves as open lines.
    start = 0
    far = int(np.argmax(((points - points[start]) ** 2).sum(axis=1)))
    first = _douglas_peucker(points[start:far + 1], tolerance)
    second = _douglas_peucker(np.vstack([points[far:], points[:1]]), tolerance)
    return np.vstack([first[:-1], second[:-1]])


def _douglas_peucker(points: np.ndarray, tolerance: float) -> np.ndarray:
    keep = np.zeros(len(points), bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        segment = points[last] - points[first]
        length = np.hypot(*segment)
        offsets = points[first + 1:last] - points[first]
        if length == 0:
            distances = np.hypot(offsets[:, 0], offsets[:, 1])
        else:
            distances = np.abs(segment[0] * offsets[:, 1] - segment[1] * offsets[:, 0]) / length
        index = int(np.argmax(distances))
        if distances[index] > tolerance:
            middle = first + 1 + index
            keep[middle] = True
            stack += [(first, middle), (middle, last)]
    return points[keep]
