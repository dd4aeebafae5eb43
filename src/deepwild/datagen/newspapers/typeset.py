"""Setting text fast: words are drawn once per font into cached bitmaps and pasted from then on
(~80× faster than drawing every word), lines are broken greedily with naive hyphenation, and body
text is justified or ragged-right."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Rect = tuple[int, int, int, int]

MAX_CACHED_WORDS = 40_000  # ~1 KB each; cleared when full
# Keyed by id(font); each entry keeps its font alive, so an id is never reused for another font meanwhile.
_WORDS: dict[tuple[int, str], tuple[Image.Image, int, float, Font]] = {}
_LENGTHS: dict[tuple[int, str], tuple[float, Font]] = {}
VOWELS = set("aeiouyäöüàâéèêëîïôûùAEIOUYÄÖÜÉ")


def text_length(font: Font, text: str) -> float:
    key = (id(font), text)
    cached = _LENGTHS.get(key)
    if cached is None:
        if len(_LENGTHS) > MAX_CACHED_WORDS:
            _LENGTHS.clear()
        cached = _LENGTHS[key] = (font.getlength(text), font)
    return cached[0]


def word_bitmap(font: Font, word: str) -> tuple[Image.Image, int, float]:
    """(mask, x offset, advance) of a word drawn at the font's ascender line."""
    key = (id(font), word)
    cached = _WORDS.get(key)
    if cached is None:
        if len(_WORDS) > MAX_CACHED_WORDS:
            _WORDS.clear()
        left, _, right, bottom = font.getbbox(word)
        ascent, descent = font.getmetrics() if isinstance(font, ImageFont.FreeTypeFont) else (bottom, 0)
        shift = min(0, int(math.floor(left)))
        mask = Image.new("L", (max(1, int(math.ceil(right)) - shift + 1), max(1, int(bottom), ascent + descent) + 1))
        ImageDraw.Draw(mask).text((-shift, 0), word, font=font, fill=255)
        cached = _WORDS[key] = (mask, shift, text_length(font, word), font)
    return cached[:3]


def paste_word(page: Image.Image, x: float, y: int, font: Font, word: str, ink: int) -> None:
    mask, shift, _ = word_bitmap(font, word)
    left = int(round(x)) + shift
    page.paste(ink, (left, y, left + mask.width, y + mask.height), mask)


def text_offset(font: Font, line_pitch: int) -> int:
    """Rows from a line's top to where its word bitmaps go, so the glyphs sit in the middle of the pitch."""
    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        return (line_pitch - ascent - descent) // 2
    return 0


def wrap(font: Font, text: str, width: float) -> list[str]:
    """Greedy lines of whole words (for headlines, captions, ads)."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_length(font, lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def hyphenate(font: Font, word: str, room: float) -> tuple[str, str] | None:
    """The longest head of `word` that fits `room` with a hyphen, keeping 3+ letters on both sides;
    a break after a vowel is preferred."""
    best = None
    for cut in range(len(word) - 3, 2, -1):
        head = word[:cut]
        if not head[-1].isalpha() or text_length(font, head + "-") > room:
            continue
        if best is None:
            best = cut
        if head[-1] in VOWELS:
            best = cut
            break
    return (word[:best] + "-", word[best:]) if best else None


@dataclass
class BodySetter:
    """Flows an endless word stream into column frames, line by line."""

    page: Image.Image
    font: Font
    line: int  # pitch
    justified: bool
    ink: int
    words: Iterator[str]
    pending: str | None = None

    def _next(self) -> str:
        if self.pending is not None:
            word, self.pending = self.pending, None
            return word
        return next(self.words)

    def _take_line(self, room: float) -> tuple[list[str], bool]:
        """Words for one line and whether the paragraph ends with it."""
        space = text_length(self.font, " ")
        words: list[str] = []
        used = 0.0
        while True:
            word = self._next()
            if word == "\n":
                if words:
                    return words, True
                continue
            need = used + (space if words else 0) + text_length(self.font, word)
            if need <= room:
                words.append(word)
                used = need
                continue
            if len(word) >= 7:
                parts = hyphenate(self.font, word, room - used - (space if words else 0))
                if parts:
                    words.append(parts[0])
                    self.pending = parts[1]
                    return words, False
            if not words:  # a word wider than the column: it overhangs, as in a careless paste-up
                return [word], False
            self.pending = word
            return words, False

    def set_frames(self, frames: tuple[Rect, ...] | list[Rect], indent: int) -> list[Rect]:
        """Fill every frame; the last line ends a sentence. Returns each frame's inked extent."""
        offset = text_offset(self.font, self.line)
        space = text_length(self.font, " ")
        used: list[Rect] = []
        new_paragraph = False
        for number, (x0, y0, x1, y1) in enumerate(frames):
            rows = (y1 - y0) // self.line
            right = x0
            for row in range(rows):
                last = number == len(frames) - 1 and row == rows - 1
                start = x0 + (indent if new_paragraph else 0)
                words, new_paragraph = self._take_line(x1 - start)
                if last:
                    words[-1] = words[-1].rstrip(".,;:!?-") + "."
                    new_paragraph = True
                widths = [word_bitmap(self.font, w)[2] for w in words]
                gap = space
                if self.justified and not new_paragraph and len(words) > 1:
                    gap = max(space, (x1 - start - sum(widths)) / (len(words) - 1))
                x = float(start)
                y = y0 + row * self.line + offset
                for word, width in zip(words, widths, strict=True):
                    paste_word(self.page, x, y, self.font, word, self.ink)
                    x += width + gap
                right = max(right, int(math.ceil(x - gap)))
            if rows:
                used.append((x0, y0, min(max(right, x0 + 1), x1), y0 + rows * self.line))
        return used
