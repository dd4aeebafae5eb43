"""COCO detection JSON: the export is valid COCO (checked with faster-coco-eval where installed),
write → read keeps everything, foreign COCO files read, bad files fail clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepwild.core.errors import InputError
from deepwild.data.coco import read_coco_json, write_coco_json
from deepwild.data.deepscores import read_deepscores_json
from deepwild.data.deepscores_classes import DEEPSCORES_CLASSES
from deepwild.data.symbols import ScorePage, SymbolAnnotation, SymbolDataset

SAMPLE_DIR = Path(__file__).parent / "fixtures" / "deepscores_v2_sample"


@pytest.fixture(scope="module")
def sample() -> SymbolDataset:
    return read_deepscores_json(SAMPLE_DIR / "deepscores_v2_sample.json")


@pytest.fixture(scope="module")
def exported(sample, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("coco") / "sample_coco.json"
    write_coco_json(sample, path)
    return path


def test_export_has_the_coco_shape(sample, exported):
    data = json.loads(exported.read_text())
    assert [c["id"] for c in data["categories"]] == list(range(1, 137))
    assert [c["name"] for c in data["categories"]] == list(DEEPSCORES_CLASSES)
    assert {c["supercategory"] for c in data["categories"]} == {"music"}
    (image,) = data["images"]
    assert (image["id"], image["file_name"], image["width"], image["height"]) == (
        1, "lg-5230237-aug-emmentaler--page-2.png", 2707, 3828)
    assert len(data["annotations"]) == 547
    staff = data["annotations"][0]  # the sample's first annotation, a staff
    assert staff["id"] == 1 and staff["image_id"] == 1 and staff["iscrowd"] == 0
    assert staff["category_id"] == DEEPSCORES_CLASSES.index("staff") + 1
    x, y, w, h = staff["bbox"]
    assert (x, y) == (128.9027381, 208.62534924)
    assert w == pytest.approx(2578.09496095 - 128.9027381) and h == pytest.approx(302.2144752 - 208.62534924)
    assert staff["area"] == pytest.approx(w * h)  # the box area, for COCOeval's size ranges
    assert staff["ink_area"] == 24251


def test_sample_round_trip_keeps_everything(sample, exported):
    again = read_coco_json(exported)
    assert again.pages == sample.pages
    assert again.info == sample.info and again.root == exported.parent


def test_round_trip_of_our_extra_keys(tmp_path):
    page = ScorePage("images/p1.png", 120, 80, (
        SymbolAnnotation("noteheadBlackOnLine", (10, 20, 22, 30), area=95, instance=1),
        SymbolAnnotation("slur", (0.1, 0.2, 0.7, 0.9), o_bbox=(0.7, 0.5, 0.4, 0.2, 0.1, 0.6, 0.4, 0.9), area=2),
    ), piece="p", font="Bravura", split="val", class_mask="seg/p1_cls.png", instance_mask="seg/p1_inst.png",
        staff_space=12.25)
    dataset = SymbolDataset(pages=(page, ScorePage("images/p2.png", 50, 50, ())), info={"generator": "test"})
    write_coco_json(dataset, tmp_path / "set.json")
    again = read_coco_json(tmp_path / "set.json")
    assert again.pages == dataset.pages and again.info == dataset.info


def test_faster_coco_eval_loads_the_export(exported):
    """The export is valid COCO: the reference loader reads it, and the ground truth scored
    against itself gives AP 1."""
    import faster_coco_eval as coco_module
    ground_truth = coco_module.COCO(str(exported))
    assert len(ground_truth.getImgIds()) == 1 and len(ground_truth.getCatIds()) == 136
    assert len(ground_truth.getAnnIds()) == 547
    detections = ground_truth.loadRes([{"image_id": a["image_id"], "category_id": a["category_id"],
                                        "bbox": a["bbox"], "score": 1.0}
                                       for a in ground_truth.loadAnns(ground_truth.getAnnIds())])
    evaluation = coco_module.COCOeval_faster(ground_truth, detections, iouType="bbox", print_function=lambda *_: None)
    evaluation.params.maxDets = [10, 100, 1000]  # a score page holds more than COCO's 100 objects (149 stems here)
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)  # AP@[.5:.95]


def test_reads_foreign_coco_files(tmp_path):
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps({
        "images": [{"id": 3, "file_name": "scan.png", "width": 100, "height": 50}],
        "categories": [{"id": 1, "name": "noteheadBlackInSpace"}],
        "annotations": [{"id": 9, "image_id": 3, "category_id": 1, "bbox": [10, 5, 4, 3], "area": 11.6,
                         "iscrowd": 0, "a_bbox": [0, 0, 1, 1]}],  # a stale a_bbox: the bbox wins
    }))
    dataset = read_coco_json(path)
    (page,) = dataset.pages
    assert (page.image, page.width, page.height, page.piece, page.staff_space) == ("scan.png", 100, 50, "", None)
    assert page.symbols == (SymbolAnnotation("noteheadBlackInSpace", (10.0, 5.0, 14.0, 8.0), area=12),)
    assert dataset.info == {}


def test_writer_refuses_classes_deepscores_lacks(tmp_path):
    dataset = SymbolDataset(pages=(ScorePage("p.png", 9, 9, (SymbolAnnotation("gClef", (0, 0, 1, 1)),)),))
    with pytest.raises(InputError, match="gClef"):
        write_coco_json(dataset, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def _minimal() -> dict:
    return {"images": [{"id": 1, "file_name": "p.png", "width": 10, "height": 10}],
            "categories": [{"id": 1, "name": "brace"}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "area": 4}]}


def _broken(change) -> dict:
    data = _minimal()
    change(data)
    return data


@pytest.mark.parametrize(("content", "message"), [
    ("{", "is not valid JSON"),
    (_broken(lambda d: d.pop("categories")), "has no 'categories'"),
    (_broken(lambda d: d["annotations"][0].update(image_id=2)), "annotation 5 refers to image 2"),
    (_broken(lambda d: d["annotations"][0].update(category_id=7)), "refers to category 7"),
    (_broken(lambda d: d["annotations"][0].update(bbox=[0, 0, 2])), "bbox should be a list of 4"),
    (_broken(lambda d: d["annotations"][0].update(bbox=[0, 0, -2, 2])), "negative size"),
    (_broken(lambda d: d["annotations"][0].update(area=None)), "ink_area should be"),
    (_broken(lambda d: d["images"][0].update(width="10")), "'width' of the wrong type"),
    (_broken(lambda d: d["images"].append(dict(d["images"][0]))), "two images have the id 1"),
])
def test_bad_files_raise_input_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "broken.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(InputError, match=message) as raised:
        read_coco_json(path)
    assert "broken.json" in str(raised.value)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_coco_json(tmp_path / "nowhere.json")
