"""Reading a newspaper dataset folder written by `deepwild data newspapers`, and looking at its pages.

    DIR/manifest.json               generator, versions, seed, config, fonts, splits, pages, file hashes
    DIR/generation.json             the settings the folder was started with (resuming checks them)
    DIR/images/pageNNNNN.png        the scanned-looking page, grey 8 bit
    DIR/layout/pageNNNNN.png        the layout channel: text blocks 0, pictures 128, rules 0, paper 255
    DIR/masks/pageNNNNN.png         article ids: 0 = no article, k = article "ak" (8 bit; 16 bit past 255)
    DIR/articles/pageNNNNN.json     the articles (`PageSegmentation` JSON)
    DIR/pagexml/pageNNNNN.xml       PAGE XML 2019, regions tagged `structure {id:ak; type:article;}`
    DIR/pages/pageNNNNN.json        the page's record (split, language, layout, fonts, degradation, ...)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from deepwild.core.errors import InputError
from deepwild.core.results import PageSegmentation
from deepwild.data.overlay import class_colour

GENERATOR = "deepwild.datagen.newspapers"
NEWSPAPER_SPLITS = ("train", "val", "test", "test-unseen-layout")


@dataclass(frozen=True)
class NewspaperPage:
    name: str
    split: str
    language: str
    columns: int
    image: Path
    layout: Path
    mask: Path
    articles: Path
    page_xml: Path
    record: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def segmentation(self) -> PageSegmentation:
        try:
            return PageSegmentation.from_json(json.loads(self.articles.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"cannot read the articles of {self.name} from {self.articles}: {error}") from None


@dataclass(frozen=True)
class NewspaperDataset:
    root: Path
    pages: tuple[NewspaperPage, ...]
    info: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def split(self, name: str) -> tuple[NewspaperPage, ...]:
        if name not in NEWSPAPER_SPLITS:
            raise InputError(f"unknown split {name!r}; valid: {', '.join(NEWSPAPER_SPLITS)}")
        return tuple(p for p in self.pages if p.split == name)


def is_newspaper_dataset(folder: str | Path) -> bool:
    folder = Path(folder)
    for marker in ("manifest.json", "generation.json"):
        try:
            if json.loads((folder / marker).read_text(encoding="utf-8")).get("generator") == GENERATOR:
                return True
        except (OSError, ValueError, AttributeError):
            continue
    return False


def load_newspaper_dataset(folder: str | Path) -> NewspaperDataset:
    """Every finished page of the folder (those with a record in pages/, so an interrupted folder reads too),
    with paths resolved and checked."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"dataset folder {folder} does not exist",
                         hint="make one with `deepwild data newspapers --out DIR --pages N`")
    records = sorted((folder / "pages").glob("page*.json"))
    if not records:
        raise InputError(f"{folder} holds no newspaper pages (pages/pageNNNNN.json)")
    pages = []
    for path in records:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            files = {key: folder / value for key, value in record["files"].items()}
            page = NewspaperPage(record["name"], record["split"], record["language"], int(record["columns"]),
                                 files["image"], files["layout"], files["mask"], files["articles"], files["page_xml"],
                                 record)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"page record {path} is unreadable: {error}") from None
        missing = [p for p in (page.image, page.layout, page.mask, page.articles, page.page_xml) if not p.is_file()]
        if missing:
            raise InputError(f"page {page.name} of {folder} misses {', '.join(str(p) for p in missing)}")
        pages.append(page)
    info: dict[str, Any] = {}
    if (folder / "manifest.json").is_file():
        try:
            info = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except ValueError:
            raise InputError(f"{folder / 'manifest.json'} is not valid JSON") from None
    return NewspaperDataset(folder, tuple(pages), info)


def article_overlay(gray: np.ndarray, mask: np.ndarray, segmentation: PageSegmentation, alpha: float = 0.35) -> Image.Image:
    """The page with each article's pixels tinted in its own colour, its outline drawn and its id written."""
    page = np.asarray(Image.fromarray(gray).convert("RGB"), dtype=np.float32)
    colours = {}
    tint = np.zeros((int(mask.max()) + 1, 3), np.float32)  # mask value → colour; 0 (no article) untinted
    tinted = np.zeros(len(tint), bool)
    for article in segmentation.articles:
        number = int(article.id.lstrip("a")) if article.id.lstrip("a").isdigit() else 0
        colour = np.array(class_colour(article.id), np.float32)
        colours[article.id] = tuple(int(v) for v in colour)
        if 0 < number < len(tint):
            tint[number], tinted[number] = colour, True
    inside = tinted[mask]  # one pass over the page, not one per article
    page[inside] = (1 - alpha) * page[inside] + alpha * tint[mask[inside]]
    image = Image.fromarray(page.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for article in segmentation.articles:
        draw.polygon([tuple(p) for p in article.polygon], outline=colours[article.id], width=3)
        x0, y0 = article.bbox[:2]
        draw.rectangle([x0 + 4, y0 + 4, x0 + 44, y0 + 22], fill=colours[article.id])
        draw.text((x0 + 8, y0 + 6), article.id, fill=(255, 255, 255))
    return image
