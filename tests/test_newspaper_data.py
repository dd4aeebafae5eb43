"""Newspaper data: labels that agree with each other and with the ink, degradation that moves labels
with the page, PAGE XML that round-trips, splits as declared, determinism, resume, bad input."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from deepwild.core.errors import InputError
from deepwild.core.io import read_json
from deepwild.core.results import Article, PageSegmentation
from deepwild.data.newspapers import load_newspaper_dataset
from deepwild.data.pagexml import NAMESPACE, convex_hull, page_xml_bytes, parse_page_xml, read_page_xml
from deepwild.datagen.newspapers import fonts
from deepwild.datagen.newspapers.degrade import NONE, degrade_page, transform_points
from deepwild.datagen.newspapers.generate import NewspaperDataConfig, generate_newspapers, plan_pages
from deepwild.datagen.newspapers.geometry import polygon_area
from deepwild.datagen.newspapers.render import render_page
from tests.helpers.cli import run_cli

CONFIG = NewspaperDataConfig(pages=4, seed=2)
TEXT_TYPES = {"paragraph", "heading", "caption", "header", "footer", "page-number", "drop-capital", "credit",
              "floating", "signature-mark", "catch-word", "marginalia", "footnote", "footnote-continued", "endnote",
              "TOC-entry", "list-label", "other"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("news") / "data"
    result = generate_newspapers(CONFIG, out, workers=1)
    assert result.pages == CONFIG.pages and not result.skipped
    return load_newspaper_dataset(out)


def pages_with_labels(dataset):
    for page in dataset.pages:
        yield page, np.asarray(Image.open(page.image)), np.asarray(Image.open(page.mask)), page.segmentation()


def filled(polygon, shape) -> np.ndarray:
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in polygon], fill=1)
    return np.asarray(canvas, dtype=bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_article_ids_agree_between_json_mask_and_page_xml(dataset):
    for page, gray, mask, segmentation in pages_with_labels(dataset):
        ids = [a.id for a in segmentation.articles]
        assert gray.shape == mask.shape == (segmentation.height, segmentation.width)
        assert mask.dtype == np.uint8 and len(ids) >= 4
        assert set(ids) == {f"a{v}" for v in np.unique(mask) if v}, page.name
        assert [a.reading_order for a in segmentation.articles] == list(range(1, len(ids) + 1))
        xml = read_page_xml(page.page_xml)
        assert {a.id for a in xml.articles()} == set(ids)
        assert [a.id for a in xml.articles()] == ids  # the reading order survives the round trip


def test_article_polygons_outline_their_mask_pixels(dataset):
    for page, _, mask, segmentation in pages_with_labels(dataset):
        for article in segmentation.articles:
            pixels = mask == int(article.id[1:])
            assert iou(filled(article.polygon, mask.shape), pixels) > 0.95, (page.name, article.id)
            ys, xs = np.nonzero(pixels)
            x0, y0, x1, y1 = article.bbox
            assert abs(xs.min() - x0) <= 2 and abs(xs.max() + 1 - x1) <= 2 and abs(ys.min() - y0) <= 2


def test_page_xml_is_structurally_valid_and_round_trips(dataset):
    for page, _, mask, segmentation in pages_with_labels(dataset):
        data = page.page_xml.read_bytes()
        root = ET.fromstring(data)
        assert root.tag == f"{{{NAMESPACE}}}PcGts"
        assert [child.tag.split("}")[1] for child in root] == ["Metadata", "Page"]
        assert [c.tag.split("}")[1] for c in root[0]] == ["Creator", "Created", "LastChange"]
        element = root[1]
        assert element.get("imageFilename") == segmentation.image
        ids = [e.get("id") for e in element if e.get("id")]
        assert len(ids) == len(set(ids))
        for ref in element.iter(f"{{{NAMESPACE}}}RegionRefIndexed"):
            assert ref.get("regionRef") in ids
        width, height = segmentation.width, segmentation.height
        articles = {a.id for a in segmentation.articles}
        document = read_page_xml(page.page_xml)
        for region in document.regions:
            coords = element.find(f"{{{NAMESPACE}}}{region.kind}[@id='{region.id}']/{{{NAMESPACE}}}Coords")
            assert re.fullmatch(r"(\d+,\d+ )+\d+,\d+", coords.get("points"))
            assert all(0 <= x < width and 0 <= y < height for x, y in region.polygon)
            if region.kind == "TextRegion":
                assert region.type in TEXT_TYPES
            centre = np.mean(region.polygon, axis=0).astype(int)
            expected = int(region.article_id[1:]) if region.article_id else 0
            if region.kind != "SeparatorRegion":  # rules lie in gutters, between the articles they part
                assert mask[centre[1], centre[0]] == expected, (page.name, region)
            assert region.article_id is None or region.article_id in articles
        assert page_xml_bytes(document) == data  # read → write gives the same bytes


def test_ads_masthead_and_footer_are_never_article_pixels(dataset):
    seen = set()
    for page, _, mask, _ in pages_with_labels(dataset):
        for region in read_page_xml(page.page_xml).regions:
            if region.kind == "AdvertRegion" or region.type in ("header", "footer", "page-number"):
                seen.add(region.kind if region.kind == "AdvertRegion" else region.type)
                assert region.article_id is None
                inside = filled(region.polygon, mask.shape)
                assert inside.sum() > 0 and not mask[inside].any(), (page.name, region)
    assert {"AdvertRegion", "header", "footer", "page-number"} <= seen


def test_layout_channel_boxes_text_and_pictures_and_keeps_rules(dataset):
    rules = 0
    for page in dataset.pages:
        layout = np.asarray(Image.open(page.layout))
        gray = np.asarray(Image.open(page.image))
        ink = gray < np.median(gray) - 60  # darker than paper, whatever the scan's tone
        assert set(np.unique(layout).tolist()) <= {0, 128, 255}
        for region in read_page_xml(page.page_xml).regions:
            centre = np.mean(region.polygon, axis=0).astype(int)
            if region.kind == "TextRegion":
                inside = filled(region.polygon, layout.shape)
                assert layout[centre[1], centre[0]] == 0
                assert ink[inside].mean() > 0.01, (page.name, region)  # a text box holds ink (dust: < 0.2 %)
            elif region.kind == "ImageRegion":
                assert layout[centre[1], centre[0]] == 128
            elif region.kind == "SeparatorRegion":
                rules += 1
                assert layout[centre[1], centre[0]] == 0
    assert rules > 0


def test_degradation_moves_the_labels_with_the_ink():
    page = np.full((600, 800), 255, np.uint8)
    page[60:110, 600:760] = 0  # a dark box far from the centre, where a rotation moves it most
    mask = np.zeros_like(page)
    mask[60:110, 600:760] = 7
    degradation = replace(NONE, angle_deg=2.0, shift=(6.0, -4.0), blur=0.8, noise=4.0, jpeg_quality=60, ink=30,
                          paper=235)
    gray, (moved,), matrix = degrade_page(page, [(mask, 0)], degradation, np.random.default_rng(0))
    ink = gray < 130
    assert iou(ink, moved == 7) > 0.9
    assert iou(ink, mask == 7) < 0.6  # the box really moved: an unmoved mask would not fit
    assert set(np.unique(moved).tolist()) == {0, 7}  # nearest neighbour: no blended ids
    corners = transform_points([(600, 60), (760, 60), (760, 110), (600, 110)], matrix)
    assert iou(filled(corners, mask.shape), moved == 7) > 0.95


def test_l_shaped_articles_exist_and_are_l_shaped(dataset):
    found = []
    for page, _, mask, segmentation in pages_with_labels(dataset):
        shapes = {a["id"]: a["shape"] for a in page.record["articles"]}
        for article in segmentation.articles:
            if shapes[article.id] == "rectangle":
                assert len(article.polygon) == 4
                continue
            found.append(shapes[article.id])  # "L": notch under the headline; "stepped": text wraps round an ad
            area = polygon_area(article.polygon)
            hull = polygon_area(convex_hull(article.polygon))
            assert len(article.polygon) >= 6 and area < 0.95 * hull  # a notch: not a rectangle, not convex
            assert abs((mask == int(article.id[1:])).sum() - area) < 0.03 * area
    assert "L" in found


def test_splits_are_as_declared_and_unseen_layouts_are_unseen():
    config = NewspaperDataConfig(pages=400, seed=1)
    slots = plan_pages(config)
    counts = {s: sum(slot.split == s for slot in slots) for s in ("train", "val", "test", "test-unseen-layout")}
    assert counts == {"train": 280, "val": 40, "test": 40, "test-unseen-layout": 40}
    assert plan_pages(replace(config, pages=30)) == slots[:30]  # extending a dataset moves no page
    for slot in slots:
        assert (slot.columns in config.unseen_columns) == (slot.split == "test-unseen-layout")
    assert {slot.language for slot in slots} == {"de", "fr", "it", "en"}
    assert plan_pages(config) == slots  # the plan depends on the seed alone


def test_an_unseen_layout_page_is_laid_out_on_its_own_grid(tmp_path):
    config = NewspaperDataConfig(pages=2, seed=1, unseen_layout_fraction=0.5, unseen_columns=(7,), degradation=0.0)
    generate_newspapers(config, tmp_path, workers=1)
    dataset = load_newspaper_dataset(tmp_path)
    assert {p.split for p in dataset.pages} == {"test-unseen-layout", "train"}
    for page in dataset.pages:
        grid = page.record["grid"]
        columns = 7 if page.split == "test-unseen-layout" else page.columns
        assert page.columns == columns
        drawn = 2 * grid["margin_x"] + columns * grid["column_width"] + (columns - 1) * grid["gutter"]
        assert 1240 - columns <= drawn <= 1240
        assert max(a["columns"][1] for a in page.record["articles"]) == columns
    manifest = read_json(tmp_path / "manifest.json")
    assert manifest["splits"]["test-unseen-layout"]["columns"] == [7]
    assert 7 not in manifest["splits"]["train"]["columns"]


def test_same_seed_same_bytes_other_seed_other_pages_and_resume(dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(dataset.root, copy)
    (copy / "pages" / "page00001.json").unlink()  # as if killed while page 1 was being written
    (copy / "images" / "page00001.png").unlink()
    untouched = (copy / "images" / "page00000.png").stat().st_mtime_ns
    result = generate_newspapers(CONFIG, copy, workers=1)
    assert result.reused == CONFIG.pages - 1 and result.pages == CONFIG.pages
    assert (copy / "images" / "page00000.png").stat().st_mtime_ns == untouched
    original = read_json(dataset.root / "manifest.json")
    assert read_json(copy / "manifest.json")["files"] == original["files"]
    other = tmp_path / "other"
    generate_newspapers(replace(CONFIG, pages=1, seed=3), other, workers=1)
    assert read_json(other / "manifest.json")["files"]["images/page00000.png"] != original["files"]["images/page00000.png"]


def test_pages_do_not_depend_on_the_process():
    """Set order changes with PYTHONHASHSEED from one process to the next (it broke it_IT city names)."""
    script = ("import hashlib\nfrom deepwild.datagen.newspapers.render import render_page\n"
              "for n, language in enumerate(('de', 'fr', 'it', 'en')):\n"
              "    page = render_page(n, language, 4 + n % 3, 1240, 1754)\n"
              "    print(language, hashlib.sha256(page.gray.tobytes() + page.mask.tobytes()).hexdigest(), page.info)\n")
    outputs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")]
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 4


def test_manifest_records_seed_splits_languages_fonts_and_hashes(dataset):
    manifest = dataset.info
    assert manifest["seed"] == CONFIG.seed and manifest["generator"] == "deepwild.datagen.newspapers"
    assert manifest["versions"]["faker"] != "missing"
    assert sum(s["pages"] for s in manifest["splits"].values()) == CONFIG.pages
    assert {name: p["split"] for name, p in manifest["pages"].items()} == {p.name: p.split for p in dataset.pages}
    assert sum(manifest["languages"].values()) == CONFIG.pages
    for page in dataset.pages:
        assert set(page.record["fonts"]) == {"headline", "body", "sans", "masthead"}
        assert page.record["fonts"]["headline"] in manifest["fonts"]["used"]["headline"]
        assert f"images/{page.name}.png" in manifest["files"]


def test_pages_are_set_with_dejavu_alone(monkeypatch, tmp_path):
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"):
        if name not in fonts.font_files():
            pytest.skip(f"{name} (fonts-dejavu-core) is not installed")
        (tmp_path / name).symlink_to(fonts.font_files()[name])
    monkeypatch.setattr(fonts, "FONT_DIRS", (str(tmp_path),))
    fonts.font_files.cache_clear()
    fonts.load_font.cache_clear()
    try:
        page = render_page(5, "de", 5, 1240, 1754)
        assert set(page.fonts.values()) <= {"DejaVu Serif Bold", "DejaVu Serif", "DejaVu Sans"}
        assert page.fonts["headline"] == "DejaVu Serif Bold" and len(page.articles) >= 4
        assert (page.gray < 128).mean() > 0.03  # text was set
        monkeypatch.setattr(fonts.os, "geteuid", lambda: 1000)
        assert "not installable here" in fonts.install_fonts()
    finally:
        fonts.font_files.cache_clear()
        fonts.load_font.cache_clear()


def test_page_xml_reader_takes_other_versions_and_refuses_malformed_files(tmp_path):
    old = b"""<?xml version="1.0"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19">
  <Page imageFilename="scan.tif" imageWidth="100" imageHeight="80">
    <TextRegion id="t1" type="heading" custom="readingOrder {index:0;} structure {id:x9; type:article;}">
      <Coords><Point x="10" y="10"/><Point x="60" y="10"/><Point x="60" y="20"/><Point x="10" y="20"/></Coords>
    </TextRegion>
    <TableRegion id="tb"><Coords points="0,30 90,30 90,70 0,70"/>
      <TextRegion id="t2" custom="structure {id:x9; type:article;}"><Coords points="5,40 50,40 50,60 5,60"/></TextRegion>
    </TableRegion>
    <ImageRegion id="i1" custom="structure {id:ad; type:advertisement;}"><Coords points="70,5 95,5 95,25"/></ImageRegion>
  </Page>
