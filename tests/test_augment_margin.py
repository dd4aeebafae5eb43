"""Margin augmentation: symbols pasted into empty paper, never onto ink, with exact boxes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from deepwild.data.augment import MarginPaste, Sample
from tests.helpers.symbol_pages import assert_boxes_enclose_ink, same_sample, synthetic_page


def donor_page() -> Sample:
    """A page of only two symbols: a 'segno' block and a 'coda' ring."""
    rows, cols = np.mgrid[0:60, 0:80]
    segno = (rows >= 10) & (rows < 22) & (cols >= 10) & (cols < 18)
    coda = np.abs(np.hypot(cols - 50, rows - 30) - 8) <= 1.5
    mask = np.zeros((60, 80), np.int32)
    mask[segno], mask[coda] = 1, 2
    image = np.where(mask > 0, 0.1, 1.0).astype(np.float32)
    boxes = np.array([[10, 10, 18, 22], [41, 21, 60, 40]], np.float32)
    return Sample(image, boxes, np.array(["segno", "coda"], dtype=object), [1, 2], mask)


@pytest.mark.parametrize("seed", [0, 1])
def test_pasted_symbols_get_exact_boxes_and_never_touch_existing_ink(seed):
    page = synthetic_page()
    paste = MarginPaste(donors=(donor_page(),), max_symbols=6, gap=3)
    out = paste(page, np.random.default_rng(seed))
    added = len(out.boxes) - len(page.boxes)
    assert added == 6  # the margins have room for all of them
    assert set(out.labels[len(page.boxes):].tolist()) <= {"segno", "coda"}
    assert len(set(out.instances.tolist())) == len(out.instances)  # new, unique instance ids
    assert_boxes_enclose_ink(out, tolerance=0.0, min_iou=0.99)
    # The old page is untouched except where new symbols were pasted, and they keep `gap` pixels
    # of paper to all old ink and boxes.
    pasted = (out.mask > 0) & (page.mask == 0)
    assert np.array_equal(out.image[~pasted], page.image[~pasted])
    assert np.array_equal(out.mask[page.mask > 0], page.mask[page.mask > 0])
    near_old = ndimage.binary_dilation(page.mask > 0, iterations=3, structure=np.ones((3, 3), bool))
    assert not (pasted & near_old).any()
    for new_box in out.boxes[len(page.boxes):]:
        for old_box in page.boxes:
            overlap_x = min(new_box[2], old_box[2]) - max(new_box[0], old_box[0])
            overlap_y = min(new_box[3], old_box[3]) - max(new_box[1], old_box[1])
            assert overlap_x <= 0 or overlap_y <= 0, "a pasted box overlaps an existing one"
    # Pasted boxes don't overlap each other either.
    new = out.boxes[len(page.boxes):]
    for i in range(len(new)):
        for j in range(i + 1, len(new)):
            assert min(new[i][2], new[j][2]) <= max(new[i][0], new[j][0]) or \
                min(new[i][3], new[j][3]) <= max(new[i][1], new[j][1])


def test_pasted_pixels_are_the_donor_symbol():
    out = MarginPaste(donors=(donor_page(),), max_symbols=1)(synthetic_page(), np.random.default_rng(0))
    box = out.boxes[-1].astype(int)
    pixels = out.image[box[1]:box[3], box[0]:box[2]]
    footprint = out.mask[box[1]:box[3], box[0]:box[2]] == out.instances[-1]
    assert np.allclose(pixels[footprint], 0.1) and np.all(pixels[~footprint] == 1.0)


def test_rare_classes_are_pasted_by_weight():
    paste = MarginPaste(donors=(donor_page(),), max_symbols=5, class_weights={"coda": 1.0, "segno": 0.0})
    out = paste(synthetic_page(), np.random.default_rng(0))
    assert out.labels[-5:].tolist() == ["coda"] * 5


def test_same_seed_same_paste_and_the_page_itself_as_donor():
    page = synthetic_page()
    paste = MarginPaste(max_symbols=4)
    first = paste(page, np.random.default_rng(2))
    assert same_sample(first, paste(page, np.random.default_rng(2)))
    assert not same_sample(first, paste(page, np.random.default_rng(3)))
    assert len(first.boxes) > len(page.boxes)
    # Only its own symbols, and none longer than max_symbol_size (the staff line, the beam).
    assert set(first.labels[len(page.boxes):].tolist()) <= set(page.labels.tolist()) - {"staff", "beam"}
    assert_boxes_enclose_ink(first, tolerance=0.0, min_iou=0.99)


def test_a_full_page_gets_nothing_pasted():
    page = synthetic_page()
    full = Sample(np.zeros_like(page.image), page.boxes, page.labels, page.instances, page.mask)
    out = MarginPaste(donors=(donor_page(),))(full, np.random.default_rng(0))
    assert len(out.boxes) == len(page.boxes) and np.array_equal(out.image, full.image)


def test_a_page_without_a_mask_still_gets_pasted_boxes():
    page = synthetic_page()
    plain = Sample(page.image, page.boxes, page.labels)
    out = MarginPaste(donors=(donor_page(),), max_symbols=3)(plain, np.random.default_rng(0))
    assert out.mask is None and len(out.boxes) == len(page.boxes) + 3
    for x0, y0, x1, y1 in out.boxes[-3:].astype(int):
        ink = out.image[y0:y1, x0:x1] < 0.5
        assert ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any()  # tight


def test_donors_need_a_mask():
    page = synthetic_page()
    with pytest.raises(ValueError, match="instance mask"):
        MarginPaste(donors=(Sample(page.image, page.boxes, page.labels),))(page, np.random.default_rng(0))
