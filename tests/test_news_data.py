"""Newspaper pages as the network takes them: letterboxed two-channel inputs and targets that line up."""

from __future__ import annotations

import numpy as np
import pytest

from deepwild.tasks.news.data import Letterbox, network_input, prepare_page


def test_letterbox_keeps_the_aspect_and_centres_the_page():
    box = Letterbox(width=1240, height=1754, size=256)
    assert box.inner == (181, 256) and box.origin == (37, 0)
    page = np.zeros((1754, 1240), np.uint8)
    page[:, :620] = 255  # left half white
    square = box.place(page, fill=7)
    assert square.shape == (256, 256)
    assert (square[:, :37] == 7).all() and (square[:, 37 + 181:] == 7).all()  # padding both sides
    assert square[100, 40] == 255 and square[100, 37 + 170] == 0
    assert box.crop(square).shape == (256, 181)
    wide = Letterbox(width=400, height=100, size=64)
    assert wide.inner == (64, 16) and wide.origin == (0, 24)


def test_inputs_are_ink_bright_and_paper_and_padding_are_zero():
    gray = np.full((300, 200), 255, np.uint8)
    gray[100:120, 50:150] = 0  # a black bar
    layout = np.ones((300, 200), np.float32)
    layout[90:130, 40:160] = 0.0  # its text box
    inputs, box = network_input(gray, layout, size=64)
    assert inputs.shape == (2, 64, 64)
    assert float(inputs[0].min()) == 0.0 and float(inputs[0].max()) == pytest.approx(1.0)
    assert float(inputs[:, :, :box.origin[0]].abs().max()) == 0.0  # padding = paper = 0
    row = int(110 * box.scale)
    assert inputs[0, row, 32] > 0.9 and inputs[1, row, 32] == pytest.approx(1.0)


def test_prepared_target_marks_articles_inside_their_mask_only(tmp_path):
    from PIL import Image

    gray = np.full((512, 360), 255, np.uint8)
    gray[40:470, 30:170] = 60  # two text columns
    gray[40:470, 190:330] = 60
    ids = np.zeros((512, 360), np.uint8)
    ids[30:480, 20:180], ids[30:480, 180:340] = 1, 2  # two touching articles
    for name, array in (("image", gray), ("mask", ids)):
        Image.fromarray(array).save(tmp_path / f"{name}.png")
    page = prepare_page(tmp_path / "image.png", tmp_path / "mask.png", size=128, shrink=2)
    assert page.inputs.shape == (2, 128, 128) and page.target.shape == (1, 128, 128)
    article = page.target[0] == 0
    assert set(np.unique(page.mask[article.numpy()])) == {1, 2}  # article pixels lie inside articles
    row = page.mask.shape[0] // 2
    boundary = np.flatnonzero(np.diff(page.mask[row]) != 0)  # where article 1 meets article 2 (and the edges)
    middle = boundary[len(boundary) // 2]
    assert page.target[0, row, middle - 1:middle + 3].min() == 1.0  # a border between them
