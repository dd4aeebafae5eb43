"""Render one page of a piece: verovio SVG → labelled SVG → one resvg rasterisation → page image,
instance mask, class mask and DeepScoresV2 annotations in pixels."""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from deepwild.data.deepscores_classes import CLASS_ID
from deepwild.data.symbols import SymbolAnnotation
from deepwild.datagen.scores.corpus import Piece, load_piece
from deepwild.datagen.scores.glyphs import font_glyphs
from deepwild.datagen.scores.svg_labels import UNLABELLED, decode_instances, label_svg

INK_THRESHOLD = 0.5  # a pixel darker than this (0 = black, 1 = paper) is ink


@dataclass(frozen=True)
class Layout:
    """How verovio lays a page out; drawn at random per page for variety."""

    font: str = "Leipzig"
    page_width: int = 2100  # verovio units (tenths of mm): A4
    page_height: int = 2970
    spacing_staff: int = 12
    spacing_system: int = 12
    width_px: int = 1240  # raster width; height follows the page's aspect

    def verovio_options(self) -> dict[str, Any]:
        return {"font": self.font, "pageWidth": self.page_width, "pageHeight": self.page_height,
                "spacingStaff": self.spacing_staff, "spacingSystem": self.spacing_system, "header": "none",
                "footer": "none", "scale": 100, "adjustPageHeight": False, "breaks": "auto",
                "xmlIdSeed": 1, "lyricNoStartHyphen": True}


@dataclass
class RenderedPage:
    gray: np.ndarray  # (H, W) uint8, 255 = paper
    instances: np.ndarray  # (H, W) uint16, 0 = background
    classes: np.ndarray  # (H, W) uint8 DeepScoresV2 class id, 0 = background or unlabelled ink
    symbols: list[SymbolAnnotation]
    staff_space: float  # pixels
    ink_coverage: float  # share of ink pixels inside some symbol box
    unmapped: dict[str, int] = field(default_factory=dict)
    page_count: int = 1
    seconds: dict[str, float] = field(default_factory=dict)  # where the time went, per stage


class PageRenderer:
    """Holds one verovio toolkit (per worker process) and renders pages with it."""

    def __init__(self) -> None:
        import verovio

        verovio.enableLog(False)
        self.toolkit = verovio.toolkit()

    def render(self, piece: Piece, layout: Layout, page_fraction: float) -> RenderedPage:
        """Render the page at `page_fraction` (0 ≤ f < 1) of the piece's pages."""
        clock = [time.perf_counter()]
        seconds: dict[str, float] = {}

        def lap(stage: str) -> None:
            clock.append(time.perf_counter())
            seconds[stage] = clock[-1] - clock[-2]

        self.toolkit.setOptions(layout.verovio_options())
        load_piece(self.toolkit, piece)
        page_count = self.toolkit.getPageCount()
        lap("load")
        svg = self.toolkit.renderToSVG(1 + int(page_fraction * page_count))
        lap("engrave")
        labelled = label_svg(svg, font_glyphs(layout.font))
        lap("label")
        rendered = rasterise(labelled.svg, layout.width_px)
        lap("rasterise")
        scale, margin = svg_to_pixels(svg, layout.width_px)
        result = annotate(rendered, labelled.instances, scale, margin)
        lap("masks")
        result.unmapped = labelled.unmapped
        result.page_count = page_count
        result.staff_space = float(np.median(labelled.staff_spaces)) * scale if labelled.staff_spaces else 0.0
        result.seconds = seconds
        return result


