"""Polygons of page parts: rectangles, and the outline of a union of rectangles (an L-shaped article
is the union of its column strips)."""

from __future__ import annotations

from collections.abc import Sequence

Rect = tuple[int, int, int, int]
Point = tuple[float, float]


def rect_polygon(rect: Sequence[float]) -> tuple[Point, ...]:
    """Corners clockwise (y down) from the top left."""
    x0, y0, x1, y1 = rect
    return (x0, y0), (x1, y0), (x1, y1), (x0, y1)


def union_outline(rects: Sequence[Rect]) -> tuple[Point, ...]:
    """The outer boundary of a union of axis-aligned rectangles, clockwise from its top-left corner, without
    collinear vertices. The union is taken to be connected and without holes (an article's strips are)."""
    rects = [r for r in rects if r[2] > r[0] and r[3] > r[1]]
    xs = sorted({v for r in rects for v in (r[0], r[2])})
    ys = sorted({v for r in rects for v in (r[1], r[3])})
    filled = {(i, j) for i in range(len(ys) - 1) for j in range(len(xs) - 1)
              if any(r[0] <= xs[j] and xs[j + 1] <= r[2] and r[1] <= ys[i] and ys[i + 1] <= r[3] for r in rects)}
    following: dict[tuple[int, int], tuple[int, int]] = {}  # grid corner (column, row) → next corner, clockwise
    for i, j in filled:
        if (i - 1, j) not in filled:
            following[(j, i)] = (j + 1, i)  # top side, left to right
        if (i, j + 1) not in filled:
            following[(j + 1, i)] = (j + 1, i + 1)  # right side, downwards
        if (i + 1, j) not in filled:
            following[(j + 1, i + 1)] = (j, i + 1)  # bottom side, right to left
        if (i, j - 1) not in filled:
            following[(j, i + 1)] = (j, i)  # left side, upwards
    if not following:
        return ()
    start = min(following, key=lambda corner: (corner[1], corner[0]))
    loop = [start]
    while (corner := following[loop[-1]]) != start:
        loop.append(corner)
    points = [(float(xs[j]), float(ys[i])) for j, i in loop]
    return tuple(p for k, p in enumerate(points) if not _collinear(points[k - 1], p, points[(k + 1) % len(points)]))


def _collinear(a: Point, b: Point, c: Point) -> bool:
    return (a[0] == b[0] == c[0]) or (a[1] == b[1] == c[1])


def polygon_area(points: Sequence[Point]) -> float:
    """Shoelace area (positive)."""
    total = 0.0
    for k, (x0, y0) in enumerate(points):
        x1, y1 = points[(k + 1) % len(points)]
        total += x0 * y1 - x1 * y0
    return abs(total) / 2


def bounds(points: Sequence[Point]) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)
