"""A page's plan drawn from a seed: grid, masthead or running head, footer, bottom ad block, and the
articles and ads that fill the columns.

Items are placed by a skyline over the columns: the highest open slot (leftmost first) takes the
next item, across some of the adjacent columns that open at the same height. An item's bottom may
differ per column: where a notch is cut under its headline for the next item the article becomes an
L; where an ad is set into its bottom corner, or it meets the bottom ad block, it becomes stepped.
Every bottom either reaches the column's limit or leaves room for another item, so the columns fill
to the bottom without slivers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from deepwild.datagen.newspapers.layout import (BOX_PAD, MIN_ITEM, AdPlan, ArticlePlan, Footprint, Furniture, Grid,
                                                PagePlan, PhotoPlan, Rect, TextStyle, header_height)


@dataclass
class _Skyline:
    grid: Grid
    text: TextStyle
    rng: np.random.Generator
    front: bool
    tops: list[int] = field(default_factory=list)
    limits: list[int] = field(default_factory=list)
    articles: list[ArticlePlan] = field(default_factory=list)
    ads: list[AdPlan] = field(default_factory=list)

    def open_columns(self) -> list[int]:
        return [c for c in range(self.grid.columns) if self.limits[c] - self.tops[c] >= MIN_ITEM]

    def fill(self) -> None:
        while (open_ := self.open_columns()):
            first = min(open_, key=lambda c: (self.tops[c], c))
            run = [first]
            while run[-1] + 1 in open_ and self.tops[run[-1] + 1] == self.tops[first]:
                run.append(run[-1] + 1)
            self.place(run)

    def bottoms(self, columns: list[int], top: int, height: int) -> tuple[int, ...]:
        """Each column ends at top + height, or at its limit when less than an item would be left below."""
        return tuple(self.limits[c] if self.limits[c] - (top + height) - self.grid.vgap < MIN_ITEM else top + height
                     for c in columns)

    def place(self, run: list[int]) -> None:
        rng, grid = self.rng, self.grid
        top = self.tops[run[0]]
        lead = self.front and not self.articles and len(run) >= 3
        if lead:
            span = int(rng.integers(max(3, len(run) - 2), len(run) + 1))
        else:
            weights = np.array([1.0, 2.2, 2.0, 1.2, 0.7][:min(len(run), 5)])
            span = int(rng.choice(len(weights), p=weights / weights.sum())) + 1
        start = run[0] if rng.random() < 0.7 else run[-1] - span + 1
        columns = list(range(start, start + span))
        room = min(self.limits[c] for c in columns) - top
        if not lead and span <= 2 and len(self.ads) < 4 and rng.random() < 0.1 and room >= 120:
            self.place_ad(columns, top, int(rng.integers(120, min(room, 380) + 1)))
            return
        ads_before = len(self.ads)
        article = self.plan_article(columns, top, room, lead)
        self.articles.append(article)
        for c, bottom in zip(columns, article.footprint.bottoms, strict=True):
            self.tops[c] = bottom + grid.vgap
        for ad in self.ads[ads_before:]:  # an ad set into the article's corner
            for c in range(ad.footprint.c0, ad.footprint.c1):
                self.tops[c] = ad.footprint.bottom(c) + grid.vgap

    def place_ad(self, columns: list[int], top: int, height: int) -> None:
        bottoms = self.bottoms(columns, top, height)
        bottoms = (max(bottoms),) * len(columns) if len(set(bottoms)) > 1 else bottoms  # ads stay rectangular
        if any(b > self.limits[c] for c, b in zip(columns, bottoms, strict=True)):
            bottoms = (min(self.limits[c] for c in columns),) * len(columns)
        self.ads.append(AdPlan(Footprint(columns[0], columns[-1] + 1, top, bottoms),
                               inverted=bool(self.rng.random() < 0.2), picture=bool(self.rng.random() < 0.6)))
        for c, bottom in zip(columns, bottoms, strict=True):
            self.tops[c] = bottom + self.grid.vgap

    def plan_article(self, columns: list[int], top: int, room: int, lead: bool) -> ArticlePlan:
        rng = self.rng
        span = len(columns)
        content = self.grid.bottom - self.grid.top
        brief = not lead and (room < 240 or (span == 1 and rng.random() < 0.3))
        if lead:
            style, height = "lead", int(content * rng.uniform(0.35, 0.6))
            size, lines = int(rng.integers(44, 66)), int(rng.integers(1, 3))
        elif brief:
            style, height = "brief", int(rng.integers(MIN_ITEM, 260))
            size, lines = int(rng.integers(15, 20)), int(rng.integers(1, 3))
        else:
            style = "standard"
            height = int(rng.integers(220, {1: 700, 2: 620}.get(span, 560)))
            size = int(np.clip(18 + 6 * span + rng.normal(0, 3), 18, 48))
            lines = int(rng.integers(2, 4)) if span == 1 else int(rng.integers(1, 3))
        height = min(height, room)
        article = ArticlePlan(
            Footprint(columns[0], columns[-1] + 1, top, self.bottoms(columns, top, height)), style,
            kicker=style != "brief" and rng.random() < 0.45, headline_size=size, headline_lines=lines,
            deck_lines=int(rng.integers(1, 3)) if style != "brief" and span >= 2 and rng.random() < 0.35 else 0,
            photo=None, byline=style != "brief" and rng.random() < 0.6, boxed=False, tinted=False,
            jump=style != "brief" and rng.random() < 0.2)
        article = self.fit_header(article)
        article = self.add_photo(article)
        article = self.cut_notch(article)
        article = self.wrap_around_ad(article)
        if article.footprint.is_rectangle and not article.notch and style == "standard" and rng.random() < 0.12:
            article = _replace(article, boxed=True, tinted=bool(rng.random() < 0.5))
            article = self.fit_header(article)
        return article

    def fit_header(self, article: ArticlePlan) -> ArticlePlan:
        """Drop deck, kicker, then headline lines until header and three body lines fit the shortest column."""
        shortest = min(article.footprint.bottoms) - article.footprint.top
        while header_height(article, self.text) + 3 * self.text.line + (BOX_PAD if article.boxed else 0) > shortest:
            if article.deck_lines:
                article = _replace(article, deck_lines=0)
            elif article.kicker:
                article = _replace(article, kicker=False)
            elif article.byline:
                article = _replace(article, byline=False)
            elif article.headline_lines > 1:
                article = _replace(article, headline_lines=article.headline_lines - 1)
            elif article.headline_size > 14:
                article = _replace(article, headline_size=article.headline_size - 2)
            else:
                break
        return article

    def add_photo(self, article: ArticlePlan) -> ArticlePlan:
        rng, grid, fp = self.rng, self.grid, article.footprint
        chance = {"lead": 0.9, "standard": 0.5 if fp.span >= 2 else 0.2, "brief": 0.0}[article.style]
        if rng.random() >= chance:
            return article
        width_cols = fp.span if fp.span <= 2 or rng.random() < 0.5 else int(rng.integers(max(1, fp.span - 2), fp.span))
        c0 = fp.c0 if rng.random() < 0.6 else fp.c1 - width_cols
        above = article.style == "lead" and rng.random() < 0.4
        width = grid.x1(c0 + width_cols - 1) - grid.x0(c0)
        caption_lines = 1 if width > 3 * grid.column_width else 2
        shortest = min(fp.bottom(c) for c in range(c0, c0 + width_cols)) - fp.top
        free = shortest - header_height(article, self.text) - caption_lines * self.text.caption_line - 12 - 4 * self.text.line
        height = min(int(width * rng.uniform(0.5, 0.8)), int(free))
        if height < max(80, 0.35 * width):  # no letterbox strips
            return article
        return _replace(article, photo=PhotoPlan(c0, c0 + width_cols, height, caption_lines, above))

    def cut_notch(self, article: ArticlePlan) -> ArticlePlan:
        """Sometimes end the outer column(s) right under the headline: the next item fills the notch, and
        the article is an L (headline over all columns, body in fewer)."""
        fp, rng = article.footprint, self.rng
        if article.style == "brief" or fp.span < 2 or not fp.is_rectangle or rng.random() >= 0.3:
            return article
        if article.photo and article.photo.above_headline:
            return article
        width = 1 if fp.span < 4 or rng.random() < 0.6 else 2
        notch = list(range(fp.c1 - width, fp.c1)) if rng.random() < 0.7 else list(range(fp.c0, fp.c0 + width))
        if article.photo and set(notch) & set(range(article.photo.c0, article.photo.c1)):
            return article
        notch_bottom = fp.top + header_height(article, self.text) - 4
        if any(self.limits[c] - notch_bottom - self.grid.vgap < MIN_ITEM for c in notch):
            return article
        bottoms = tuple(notch_bottom if c in notch else fp.bottom(c) for c in range(fp.c0, fp.c1))
        return _replace(article, footprint=Footprint(fp.c0, fp.c1, fp.top, bottoms), notch=tuple(notch), jump=False)


    def wrap_around_ad(self, article: ArticlePlan) -> ArticlePlan:
        """Sometimes set an ad into the article's bottom corner: its outer column(s) end above the ad, and
        the article is a stepped L whose body text wraps around the ad."""
        fp, rng, text = article.footprint, self.rng, self.text
        if article.style == "brief" or fp.span < 2 or not fp.is_rectangle or len(self.ads) >= 4 or rng.random() >= 0.3:
            return article
        width = 1 if fp.span < 4 or rng.random() < 0.6 else 2
        columns = list(range(fp.c1 - width, fp.c1)) if rng.random() < 0.7 else list(range(fp.c0, fp.c0 + width))
        clear = fp.top + header_height(article, text) + 4 * text.line  # what must stay above the ad
        if article.photo and set(columns) & set(range(article.photo.c0, article.photo.c1)):
            clear += article.photo.height + article.photo.caption_lines * text.caption_line + 12
        room = fp.bottoms[0] - clear - self.grid.vgap
        if room < 120:
            return article
        ad_top = fp.bottoms[0] - int(rng.integers(120, min(room, 320) + 1))
        self.ads.append(AdPlan(Footprint(columns[0], columns[-1] + 1, ad_top, (fp.bottoms[0],) * width),
                               inverted=bool(rng.random() < 0.2), picture=bool(rng.random() < 0.6)))
        bottoms = tuple(ad_top - self.grid.vgap if c in columns else fp.bottom(c) for c in range(fp.c0, fp.c1))
        return _replace(article, footprint=Footprint(fp.c0, fp.c1, fp.top, bottoms))


def _replace(plan: ArticlePlan, **changes: object) -> ArticlePlan:
    return replace(plan, **changes)  # type: ignore[arg-type]


def plan_page(rng: np.random.Generator, columns: int, width: int, height: int, front: bool,
              page_number: int) -> PagePlan:
    """A whole page's geometry for a column count, drawn from `rng`."""
    scale = width / 1240  # every size below was chosen for a 1240 px wide page
    margin_x = int(rng.integers(44, 72) * scale)
    margin_y = int(rng.integers(40, 64) * scale)
    gutter = int(rng.integers(14, 24) * scale)
    size = int(round(rng.integers(12, 15) * scale)) if columns >= 4 else int(round(rng.integers(13, 16) * scale))
    text = TextStyle(size=size, line=round(size * rng.uniform(1.18, 1.3)), justified=bool(rng.random() < 0.85),
                     caption_size=max(10, size - 1), caption_line=round(max(10, size - 1) * 1.25))
    furniture = _plan_furniture(rng, width, height, margin_x, margin_y, front, text)
    grid = Grid(width, height, columns, margin_x, top=furniture_bottom(furniture) + int(18 * scale),
                bottom=furniture.footer[1] - int(16 * scale), gutter=gutter, vgap=int(rng.integers(20, 32) * scale))
    sky = _Skyline(grid, text, rng, front, tops=[grid.top] * columns, limits=[grid.bottom] * columns)
    _plan_bottom_ads(sky)
    sky.fill()
    separators = str(rng.choice(["rules", "horizontal", "bare"], p=[0.45, 0.2, 0.35]))
    return PagePlan(grid, text, furniture, separators, tuple(sky.articles), tuple(sky.ads), page_number,
                    "front" if front else "inside")


