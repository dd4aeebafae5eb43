"""Charts as small SVG documents, written in plain Python: line charts, heatmaps, and grids of them.

The run report is rebuilt after every epoch and the training-process figures are redrawn with it, so
they must cost milliseconds, not matplotlib's second (most of which is text layout); an SVG also stays
sharp at any zoom. A heatmap's cells travel as a tiny PNG inside its SVG, drawn without smoothing.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
# Anchors of matplotlib's viridis (ordered series: early layers dark, late layers light) and magma (heatmaps).
_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
_MAGMA = ((0, 0, 4), (28, 16, 68), (79, 18, 123), (129, 37, 129), (181, 54, 122), (229, 80, 100), (251, 135, 97),
          (254, 194, 135), (252, 253, 191))
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 58, 14, 26, 34
_LEGEND_ROW = 15


@dataclass(frozen=True)
class Series:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    color: str | None = None  # None: the palette colour of its position
    dashed: bool = False


def _colormap(anchors: Sequence[tuple[int, int, int]], values: np.ndarray) -> np.ndarray:
    """RGB (..., 3) uint8 for values in [0, 1], linear between the anchors."""
    positions = np.linspace(0.0, 1.0, len(anchors))
    values = np.clip(values, 0.0, 1.0)
    channels = [np.interp(values, positions, [a[c] for a in anchors]) for c in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def ordered_colors(count: int) -> list[str]:
    """`count` colours from dark to light (viridis up to 0.9: its last tenth is too pale on white)."""
    rgb = _colormap(_VIRIDIS, np.linspace(0.0, 0.9, count) if count > 1 else np.zeros(1))
    return ["#%02x%02x%02x" % tuple(int(c) for c in row) for row in rgb]


def nice_ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 × 10^k apart; whole numbers if `integer`) covering [low, high]."""
    if not high > low:
        return [low]
    raw = max((high - low) / count, 1.0) if integer else (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw and not (integer and m == 2.5))
    first = math.ceil(low / step - 1e-9)
    ticks = []
    value = first * step
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value = (first + len(ticks)) * step
    return ticks


