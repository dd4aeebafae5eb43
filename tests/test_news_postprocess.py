"""Newspaper targets and decoding: articles shrunk apart, decoded back whole, traced into polygons."""

from __future__ import annotations

import numpy as np

from deepwild.tasks.news.metrics import score_page
from deepwild.tasks.news.postprocess import border_target, decode, outer_contour, regions


def columns_page() -> np.ndarray:
    ids = np.zeros((64, 64), int)
    ids[4:30, 4:40] = 1  # a headline article over two columns…
    ids[30:60, 4:22] = 2  # …and two articles under it that touch it and each other
    ids[30:60, 22:40] = 3
    ids[4:60, 44:60] = 4  # a column of its own across a bare gutter
    ids[20:40, 30:40] = 1  # an L-shaped part of article 1
    return ids


def test_touching_articles_are_kept_apart_by_the_border_and_decode_back_whole():
    ids = columns_page()
    target = border_target(ids, shrink=3)
    assert target[ids == 0].min() == 1.0  # background is border
    row = target[45, :]
    assert row[19:25].min() == 1.0  # 6 px of border where articles 2 and 3 touch (columns 19-24)
    assert set(np.unique(target)) == {0.0, 1.0}
    decoded = decode(target, grow=3)
    assert score_page(ids, decoded).der == 0.0 and len(np.unique(decoded)) == 5


def test_threshold_favours_borders_and_small_specks_are_dropped():
    probability = np.full((32, 32), 0.9)
    probability[2:12, 2:12] = 0.35  # exactly at the threshold: article
    probability[2:12, 20:30] = 0.36  # just above: border
    probability[20:23, 20:23] = 0.0  # a 9-pixel speck
    labels = decode(probability, threshold=0.35, min_area=24, grow=0)
    assert labels[5, 5] == 1 and labels[5, 25] == 0 and labels[21, 21] == 0 and labels.max() == 1


def test_polygons_trace_pixel_edges_and_scale_to_the_page():
    ids = columns_page()
    labels = decode(border_target(ids), grow=3)
    found = regions(labels, np.where(labels > 0, 0.1, 0.9), page_size=(640, 1280))
    assert [a.id for a in found] == ["a1", "a2", "a3", "a4"] and [a.reading_order for a in found] == [1, 2, 3, 4]
    # Top to bottom, then left to right: the two top articles (left, right), then the two below.
    assert [(a.bbox[0], a.bbox[1]) for a in found] == [(40.0, 80.0), (440.0, 80.0), (40.0, 600.0), (220.0, 600.0)]
    first = next(a for a in found if a.area == int((ids == 1).sum()))
    assert first.bbox == (40.0, 80.0, 400.0, 800.0)  # ×10 horizontally, ×20 vertically
    assert len(first.polygon) == 6  # the L-shape's six corners
    assert first.score == 0.9
    corner_touch = np.zeros((6, 6), bool)
    corner_touch[1:3, 1:3] = corner_touch[3:5, 3:5] = True  # two squares meeting at one corner
    assert len(outer_contour(corner_touch)) in (4, 8)  # one square, or both as one ring: no endless loop
