"""The page being drawn, and its ground truth drawn alongside: the grey page, the layout channel (text
blocks filled black, pictures filled mid-grey, rules kept), the article-id mask, and the list of
regions that becomes PAGE XML. Also the page's design: which faces set which parts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from deepwild.datagen.newspapers.fonts import (CONDENSED_HEADLINES, MASTHEADS, OTHER_HEADLINES, PILLOW_DEFAULT, ROLES,
                                               Family, available, face_file, font_files, load_font)
from deepwild.datagen.newspapers.geometry import Point, Rect, rect_polygon
from deepwild.datagen.newspapers.typeset import Font, text_length, text_offset

TEXT_BOX, PICTURE_BOX, PAPER = 0, 128, 255  # layout channel values
MIN_LAYOUT_RULE = 3  # px: a rule must survive the ~7× reduction to 256 px as a visible grey line


@dataclass(frozen=True)
class Region:
    """One ground-truth region: a PAGE XML element of `kind` with PAGE's `type` (e.g. heading, paragraph),
    our finer `role` (kicker, headline, body, ...), and the article it belongs to (0 = none)."""

    id: str
    kind: str  # TextRegion, ImageRegion, GraphicRegion, SeparatorRegion, AdvertRegion
    type: str
    role: str
    polygon: tuple[Point, ...]
    article: int


@dataclass(frozen=True)
class Design:
    headline: Family
    body: Family
    sans: Family
    masthead: Family

    def names(self) -> dict[str, str]:
        files = font_files()
        return {role: (family.name if family.regular in files else PILLOW_DEFAULT)
                for role, family in (("headline", self.headline), ("body", self.body), ("sans", self.sans),
                                     ("masthead", self.masthead))}

    def font(self, role: str, style: str, size: int) -> Font:
        return load_font(face_file(getattr(self, role), style), max(6, int(size)))


def choose_design(rng: np.random.Generator) -> Design:
    """Installed faces only, DejaVu less often than the others; condensed bold headlines on four pages in five
    when one is installed."""
    def pick(families: tuple[Family, ...]) -> Family:
        found = available(families) or families[-1:]  # the last is DejaVu; Pillow's font if even that is gone
        weights = np.array([0.3 if f.name.startswith("DejaVu") else 1.0 for f in found])  # DejaVu is the fallback
        return found[int(rng.choice(len(found), p=weights / weights.sum()))]

    condensed = available(CONDENSED_HEADLINES)
    headline = pick(CONDENSED_HEADLINES) if condensed and rng.random() < 0.8 else pick(OTHER_HEADLINES)
    return Design(headline=headline, body=pick(ROLES["body"]), sans=pick(ROLES["sans"]), masthead=pick(MASTHEADS))


@dataclass
class Canvas:
    width: int
    height: int
    image: Image.Image = field(init=False)
    layout: Image.Image = field(init=False)
    mask: np.ndarray = field(init=False)  # (H, W) uint16 article ids
    regions: list[Region] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.image = Image.new("L", (self.width, self.height), PAPER)
        self.layout = Image.new("L", (self.width, self.height), PAPER)
        self.mask = np.zeros((self.height, self.width), np.uint16)
        self.draw = ImageDraw.Draw(self.image)
        self.layout_draw = ImageDraw.Draw(self.layout)

    def add_region(self, kind: str, type_: str, role: str, rect: Rect, article: int = 0,
                   layout_value: int | None = None) -> Region:
        region = Region(f"r{len(self.regions) + 1}", kind, type_, role, rect_polygon(rect), article)
        self.regions.append(region)
        if layout_value is not None:
            self.layout_box(rect, layout_value)
        return region

    def layout_box(self, rect: Rect, value: int) -> None:
        x0, y0, x1, y1 = rect
        if x1 > x0 and y1 > y0:
            self.layout_draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=value)

    def rule(self, rect: Rect, ink: int = 0, article: int = 0, region: bool = True) -> None:
        """A filled rule (x1/y1 exclusive), in the page and, at least MIN_LAYOUT_RULE thick, in the layout."""
        x0, y0, x1, y1 = rect
        self.draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=ink)
        if x1 - x0 >= y1 - y0:  # horizontal: thicken about its centre line
            grow = max(0, MIN_LAYOUT_RULE - (y1 - y0))
            self.layout_box((x0, y0 - grow // 2, x1, y1 + (grow - grow // 2)), TEXT_BOX)
        else:
            grow = max(0, MIN_LAYOUT_RULE - (x1 - x0))
            self.layout_box((x0 - grow // 2, y0, x1 + (grow - grow // 2), y1), TEXT_BOX)
        if region:
            self.add_region("SeparatorRegion", "", "rule", rect, article)

    def frame(self, rect: Rect, thickness: int, ink: int = 0) -> None:
        """Four rules around `rect` (outer edge on the rect), without regions of their own."""
        x0, y0, x1, y1 = rect
        for side in ((x0, y0, x1, y0 + thickness), (x0, y1 - thickness, x1, y1), (x0, y0, x0 + thickness, y1),
                     (x1 - thickness, y0, x1, y1)):
            self.rule(side, ink, region=False)

    def lines(self, rect: Rect, lines: list[str], font: Font, pitch: int, align: str = "left",
              ink: int = 0) -> Rect:
        """Lines of text from the top of `rect`, aligned left/center/right; the extent they cover."""
        x0, y0, x1, _ = rect
        offset = text_offset(font, pitch)
        left, right = x1, x0
        for row, line in enumerate(lines):
            width = text_length(font, line)
            x = x0 if align == "left" else x1 - width if align == "right" else x0 + (x1 - x0 - width) / 2
            self.draw.text((x, y0 + row * pitch + offset), line, font=font, fill=ink)
            left, right = min(left, int(x)), max(right, int(np.ceil(x + width)))
        return (left, y0, max(right, left + 1), y0 + len(lines) * pitch) if lines else (x0, y0, x0, y0)

    def picture(self, rect: Rect, pixels: np.ndarray) -> None:
        self.image.paste(Image.fromarray(pixels), (rect[0], rect[1]))

    def fill_article(self, rects: list[Rect], article: int) -> None:
        for x0, y0, x1, y1 in rects:
            self.mask[y0:y1, x0:x1] = article
