"""Scan degradation of a page and its labels together, seeded per page.

One affine transform (a small rotation about the page centre plus a shift) moves the page, the layout
channel and the article mask alike — bicubic for the page, nearest neighbour for the label images —
and its matrix moves every polygon of the ground truth. Everything else is photometric and touches
the page only: show-through of a mirrored page, uneven lighting, paper and ink tone, blur, noise,
speckles, and JPEG artefacts.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageFilter

from deepwild.datagen.newspapers.photos import smooth_field

Point = tuple[float, float]


@dataclass(frozen=True)
class Degradation:
    angle_deg: float  # rotation about the page centre, counter-clockwise on screen
    shift: tuple[float, float]  # pixels, after the rotation
    show_through: float  # opacity of the mirrored page behind, 0 = none
    lighting: float  # how much darker the darkest corner of the lighting field is, 0..1
    paper: int  # grey of blank paper
    ink: int  # grey of full ink
    blur: float  # Gaussian sigma, pixels
    noise: float  # Gaussian sigma, grey levels
    speckle: float  # share of pixels turned into dust
    jpeg_quality: int  # 0 = no JPEG round trip

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        return {k: (round(v, 4) if isinstance(v, float) else [round(s, 3) for s in v] if isinstance(v, tuple) else v)
                for k, v in data.items()}


NONE = Degradation(0.0, (0.0, 0.0), 0.0, 0.0, 255, 0, 0.0, 0.0, 0.0, 0)


def draw_degradation(rng: np.random.Generator, strength: float = 1.0) -> Degradation:
    """A random scan: from nearly clean to a skewed, dim, noisy JPEG. `strength` scales every effect."""
    def maybe(p: float, low: float, high: float) -> float:
        return float(rng.uniform(low, high)) * strength if rng.random() < p else 0.0

    return Degradation(
        angle_deg=float(rng.uniform(-1.5, 1.5)) * strength if rng.random() < 0.8 else 0.0,
        shift=(float(rng.uniform(-12, 12)) * strength, float(rng.uniform(-12, 12)) * strength),
        show_through=maybe(0.5, 0.03, 0.12),
        lighting=maybe(0.6, 0.05, 0.3),
        paper=int(255 - maybe(0.8, 5, 35)),
        ink=int(maybe(0.8, 10, 60)),
        blur=maybe(0.6, 0.3, 1.1),
        noise=maybe(0.7, 2, 10),
        speckle=maybe(0.4, 0.0002, 0.002),
        jpeg_quality=int(rng.integers(35, 92)) if rng.random() < 0.6 * min(strength, 1.0) else 0,
    )


def page_matrix(degradation: Degradation, width: int, height: int) -> np.ndarray:
    """(2, 3) forward affine: page pixel coordinates (pixel (i, j) covers [i, i+1) × [j, j+1)) → degraded."""
    theta = np.deg2rad(degradation.angle_deg)
    cos, sin = np.cos(theta), np.sin(theta)
    rotation = np.array([[cos, sin], [-sin, cos]])  # counter-clockwise on screen, where y points down
    centre = np.array([width / 2, height / 2])
    offset = centre - rotation @ centre + np.array(degradation.shift)
    return np.hstack([rotation, offset[:, None]])


def transform_points(points: Sequence[Point], matrix: np.ndarray) -> list[Point]:
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    moved = array @ matrix[:, :2].T + matrix[:, 2]
    return [(float(x), float(y)) for x, y in moved]


def warp(image: np.ndarray, matrix: np.ndarray, nearest: bool, fill: int) -> np.ndarray:
    """The image moved by the forward `matrix`; uncovered pixels get `fill`."""
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    # Pillow transforms 8-bit and 32-bit integer images, not 16-bit ones.
    source = Image.fromarray(image.astype(np.int32) if image.dtype == np.uint16 else image)
    moved = source.transform(source.size, Image.Transform.AFFINE, tuple(inverse.ravel()),
                             resample=Image.Resampling.NEAREST if nearest else Image.Resampling.BICUBIC, fillcolor=fill)
    return np.asarray(moved).astype(image.dtype)


def degrade_page(gray: np.ndarray, labels: Sequence[tuple[np.ndarray, int]], degradation: Degradation,
                 rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The degraded page, each label image moved alike (nearest neighbour, `fill` where uncovered), and the
    forward matrix for the ground-truth polygons."""
    height, width = gray.shape
    matrix = page_matrix(degradation, width, height)
    page = gray.astype(np.float32)
    if degradation.show_through > 0:  # the back of the sheet: a mirrored, blurred page, shifted
        back = np.roll(gray[:, ::-1], int(rng.integers(-height // 8, height // 8)), axis=0)
        back = np.asarray(Image.fromarray(back).filter(ImageFilter.GaussianBlur(2.0)), dtype=np.float32)
        page = np.minimum(page, 255 - degradation.show_through * (255 - back))
    identity = degradation.angle_deg == 0 and degradation.shift == (0.0, 0.0)
    if not identity:
        page = warp(np.clip(page, 0, 255).astype(np.uint8), matrix, nearest=False, fill=255).astype(np.float32)
    moved = [label if identity else warp(label, matrix, nearest=True, fill=fill) for label, fill in labels]
    page = degradation.ink + page * ((degradation.paper - degradation.ink) / 255.0)  # paper and ink tone
    if degradation.lighting > 0:
        field = smooth_field(rng, height, width, 2)  # one or two broad bright/dark areas
        page *= 1 - degradation.lighting * (field - field.min()) / (np.ptp(field) + 1e-6)
    if degradation.blur > 0:
        page = np.asarray(Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))  # Pillow blurs 8-bit images only
                          .filter(ImageFilter.GaussianBlur(degradation.blur)), dtype=np.float32)
    if degradation.noise > 0:
        page = page + rng.normal(0, degradation.noise, page.shape).astype(np.float32)
    if degradation.speckle > 0:
        dust = rng.random(page.shape, dtype=np.float32) < degradation.speckle
        page[dust] = degradation.ink
    result = np.clip(page, 0, 255).astype(np.uint8)
    if degradation.jpeg_quality:
        buffer = io.BytesIO()
        Image.fromarray(result).save(buffer, format="JPEG", quality=degradation.jpeg_quality)
        result = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L"))
    return result, moved, matrix
