"""Procedural press photos and ad pictures: no downloads. A photo is a sky-to-ground gradient, a smooth
random field for texture, a few shaded shapes (buildings, hills, heads), a blur, and sometimes a
halftone screen, the dotted look of newsprint."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def smooth_field(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Values in about [-1, 1] that vary smoothly over ~1/cells of the larger side."""
    scale = max(height, width) / cells
    small = rng.normal(0, 1, (max(2, int(height / scale) + 2), max(2, int(width / scale) + 2))).astype(np.float32)
    image = Image.fromarray(small, mode="F").resize((width, height), Image.Resampling.BICUBIC)
    field = np.asarray(image, dtype=np.float32)
    return field / (np.abs(field).max() + 1e-6)


def halftone(gray: np.ndarray, period: float, angle_deg: float) -> np.ndarray:
    """A dot screen: each pixel inked where the tone is darker than a periodic threshold."""
    height, width = gray.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = np.deg2rad(angle_deg)
    u = (xx * np.cos(theta) + yy * np.sin(theta)) * (2 * np.pi / period)
    v = (-xx * np.sin(theta) + yy * np.cos(theta)) * (2 * np.pi / period)
    screen = 0.5 + 0.25 * (np.cos(u) + np.cos(v))  # in [0, 1]
    return np.where(gray / 255.0 > screen, 255, 0).astype(np.uint8)


def press_photo(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(height, width) uint8 picture."""
    horizon = rng.uniform(0.3, 0.7) * height
    yy = np.arange(height, dtype=np.float32)[:, None]
    sky = rng.uniform(150, 235) - rng.uniform(0, 60) * (yy / max(horizon, 1))
    ground = rng.uniform(60, 150) + rng.uniform(-30, 30) * ((yy - horizon) / height)
    base = np.where(yy < horizon, sky, ground) * np.ones((1, width), np.float32)
    base += 35 * smooth_field(rng, height, width, int(rng.integers(3, 9)))
    base += 12 * smooth_field(rng, height, width, int(rng.integers(15, 40)))
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 9))):
        tone = int(rng.integers(10, 240))
        x, y = rng.uniform(-0.1, 1.0) * width, rng.uniform(0.1, 0.8) * height
        w, h = rng.uniform(0.05, 0.4) * width, rng.uniform(0.1, 0.6) * height
        kind = rng.random()
        if kind < 0.4:  # a building: a block rising from the ground
            draw.rectangle([x, min(horizon - h, height - 1), x + w, height], fill=tone)
            for wy in np.arange(horizon - h + 6, height, max(8.0, h / 6)):
                draw.line([x + 3, wy, x + w - 3, wy], fill=max(0, tone - 40), width=2)
        elif kind < 0.75:  # a head and shoulders, or a tree
            draw.ellipse([x, y, x + w * 0.5, y + w * 0.6], fill=tone)
            draw.rectangle([x - w * 0.2, min(y + w * 0.55, height), x + w * 0.7, height], fill=max(0, tone - 30))
        else:  # a hill
            draw.pieslice([x - w, horizon - h * 0.5, x + 2 * w, horizon + h], 180, 360, fill=tone)
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.8, 2.5))))
    gray = np.asarray(image, dtype=np.float32)
    gray = np.clip((gray - 128) * rng.uniform(0.9, 1.4) + 128 + rng.normal(0, 4, gray.shape), 0, 255)
    if rng.random() < 0.5:
        dots = halftone(gray, period=float(rng.uniform(3.5, 5.5)), angle_deg=45.0)
        return np.asarray(Image.fromarray(dots).filter(ImageFilter.GaussianBlur(0.6)))
    return gray.astype(np.uint8)


def ad_picture(rng: np.random.Generator, width: int, height: int, inverted: bool) -> np.ndarray:
    """A product shot or a logo: a photo, or a few bold shapes on a plain ground."""
    if rng.random() < 0.5:
        return press_photo(rng, width, height)
    ground, ink = (0, 255) if inverted else (255, 0)
    image = Image.new("L", (width, height), ground)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):
        x0, y0 = rng.uniform(0.05, 0.35) * width, rng.uniform(0.05, 0.35) * height
        x1, y1 = x0 + rng.uniform(0.4, 0.6) * width, y0 + rng.uniform(0.4, 0.6) * height
        tone = int(rng.integers(0, 120)) if not inverted else int(rng.integers(140, 256))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=tone, outline=ink, width=3)
        else:
            corners = int(rng.integers(3, 8))  # a triangle to a heptagon, star-like when the radii alternate
            radii = rng.uniform(0.6, 1.0, corners) * np.where(np.arange(corners) % 2, rng.uniform(0.5, 1.0), 1.0)
            angles = 2 * np.pi * np.arange(corners) / corners + rng.uniform(0, np.pi)
            cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
            draw.polygon([(cx + rx * r * np.cos(a), cy + ry * r * np.sin(a)) for r, a in zip(radii, angles, strict=True)],
                         fill=tone, outline=ink)
    return np.asarray(image)
