"""The parts of a page that are not articles: masthead or running head, footer, advertisements, and
the rules between items (on pages whose design has them)."""

from __future__ import annotations

import datetime
from collections import defaultdict

import numpy as np

from deepwild.datagen.newspapers.canvas import PICTURE_BOX, TEXT_BOX, Canvas, Design
from deepwild.datagen.newspapers.layout import AdPlan, Footprint, Grid, PagePlan
from deepwild.datagen.newspapers.photos import ad_picture
from deepwild.datagen.newspapers.text import AdCopy, NewsText
from deepwild.datagen.newspapers.typeset import Font, text_length


def fitted(design: Design, role: str, style: str, text: str, width: float, size: int, smallest: int = 8) -> Font:
    """The face at `size`, or smaller until `text` fits `width`."""
    font = design.font(role, style, size)
    while size > smallest and text_length(font, text) > width:
        size = max(smallest, int(size * 0.92))
        font = design.font(role, style, size)
    return font


def draw_furniture(canvas: Canvas, plan: PagePlan, design: Design, text: NewsText, name: str, day: datetime.date,
                   section: str, issue: int) -> None:
    furniture, style = plan.furniture, plan.text
    x0, y0, x1, y1 = furniture.title
    small = design.font("sans", "regular", style.caption_size)
    if furniture.front:
        font = fitted(design, "masthead", "bold", name, (x1 - x0) * 0.9, int((y1 - y0) * 0.82))
        extent = canvas.lines(furniture.title, [name], font, y1 - y0, align="center")
        canvas.add_region("TextRegion", "header", "masthead", extent, layout_value=TEXT_BOX)
        assert furniture.band is not None
        issue_text, price = text.issue_line(issue, float(np.round(2.5 + 0.5 * (issue % 4), 2)))
        for words, align in ((text.date(day), "left"), (issue_text, "center"), (price, "right")):
            extent = canvas.lines(furniture.band, [words], small, style.caption_line, align=align)
            canvas.add_region("TextRegion", "header", "dateline", extent, layout_value=TEXT_BOX)
    else:
        bold = design.font("sans", "bold", style.caption_size + 3)
        parts = ((section.upper(), bold, "left"), (name, design.font("masthead", "bold", style.caption_size + 2), "center"),
                 (text.date(day), small, "right"))
        for words, font, align in parts:
            extent = canvas.lines(furniture.title, [words], font, y1 - y0, align=align)
            canvas.add_region("TextRegion", "header", "running-head", extent, layout_value=TEXT_BOX)
    for rule in furniture.rules:
        canvas.rule(rule)
    outer = "left" if plan.page_number % 2 == 0 else "right"
    extent = canvas.lines(furniture.footer, [text.page_label(plan.page_number)], design.font("sans", "bold", style.caption_size),
                          style.caption_line, align=outer)
    canvas.add_region("TextRegion", "page-number", "page-number", extent, layout_value=TEXT_BOX)
    extent = canvas.lines(furniture.footer, [f"{name} · {text.date(day)}"], small, style.caption_line,
                          align="right" if outer == "left" else "left")
    canvas.add_region("TextRegion", "footer", "footer", extent, layout_value=TEXT_BOX)


def draw_ad(canvas: Canvas, ad: AdPlan, grid: Grid, design: Design, copy: AdCopy, rng: np.random.Generator) -> None:
    """A framed (or inverted) box with big type: a name, a call, a picture, a price, a contact."""
    outer = ad.footprint.outer(grid)
    x0, y0, x1, y1 = outer
    canvas.add_region("AdvertRegion", "", "ad", outer)
    thickness = int(rng.integers(2, 5))
    ink = 255 if ad.inverted else 0
    if ad.inverted:
        canvas.draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=0)
        canvas.layout_box(outer, PICTURE_BOX)  # a black block reads as a picture to OCR
    else:
        canvas.frame(outer, thickness)
    pad = thickness + 8
    left, right, top, bottom = x0 + pad, x1 - pad, y0 + pad, y1 - pad
    width, height = right - left, bottom - top
    name_font = fitted(design, "sans", "bold", copy.name, width, max(14, int(height * 0.16)))
    call_font = fitted(design, "sans", "italic", copy.call, width, max(11, int(height * 0.08)))
    price_font = fitted(design, "headline", "bold", copy.price, width, max(16, int(height * 0.22)))
    contact_font = fitted(design, "sans", "regular", copy.contact, width, max(10, int(height * 0.06)))
    parts: list[tuple[str, object, int]] = [(copy.name, name_font, int(name_font.size * 1.15)),
                                            (copy.call, call_font, int(call_font.size * 1.3))]
    picture_height = int(height * 0.35) if ad.picture and height > 180 else 0
    if picture_height:
        parts.append(("", None, picture_height))
    parts += [(copy.price, price_font, int(price_font.size * 1.1)), (copy.contact, contact_font, int(contact_font.size * 1.3))]
    while sum(p[2] for p in parts) > height and len(parts) > 2:
        parts.pop(1 if parts[1][0] == copy.call else 2)  # the call first, then the picture
    spare = max(0, height - sum(p[2] for p in parts)) // (len(parts) + 1)
    y = top + spare
    for words, font, pitch in parts:
        if font is None:
            box_width = min(width, int(pitch * 1.6))
            rect = (left + (width - box_width) // 2, y, left + (width - box_width) // 2 + box_width, y + pitch)
            canvas.picture(rect, ad_picture(rng, box_width, pitch, ad.inverted))
            if not ad.inverted:
                canvas.layout_box(rect, PICTURE_BOX)
        else:
            extent = canvas.lines((left, y, right, y + pitch), [words], font, pitch, align="center", ink=ink)  # type: ignore[arg-type]
            if not ad.inverted:
                canvas.layout_box(extent, TEXT_BOX)
        y += pitch + spare


def draw_separators(canvas: Canvas, plan: PagePlan, thickness: int) -> None:
    """Rules in the gutters beside items and in the gaps below them; boxes and ads keep only their frames."""
    if plan.separators == "bare":
        return
    grid = plan.grid
    vertical: dict[int, list[tuple[int, int]]] = defaultdict(list)
    horizontal: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for footprint in [a.footprint for a in plan.articles if not a.boxed]:
        _edges(footprint, grid, vertical, horizontal)
    half = thickness // 2
    if plan.separators == "rules":
        for x, spans in sorted(vertical.items()):
            for y0, y1 in _merged(spans):
                canvas.rule((x - half, y0, x - half + thickness, y1))
    for y, spans in sorted(horizontal.items()):
        for x0, x1 in _merged(spans):
            canvas.rule((x0, y - half, x1, y - half + thickness))


def _edges(fp: Footprint, grid: Grid, vertical: dict[int, list[tuple[int, int]]],
           horizontal: dict[int, list[tuple[int, int]]]) -> None:
    for c in range(fp.c0, fp.c1):
        bottom = fp.bottom(c)
        for neighbour, x in ((c - 1, grid.x0(c) - grid.gutter // 2), (c + 1, grid.x1(c) + grid.gutter // 2)):
            if not 0 <= neighbour < grid.columns:
                continue
            start = fp.top if not fp.c0 <= neighbour < fp.c1 else fp.bottom(neighbour) + grid.vgap // 2
            if bottom > start:
                vertical[x].append((start, bottom))
        if bottom + grid.vgap < grid.bottom:
            right = grid.x0(c + 1) if c + 1 < fp.c1 and fp.bottom(c + 1) == bottom else grid.x1(c)
            horizontal[bottom + grid.vgap // 2].append((grid.x0(c), right))


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]
