"""The second input channel of Meier et al.'s network, made from the page image alone: what an OCR engine's
layout analysis would give — every text block and picture as a filled box, rules kept as lines.

1. Binarise (Otsu's threshold on the page's grey levels; ink is dark).
2. Rules: ink runs far longer than any word, found by opening with a long thin line (horizontal and
   vertical), at least `rule_length` of the page's shorter side.
3. Text: the rest of the ink, closed with a window a little wider than the gap between letters and a
   little taller than the gap between lines, so that lines join into blocks but columns, separated by
   gutters wider than the window, stay apart; each block is filled (as its box when it nearly fills it).
4. Pictures: ink components that are large and mostly ink (photos, solid boxes) are blocks of their own
   with the picture value, taken out before the text is joined; headline letters (components 2.5 letter
   heights and taller) are joined with a window of their own size.

Sizes are relative to the text: the median height of the page's small ink components (its letters)
sets the windows, so the same settings work at any scan resolution. Works on a copy reduced to at most
`work_side` pixels on its longer side (the network sees 256 × 256), and returns the channel at that size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# The channel is an image, drawn as the generated pages' ground-truth layout is (and as an OCR engine's
# boxes would be rendered): paper white, text boxes and rules black, pictures mid-grey; values in [0, 1].
BACKGROUND, TEXT, PICTURE, RULE = 1.0, 0.0, float(np.float32(128 / 255)), 0.0


@dataclass(frozen=True)
class LayoutSettings:
    work_side: int = 1024  # px: the longer side the analysis runs at
    rule_length: float = 0.08  # share of the shorter side an ink run must span to be a rule
    letter_gap: float = 1.5  # closing window width, in letter heights (x-heights: the median letter)
    line_gap: float = 2.0  # closing window height, in letter heights
    picture_ink: float = 0.45  # a block this much ink (share of its box) …
    picture_side: float = 4.0  # … and at least this many letter heights on each side is a picture
    min_block: float = 0.6  # blocks smaller than this many letter heights on both sides are noise


def otsu_threshold(gray: np.ndarray) -> float:
    """Otsu's threshold of an 8-bit image: the grey level that best splits ink from paper."""
    histogram = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = histogram.sum()
    weight = np.cumsum(histogram) / total
    mean = np.cumsum(histogram * np.arange(256)) / total
    between = (mean[-1] * weight - mean) ** 2 / np.clip(weight * (1 - weight), 1e-12, None)
    return float(np.argmax(between))


def reduce(gray: np.ndarray, work_side: int) -> np.ndarray:
    from PIL import Image

    height, width = gray.shape
    scale = work_side / max(height, width)
    if scale >= 1.0:
        return gray
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))


def letter_height(ink: np.ndarray) -> float:
    """The median height of the page's letter-sized ink components (px); 8 when there are none."""
    labels, count = ndimage.label(ink)
    if count == 0:
        return 8.0
    slices = ndimage.find_objects(labels)
    heights = np.array([s[0].stop - s[0].start for s in slices])
    widths = np.array([s[1].stop - s[1].start for s in slices])
    letters = heights[(heights >= 3) & (heights <= ink.shape[0] / 20) & (widths <= 4 * heights)]
    return float(np.median(letters)) if len(letters) else 8.0


def rectangle_opening(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """The union of every height × width rectangle that lies inside `mask`: scipy's `binary_opening` with an
    all-ones structure (border 0), but in time linear in the pixels whatever the rectangle's size, from a
    summed-area table (the long thin windows that find rules made scipy's version most of a page's time)."""
    rows, columns = mask.shape
    if height > rows or width > columns:
        return np.zeros(mask.shape, bool)
    table = np.zeros((rows + 1, columns + 1), np.int32)
    table[1:, 1:] = mask.astype(np.int32).cumsum(0).cumsum(1)
    inside = table[height:, width:] - table[:-height, width:] - table[height:, :-width] + table[:-height, :-width]
    fits = (inside == height * width).astype(np.int32)  # (rows - height + 1, columns - width + 1), by top-left corner
    cover = np.zeros((rows + 1, columns + 1), np.int32)  # each fitting rectangle marked by its corners, then summed
    fit_rows, fit_columns = fits.shape
    cover[:fit_rows, :fit_columns] += fits
    cover[height:height + fit_rows, :fit_columns] -= fits
    cover[:fit_rows, width:width + fit_columns] -= fits
    cover[height:height + fit_rows, width:width + fit_columns] += fits
    return cover.cumsum(0).cumsum(1)[:rows, :columns] > 0


def layout_from_image(gray: np.ndarray, settings: LayoutSettings = LayoutSettings()) -> np.ndarray:
    """(h, w) float32 layout channel of an 8-bit grayscale page (paper bright), at the working size."""
    page = reduce(np.asarray(gray, np.uint8), settings.work_side)
    ink = page < otsu_threshold(page)
    if ink.mean() > 0.5:  # a negative (white on black): the minority is the ink
        ink = ~ink
    letter = letter_height(ink)
    shorter = min(page.shape)
    length = max(int(settings.rule_length * shorter), 8)
    thick = max(int(round(0.8 * letter)), 3)  # a rule is long and thin; a photo or a black box is long and thick
    rules = np.zeros_like(ink)
    for line, slab in (((1, length), (thick, length)), ((length, 1), (length, thick))):
        long = rectangle_opening(ink, *line)
        rules |= long & ~ndimage.binary_dilation(rectangle_opening(ink, *slab), iterations=1)
    text = ink & ~ndimage.binary_dilation(rules, iterations=1)
    kind = np.zeros(page.shape, np.uint8)  # 0 paper, 1 text, 2 picture
    components, _ = ndimage.label(text)
    large_type = np.zeros_like(text)
    for index, found in enumerate(ndimage.find_objects(components), start=1):
        height, width = found[0].stop - found[0].start, found[1].stop - found[1].start
        component = components[found] == index
        if min(height, width) >= settings.picture_side * letter and component.mean() >= settings.picture_ink:
            kind[found] = 2  # a photo or a solid box: its own block, whatever text touches it
            text[found] &= ~component
        elif 2.5 * letter <= height <= page.shape[0] / 10:
            large_type[found] |= component  # headline letters: joined with a window of their own size
    window = (max(int(round(settings.line_gap * letter)), 1), max(int(round(settings.letter_gap * letter)), 1))
    closed = ndimage.binary_closing(text, structure=np.ones(window, bool)) | text
    if large_type.any():
        size = float(np.median([s[0].stop - s[0].start for s in ndimage.find_objects(ndimage.label(large_type)[0])]))
        closed |= ndimage.binary_closing(large_type, structure=np.ones((int(size), int(size)), bool))
    blocks, _ = ndimage.label(ndimage.binary_fill_holes(closed))
    smallest = settings.min_block * letter
    for index, found in enumerate(ndimage.find_objects(blocks), start=1):
        if found is None:
            continue
        rows, cols = found
        height, width = rows.stop - rows.start, cols.stop - cols.start
        if height < smallest and width < smallest:
            continue
        block = blocks[found] == index
        # A block that fills most of its box is the box (a text column, a headline); a ragged one (an
        # L-shaped run of text around a picture) keeps its own shape rather than swallowing its neighbour.
        region = np.ones_like(block) if block.mean() >= 0.7 else block
        target = kind[found]
        target[region & (target == 0)] = 1  # pictures keep their place
    channel = np.array([BACKGROUND, TEXT, PICTURE], np.float32)[kind]
    channel[rules] = RULE
    return channel
