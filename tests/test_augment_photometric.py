"""Photometric augmentation changes pixels only (line thickness moves boxes with the ink)."""

from __future__ import annotations

import numpy as np
import pytest

from deepwild.data.augment import (
    BleedThrough,
    Binarize,
    Blur,
    GaussianNoise,
    JpegArtefacts,
    LineThickness,
    UnevenLight,
)
from deepwild.data.augment_photometric import disk
from tests.helpers.symbol_pages import assert_boxes_enclose_ink, same_sample, synthetic_page, without_mask

PIXEL_ONLY = {
    "noise": GaussianNoise(max_sigma=0.1),
    "blur": Blur(min_sigma=0.5, max_sigma=1.5),
    "binarize": Binarize(),
    "jpeg": JpegArtefacts(min_quality=10, max_quality=40),
    "light": UnevenLight(max_strength=0.4),
    "bleed": BleedThrough(min_strength=0.1, max_strength=0.3),
}


def grey_page():
    """The synthetic page blurred first, so binarisation and JPEG have grey levels to work on."""
    page = synthetic_page()
    return Blur(0.8, 0.8)(page, np.random.default_rng(0))


@pytest.mark.parametrize("name", PIXEL_ONLY)
def test_pixel_transforms_change_the_image_and_nothing_else(name):
    page = grey_page()
    out = PIXEL_ONLY[name](page, np.random.default_rng(0))
    assert out.image.dtype == np.float32 and out.image.shape == page.image.shape
    assert 0.0 <= out.image.min() and out.image.max() <= 1.0
    assert np.abs(out.image - page.image).mean() > 1e-3  # it did something
    assert np.array_equal(out.boxes, page.boxes) and np.array_equal(out.mask, page.mask)
    assert out.labels.tolist() == page.labels.tolist() and np.array_equal(out.instances, page.instances)
    assert_boxes_enclose_ink(out, tolerance=0.0, min_iou=0.99)


@pytest.mark.parametrize("name", [*PIXEL_ONLY, "thickness"])
def test_same_seed_same_output_other_seed_other_output(name):
    transform = PIXEL_ONLY.get(name, LineThickness(max_radius=2))
    page = grey_page()
    first = transform(page, np.random.default_rng(7))
    assert same_sample(first, transform(page, np.random.default_rng(7)))
    assert not same_sample(first, transform(page, np.random.default_rng(8)))


def test_binarize_leaves_only_black_and_white():
    out = Binarize()(grey_page(), np.random.default_rng(0))
    assert set(np.unique(out.image).tolist()) == {0.0, 1.0}


def test_uneven_light_dims_paper_within_its_strength():
    page = synthetic_page()
    out = UnevenLight(max_strength=0.4)(page, np.random.default_rng(1))
    paper = page.mask == 0
    assert out.image[paper].min() >= 0.6 - 1e-6 and out.image[paper].min() < 0.99
    assert out.image[~paper].max() == 0.0  # ink stays black


def test_bleed_through_shows_the_back_page_mirrored():
    page = synthetic_page()
    back = np.ones_like(page.image)
    back[80:120, 10:30] = 0.0  # ink near the left edge of the back
    out = BleedThrough(min_strength=0.2, max_strength=0.2, blur_sigma=0.5, back_pages=(back,))(
        page, np.random.default_rng(0))
    mirrored_region = out.image[85:115, 275:285]  # appears near the right edge of the front
    assert np.allclose(mirrored_region, 0.8, atol=0.02)
    assert out.image[85:115, 15:25].min() == 1.0  # not where it was on the back


def test_bleed_through_resizes_a_back_page_of_another_size():
    page = synthetic_page()
    out = BleedThrough(back_pages=(np.zeros((50, 60), np.float32),))(page, np.random.default_rng(0))
    assert out.image.shape == page.image.shape and out.image.max() < 1.0


def test_thicker_ink_with_a_mask_grows_each_symbol_and_its_box():
    page = synthetic_page()
    out = LineThickness(max_radius=2, allow_thinning=False)(page, np.random.default_rng(0))
    radius = int(page.boxes[0, 0] - out.boxes[0, 0])  # the notehead's free left edge moved by the radius
    assert radius in (1, 2)
    assert np.sum(out.image < 0.5) > np.sum(page.image < 0.5)
    assert np.all(out.boxes[:, :2] <= page.boxes[:, :2]) and np.all(out.boxes[:, 2:] >= page.boxes[:, 2:])
    assert np.all(np.abs(out.boxes - page.boxes) <= radius)
    assert_boxes_enclose_ink(out, tolerance=0.0, min_iou=0.9)
    # The ink of the image and the mask grew alike.
    assert np.array_equal(out.image < 0.5, out.mask > 0)


def test_thicker_ink_without_a_mask_grows_boxes_by_the_radius():
    page = synthetic_page()
    transform = LineThickness(max_radius=2, allow_thinning=False)
    reference = transform(page, np.random.default_rng(3))
    out = transform(without_mask(page), np.random.default_rng(3))
    assert np.array_equal(out.image, reference.image)
    assert_boxes_enclose_ink(out, mask=reference.mask, tolerance=0.0, min_iou=0.7)


def test_thinner_ink_drops_symbols_it_erased_and_keeps_the_rest_enclosed():
    page = synthetic_page()
    thin = None
    for seed in range(10):  # find a seed that thins (the sign is random)
        out = LineThickness(max_radius=1)(page, np.random.default_rng(seed))
        if np.sum(out.image < 0.5) < np.sum(page.image < 0.5):
            thin = out
            break
    assert thin is not None
    assert "staff" not in thin.labels.tolist()  # one pixel thin: gone
    assert "stem" not in thin.labels.tolist()  # two pixels wide: a 3×3 erosion erases it too
    assert "noteheadBlackOnLine" in thin.labels.tolist()
    assert_boxes_enclose_ink(thin, tolerance=0.0, min_iou=0.99)
    assert np.array_equal(thin.image < 0.5, thin.mask > 0)


def test_disk_footprints():
    assert disk(1).all() and disk(1).shape == (3, 3)
    assert disk(2).shape == (5, 5) and not disk(2)[0, 0] and disk(2)[0, 2]
