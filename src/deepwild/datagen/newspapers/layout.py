"""Page geometry: the column grid, an item's footprint over the columns, the plans of articles, ads
and page furniture, and where each part of an article goes (`article_zones`). All numbers are pixels;
everything the renderer draws into is decided here (`skyline` draws the plans from a seed)."""

from __future__ import annotations

from dataclasses import dataclass

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (x1, y1 exclusive)

MIN_ITEM = 110  # the shortest item the skyline leaves room for
BOX_PAD = 9  # frame-to-text distance of boxed articles and ads


@dataclass(frozen=True)
class Grid:
    width: int
    height: int
    columns: int
    margin_x: int
    top: int  # first pixel row of the column area
    bottom: int  # last row + 1 of the column area
    gutter: int
    vgap: int  # between items stacked in a column

    @property
    def column_width(self) -> int:
        return (self.width - 2 * self.margin_x - (self.columns - 1) * self.gutter) // self.columns

    def x0(self, column: int) -> int:
        return self.margin_x + column * (self.column_width + self.gutter)

    def x1(self, column: int) -> int:
        return self.x0(column) + self.column_width


@dataclass(frozen=True)
class Footprint:
    """Columns [c0, c1) from `top`; the item ends at bottoms[i] in column c0 + i."""

    c0: int
    c1: int
    top: int
    bottoms: tuple[int, ...]

    @property
    def span(self) -> int:
        return self.c1 - self.c0

    def bottom(self, column: int) -> int:
        return self.bottoms[column - self.c0]

    @property
    def is_rectangle(self) -> bool:
        return len(set(self.bottoms)) == 1

    def rects(self, grid: Grid) -> list[Rect]:
        """Column strips plus the gutters between the item's own columns, as far down as both go."""
        rects = [(grid.x0(c), self.top, grid.x1(c), self.bottom(c)) for c in range(self.c0, self.c1)]
        rects += [(grid.x1(c), self.top, grid.x0(c + 1), min(self.bottom(c), self.bottom(c + 1)))
                  for c in range(self.c0, self.c1 - 1)]
        return rects

    def outer(self, grid: Grid) -> Rect:
        return grid.x0(self.c0), self.top, grid.x1(self.c1 - 1), max(self.bottoms)


@dataclass(frozen=True)
class TextStyle:
    """The page's body typography."""

    size: int
    line: int  # line pitch
    justified: bool
    caption_size: int
    caption_line: int


@dataclass(frozen=True)
class PhotoPlan:
    c0: int
    c1: int
    height: int
    caption_lines: int
    above_headline: bool


@dataclass(frozen=True)
class ArticlePlan:
    footprint: Footprint
    style: str  # "lead", "standard", "brief"
    kicker: bool
    headline_size: int
    headline_lines: int
    deck_lines: int
    photo: PhotoPlan | None
    byline: bool
    boxed: bool
    tinted: bool
    jump: bool
    notch: tuple[int, ...] = ()  # columns that hold only the headline (the L's cut-out below it)

    @property
    def headline_line(self) -> int:
        return round(self.headline_size * 1.1)

    @property
    def deck_size(self) -> int:
        return max(14, round(self.headline_size * 0.42))


@dataclass(frozen=True)
class AdPlan:
    footprint: Footprint
    inverted: bool
    picture: bool


@dataclass(frozen=True)
class Furniture:
    """Page parts that are not articles: masthead or running head, footer, and their rules."""

    front: bool
    title: Rect  # masthead title (front) or running-head line (inside)
    band: Rect | None  # the date/issue band under a masthead
    footer: Rect
    rules: tuple[Rect, ...]


@dataclass(frozen=True)
class PagePlan:
    grid: Grid
    text: TextStyle
    furniture: Furniture
    separators: str  # "rules" (vertical and horizontal), "horizontal", or "bare" gutters
    articles: tuple[ArticlePlan, ...]
    ads: tuple[AdPlan, ...]
    page_number: int
    template: str  # "front" or "inside"


