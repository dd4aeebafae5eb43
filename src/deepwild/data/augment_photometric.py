"""Photometric augmentation: what scanning, printing and old paper do to a page's pixels.

These change the image only; boxes, labels and mask stay as they are. The one exception is
`LineThickness`, which moves the ink's edge: its mask grows or shrinks with the ink, and boxes
follow (refitted from the mask, or grown by the radius when there is none).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from scipy import ndimage

from deepwild.data.augment_base import Sample, clip_boxes, refit_boxes


@dataclass(frozen=True)
class GaussianNoise:
    """Sensor noise: i.i.d. Gaussian grey-level noise of a random strength up to `max_sigma`."""

    max_sigma: float = 0.06

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        sigma = rng.uniform(0.0, self.max_sigma)
        noise = rng.normal(0.0, sigma, size=sample.image.shape).astype(np.float32)
        return replace(sample, image=np.clip(sample.image + noise, 0.0, 1.0))


@dataclass(frozen=True)
class Blur:
    """A scanner out of focus: Gaussian blur with sigma in [min_sigma, max_sigma] pixels."""

    min_sigma: float = 0.3
    max_sigma: float = 1.0

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        sigma = rng.uniform(self.min_sigma, self.max_sigma)
        return replace(sample, image=ndimage.gaussian_filter(sample.image, sigma, mode="nearest"))


@dataclass(frozen=True)
class Binarize:
    """A bitonal scan: every pixel becomes black or white at a random threshold. A low threshold
    drops faint ink (thin anti-aliased lines may break up); boxes are kept, as the symbol is still
    meant to be there."""

    min_threshold: float = 0.4
    max_threshold: float = 0.6

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        threshold = rng.uniform(self.min_threshold, self.max_threshold)
        return replace(sample, image=(sample.image >= threshold).astype(np.float32))


@dataclass(frozen=True)
class JpegArtefacts:
    """Compression artefacts (ringing around ink, 8×8 blocks): a JPEG round trip in Pillow."""

    min_quality: int = 20
    max_quality: int = 90

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        quality = int(rng.integers(self.min_quality, self.max_quality + 1))
        grey = Image.fromarray(np.rint(sample.image * 255).astype(np.uint8))  # uint8 → mode "L"
        buffer = io.BytesIO()
        grey.save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            image = np.asarray(decoded.convert("L"), dtype=np.float32) / 255.0
        return replace(sample, image=image)


def low_frequency_field(shape: tuple[int, int], cells: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random field (H, W) in [0, 1]: a (cells + 1)² grid of random values, upsampled
    bicubically (Pillow: milliseconds for a page), so it varies over about a page/cells, like light."""
    height, width = shape
    coarse = rng.uniform(0.0, 1.0, size=(cells + 1, cells + 1)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), np.float32)
    low, high = float(field.min()), float(field.max())
    return (field - low) / max(high - low, 1e-12)


@dataclass(frozen=True)
class UnevenLight:
    """Uneven illumination or yellowed paper: the page is multiplied by a smooth field that dims
    it by up to `max_strength` (ink stays dark; paper turns grey in places)."""

    max_strength: float = 0.3
    cells: int = 3  # the field varies on about a page/cells

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        strength = rng.uniform(0.0, self.max_strength)
        light = 1.0 - strength * low_frequency_field(sample.image.shape, self.cells, rng)
        return replace(sample, image=(sample.image * light).astype(np.float32))


@dataclass(frozen=True, eq=False)
class BleedThrough:
    """Show-through: the other side of the sheet, mirrored, shows faintly through the paper.

    The back is a page of `back_pages` (images (H', W') in [0, 1], resized to the sample) or, when
    there are none, the sample's own image. Its ink darkens the front multiplicatively by up to
    `strength`, after a blur, as paper diffuses light."""

    min_strength: float = 0.05
    max_strength: float = 0.2
    blur_sigma: float = 1.5
    back_pages: tuple[np.ndarray, ...] = ()

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        strength = rng.uniform(self.min_strength, self.max_strength)
        back = self.back_pages[int(rng.integers(len(self.back_pages)))] if self.back_pages else sample.image
        if back.shape != sample.image.shape:
            resized = Image.fromarray(np.asarray(back, np.float32)).resize(
                (sample.width, sample.height), Image.Resampling.BILINEAR)
            back = np.asarray(resized, np.float32)
        back_ink = 1.0 - ndimage.gaussian_filter(np.asarray(back, np.float32)[:, ::-1], self.blur_sigma)
        image = sample.image * (1.0 - strength * np.clip(back_ink, 0.0, 1.0))
        return replace(sample, image=image.astype(np.float32))


def disk(radius: int) -> np.ndarray:
    """A round footprint (2r + 1, 2r + 1) bool; radius 1 is the full 3×3 square."""
    offsets = np.arange(-radius, radius + 1)
    return offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius * radius + radius


@dataclass(frozen=True)
class LineThickness:
    """Another pen or print: ink grows (positive radius) or shrinks (negative) by up to
    `max_radius` pixels, by grey erosion or dilation of the page.

    Thinning can erase symbols thinner than twice the radius (staff lines, thin stems): with a mask,
    they are dropped with their ink; without one, their boxes stay (they can't be told apart)."""

    max_radius: int = 1
    allow_thinning: bool = True

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        sign = int(rng.choice([-1, 1])) if self.allow_thinning else 1
        radius = sign * int(rng.integers(1, self.max_radius + 1))
        footprint = disk(abs(radius))
        if radius > 0:
            return self._thicken(sample, radius, footprint)
        # Thinning: a pixel stays ink only where its whole neighbourhood was ink; the mask does the
        # same with "any instance" as ink, so touching symbols don't open a gap the image lacks.
        image = ndimage.grey_dilation(sample.image, footprint=footprint, mode="nearest")
        if sample.mask is None:
            return replace(sample, image=image)
        keeps_ink = ndimage.binary_erosion(sample.mask > 0, structure=footprint, border_value=1)
        mask = np.where(keeps_ink, sample.mask, 0)
        return refit_boxes(sample, image, mask, sample.boxes)

    @staticmethod
    def _thicken(sample: Sample, radius: int, footprint: np.ndarray) -> Sample:
        image = ndimage.grey_erosion(sample.image, footprint=footprint, mode="nearest")  # min filter: ink spreads
        grown = clip_boxes(sample.boxes + np.array([-radius, -radius, radius, radius], np.float32),
                           sample.width, sample.height)
        if sample.mask is None:
            return replace(sample, image=image, boxes=grown)
        # New ink pixels take a neighbouring instance's id (the largest, where two meet);
        # existing ink keeps its own.
        neighbour = ndimage.grey_dilation(sample.mask, footprint=footprint, mode="constant", cval=0)
        mask = np.where(sample.mask > 0, sample.mask, neighbour)
        return refit_boxes(sample, image, mask, grown)