def furniture_bottom(furniture: Furniture) -> int:
    """The lowest row of the masthead or running head, its rules included."""
    top_parts = [furniture.title] + ([furniture.band] if furniture.band else [])
    top_parts += [r for r in furniture.rules if r[3] <= furniture.footer[1] // 2]
    return max(part[3] for part in top_parts)


def _plan_furniture(rng: np.random.Generator, width: int, height: int, margin_x: int, margin_y: int, front: bool,
                    text: TextStyle) -> Furniture:
    x0, x1 = margin_x, width - margin_x
    rules: list[Rect] = []
    band = None
    if front:
        title_h = int(rng.integers(70, 110) * width / 1240)
        title = (x0, margin_y, x1, margin_y + title_h)
        y = title[3] + 8
        rules.append((x0, y, x1, y + 3))
        band = (x0, y + 9, x1, y + 9 + text.caption_line + 2)
        rules.append((x0, band[3] + 5, x1, band[3] + 6))
    else:
        title = (x0, margin_y, x1, margin_y + text.caption_line + 8)
        rules.append((x0, title[3] + 4, x1, title[3] + 6))
    footer_h = text.caption_line + 4
    footer = (x0, height - margin_y - footer_h, x1, height - margin_y)
    rules.append((x0, footer[1] - 8, x1, footer[1] - 7))
    return Furniture(front, title, band, footer, tuple(rules))


def _plan_bottom_ads(sky: _Skyline) -> None:
    """A block of ads along the bottom of some pages, over some columns from one side."""
    rng, grid = sky.rng, sky.grid
    if rng.random() >= 0.4:
        return
    width = int(rng.integers(2, grid.columns + 1))
    start = 0 if rng.random() < 0.5 else grid.columns - width
    height = int(rng.integers(160, 420))
    top = grid.bottom - height
    parts = [width] if width < 3 or rng.random() < 0.5 else [width // 2, width - width // 2]
    column = start
    for part in parts:
        sky.ads.append(AdPlan(Footprint(column, column + part, top, (grid.bottom,) * part),
                              inverted=bool(rng.random() < 0.2), picture=bool(rng.random() < 0.6)))
        column += part
    for c in range(start, start + width):
        sky.limits[c] = top - grid.vgap