def header_height(plan: ArticlePlan, text: TextStyle) -> int:
    """Kicker, headline and deck (and a photo set above the headline), as the renderer stacks them."""
    height = BOX_PAD if plan.boxed else 0
    if plan.photo and plan.photo.above_headline:
        height += plan.photo.height + 4 + plan.photo.caption_lines * text.caption_line + 8
    if plan.kicker:
        height += text.caption_line + 3
    height += plan.headline_lines * plan.headline_line + 6
    if plan.deck_lines:
        height += plan.deck_lines * round(plan.deck_size * 1.3) + 6
    return height + 4


@dataclass(frozen=True)
class ArticleZones:
    """Where each part of an article goes; the renderer sets text into these boxes."""

    kicker: Rect | None
    headline: Rect
    deck: Rect | None
    photo: Rect | None
    caption: Rect | None
    byline: Rect | None
    body: tuple[Rect, ...]  # one frame per column, in reading order
    jump: Rect | None
    frame: Rect | None


def article_zones(plan: ArticlePlan, grid: Grid, text: TextStyle) -> ArticleZones:
    fp = plan.footprint
    pad = BOX_PAD if plan.boxed else 0
    left, right = grid.x0(fp.c0) + pad, grid.x1(fp.c1 - 1) - pad
    y = fp.top + pad
    photo = caption = None
    body_top = {c: 0 for c in range(fp.c0, fp.c1)}

    def place_photo(y: int) -> int:
        nonlocal photo, caption
        assert plan.photo is not None
        x0 = max(grid.x0(plan.photo.c0), left)
        x1 = min(grid.x1(plan.photo.c1 - 1), right)
        photo = (x0, y, x1, y + plan.photo.height)
        y += plan.photo.height + 4
        caption = (x0, y, x1, y + plan.photo.caption_lines * text.caption_line)
        return y + plan.photo.caption_lines * text.caption_line + 8

    if plan.photo and plan.photo.above_headline:
        y = place_photo(y)
    kicker = deck = None
    if plan.kicker:
        kicker = (left, y, right, y + text.caption_line)
        y += text.caption_line + 3
    headline = (left, y, right, y + plan.headline_lines * plan.headline_line)
    y += plan.headline_lines * plan.headline_line + 6
    if plan.deck_lines:
        deck_line = round(plan.deck_size * 1.3)
        deck_right = right if fp.span < 3 else grid.x1(fp.c0 + max(1, fp.span * 2 // 3) - 1)
        deck = (left, y, deck_right, y + plan.deck_lines * deck_line)
        y += plan.deck_lines * deck_line + 6
    y += 4
    assert y - fp.top == header_height(plan, text)
    for column in body_top:
        body_top[column] = y
    if plan.photo and not plan.photo.above_headline:
        below = place_photo(y)
        for column in range(plan.photo.c0, plan.photo.c1):
            body_top[column] = below
    frames = []
    for column in range(fp.c0, fp.c1):
        if column in plan.notch:
            continue
        x0 = grid.x0(column) + (pad if column == fp.c0 else 0)
        x1 = grid.x1(column) - (pad if column == fp.c1 - 1 else 0)
        lines = (fp.bottom(column) - pad - body_top[column]) // text.line
        if lines >= 2:
            frames.append((x0, body_top[column], x1, body_top[column] + lines * text.line))
    byline = jump = None
    if plan.byline and frames:
        first = frames[0]
        byline = (first[0], first[1], first[2], first[1] + text.line)
        frames[0] = (first[0], first[1] + text.line + 4, first[2], first[3])
    if plan.jump and frames and frames[-1][3] - frames[-1][1] >= 3 * text.line:
        last = frames[-1]
        jump = (last[0], last[3] - text.line, last[2], last[3])
        frames[-1] = (last[0], last[1], last[2], last[3] - text.line)
    frames = [f for f in frames if f[3] - f[1] >= text.line]
    outer = fp.outer(grid)
    return ArticleZones(kicker, headline, deck, photo, caption, byline, tuple(frames), jump,
                        outer if plan.boxed else None)
