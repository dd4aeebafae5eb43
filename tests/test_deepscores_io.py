"""DeepScoresV2 JSON: the real sample page, the round trip through our writer, and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepwild.core.errors import InputError
from deepwild.data.deepscores import box_corners, read_deepscores_json, write_deepscores_json
from deepwild.data.deepscores_classes import DEEPSCORES_CATEGORIES, DEEPSCORES_CLASSES
from deepwild.data.symbols import ScorePage, SymbolAnnotation, SymbolDataset

# The sample ships with the repo (BSD-3, see its LICENSE).
SAMPLE_DIR = Path(__file__).parent / "fixtures" / "deepscores_v2_sample"
SAMPLE_JSON = SAMPLE_DIR / "deepscores_v2_sample.json"
SAMPLE_IMAGE = "lg-5230237-aug-emmentaler--page-2.png"


@pytest.fixture(scope="module")
def sample() -> SymbolDataset:
    return read_deepscores_json(SAMPLE_JSON)


def test_reads_the_real_sample_page(sample):
    assert sample.root == SAMPLE_DIR
    assert sample.info["version"] == "2.0"
    (page,) = sample.pages
    assert (page.image, page.width, page.height) == (SAMPLE_IMAGE, 2707, 3828)
    assert sample.image_path(page).is_file()  # the sample keeps its image beside the JSON, not in images/
    assert len(page.symbols) == 547
    counts = sample.class_counts()
    assert (counts["stem"], counts["noteheadBlackInSpace"], counts["staff"]) == (149, 67, 12)
    # these have no muscima++ equivalent: their cat_id is ["109", null]
    assert (counts["stringsUpBow"], counts["stringsDownBow"]) == (6, 3)
    assert set(counts) <= set(DEEPSCORES_CLASSES)
    for symbol in page.symbols:
        x0, y0, x1, y1 = symbol.bbox
        assert 0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height
        assert symbol.area > 0 and symbol.instance == 0
        assert symbol.o_bbox is None or len(symbol.o_bbox) == 8


def test_first_annotation_is_read_exactly(sample):
    staff = sample.pages[0].symbols[0]  # annotation 41408, the first in the file
    assert staff.class_name == "staff"
    assert staff.bbox == (128.9027381, 208.62534924, 2578.09496095, 302.2144752)
    assert staff.o_bbox == (2577.90283203125, 301.6253356933594, 2577.90283203125, 209.62535095214844,
                            129.90274047851562, 209.62535095214844, 129.90274047851562, 301.6253356933594)
    assert staff.area == 24251


def test_corner_order_matches_the_sample():
    """The sample's axis-aligned o_bboxes run (x1, y1), (x1, y0), (x0, y0), (x0, y1) (198 of them) or
    the same cycle started one corner later (90, as OpenCV's boxPoints gives for a -90° box)."""
    annotations = json.loads(SAMPLE_JSON.read_text())["annotations"].values()
    starts = {"same": 0, "one later": 0}
    for record in annotations:
        corners = tuple(record["o_bbox"])
        xs, ys = corners[0::2], corners[1::2]
        if len(set(xs)) == 2 and len(set(ys)) == 2:
            ours = box_corners((min(xs), min(ys), max(xs), max(ys)))
            assert corners in (ours, ours[2:] + ours[:2])
            starts["same" if corners == ours else "one later"] += 1
    assert starts == {"same": 198, "one later": 90}


def test_sample_round_trip_keeps_everything(sample, tmp_path):
    out = tmp_path / "written.json"
    write_deepscores_json(sample, out)
    again = read_deepscores_json(out, root=SAMPLE_DIR)
    assert again.pages == sample.pages
    assert again.info == sample.info

    written = json.loads(out.read_text())
    assert written["annotation_sets"] == ["deepscores"]
    assert list(written["categories"]) == [str(i) for i in range(1, 137)]
    assert written["categories"]["27"] == {"name": "noteheadBlackInSpace", "annotation_set": "deepscores",
                                           "color": DEEPSCORES_CATEGORIES[26][1]}
    (image,) = written["images"]
    assert (image["id"], image["filename"], image["width"], image["height"]) == (1, SAMPLE_IMAGE, 2707, 3828)
    assert image["ann_ids"] == [str(i) for i in range(1, 548)] == list(written["annotations"])
    first = written["annotations"]["1"]
    assert first["cat_id"] == ["135"] and first["img_id"] == "1" and first["comments"] == ""
    assert len(first["a_bbox"]) == 4 and len(first["o_bbox"]) == 8 and first["area"] == 24251
    assert list(tmp_path.iterdir()) == [out]  # the atomic write leaves no temp file behind


def _our_pages() -> list[ScorePage]:
    rotated = (30.0, 12.0, 26.0, 4.0, 10.0, 6.0, 14.0, 14.0)
    symbols = (
        SymbolAnnotation("noteheadBlackOnLine", (10, 20, 22, 30), area=95, instance=1),
        SymbolAnnotation("slur", (10.5, 4.25, 30.0, 14.0), o_bbox=rotated, area=40, instance=2),
    )
    return [
        ScorePage("images/piece-a_page-1.png", 200, 300, symbols, piece="piece-a", font="Leland",
                  split="train", class_mask="segmentation/piece-a_page-1_cls.png",
                  instance_mask="segmentation/piece-a_page-1_inst.png", staff_space=17.5),
        ScorePage("images/piece-b_page-1.png", 210, 297, (), piece="piece-b", split="test-unseen-font"),
        ScorePage("pages/loose.png", 100, 100, (SymbolAnnotation("clefG", (1, 2, 3, 4)),)),
    ]


def test_round_trip_of_our_extra_keys(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "loose.png").write_bytes(b"")  # a page outside images/ is found where it is
    dataset = SymbolDataset(pages=tuple(_our_pages()), info={"generator": "test"})
    write_deepscores_json(dataset, tmp_path / "train.json")
    again = read_deepscores_json(tmp_path / "train.json")
    assert again.pages == dataset.pages
    assert again.info == {"generator": "test"}
    assert again.root == tmp_path
    written = json.loads((tmp_path / "train.json").read_text())
    assert [image["filename"] for image in written["images"]] == [
        "piece-a_page-1.png", "piece-b_page-1.png", "pages/loose.png"]
    assert written["annotations"]["1"]["o_bbox"] == [22.0, 30.0, 22.0, 20.0, 10.0, 20.0, 10.0, 30.0]
    assert written["annotations"]["3"]["img_id"] == "3" and written["images"][1]["ann_ids"] == []


def test_writes_plain_page_lists_with_given_info(tmp_path):
    write_deepscores_json(_our_pages()[:1], tmp_path / "a.json", info={"year": 2020})
    again = read_deepscores_json(tmp_path / "a.json")
    assert again.info == {"year": 2020} and again.pages == tuple(_our_pages()[:1])


@pytest.mark.parametrize(("present", "expected"), [
    ("images/page.png", "images/page.png"),
    ("page.png", "page.png"),
    (None, "images/page.png"),
])
def test_image_path_follows_the_files(tmp_path, present, expected):
    page = ScorePage("images/page.png", 50, 60, ())
    write_deepscores_json([page], tmp_path / "set.json")
    if present:
        (tmp_path / present).parent.mkdir(exist_ok=True)
        (tmp_path / present).write_bytes(b"")
    assert read_deepscores_json(tmp_path / "set.json").pages[0].image == expected


def test_writer_refuses_classes_deepscores_lacks(tmp_path):
    page = ScorePage("images/p.png", 10, 10, (SymbolAnnotation("noteheadFull", (0, 0, 5, 5)),))
    with pytest.raises(InputError, match="noteheadFull"):
        write_deepscores_json([page], tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def _minimal() -> dict:
    return {"info": {}, "categories": {"1": {"name": "brace", "annotation_set": "deepscores", "color": 1},
                                       "137": {"name": "brace", "annotation_set": "muscima++", "color": 1}},
            "images": [{"id": 7, "filename": "p.png", "width": 10, "height": 10, "ann_ids": ["1"]}],
            "annotations": {"1": {"a_bbox": [0, 0, 5, 5], "o_bbox": None, "cat_id": ["1", "137"],
                                  "area": 3, "img_id": "7", "comments": ""}}}


def _broken(change) -> dict:
    data = _minimal()
    change(data)
    return data


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "is not valid JSON"),
    ("[]", "should hold a JSON object"),
    (_broken(lambda d: d.pop("annotations")), "has no 'annotations'"),
    (_broken(lambda d: d["annotations"]["1"].update(img_id="8")), "refers to image 8"),
    (_broken(lambda d: d["annotations"]["1"].update(cat_id=["99"])), "refers to category 99"),
    (_broken(lambda d: d["annotations"]["1"].update(cat_id=["137"])), "no category of the 'deepscores'"),
    (_broken(lambda d: d["annotations"]["1"].update(a_bbox=[0, 0, 5])), "a_bbox should be a list of 4"),
    (_broken(lambda d: d["annotations"]["1"].update(a_bbox=[5, 0, 0, 5])), "x1 < x0"),
    (_broken(lambda d: d["annotations"]["1"].update(area="big")), "invalid area"),
    (_broken(lambda d: d["annotations"]["1"].pop("a_bbox")), "has no 'a_bbox'"),
    (_broken(lambda d: d["images"][0].pop("width")), "has no 'width'"),
    (_broken(lambda d: d["images"].append(dict(d["images"][0]))), "two images have the id 7"),
    (_broken(lambda d: d["images"][0].update(staff_space="wide")), "staff_space"),
    (_broken(lambda d: d["annotations"]["1"].update(a_bbox=[0, 0, 10 ** 400, 5])), "finite numbers"),
    ('{"x": NaN}', "has no 'categories'"),
])
def test_bad_files_raise_input_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "broken.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(InputError, match=message) as raised:
        read_deepscores_json(path)
    assert "broken.json" in str(raised.value)


def test_minimal_file_reads(tmp_path):
    (tmp_path / "ok.json").write_text(json.dumps(_minimal()))
    (page,) = read_deepscores_json(tmp_path / "ok.json").pages
    assert page.symbols == (SymbolAnnotation("brace", (0.0, 0.0, 5.0, 5.0), area=3),)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_deepscores_json(tmp_path / "nowhere.json")


def test_write_replaces_an_existing_file(tmp_path):
    out = tmp_path / "set.json"
    out.write_text("old")
    write_deepscores_json([], out)
    assert json.loads(out.read_text())["images"] == []
