"""The layout channel from an OCR engine's output instead of the image: PAGE XML (any version the reader
takes) or ALTO. Text regions and blocks become filled boxes, pictures grey ones, separators rules — drawn
as `tasks.news.layout` draws them, at the page image's size."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from deepwild.core.errors import InputError
from deepwild.tasks.news.layout import BACKGROUND, PICTURE, RULE, TEXT

PICTURE_KINDS = {"ImageRegion", "GraphicRegion", "ChartRegion", "MapRegion", "TableRegion", "Illustration",
                 "GraphicalElement"}
RULE_KINDS = {"SeparatorRegion"}
MAX_OCR_BYTES = 50_000_000


def layout_from_ocr(path: Path, width: int, height: int) -> np.ndarray:
    """(height, width) float32 layout channel from a PAGE XML or ALTO file describing the page."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"OCR file {path} does not exist")
    if path.stat().st_size > MAX_OCR_BYTES:
        raise InputError(f"OCR file {path} is larger than {MAX_OCR_BYTES // 1_000_000} MB")
    data = path.read_bytes()
    if b"<!DOCTYPE" in data[:2000] or b"<!ENTITY" in data:
        raise InputError(f"{path}: OCR files with a DTD or entities are refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise InputError(f"{path} is not well-formed XML: {error}") from None
    name = root.tag.rsplit("}", 1)[-1]
    if name == "PcGts":
        shapes = _page_shapes(path, data, width, height)
    elif name == "alto":
        shapes = _alto_shapes(root, width, height, path)
    else:
        raise InputError(f"{path} is neither PAGE XML nor ALTO (its root element is <{name}>)")
    canvas = Image.new("F", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for value in (TEXT, PICTURE, RULE):  # rules last: drawn over the boxes they run through
        for kind_value, polygon in shapes:
            if kind_value == value and len(polygon) >= 2:
                draw.polygon(polygon, fill=value) if len(polygon) >= 3 else draw.line(polygon, fill=value, width=3)
    return np.asarray(canvas, np.float32)


def _page_shapes(path: Path, data: bytes, width: int, height: int) -> list[tuple[float, list[tuple[float, float]]]]:
    from deepwild.data.pagexml import parse_page_xml

    page = parse_page_xml(data, str(path))
    scale_x, scale_y = width / max(page.width, 1), height / max(page.height, 1)
    shapes = []
    for region in page.regions:
        value = PICTURE if region.kind in PICTURE_KINDS else RULE if region.kind in RULE_KINDS else TEXT
        shapes.append((value, [(x * scale_x, y * scale_y) for x, y in region.polygon]))
    return shapes


def _alto_shapes(root: ET.Element, width: int, height: int, path: Path) -> list[tuple[float, list[tuple[float, float]]]]:
    page = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Page"), None)
    try:
        page_width = float(page.get("WIDTH", width)) if page is not None else float(width)
        page_height = float(page.get("HEIGHT", height)) if page is not None else float(height)
    except ValueError:
        raise InputError(f"{path}: the ALTO page's WIDTH/HEIGHT are not numbers") from None
    scale_x, scale_y = width / max(page_width, 1e-9), height / max(page_height, 1e-9)
    shapes = []
    for element in root.iter():
        kind = element.tag.rsplit("}", 1)[-1]
        if kind not in ("TextBlock", "Illustration", "GraphicalElement"):
            continue
        try:
            x, y = float(element.get("HPOS", "")), float(element.get("VPOS", ""))
            w, h = float(element.get("WIDTH", "")), float(element.get("HEIGHT", ""))
        except ValueError:
            raise InputError(f"{path}: an ALTO <{kind}> lacks numeric HPOS/VPOS/WIDTH/HEIGHT") from None
        value = TEXT if kind == "TextBlock" else PICTURE
        x0, y0, x1, y1 = x * scale_x, y * scale_y, (x + w) * scale_x, (y + h) * scale_y
        shapes.append((value, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]))
    return shapes
