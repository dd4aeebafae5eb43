"""Overlay pictures: symbol boxes and class names drawn over a page, to look at labels or detections."""

from __future__ import annotations

import colorsys
import zlib
from collections.abc import Iterable

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def class_colour(name: str) -> tuple[int, int, int]:
    """A stable, saturated colour per class name."""
    hue = (zlib.crc32(name.encode()) % 360) / 360.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.85)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_boxes(gray: np.ndarray, boxes: Iterable[tuple[str, tuple[float, float, float, float]]],
               labels: bool = True) -> Image.Image:
    """(H, W) page (uint8 or float in [0, 1]) with (class, box) pairs drawn in class colours."""
    page = gray if gray.dtype == np.uint8 else (np.clip(gray, 0, 1) * 255).astype(np.uint8)
    image = Image.fromarray(page).convert("RGB")
    draw = ImageDraw.Draw(image, "RGBA")
    font = ImageFont.load_default()
    for name, (x0, y0, x1, y1) in boxes:
        colour = class_colour(name)
        draw.rectangle([x0, y0, max(x1 - 1, x0), max(y1 - 1, y0)], outline=colour + (230,), width=1)
        if labels and name not in ("staff", "stem", "beam", "legerLine"):  # too many, too thin to label
            draw.text((x0, max(y0 - 10, 0)), name, fill=colour + (255,), font=font)
    return image
