"""Augmentation of symbol pages, box-consistent: the public surface and the two default pipelines.

    from deepwild.data.augment import Sample, scan_degradation, handwriting_like
    rng = np.random.default_rng(seed)
    augmented = scan_degradation()(Sample.from_page(page, image, mask), rng)

`Sample` and `compose` live in `augment_base`, the transforms in `augment_geometric` (image, mask
and boxes move), `augment_photometric` (pixels only) and `augment_margin` (symbols pasted into
empty paper). Each pipeline's strengths are a frozen config, saved with the run like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from deepwild.data.augment_base import Compose, Sample, Transform, boxes_from_mask, compose, crop_sample, refit_boxes
from deepwild.data.augment_geometric import ElasticDistortion, Rescale, RotateSkew, warp_affine
from deepwild.data.augment_margin import MarginPaste
from deepwild.data.augment_photometric import (
    BleedThrough,
    Binarize,
    Blur,
    GaussianNoise,
    JpegArtefacts,
    LineThickness,
    UnevenLight,
)

__all__ = [
    "BleedThrough", "Binarize", "Blur", "Compose", "ElasticDistortion", "GaussianNoise", "HandwritingConfig",
    "JpegArtefacts", "LineThickness", "MarginPaste", "Rescale", "RotateSkew", "Sample", "ScanDegradationConfig",
    "Transform", "UnevenLight", "boxes_from_mask", "compose", "crop_sample", "handwriting_like", "refit_boxes",
    "scan_degradation", "warp_affine",
]


@dataclass(frozen=True)
class ScanDegradationConfig:
    """A clean engraving made to look scanned. Each step has a strength and how often it runs."""

    rotation_degrees: float = 1.0
    shear: float = 0.01
    rotation_probability: float = 0.5
    thickness_radius: int = 1
    thickness_probability: float = 0.3
    bleed_strength: float = 0.15
    bleed_probability: float = 0.3
    light_strength: float = 0.3
    light_probability: float = 0.5
    blur_sigma: float = 1.0
    blur_probability: float = 0.5
    binarize_probability: float = 0.1
    noise_sigma: float = 0.05
    noise_probability: float = 0.5
    jpeg_quality: tuple[int, int] = (30, 90)
    jpeg_probability: float = 0.3


def scan_degradation(config: ScanDegradationConfig = ScanDegradationConfig()) -> Compose:
    """Crooked placement → pen/toner → show-through → light → focus → bitonal → sensor → JPEG:
    the order in which a real page meets them."""
    return compose(
        [RotateSkew(config.rotation_degrees, config.shear),
         LineThickness(config.thickness_radius),
         BleedThrough(max_strength=config.bleed_strength),
         UnevenLight(config.light_strength),
         Blur(max_sigma=config.blur_sigma),
         Binarize(),
         GaussianNoise(config.noise_sigma),
         JpegArtefacts(*config.jpeg_quality)],
        [config.rotation_probability, config.thickness_probability, config.bleed_probability,
         config.light_probability, config.blur_probability, config.binarize_probability,
         config.noise_probability, config.jpeg_probability])


@dataclass(frozen=True)
class HandwritingConfig:
    """Engraved symbols bent towards handwriting: wide smooth bends (lines that wander), small
    wobbles (uneven strokes), slant, size changes and pen width."""

    bend_displacement: float = 4.0  # pixels
    bend_smoothness: float = 24.0  # pixels
    wobble_displacement: float = 1.0
    wobble_smoothness: float = 4.0
    wobble_probability: float = 0.5
    rotation_degrees: float = 2.0
    slant: float = 0.1  # shear, tan of the angle
    slant_probability: float = 0.7
    scale: tuple[float, float] = (0.9, 1.1)
    scale_probability: float = 0.5
    thickness_radius: int = 1
    thickness_probability: float = 0.5


def handwriting_like(config: HandwritingConfig = HandwritingConfig()) -> Compose:
    """Elastic bends and wobbles, slant, scale and pen width (no scan noise: chain with
    `scan_degradation` for a scanned manuscript)."""
    return compose(
        [ElasticDistortion(config.bend_displacement, config.bend_smoothness),
         ElasticDistortion(config.wobble_displacement, config.wobble_smoothness),
         RotateSkew(config.rotation_degrees, config.slant),
         Rescale(*config.scale),
         LineThickness(config.thickness_radius)],
        [1.0, config.wobble_probability, config.slant_probability, config.scale_probability,
         config.thickness_probability])
