"""Geometric augmentation moves image, mask and boxes together; boxes keep enclosing the ink."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepwild.data.augment import ElasticDistortion, Rescale, RotateSkew, Sample, warp_affine
from tests.helpers.symbol_pages import assert_boxes_enclose_ink, same_sample, synthetic_page, without_mask

TRANSFORMS = {
    "rotate_skew": RotateSkew(max_degrees=4.0, max_shear=0.05),
    "rescale": Rescale(min_scale=0.7, max_scale=1.4, max_aspect_change=0.1),
    "elastic": ElasticDistortion(max_displacement=4.0, smoothness=12.0),
}


@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boxes_from_the_mask_enclose_each_symbol_tightly(name, seed):
    page = synthetic_page()
    out = TRANSFORMS[name](page, np.random.default_rng(seed))
    assert out.image.dtype == np.float32 and out.image.shape == out.mask.shape
    assert 0.0 <= out.image.min() and out.image.max() <= 1.0
    assert len(out.boxes) == len(page.boxes)  # nothing on this page is near an edge
    assert_boxes_enclose_ink(out, tolerance=0.0, min_iou=0.99)  # refitted from the mask: exact


@pytest.mark.parametrize("name", TRANSFORMS)
def test_without_a_mask_mapped_boxes_still_enclose_the_ink(name):
    """Same seed → same parameters, so the masked run's mask is the ink of the unmasked run."""
    page = synthetic_page()
    with_mask = TRANSFORMS[name](page, np.random.default_rng(5))
    no_mask = TRANSFORMS[name](without_mask(page), np.random.default_rng(5))
    assert np.array_equal(no_mask.image, with_mask.image) and no_mask.mask is None
    assert_boxes_enclose_ink(no_mask, mask=with_mask.mask, tolerance=0.0, min_iou=0.7)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_same_seed_same_output_other_seed_other_output(name):
    page = synthetic_page()
    first = TRANSFORMS[name](page, np.random.default_rng(3))
    assert same_sample(first, TRANSFORMS[name](page, np.random.default_rng(3)))
    assert not same_sample(first, TRANSFORMS[name](page, np.random.default_rng(4)))
    assert same_sample(page, synthetic_page())  # the input was not modified


def test_identity_warp_changes_nothing():
    page = synthetic_page()
    out = warp_affine(page, np.eye(2), page.image.shape)
    assert np.array_equal(out.image, page.image) and np.array_equal(out.mask, page.mask)
    assert np.array_equal(out.boxes, page.boxes)


def test_quarter_turn_is_exact_to_the_pixel():
    """Catches half-pixel errors in the coordinate convention: a 90° turn of a square page must
    equal numpy's rot90, and the corner-mapped boxes must equal the mask boxes."""
    page = synthetic_page()
    square = Sample(page.image[:, :200], page.boxes[:0], page.labels[:0], None, page.mask[:, :200])
    turn = np.array([[0.0, 1.0], [-1.0, 0.0]])  # (x, y) → (y, -x): counter-clockwise on screen
    out = warp_affine(square, turn, (200, 200))
    assert np.array_equal(out.mask, np.rot90(square.mask))
    assert np.array_equal(out.image, np.rot90(square.image))
    box = np.array([[40, 60, 52, 68]], np.float32)
    mapped = warp_affine(Sample(square.image, box, ["n"]), turn, (200, 200)).boxes[0]
    assert np.array_equal(mapped, [60, 200 - 52, 68, 200 - 40])


def test_rescale_changes_the_page_size_with_the_boxes():
    page = synthetic_page()
    out = Rescale(min_scale=0.5, max_scale=0.5)(page, np.random.default_rng(0))
    assert out.image.shape == (100, 150)
    assert np.allclose(out.boxes[0], page.boxes[0] / 2, atol=1.0)


def test_symbols_rotated_off_the_page_are_dropped():
    page = synthetic_page()
    corner = np.zeros_like(page.mask)
    corner[:4, :4] = 99
    mask = np.where(page.mask > 0, page.mask, corner)
    image = np.where(mask > 0, 0.0, 1.0).astype(np.float32)
    sample = Sample(image, np.vstack([page.boxes, [[0, 0, 4, 4]]]), [*page.labels, "corner"],
                    [*page.instances, 99], mask)
    angle = math.radians(20)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    for candidate in (sample, without_mask(sample)):
        out = warp_affine(candidate, rotation, sample.image.shape)
        assert "corner" not in out.labels.tolist() and len(out.boxes) == len(page.boxes)


def test_elastic_distortion_moves_ink_by_at_most_its_displacement():
    page = synthetic_page()
    out = ElasticDistortion(max_displacement=3.0, smoothness=10.0)(page, np.random.default_rng(0))
    assert not np.array_equal(out.mask, page.mask)
    shift = np.abs(out.boxes - page.boxes)
    assert shift.max() <= 4.0 and shift.max() >= 1.0