def _log_ticks(low: float, high: float) -> list[float]:
    """log10 of the values 1, 2, 5 × 10^k from the largest at or below 10^low to the smallest at or above 10^high."""
    candidates = [math.log10(m) + k for k in range(math.floor(low) - 1, math.ceil(high) + 2) for m in (1, 2, 5)]
    start = max(c for c in candidates if c <= low + 1e-12)
    end = min(c for c in candidates if c >= high - 1e-12)
    if end <= start:
        end = min(c for c in candidates if c > start)
    ticks = [c for c in candidates if start - 1e-12 <= c <= end + 1e-12]
    if len(ticks) > 7:  # many decades: powers of ten only
        ticks = [c for c in ticks if abs(c - round(c)) < 1e-9] or ticks[:: len(ticks) // 6]
    return [start, *[t for t in ticks if start < t < end], end]


def _format(value: float) -> str:
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")


def _padded(low: float, high: float, pad: float) -> tuple[float, float]:
    if high <= low:  # a single value: a window around it
        half = abs(low) * 0.1 or 0.5
        return low - half, high + half
    margin = (high - low) * pad
    return low - margin, high + margin


class _Frame:
    """A plot area inside a chart: data → pixel mapping, frame, grid, ticks and labels."""

    def __init__(self, width: int, height: int, x_range: tuple[float, float], y_range: tuple[float, float],
                 margin_left: int = _MARGIN_LEFT, margin_right: int = _MARGIN_RIGHT) -> None:
        self.left, self.right = margin_left, width - margin_right
        self.top, self.bottom = _MARGIN_TOP, height - _MARGIN_BOTTOM
        (self.x_low, self.x_high), (self.y_low, self.y_high) = x_range, y_range

    def x(self, value: float) -> float:
        return self.left + (value - self.x_low) / (self.x_high - self.x_low) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y_low) / (self.y_high - self.y_low) * (self.bottom - self.top)

    def axes(self, x_ticks: Sequence[float], y_ticks: Sequence[float], x_label: str, log_y: bool = False,
             grid: bool = True) -> list[str]:
        parts = [f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
                 f'height="{self.bottom - self.top}" fill="none" stroke="#999"/>']
        line = "#eee" if grid else "none"
        for tick in x_ticks:
            if self.x_low <= tick <= self.x_high:
                x = self.x(tick)
                parts.append(f'<line x1="{x:.1f}" y1="{self.top}" x2="{x:.1f}" y2="{self.bottom}" stroke="{line}"/>'
                             f'<text x="{x:.1f}" y="{self.bottom + 14}" text-anchor="middle">{_format(tick)}</text>')
        for tick in y_ticks:
            if self.y_low - 1e-12 <= tick <= self.y_high + 1e-12:
                y = self.y(tick)
                label = _format(10 ** tick) if log_y else _format(tick)
                parts.append(f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" stroke="{line}"/>'
                             f'<text x="{self.left - 5}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
        parts.append(f'<text x="{(self.left + self.right) / 2:.1f}" y="{self.bottom + 28}" text-anchor="middle" '
                     f'fill="#555">{html.escape(x_label)}</text>')
        return parts


def _document(width: int, height: int, title: str, body: Sequence[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'font-family="sans-serif" font-size="11"><rect width="{width}" height="{height}" fill="#fff"/>'
            f'<text x="{width / 2:.1f}" y="16" text-anchor="middle" font-size="13">{html.escape(title)}</text>'
            f'{"".join(body)}</svg>')


def _drawable(series: Sequence[Series], log_y: bool) -> list[list[list[tuple[float, float]]]]:
    """Each series' points, split into runs of drawable points (NaN, inf, and ≤ 0 on a log axis break a line)."""
    pieces = []
    for s in series:
        runs: list[list[tuple[float, float]]] = []
        current: list[tuple[float, float]] = []
        for x, y in zip(s.xs, s.ys):
            if x is not None and y is not None and math.isfinite(x) and math.isfinite(y) and (y > 0 or not log_y):
                current.append((float(x), math.log10(y) if log_y else float(y)))
            elif current:
                runs.append(current)
                current = []
        if current:
            runs.append(current)
        pieces.append(runs)
    return pieces


def line_chart(title: str, series: Sequence[Series], x_label: str = "epoch", log_y: bool = False,
               width: int = 420, height: int = 270, y_range: tuple[float, float] | None = None,
               legend: bool = True) -> str:
    """An SVG document: one line per series, axes with round ticks, a legend below the plot."""
    pieces = _drawable(series, log_y)
    points = [p for runs in pieces for run in runs for p in run]
    rows = _legend_layout(series, width) if legend else {}
    row_count = max(rows.values(), default=-1) + 1
    total_height = height + (_LEGEND_ROW * row_count + 6 if row_count else 0)
    title = f"{title} (log scale)" if log_y else title
    if not points:
        frame = _Frame(width, height, (0, 1), (0, 1))
        return _document(width, total_height, title, [*frame.axes([], [], x_label), f'<text x="{width / 2:.1f}" '
                                                      f'y="{height / 2:.1f}" text-anchor="middle" fill="#777">no data yet</text>'])
    x_range = _padded(min(p[0] for p in points), max(p[0] for p in points), pad=0.0)
    if log_y:  # the axis ends on 1, 2 or 5 × 10^k, ticks at those values
        y_ticks = _log_ticks(min(p[1] for p in points), max(p[1] for p in points))
        y_low, y_high = y_ticks[0], y_ticks[-1]
    else:
        y_low, y_high = y_range or _padded(min(p[1] for p in points), max(p[1] for p in points), pad=0.05)
        y_ticks = nice_ticks(y_low, y_high)
    frame = _Frame(width, height, x_range, (y_low, y_high))
    whole_x = all(float(p[0]).is_integer() for p in points)  # epochs, steps
    body = frame.axes(nice_ticks(*x_range, 6, integer=whole_x), y_ticks, x_label, log_y)
    for index, (s, runs) in enumerate(zip(series, pieces)):
        color = s.color or PALETTE[index % len(PALETTE)]
        dash = ' stroke-dasharray="5,3"' if s.dashed else ""
        for run in runs:
            coordinates = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in run)
            body.append(f'<polyline points="{coordinates}" fill="none" stroke="{color}" stroke-width="1.6"{dash}/>')
            if len(run) <= 40:  # markers only where they stay apart
                body += [f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="2.2" fill="{color}"/>' for x, y in run]
    if legend:
        body += _legend(series, rows, height)
    return _document(width, total_height, title, body)


def heatmap(title: str, values: np.ndarray, xs: Sequence[float], y_range: tuple[float, float], x_label: str = "epoch",
            value_range: tuple[float, float] = (0.0, 1.0), width: int = 300, height: int = 220) -> str:
    """An SVG document: values (rows, columns) as coloured cells (magma), row 0 at the bottom of `y_range`,
    column j centred on xs[j] (xs ascending, evenly spaced or not: each cell reaches halfway to its neighbours)."""
    values = np.asarray(values, np.float64)
    xs = [float(x) for x in xs]
    low, high = value_range
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    rgb = _colormap(_MAGMA, np.nan_to_num(scaled, nan=0.0))[::-1]  # image rows run top to bottom
    edges = ([xs[0] - 0.5] + [(a + b) / 2 for a, b in zip(xs, xs[1:])] + [xs[-1] + 0.5]) if xs else [0.0, 1.0]
    frame = _Frame(width, height, (edges[0], edges[-1]), y_range, margin_left=52, margin_right=8)
    steps = np.diff(xs)
    if len(xs) < 2 or np.allclose(steps, steps[0]):  # evenly spaced columns (epochs 0, 1, 2, ...): one image
        spans = [(0, len(xs))]
    else:  # one image per column, so that unevenly spaced columns keep their place on the axis
        spans = [(column, column + 1) for column in range(len(xs))]
    body = []
    for first, last in spans:
        x0, x1 = frame.x(edges[first]), frame.x(edges[last])
        body.append(f'<image x="{x0:.2f}" y="{frame.top}" width="{x1 - x0 + 0.3:.2f}" height="{frame.bottom - frame.top}" '
                    f'preserveAspectRatio="none" style="image-rendering:pixelated" '
                    f'href="data:image/png;base64,{_png_base64(rgb[:, first:last])}"/>')
    whole_x = all(x.is_integer() for x in xs)
    body += frame.axes(nice_ticks(edges[0], edges[-1], 5, integer=whole_x), nice_ticks(*y_range, 4), x_label,
                       grid=False)
    return _document(width, height, title, body)


@dataclass(frozen=True)
class Rule:
    """A reference line across the plot area: vertical at x=`value` or horizontal at y=`value`."""
    axis: str  # "x" (vertical line) or "y" (horizontal line)
    value: float
    dashed: bool = True
    color: str = "#d62728"


_MARKERS = ("circle", "square", "diamond", "triangle")


def _marker(shape: str, x: float, y: float, color: str, size: float = 3.4) -> str:
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" fill="{color}"/>'
    if shape == "square":
        return f'<rect x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" height="{2 * size:.1f}" fill="{color}"/>'
    corners = ([(x, y - 1.3 * size), (x + 1.3 * size, y), (x, y + 1.3 * size), (x - 1.3 * size, y)] if shape == "diamond"
               else [(x, y - 1.3 * size), (x + 1.2 * size, y + size), (x - 1.2 * size, y + size)])
    return f'<polygon points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in corners)}" fill="{color}"/>'


def trajectory_chart(title: str, trajectories: Sequence[Series], shades: Sequence[float], x_label: str, y_label: str,
                     x_range: tuple[float, float], y_range: tuple[float, float], rules: Sequence[Rule] = (),
                     note: str = "", width: int = 440, height: int = 330) -> str:
    """An SVG document: each series a grey path whose points are coloured by `shades` (0 dark … 1 light, one
    per point, shared by all series: e.g. the epoch), one marker shape per series, its label at its last
    point; reference `rules` across the plot and a `note` in red at the bottom left."""
    frame = _Frame(width, height, x_range, y_range, margin_left=64)
    body = frame.axes(nice_ticks(*x_range, 5), nice_ticks(*y_range, 5), x_label)
    middle = (frame.top + frame.bottom) / 2
    body.append(f'<text x="14" y="{middle:.1f}" text-anchor="middle" fill="#555" '
                f'transform="rotate(-90 14 {middle:.1f})">{html.escape(y_label)}</text>')
    for rule in rules:
        dash = ' stroke-dasharray="5,3"' if rule.dashed else ' stroke-dasharray="1.5,2.5"'
        if rule.axis == "x":
            x = frame.x(rule.value)
            body.append(f'<line x1="{x:.1f}" y1="{frame.top}" x2="{x:.1f}" y2="{frame.bottom}" stroke="{rule.color}"{dash}/>')
        else:
            y = frame.y(rule.value)
            body.append(f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.right}" y2="{y:.1f}" stroke="{rule.color}"{dash}/>')
    colors = _colormap(_VIRIDIS, np.asarray(shades, np.float64) * 0.9)
    for index, s in enumerate(trajectories):
        points = [(frame.x(x), frame.y(y)) for x, y in zip(s.xs, s.ys) if math.isfinite(x) and math.isfinite(y)]
        if not points:
            continue
        body.append(f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in points)}" fill="none" '
                    f'stroke="#999" stroke-width="0.8"/>')
        shape = _MARKERS[index % len(_MARKERS)]
        body += [_marker(shape, x, y, "#%02x%02x%02x" % tuple(int(c) for c in colors[min(i, len(colors) - 1)]))
                 for i, (x, y) in enumerate(points)]
        last_x, last_y = points[-1]
        body.append(f'<text x="{last_x + 5:.1f}" y="{last_y - 4:.1f}" font-size="10">{html.escape(s.label)}</text>')
    if note:
        body.append(f'<text x="{frame.left + 6}" y="{frame.bottom - 6}" fill="#d62728" font-size="10">'
                    f'{html.escape(note)}</text>')
    return _document(width, height, title, body)


