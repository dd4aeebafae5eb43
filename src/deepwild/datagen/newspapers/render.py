"""One clean page from a seed: plan the layout, choose the faces, set every article, ad and page part,
and keep the ground truth (regions, article outlines, mask, layout channel) from the same geometry."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field

import numpy as np

from deepwild.datagen.newspapers.canvas import PICTURE_BOX, TEXT_BOX, Canvas, Design, Region, choose_design
from deepwild.datagen.newspapers.furniture import draw_ad, draw_furniture, draw_separators, fitted
from deepwild.datagen.newspapers.geometry import Point, Rect, union_outline
from deepwild.datagen.newspapers.layout import ArticlePlan, PagePlan, article_zones
from deepwild.datagen.newspapers.skyline import plan_page
from deepwild.datagen.newspapers.photos import press_photo
from deepwild.datagen.newspapers.text import NewsText
from deepwild.datagen.newspapers.typeset import BodySetter, text_length, wrap

FIRST_DAY = datetime.date(2016, 1, 4)
TINT = 228


@dataclass(frozen=True)
class ArticleShape:
    """An article's ground-truth geometry: mask value `number`, the union of `rects`, its outline."""

    number: int
    rects: tuple[Rect, ...]
    outline: tuple[Point, ...]
    shape: str  # "rectangle", "L" (notch under the headline) or "stepped" (bottoms follow an ad block)
    columns: tuple[int, int]
    style: str
    boxed: bool
    photo: bool
    jump: bool


@dataclass
class RenderedPage:
    gray: np.ndarray  # (H, W) uint8, 255 = paper
    layout: np.ndarray  # (H, W) uint8: text boxes 0, pictures 128, rules 0, paper 255
    mask: np.ndarray  # (H, W) uint16 article number, 0 = none
    regions: list[Region]
    articles: list[ArticleShape]
    fonts: dict[str, str]
    info: dict[str, object]
    seconds: dict[str, float] = field(default_factory=dict)


