"""The Sample type, cropping, compose, and the two default pipelines."""

from __future__ import annotations

import numpy as np
import pytest

from deepwild.data.augment import (
    GaussianNoise,
    HandwritingConfig,
    Sample,
    ScanDegradationConfig,
    boxes_from_mask,
    compose,
    crop_sample,
    handwriting_like,
    scan_degradation,
)
from deepwild.data.symbols import ScorePage, SymbolAnnotation
from tests.helpers.symbol_pages import assert_boxes_enclose_ink, same_sample, synthetic_page


def test_sample_normalises_dtypes_and_rejects_mismatched_shapes():
    sample = Sample(np.ones((4, 5), np.float64), [[0, 0, 1, 1]], ["a"], None, np.ones((4, 5), np.uint16))
    assert sample.image.dtype == np.float32 and sample.mask.dtype == np.int32
    assert sample.boxes.shape == (1, 4) and sample.instances.tolist() == [0]
    with pytest.raises(ValueError, match="labels"):
        Sample(np.ones((4, 5)), [[0, 0, 1, 1]], ["a", "b"])
    with pytest.raises(ValueError, match="mask shape"):
        Sample(np.ones((4, 5)), [[0, 0, 1, 1]], ["a"], [1], np.ones((5, 4)))


def test_sample_from_a_score_page_and_back():
    page = ScorePage("p.png", 300, 200, (SymbolAnnotation("clefG", (40, 60, 52, 68), instance=1),
                                         SymbolAnnotation("stem", (150, 40, 152, 100), instance=3)))
    source = synthetic_page()
    sample = Sample.from_page(page, source.image, source.mask)
    assert sample.labels.tolist() == ["clefG", "stem"] and sample.instances.tolist() == [1, 3]
    symbols = sample.symbols()
    assert symbols[0].bbox == (40.0, 60.0, 52.0, 68.0) and symbols[0].area == 12 * 8
    assert symbols[1].area == 2 * 60 and symbols[1].class_name == "stem"


def test_boxes_from_mask_are_tight_and_report_absent_ids():
    mask = np.zeros((10, 10), np.int32)
    mask[2:5, 3:7] = 4
    boxes, present = boxes_from_mask(mask, np.array([4, 2, 0, 12]))
    assert boxes[0].tolist() == [3, 2, 7, 5] and present.tolist() == [True, False, False, False]


def test_crop_keeps_the_visible_part_of_cut_symbols_and_pads_with_paper():
    page = synthetic_page()
    crop = crop_sample(page, 140, 50, 100, 100)  # cuts the stem (y 40..100) and the slur
    assert crop.image.shape == (100, 100)
    stem = crop.boxes[crop.labels.tolist().index("stem")]
    assert stem.tolist() == [10, 0, 12, 50]
    assert "noteheadBlackOnLine" not in crop.labels.tolist()  # outside the window
    assert_boxes_enclose_ink(crop, tolerance=0.0, min_iou=0.99)
    outside = crop_sample(page, 250, 150, 100, 100)  # half off the page
    assert outside.image[60:, 60:].min() == 1.0 and outside.mask[60:, 60:].max() == 0
    plain = crop_sample(Sample(page.image, page.boxes, page.labels), 140, 50, 100, 100)
    assert np.array_equal(plain.boxes[plain.labels.tolist().index("stem")], [10, 0, 12, 50])


def test_compose_applies_steps_with_their_probabilities():
    page = synthetic_page()
    never = compose([GaussianNoise(0.2)], [0.0])(page, np.random.default_rng(0))
    always = compose([GaussianNoise(0.2)], [1.0])(page, np.random.default_rng(0))
    assert np.array_equal(never.image, page.image) and not np.array_equal(always.image, page.image)
    fired = sum(not np.array_equal(compose([GaussianNoise(0.2)], [0.3])(page, np.random.default_rng(seed)).image,
                                   page.image) for seed in range(100))
    assert 15 <= fired <= 45
    with pytest.raises(ValueError, match="probabilities"):
        compose([GaussianNoise()], [0.5, 0.5])


@pytest.mark.parametrize("pipeline", [scan_degradation(), handwriting_like(),
                                      scan_degradation(ScanDegradationConfig(rotation_probability=1.0,
                                                                             thickness_probability=1.0)),
                                      handwriting_like(HandwritingConfig(scale_probability=1.0))])
def test_default_pipelines_keep_boxes_on_the_ink_and_are_reproducible(pipeline):
    page = synthetic_page()
    for seed in range(3):
        out = pipeline(page, np.random.default_rng(seed))
        assert out.image.dtype == np.float32 and 0.0 <= out.image.min() and out.image.max() <= 1.0
        assert_boxes_enclose_ink(out, tolerance=0.0, min_iou=0.99)
        assert same_sample(out, pipeline(page, np.random.default_rng(seed)))


def test_handwriting_bends_what_was_straight():
    """Only the bends: the straight beam's centre line must stop being a straight line (a
    rotation or shear alone would leave it straight)."""
    config = HandwritingConfig(bend_displacement=4.0, wobble_probability=0.0, slant_probability=0.0,
                               scale_probability=0.0, thickness_probability=0.0)
    page = synthetic_page()
    out = handwriting_like(config)(page, np.random.default_rng(1))
    rows, cols = np.nonzero(out.mask == 4)  # the beam: 3 px tall, 140 px long
    columns = np.unique(cols)
    centre = np.array([rows[cols == c].mean() for c in columns])
    residual = centre - np.polyval(np.polyfit(columns, centre, 1), columns)
    assert np.abs(residual).max() > 0.5
    rows, cols = np.nonzero(page.mask == 4)
    assert np.ptp([rows[cols == c].mean() for c in np.unique(cols)]) == 0  # it was straight