def colour_scale(label: str, value_range: tuple[float, float], width: int = 90, height: int = 220) -> str:
    """The heatmap colours as a vertical bar with its end values, to place beside heatmaps."""
    top, bottom = _MARGIN_TOP, height - _MARGIN_BOTTOM
    ramp = _colormap(_MAGMA, np.linspace(1.0, 0.0, 64))[:, None, :]
    low, high = value_range
    body = [f'<image x="10" y="{top}" width="14" height="{bottom - top}" preserveAspectRatio="none" '
            f'href="data:image/png;base64,{_png_base64(ramp)}"/>',
            f'<rect x="10" y="{top}" width="14" height="{bottom - top}" fill="none" stroke="#999"/>']
    for value in nice_ticks(low, high, 4):
        y = bottom - (value - low) / (high - low) * (bottom - top)
        body.append(f'<text x="28" y="{y + 4:.1f}">{_format(value)}</text>')
    body.append(f'<text x="10" y="{bottom + 18}" fill="#555">{html.escape(label)}</text>')
    return _document(width, height, "", body)


def _png_base64(rgb: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_SIZE = re.compile(r'^<svg [^>]*?width="(\d+)" height="(\d+)"')


def grid(charts: Sequence[str], columns: int, gap: int = 6) -> str:
    """Charts (SVG documents from this module) side by side, `columns` to a row, as one SVG document."""
    sizes = [tuple(int(v) for v in _SIZE.match(chart).groups()) for chart in charts]  # type: ignore[union-attr]
    rows = [list(range(start, min(start + columns, len(charts)))) for start in range(0, len(charts), columns)]
    parts, y, width = [], 0, 0
    for row in rows:
        x = 0
        for index in row:
            # A nested <svg> keeps each chart's own coordinates; x/y place it.
            parts.append(charts[index].replace("<svg ", f'<svg x="{x}" y="{y}" ', 1))
            x += sizes[index][0] + gap
        width = max(width, x - gap)
        y += max(sizes[index][1] for index in row) + gap
    height = max(y - gap, 1)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(width, 1)}" height="{height}" '
            f'viewBox="0 0 {max(width, 1)} {height}">{"".join(parts)}</svg>')