def render_page(seed: int, language: str, columns: int, width: int, height: int) -> RenderedPage:
    """Everything on the page follows from `seed`; `columns` and `language` come from the page's slot."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    front = bool(rng.random() < 0.25)
    page_number = 1 if front else int(rng.integers(2, 48))
    plan = plan_page(rng, columns, width, height, front, page_number)
    design = choose_design(rng)
    text = NewsText(language, seed % 2**32, rng)
    day = FIRST_DAY + datetime.timedelta(days=int(rng.integers(0, 3650)))
    name, section = text.masthead(), text.sections()[int(rng.integers(len(text.sections())))]
    planned = time.perf_counter()
    canvas = Canvas(width, height)
    draw_furniture(canvas, plan, design, text, name, day, section, issue=int(rng.integers(10, 300)))
    shapes = [draw_article(canvas, number, article, plan, design, text, rng)
              for number, article in enumerate(plan.articles, start=1)]
    for ad in plan.ads:
        draw_ad(canvas, ad, plan.grid, design, text.ad(), rng)
    draw_separators(canvas, plan, thickness=int(rng.integers(1, 3)))
    info = {"template": plan.template, "columns": columns, "page_number": page_number, "date": day.isoformat(),
            "newspaper": name, "section": section if not front else "", "separators": plan.separators,
            "justified": plan.text.justified, "body_size": plan.text.size, "ads": len(plan.ads),
            "grid": {"margin_x": plan.grid.margin_x, "top": plan.grid.top, "bottom": plan.grid.bottom,
                     "gutter": plan.grid.gutter, "vgap": plan.grid.vgap, "column_width": plan.grid.column_width}}
    return RenderedPage(np.asarray(canvas.image), np.asarray(canvas.layout), canvas.mask, canvas.regions, shapes,
                        design.names(), info, {"plan": planned - start, "render": time.perf_counter() - planned})


def draw_article(canvas: Canvas, number: int, article: ArticlePlan, page: PagePlan, design: Design, text: NewsText,
                 rng: np.random.Generator) -> ArticleShape:
    grid, style = page.grid, page.text
    zones = article_zones(article, grid, style)
    rects = article.footprint.rects(grid)
    canvas.fill_article(rects, number)

    def region(kind: str, type_: str, role: str, rect: Rect, value: int | None = TEXT_BOX) -> None:
        canvas.add_region(kind, type_, role, rect, number, value)

    if zones.frame:
        if article.tinted:
            x0, y0, x1, y1 = zones.frame
            canvas.draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=TINT)
        canvas.frame(zones.frame, int(rng.integers(1, 3)))
        region("GraphicRegion", "frame", "frame", zones.frame, None)
    if zones.photo and zones.caption:
        x0, y0, x1, y1 = zones.photo
        canvas.picture(zones.photo, press_photo(rng, x1 - x0, y1 - y0))
        region("ImageRegion", "", "photo", zones.photo, PICTURE_BOX)
        font = design.font("sans" if rng.random() < 0.6 else "body", "italic", style.caption_size)
        lines = wrap(font, text.caption(), zones.caption[2] - zones.caption[0])[:article.photo.caption_lines]  # type: ignore[union-attr]
        region("TextRegion", "caption", "caption", canvas.lines(zones.caption, lines, font, style.caption_line))
    if zones.kicker:
        font = design.font("sans", "bold", style.caption_size)
        region("TextRegion", "heading", "kicker", canvas.lines(zones.kicker, [text.kicker()], font, style.caption_line))
    align = "center" if article.style == "lead" and rng.random() < 0.4 else "left"
    lines, font = headline_lines(article, zones.headline, design, text)
    region("TextRegion", "heading", "headline", canvas.lines(zones.headline, lines, font, article.headline_line, align))
    if zones.deck:
        font = design.font("body" if rng.random() < 0.6 else "sans", "italic", article.deck_size)
        lines = wrap(font, text.deck(), zones.deck[2] - zones.deck[0])[:article.deck_lines]
        region("TextRegion", "heading", "deck", canvas.lines(zones.deck, lines, font, round(article.deck_size * 1.3)))
    if zones.byline:
        font = design.font("sans" if rng.random() < 0.5 else "body", "bold", style.size)
        line = wrap(font, text.byline(), zones.byline[2] - zones.byline[0])[:1]
        region("TextRegion", "credit", "byline", canvas.lines(zones.byline, line, font, style.line))
    ink = 0
    setter = BodySetter(canvas.image, design.font("body", "regular", style.size), style.line, style.justified, ink,
                        text.body_words())
    for used in setter.set_frames(zones.body, indent=style.size):
        region("TextRegion", "paragraph", "body", used)
    if zones.jump:
        font = design.font("body", "italic", style.size)
        words = text.jump(int(rng.integers(2, 40)))
        region("TextRegion", "other", "jump", canvas.lines(zones.jump, [words], font, style.line, align="right"))
    fp = article.footprint
    shape = "rectangle" if fp.is_rectangle else "L" if article.notch else "stepped"
    return ArticleShape(number, tuple(rects), union_outline(rects), shape, (fp.c0, fp.c1), article.style,
                        article.boxed, article.photo is not None, zones.jump is not None)


def headline_lines(article: ArticlePlan, rect: Rect, design: Design, text: NewsText) -> tuple[list[str], object]:
    """A headline that fills its planned lines (a few drafts are tried), in a face that fits the width."""
    width = rect[2] - rect[0]
    font = design.font("headline", "bold", article.headline_size)
    per_line = max(1, int(width / (article.headline_size * 0.5) / 7))  # words: ~0.5 em a letter, ~7 letters a word
    words = max(2, per_line * article.headline_lines)
    lines: list[str] = []
    for _ in range(6):
        lines = wrap(font, text.headline(words), width)
        if len(lines) == article.headline_lines:
            break
        words = max(1, words + (1 if len(lines) < article.headline_lines else -1))
    lines = lines[:article.headline_lines]
    longest = max(lines, key=lambda line: text_length(font, line))
    font = fitted(design, "headline", "bold", longest, width, article.headline_size)
    return lines, font
