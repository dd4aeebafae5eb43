"""Geometric augmentation: image, instance mask and boxes move together.

Image pixels are resampled bilinearly on white paper; the instance mask by nearest neighbour (ids
must never blend). Boxes of symbols with an instance id are recomputed from the transformed mask,
the exact way; other boxes are mapped geometrically (the transformed box corners for affine maps,
the warped box region for elastic ones), so they still enclose the ink, a little more loosely.

Coordinates: a pixel with index i covers [i, i + 1), its centre is at i + 0.5, so a box (x0, x1)
is exactly the pixels x0 .. x1 - 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from deepwild.data.augment_base import Sample, clip_boxes, refit_boxes


def warp_affine(sample: Sample, matrix: np.ndarray, output_shape: tuple[int, int]) -> Sample:
    """Map the sample by q = matrix @ (p - page centre) + output centre, in (x, y) pixels.
    `matrix` (2, 2); `output_shape` (H', W')."""
    height, width = sample.image.shape
    out_height, out_width = output_shape
    centre_in = np.array([width / 2, height / 2])
    centre_out = np.array([out_width / 2, out_height / 2])
    inverse = np.linalg.inv(matrix)
    # ndimage pulls: input index = M @ output index + offset, in (row, col). Index i is the
    # continuous point i + 0.5, hence the half-pixel shifts; reversing both axes turns (x, y) into (row, col).
    offset_xy = inverse @ (0.5 - centre_out) + centre_in - 0.5
    matrix_rc, offset_rc = inverse[::-1, ::-1], offset_xy[::-1]
    image = ndimage.affine_transform(sample.image, matrix_rc, offset_rc, output_shape=output_shape,
                                     order=1, mode="constant", cval=1.0)
    mask = None
    if sample.mask is not None:
        mask = ndimage.affine_transform(sample.mask, matrix_rc, offset_rc, output_shape=output_shape,
                                        order=0, mode="constant", cval=0)
    # Fallback boxes: the box of the four mapped corners (an affine map keeps the ink inside the
    # mapped box, so its bounding box encloses the ink too).
    x0, y0, x1, y1 = sample.boxes.T
    corners = np.stack([np.stack(pair, axis=-1) for pair in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))], axis=1)
    mapped = (corners - centre_in) @ matrix.T + centre_out  # (N, 4 corners, 2)
    low, high = mapped.min(axis=1), mapped.max(axis=1)  # (N, 2) each
    # Nearest-neighbour sampling inks exactly the output pixels whose centre (o + 0.5) maps into
    # the box, so the tight box is the pixels with centres in [low, high]: integers, no slack.
    boxes = np.concatenate([np.ceil(low - 0.5), np.floor(high - 0.5) + 1], axis=1).astype(np.float32)
    return refit_boxes(sample, image.astype(np.float32), mask, clip_boxes(boxes, out_width, out_height))


@dataclass(frozen=True)
class RotateSkew:
    """A page placed slightly crooked on the scanner: rotation about the page centre plus a small
    shear (skew); the image keeps its size, and ink rotated off the page is lost."""

    max_degrees: float = 1.5
    max_shear: float = 0.02  # tan of the shear angle, along x and along y

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        angle = math.radians(rng.uniform(-self.max_degrees, self.max_degrees))
        shear_x, shear_y = rng.uniform(-self.max_shear, self.max_shear, size=2)
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        shear = np.array([[1.0, shear_x], [shear_y, 1.0]])
        return warp_affine(sample, rotation @ shear, sample.image.shape)


@dataclass(frozen=True)
class Rescale:
    """Another scan resolution or engraving size: the page is resampled by a random factor (its
    size changes with it), optionally with a slightly different factor along x and y."""

    min_scale: float = 0.85
    max_scale: float = 1.15
    max_aspect_change: float = 0.0  # 0.05 → x and y factors differ by up to ±5 %

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        # Log-uniform: shrinking by 1/s is as likely as growing by s.
        scale = math.exp(rng.uniform(math.log(self.min_scale), math.log(self.max_scale)))
        aspect = math.exp(rng.uniform(-1.0, 1.0) * math.log1p(self.max_aspect_change))
        scale_x, scale_y = scale * math.sqrt(aspect), scale / math.sqrt(aspect)
        shape = (max(1, round(sample.height * scale_y)), max(1, round(sample.width * scale_x)))
        # The factors that map the page exactly onto the rounded size.
        matrix = np.diag([shape[1] / sample.width, shape[0] / sample.height])
        return warp_affine(sample, matrix, shape)


def smooth_displacement(shape: tuple[int, int], smoothness: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random field (2, H, W), each component in [-1, 1] with max |value| = 1 overall.

    Gaussian-filtered white noise (Simard et al. 2003). The noise is drawn on a grid `step` times
    coarser and upsampled bilinearly (Pillow): at a filter width of >= 4 coarse pixels the result is as
    smooth, and a full page costs milliseconds instead of a second."""
    height, width = shape
    step = max(1, int(smoothness // 4))
    coarse_shape = (-(-height // step), -(-width // step))  # ceil
    coarse = rng.uniform(-1.0, 1.0, size=(2, *coarse_shape))
    field = np.stack([
        np.asarray(Image.fromarray(ndimage.gaussian_filter(component, smoothness / step, mode="reflect")
                                   .astype(np.float32)).resize((width, height), Image.Resampling.BILINEAR))
        for component in coarse])
    return (field / max(float(np.abs(field).max()), 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class ElasticDistortion:
    """Towards handwriting: a smooth random displacement field bends staff lines, stems and beams
    and makes noteheads uneven. Symbols whose ink is gone from the page are dropped."""

    max_displacement: float = 3.0  # pixels
    smoothness: float = 16.0  # sigma of the field's Gaussian, pixels: larger bends wider regions alike

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        displacement = smooth_displacement(sample.image.shape, self.smoothness, rng) * np.float32(self.max_displacement)
        rows = np.arange(sample.height, dtype=np.float32)[:, None]  # broadcasting: no (H, W) index grids
        cols = np.arange(sample.width, dtype=np.float32)[None, :]
        # Output pixel (r, c) shows input point (r + dy, c + dx): a pull map, as ndimage wants.
        source = np.stack([rows + displacement[1], cols + displacement[0]])  # (2, H, W)
        image = ndimage.map_coordinates(sample.image, source, order=1, mode="constant", cval=1.0)
        mask = None
        if sample.mask is not None:
            mask = ndimage.map_coordinates(sample.mask, source, order=0, mode="constant", cval=0)
        boxes = warped_box_regions(sample.boxes, displacement, math.ceil(self.max_displacement) + 1)
        return refit_boxes(sample, image.astype(np.float32), mask, boxes)


def warped_box_regions(boxes: np.ndarray, displacement: np.ndarray, margin: int) -> np.ndarray:
    """For samples without a mask: the bounding box of the output pixels whose nearest source pixel
    lies in each box (N, 4): the box region warped like the image, so it encloses the warped ink.
    Only a window `margin` pixels around each box is searched (no pixel moves farther). NaN rows
    for boxes whose region left the image."""
    _, height, width = displacement.shape
    result = np.full((len(boxes), 4), np.nan, np.float32)
    for row, (x0, y0, x1, y1) in enumerate(boxes):
        left, top = max(int(math.floor(x0)) - margin, 0), max(int(math.floor(y0)) - margin, 0)
        right, bottom = min(int(math.ceil(x1)) + margin, width), min(int(math.ceil(y1)) + margin, height)
        if right <= left or bottom <= top:
            continue
        window_rows, window_cols = np.mgrid[top:bottom, left:right]
        # Index of the source pixel that order-0 sampling takes for each output pixel.
        source_x = np.rint(window_cols + displacement[0, top:bottom, left:right])
        source_y = np.rint(window_rows + displacement[1, top:bottom, left:right])
        inside = ((source_x >= math.floor(x0)) & (source_x < math.ceil(x1))
                  & (source_y >= math.floor(y0)) & (source_y < math.ceil(y1)))
        hit_rows, hit_cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
        if len(hit_rows):
            result[row] = (left + hit_cols[0], top + hit_rows[0], left + hit_cols[-1] + 1, top + hit_rows[-1] + 1)
    return result
