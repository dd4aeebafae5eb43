"""`deepwild segment [MODEL] PAGE ...`: newspaper pages cut into articles.

Per page: the articles JSON of DESIGN.md, PAGE XML (2019) with one TextRegion per article carrying
`custom="structure {id:aN; type:article;}"`, one cropped PNG per article (what a media-monitoring client
receives: the article's box, everything outside its outline painted paper white) and an overlay PNG.
The layout channel comes from the image (`tasks.news.layout`) or from an OCR file (`--ocr`: PAGE XML or
ALTO, `tasks.news.ocr`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from deepwild.core.images import DEFAULT_MAX_PIXELS, load_grayscale
from deepwild.core.io import atomic_path, atomic_write_json
from deepwild.core.package import ModelPackage
from deepwild.core.results import Article, PageSegmentation
from deepwild.data.newspapers import article_overlay
from deepwild.data.pagexml import PageRegion, PageXml, write_page_xml
from deepwild.engine.run import resolve_model
from deepwild.models.onnx_runtime import inference_network
from deepwild.models.packaged import load_packaged_model
from deepwild.tasks.news.data import network_input
from deepwild.tasks.news.postprocess import ArticleRegion, decode, regions

TASK = "news"
MIN_SIDE = 64  # px: a smaller image has no articles to cut


@dataclass
class Segmenter:
    package: ModelPackage
    model: torch.nn.Module

    @classmethod
    def load(cls, ref: str | Path, root: str | Path | None = None) -> Segmenter:
        model_dir, _ = resolve_model(ref, root)
        return cls.from_package(model_dir)

    @classmethod
    def from_package(cls, model_dir: Path, runtime: str = "torch") -> Segmenter:
        """`runtime` "onnx" runs the network's ONNX export with onnxruntime (`models.onnx_runtime`)."""
        package, model = load_packaged_model(model_dir, TASK, "a newspaper segmentation model")
        return cls(package, inference_network(model_dir, model.eval(), runtime, package))

    @torch.no_grad()
    def segment(self, gray: np.ndarray, image_name: str, layout: np.ndarray | None = None) -> tuple[PageSegmentation, np.ndarray]:
        """The page's articles, and its article-id mask at page resolution (0 = none)."""
        settings = self.package.input
        inputs, box = network_input(gray, layout, int(settings["size"]))
        border = torch.sigmoid(self.model(inputs[None]))[0, 0].numpy()
        labels = box.crop(decode(border, float(settings["threshold"]), int(settings["min_area"]),
                                    int(settings.get("grow", settings["shrink"]))))  # grow: tuned when shipped
        found = regions(labels, box.crop(border), (gray.shape[1], gray.shape[0]))
        articles = tuple(Article(r.id, "article", r.polygon, r.bbox, r.score, r.reading_order) for r in found)
        page_mask = np.asarray(Image.fromarray(relabel(labels, found)).resize((gray.shape[1], gray.shape[0]),
                                                                            Image.Resampling.NEAREST))
        return PageSegmentation(image_name, gray.shape[1], gray.shape[0], self.package.name, articles), page_mask


def relabel(labels: np.ndarray, found: list[ArticleRegion]) -> np.ndarray:
    """Decoded labels renumbered as the articles' reading order (article aN has value N)."""
    out = np.zeros(labels.shape, np.uint16 if len(found) > 255 else np.uint8)
    for region in found:
        out[labels == region.label] = region.reading_order
    return out


def page_xml_of(segmentation: PageSegmentation) -> PageXml:
    regions_ = tuple(PageRegion(id=f"r{a.reading_order}", kind="TextRegion", polygon=a.polygon, type="paragraph",
                                article_id=a.id, article_type="article") for a in segmentation.articles)
    return PageXml(segmentation.image, segmentation.width, segmentation.height, regions_,
                   tuple(r.id for r in regions_))


def article_crops(gray: np.ndarray, segmentation: PageSegmentation) -> list[tuple[str, Image.Image]]:
    """One picture per article: its box, with everything outside its outline paper white."""
    crops = []
    page = Image.fromarray(gray)
    for article in segmentation.articles:
        x0, y0, x1, y1 = (int(round(v)) for v in article.bbox)
        box = page.crop((x0, y0, x1, y1))  # the outline is drawn in the box only: a page-sized mask per article is slow
        inside = Image.new("L", box.size, 0)
        ImageDraw.Draw(inside).polygon([(x - x0, y - y0) for x, y in article.polygon], fill=255)
        crops.append((article.id, Image.composite(box, Image.new("L", box.size, 255), inside)))
    return crops


@dataclass(frozen=True)
class SegmentedPage:
    image: str
    articles: int
    files: tuple[str, ...]


def write_outputs(gray: np.ndarray, segmentation: PageSegmentation, mask: np.ndarray, out: Path, stem: str) -> tuple[str, ...]:
    """Each file atomically and the JSON last: its presence means the page is complete (batch runs skip it)."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, xml_path = out / f"{stem}.json", out / f"{stem}.xml"
    write_page_xml(page_xml_of(segmentation), xml_path)
    crop_dir = out / f"{stem}_articles"
    crop_dir.mkdir(exist_ok=True)
    files = [str(json_path), str(xml_path)]
    for article_id, crop in article_crops(gray, segmentation):
        target = crop_dir / f"{article_id}.png"
        with atomic_path(target) as temp:
            crop.save(temp, format="PNG", compress_level=1)  # zlib level 6 took half the page's time
        files.append(str(target))
    overlay = out / f"{stem}_overlay.png"
    with atomic_path(overlay) as temp:
        article_overlay(gray, mask, segmentation).save(temp, format="PNG", compress_level=1)
    files.append(str(overlay))
    atomic_write_json(json_path, segmentation.to_json())
    return tuple(files)


def segment_pages(model: str | Path, pages: list[Path], out: Path, root: str | Path | None = None,
                  ocr: Path | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[SegmentedPage]:
    """Segment each page file and write its outputs into `out`; `ocr` (one page only) gives the layout."""
    from deepwild.core.errors import InputError

    segmenter = Segmenter.load(model, root)
    if ocr is not None and len(pages) != 1:
        raise InputError("--ocr describes one page: give exactly one page with it")
    return [segment_page(segmenter, path, out, ocr, max_pixels) for path in pages]


def segment_page(segmenter: Segmenter, path: Path, out: Path, ocr: Path | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> SegmentedPage:
    """One page file segmented and its outputs written into `out`; `ocr` gives its layout."""
    from deepwild.core.errors import InputError

    gray = load_grayscale(path, max_pixels)
    if min(gray.shape) < MIN_SIDE:
        raise InputError(f"{path} is {gray.shape[1]} × {gray.shape[0]} px: too small to hold articles "
                         f"(at least {MIN_SIDE} px a side)")
    gray8 = (np.clip(gray, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    layout = None
    if ocr is not None:
        from deepwild.tasks.news.ocr import layout_from_ocr

        layout = layout_from_ocr(ocr, gray8.shape[1], gray8.shape[0])
    segmentation, mask = segmenter.segment(gray8, path.name, layout)
    return SegmentedPage(str(path), len(segmentation.articles), write_outputs(gray8, segmentation, mask, out, path.stem))