</PcGts>"""
    document = parse_page_xml(old)
    assert [r.id for r in document.regions] == ["t1", "tb", "t2", "i1"]
    [article] = document.articles()  # the advertisement is no article
    assert article.id == "x9" and article.bbox == (5, 10, 60, 60)
    for bad, message in ((b"<PcGts><Page", "not well-formed"), (b"<html/>", "not PAGE XML"),
                         (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><PcGts/>', "document type"),
                         (old.replace(b'<Coords points="5,40 50,40 50,60 5,60"/>', b""), "no Coords")):
        with pytest.raises(InputError, match=message):
            parse_page_xml(bad)
    with pytest.raises(InputError, match="does not exist"):
        read_page_xml(tmp_path / "missing.xml")


def test_articles_json_round_trips():
    page = PageSegmentation("p.png", 100, 80, "news-x", (
        Article("a1", "article", ((0.0, 0.0), (10.0, 0.0), (10.0, 5.0), (0.0, 5.0)), (0.0, 0.0, 10.0, 5.0), 0.9, 1),))
    assert PageSegmentation.from_json(page.to_json()) == page
    assert page.to_json()["articles"][0] == {"id": "a1", "type": "article", "polygon": [[0, 0], [10, 0], [10, 5], [0, 5]],
                                             "bbox": [0, 0, 10, 5], "score": 0.9, "reading_order": 1}


@pytest.mark.parametrize(("args", "message"), [
    (("--pages", "0"), "--pages must be at least 1"),
    (("--languages", "de,xx"), "unknown language 'xx'"),
    (("--unseen-columns", "5"), "must not repeat the training grids"),
])
def test_cli_refuses_bad_settings_in_one_line(monkeypatch, capsys, tmp_path, args, message):
    code, _, err = run_cli(monkeypatch, capsys, "data", "newspapers", "--out", str(tmp_path / "d"), *args)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "d" / "generation.json").exists()


def test_cli_refuses_foreign_or_unwritable_folders_and_makes_and_shows_pages(monkeypatch, capsys, tmp_path):
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    (tmp_path / "file").write_text("x")
    for out, message in ((tmp_path / "foreign", "not empty"), (tmp_path / "file" / "sub", "cannot write")):
        code, _, err = run_cli(monkeypatch, capsys, "data", "newspapers", "--out", str(out), "--pages", "1")
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    out = tmp_path / "made"
    code, text, err = run_cli(monkeypatch, capsys, "data", "newspapers", "--out", str(out), "--pages", "1", "--seed", "9")
    assert code == 0, err
    assert "1 pages in" in text and "pages/s per worker" in text
    code, _, err = run_cli(monkeypatch, capsys, "data", "newspapers", "--out", str(out), "--pages", "1", "--seed", "8")
    assert code == 2 and "other settings (seed)" in err
    code, text, err = run_cli(monkeypatch, capsys, "data", "show", str(out), "--page", "0")
    assert code == 0, err
    overlay = Image.open(out / "overlays" / "page00000_overlay.png")
    assert overlay.mode == "RGB" and overlay.size == (1240, 1754)


def test_the_overlay_tints_each_article_in_its_colour_and_leaves_the_rest():
    import numpy as np

    from deepwild.core.results import Article, PageSegmentation
    from deepwild.data.newspapers import article_overlay
    from deepwild.data.overlay import class_colour

    gray = np.full((160, 200), 200, np.uint8)
    mask = np.zeros((160, 200), np.uint8)
    boxes = {1: (5, 5, 95, 75), 2: (100, 80, 195, 155)}
    for number, (x0, y0, x1, y1) in boxes.items():
        mask[y0:y1, x0:x1] = number
    mask[0:3, 196:200] = 7  # no such article: left untinted
    articles = tuple(Article(f"a{n}", "article", ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), (x0, y0, x1, y1), 1.0, n)
                     for n, (x0, y0, x1, y1) in boxes.items())
    image = np.asarray(article_overlay(gray, mask, PageSegmentation("p.png", 200, 160, "m", articles)))
    for number, (row, col) in ((1, (60, 70)), (2, (130, 170))):  # inside, away from the outline and the label
        expected = (0.65 * 200 + 0.35 * np.array(class_colour(f"a{number}"), np.float32)).astype(np.uint8)
        assert np.abs(image[row, col].astype(int) - expected).max() <= 1
    assert (image[1, 198] == 200).all() and (image[158, 2] == 200).all()