def _legend_width(label: str) -> float:
    return 26 + 6.2 * len(label)


def _legend_layout(series: Sequence[Series], width: int) -> dict[int, int]:
    """Series index → legend row, filling rows left to right."""
    rows, row, used = {}, 0, float(_MARGIN_LEFT)
    for index, s in enumerate(series):
        needed = _legend_width(s.label)
        if used + needed > width - _MARGIN_RIGHT and used > _MARGIN_LEFT:
            row, used = row + 1, float(_MARGIN_LEFT)
        rows[index] = row
        used += needed
    return rows


def _legend(series: Sequence[Series], rows: dict[int, int], height: int) -> list[str]:
    parts, x_of_row = [], {}
    for index, s in enumerate(series):
        row = rows[index]
        x = x_of_row.get(row, float(_MARGIN_LEFT))
        y = height + 10 + row * _LEGEND_ROW
        color = s.color or PALETTE[index % len(PALETTE)]
        dash = ' stroke-dasharray="5,3"' if s.dashed else ""
        parts.append(f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 18:.1f}" y2="{y - 4}" stroke="{color}" '
                     f'stroke-width="2"{dash}/><text x="{x + 22:.1f}" y="{y}">{html.escape(s.label)}</text>')
        x_of_row[row] = x + _legend_width(s.label)
    return parts


def svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