def svg_to_pixels(svg: str, width_px: int) -> tuple[float, tuple[float, float]]:
    """Pixels per SVG unit and the page margin (in SVG units) of a verovio page."""
    view_box = re.search(r'class="definition-scale"[^>]*viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    margin = re.search(r'class="page-margin" transform="translate\(([-\d.]+),\s*([-\d.]+)\)"', svg)
    if view_box is None or margin is None:
        raise ValueError("not a verovio page (no definition-scale viewBox or page-margin)")
    return width_px / float(view_box.group(1)), (float(margin.group(1)), float(margin.group(2)))


def rasterise(svg: str, width_px: int) -> np.ndarray:
    """(H, W, 4) uint8 RGBA on a transparent background."""
    import resvg_py

    png = resvg_py.svg_to_bytes(svg_string=svg, width=width_px, skip_system_fonts=True)
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGBA"))


def annotate(rgba: np.ndarray, instances: list, scale: float, margin: tuple[float, float]) -> RenderedPage:
    from scipy import ndimage

    height, width = rgba.shape[:2]
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    gray = np.round(255.0 * (1.0 - alpha)).astype(np.uint8)  # black ink composited on white paper
    ids = decode_instances(rgba)
    ids[ids > len(instances)] = 0
    # Pixel boxes of all instances (index 0 = background), 1 px of slack for anti-aliasing.
    boxes = np.array([[0, 0, -1, -1]] + [[(b.box[0] + margin[0]) * scale - 1, (b.box[1] + margin[1]) * scale - 1,
                                           (b.box[2] + margin[0]) * scale + 1, (b.box[3] + margin[1]) * scale + 1]
                                          for b in instances])
    rows, cols = np.indices((height, width)) + 0.5  # pixel centres

    def outside_own_box(candidate: np.ndarray) -> np.ndarray:
        box = boxes[candidate]
        return (candidate > 0) & ((cols < box[..., 0]) | (cols > box[..., 2]) | (rows < box[..., 1]) | (rows > box[..., 3]))

    # Where two colours were blended at an edge, the colour can decode to a third id: an id counts only
    # inside its own symbol's box.
    ids[outside_own_box(ids)] = 0
    ink = gray < 255 * INK_THRESHOLD
    # Edge pixels whose colour was blended (two symbols, or faint alpha) take the nearest sure id.
    unsure = ink & (ids == 0)
    if unsure.any() and (ids > 0).any():
        distance, (near_rows, near_cols) = ndimage.distance_transform_edt(ids == 0, return_indices=True)
        filled = ids[near_rows, near_cols]
        filled[outside_own_box(filled) | (distance > 3)] = 0
        ids[unsure] = filled[unsure]
    ids[~ink & (alpha < 96 / 255)] = 0

    for index, instance in enumerate(instances, start=1):  # letters of a combined glyph share one colour
        if instance.painted_as:
            x0 = int((instance.box[0] + margin[0]) * scale)
            x1 = int(np.ceil((instance.box[2] + margin[0]) * scale))
            band = ids[:, x0:x1]
            band[band == instance.painted_as] = index
    class_of_instance = np.zeros(len(instances) + 1, dtype=np.uint8)
    areas = np.bincount(ids.ravel(), minlength=len(instances) + 1)
    symbols: list[SymbolAnnotation] = []
    covered = np.zeros((height, width), dtype=bool)
    for index, instance in enumerate(instances, start=1):
        if instance.class_name == UNLABELLED or areas[index] == 0:
            continue
        x0, y0, x1, y1 = ((instance.box[0] + margin[0]) * scale, (instance.box[1] + margin[1]) * scale,
                          (instance.box[2] + margin[0]) * scale, (instance.box[3] + margin[1]) * scale)
        x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))
        if x1 <= x0 or y1 <= y0:
            continue
        corners = None
        if instance.corners is not None:
            corners = tuple(float((c + margin[i % 2]) * scale) for i, c in enumerate(instance.corners))
        class_of_instance[index] = CLASS_ID[instance.class_name]
        symbols.append(SymbolAnnotation(instance.class_name, (x0, y0, x1, y1), corners, int(areas[index]), index))
        covered[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))] = True
    coverage = float((ink & covered).sum() / max(int(ink.sum()), 1))
    return RenderedPage(gray=gray, instances=ids.astype(np.uint16), classes=class_of_instance[ids], symbols=symbols,
                        staff_space=0.0, ink_coverage=coverage)
