"""The layout channel from the page image alone: text blocks and pictures as filled boxes, rules kept."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from deepwild.tasks.news.layout import BACKGROUND, PICTURE, RULE, TEXT, layout_from_image, otsu_threshold

FONTS = "/usr/share/fonts/truetype/dejavu/"


@functools.lru_cache(maxsize=None)
def page(scale: float = 1.0) -> np.ndarray:
    """A three-column page: a headline over columns 1–2, a rule between them, a photo in column 3."""
    def s(value: float) -> int:
        return int(round(value * scale))

    image = Image.new("L", (s(1240), s(1754)), 255)
    draw = ImageDraw.Draw(image)
    body = ImageFont.truetype(FONTS + "DejaVuSerif.ttf", s(16))
    draw.text((s(60), s(60)), "Headline over two columns", font=ImageFont.truetype(FONTS + "DejaVuSans-Bold.ttf", s(44)), fill=0)
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()
    rng = np.random.default_rng(0)
    for x, top in ((60, 140), (440, 140), (820, 60)):
        y = top
        while y < 1600:
            if x == 820 and 880 < y < 1220:  # the photo's place
                y += 22
                continue
            line = ""
            for word in rng.choice(words, 12):
                if draw.textlength(f"{line} {word}", font=body) > s(340):
                    break
                line = f"{line} {word}".strip()
            draw.text((s(x), s(y)), line, font=body, fill=0)
            y += 22
    draw.line((s(420), s(140), s(420), s(1600)), fill=0, width=max(s(2), 1))
    draw.rectangle((s(820), s(900), s(1180), s(1200)), fill=90)
    return np.asarray(image)


def at(channel: np.ndarray, x: float, y: float) -> float:
    """The channel's value at a point given in the full-size page's pixels."""
    return float(channel[int(y / 1754 * channel.shape[0]), int(x / 1240 * channel.shape[1])])


def test_columns_headline_rule_and_photo():
    channel = layout_from_image(page())
    assert max(channel.shape) == 1024  # worked at the reduced size
    assert at(channel, 200, 800) == TEXT and at(channel, 600, 800) == TEXT and at(channel, 1000, 400) == TEXT
    assert at(channel, 200, 80) == TEXT and at(channel, 380, 80) == TEXT  # the headline is one block, gaps filled
    assert at(channel, 1000, 1050) == PICTURE  # the photo, apart from the text above it
    assert at(channel, 1000, 890) == BACKGROUND or at(channel, 1000, 1210) == BACKGROUND  # a gap around the photo
    rule_column = channel[int(800 / 1754 * channel.shape[0]), int(405 / 1240 * channel.shape[1]):int(435 / 1240 * channel.shape[1])]
    assert RULE in rule_column  # the rule is kept …
    assert at(channel, 795, 800) == BACKGROUND  # … and the bare gutter between columns 2 and 3 stays empty
    assert at(channel, 600, 1700) == BACKGROUND  # the bottom margin
    assert set(np.unique(channel).tolist()) <= {BACKGROUND, TEXT, PICTURE}


def test_the_same_page_at_half_the_resolution_gives_the_same_layout():
    full = layout_from_image(page(1.0))
    half = layout_from_image(page(0.5))
    resized = np.asarray(Image.fromarray(half).resize(full.shape[::-1], Image.Resampling.NEAREST))
    text_full, text_half = full == TEXT, resized == TEXT
    assert (text_full & text_half).sum() / (text_full | text_half).sum() > 0.85


def test_otsu_splits_a_bimodal_page_between_its_modes():
    gray = np.r_[np.full(900, 240), np.full(100, 30)].astype(np.uint8)
    assert 30 <= otsu_threshold(gray) < 240
    inverted = layout_from_image(255 - page(0.5))  # white ink on black: the minority is the ink
    assert (inverted == TEXT).mean() > 0.3


def test_rectangle_opening_is_scipys_binary_opening_in_linear_time():
    from scipy import ndimage

    from deepwild.tasks.news.layout import rectangle_opening

    rng = np.random.default_rng(0)
    for _ in range(200):  # odd and even sizes, rectangles touching the border, larger than the image
        rows, columns = rng.integers(3, 30, 2)
        mask = rng.random((rows, columns)) < rng.uniform(0.5, 0.95)
        height, width = rng.integers(1, 14, 2)
        expected = ndimage.binary_opening(mask, structure=np.ones((height, width), bool))
        assert (rectangle_opening(mask, int(height), int(width)) == expected).all(), (rows, columns, height, width)
