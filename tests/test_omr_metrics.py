"""OMR detection metrics: hand-computed cases, and per-class AP cross-checked against faster-coco-eval."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from deepwild.core.errors import InputError
from deepwild.tasks.omr.metrics import (
    COCO_IOU_THRESHOLDS,
    DetectionEvaluation,
    evaluate_detections,
    write_evaluation,
)

A = (0.0, 0.0, 10.0, 10.0)
B = (20.0, 0.0, 30.0, 10.0)
C = (40.0, 0.0, 50.0, 10.0)
D = (60.0, 0.0, 70.0, 10.0)
FAR = (500.0, 500.0, 510.0, 510.0)


def row(evaluation: DetectionEvaluation, name: str = "a"):
    return evaluation.by_class()[name]


def ap_at(evaluation: DetectionEvaluation, threshold: float, name: str = "a") -> float:
    return row(evaluation, name).ap_per_threshold[evaluation.iou_thresholds.index(threshold)]


def test_perfect_detections_score_one():
    gt = [[("a", A), ("b", B)], [("a", C)]]
    dt = [[("a", A, 0.9), ("b", B, 0.8)], [("a", C, 0.7)]]
    evaluation = evaluate_detections(gt, dt)
    assert evaluation.map50 == evaluation.map == evaluation.weighted_map == 1.0
    assert row(evaluation).ap_per_threshold == (1.0,) * 10
    assert (row(evaluation).precision, row(evaluation).recall, row(evaluation).score_threshold) == (1.0, 1.0, 0.7)


def test_false_positive_ranked_first():
    # Ranked: FP, TP, TP → precision 0, 1/2, 2/3 at recall 0, 1/2, 1; the envelope is 2/3 throughout.
    evaluation = evaluate_detections([[("a", A), ("a", B)]], [[("a", FAR, 0.9), ("a", A, 0.8), ("a", B, 0.7)]])
    assert row(evaluation).ap50 == pytest.approx(2 / 3)
    assert row(evaluation).f1 == pytest.approx(0.8)


def test_duplicate_detection_is_a_false_positive():
    evaluation = evaluate_detections([[("a", A)]], [[("a", A, 0.9), ("a", (1.0, 0.0, 11.0, 10.0), 0.8)]])
    assert row(evaluation).ap50 == 1.0  # the duplicate comes after recall 1
    assert (row(evaluation).precision, row(evaluation).recall, row(evaluation).score_threshold) == (1.0, 1.0, 0.9)
    # A looser duplicate ranked first: it wins where its IoU (0.6) passes, and is the FP where it does not.
    loose = (0.0, 0.0, 10.0, 6.0)
    evaluation = evaluate_detections([[("a", A)]], [[("a", loose, 0.9), ("a", A, 0.8)]])
    assert ap_at(evaluation, 0.6) == 1.0
    assert ap_at(evaluation, 0.65) == 0.5


def test_wrong_class_and_false_only_classes():
    gt = [[("a", A), ("b", B)]]
    dt = [[("a", A, 0.9), ("c", B, 0.8)]]  # b is detected as c, a class without ground truth
    evaluation = evaluate_detections(gt, dt)
    assert row(evaluation, "b").ap50 == 0.0 and row(evaluation, "b").detection_count == 0
    assert row(evaluation, "c").ap50 is None and row(evaluation, "c").precision == 0.0
    assert evaluation.map50 == 0.5  # (1 + 0) / 2: c stays out
    pacha = evaluate_detections(gt, dt, count_false_only_classes=True)
    assert row(pacha, "c").ap50 == 0.0
    assert pacha.map50 == pytest.approx(1 / 3)  # c scores 0, as in Pacha et al.'s script
    assert pacha.weighted_map50 == evaluation.weighted_map50 == 0.5  # c has weight 0


def test_missed_objects_bound_recall():
    # Ranked: TP, FP, TP of 3 objects → (R, P) = (1/3, 1), (1/3, 1/2), (2/3, 2/3): AP = 1/3 + 1/3·2/3.
    gt = [[("a", A), ("a", B), ("a", C)]]
    evaluation = evaluate_detections(gt, [[("a", A, 0.9), ("a", FAR, 0.8), ("a", B, 0.7)]])
    assert row(evaluation).ap50 == pytest.approx(5 / 9)
    assert row(evaluation).recall == pytest.approx(2 / 3)
    nothing = evaluate_detections([[("a", A)]], [[]])
    assert row(nothing).ap50 == 0.0 and row(nothing).recall == 0.0 and row(nothing).precision is None


def test_iou_at_the_threshold_counts():
    # The box (0, 0, 10, h) inside A has IoU h / 10.
    at = evaluate_detections([[("a", A)]], [[("a", (0.0, 0.0, 10.0, 5.0), 0.9)]])
    below = evaluate_detections([[("a", A)]], [[("a", (0.0, 0.0, 10.0, 4.99), 0.9)]])
    assert row(at).ap50 == 1.0 and ap_at(at, 0.55) == 0.0
    assert row(below).ap50 == 0.0
    assert ap_at(evaluate_detections([[("a", A)]], [[("a", (0.0, 0.0, 10.0, 6.0), 0.9)]]), 0.6) == 1.0


def test_matches_stay_on_their_page():
    evaluation = evaluate_detections([[("a", A)], []], [[], [("a", A, 0.9)]])
    assert row(evaluation).ap50 == 0.0


def test_taken_ground_truth_falls_through_to_the_next_best():
    # The second detection's best box (A) is taken; B still overlaps it by 8.5/11.5 ≈ 0.74 (COCO's rule).
    gt = [[("a", A), ("a", (2.0, 0.0, 12.0, 10.0))]]
    evaluation = evaluate_detections(gt, [[("a", A, 0.9), ("a", (0.5, 0.0, 10.5, 10.0), 0.8)]])
    assert ap_at(evaluation, 0.7) == 1.0
    assert ap_at(evaluation, 0.75) == 0.5


def test_weighted_and_core_class_map():
    gt = [[("a", A), ("a", B), ("a", C), ("b", D)]]
    dt = [[("a", A, 0.9), ("a", B, 0.8), ("a", C, 0.7), ("b", FAR, 0.6), ("x", FAR, 0.5)]]
    evaluation = evaluate_detections(gt, dt, core_classes=["a", "missing"])
    assert (evaluation.map50, evaluation.weighted_map50) == (0.5, 0.75)  # a: 1 (3 objects), b: 0 (1)
    assert evaluation.core_map50 == evaluation.core_weighted_map == 1.0
    assert evaluation.core_classes == ("a", "missing") and evaluation.core_classes_absent == ("missing",)
    assert evaluate_detections(gt, dt).core_map50 is None


def test_thresholds_without_half_still_give_ap50():
    evaluation = evaluate_detections([[("a", A)]], [[("a", (0.0, 0.0, 10.0, 6.0), 0.9)]], iou_thresholds=[0.7])
    assert evaluation.iou_thresholds == (0.7,)
    assert row(evaluation).ap50 == 1.0 and row(evaluation).ap == 0.0


def test_bad_input_is_reported():
    with pytest.raises(InputError, match="pages"):
        evaluate_detections([[]], [[], []])
    with pytest.raises(InputError, match="page 1, item 0"):
        evaluate_detections([[], [("a", (5.0, 0.0, 1.0, 1.0))]], [[], []])
    with pytest.raises(InputError, match="expected"):
        evaluate_detections([[("a", A)]], [[("a", A)]])
    with pytest.raises(InputError, match="IoU thresholds"):
        evaluate_detections([[]], [[]], iou_thresholds=[0.0])


def test_write_evaluation(tmp_path):
    gt = [[("a", A), ("a", B), ("b", C)]]
    dt = [[("a", A, 0.9), ("a", FAR, 0.8), ("b", C, 0.7), ("x", D, 0.1)]]
    evaluation = evaluate_detections(gt, dt, core_classes=["a"])
    files = write_evaluation(evaluation, tmp_path / "eval")
    assert [f.name for f in files] == ["metrics.json", "per_class.csv", "pr_curves.png"]
    metrics = json.loads(files[0].read_text())
    assert metrics["map50"] == evaluation.map50 and metrics["core_map50"] == evaluation.core_map50
    loaded = DetectionEvaluation.from_json(metrics)
    assert loaded.to_json() == evaluation.to_json()
    table = list(csv.DictReader(files[1].open()))
    assert [r["class"] for r in table] == ["a", "b", "x"] and table[2]["ap50"] == ""
    assert files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [f.name for f in write_evaluation(loaded, tmp_path / "again")] == ["metrics.json", "per_class.csv"]


# ---- cross-check against COCO (faster-coco-eval) --------------------------------------------------


def synthetic_pages(seed: int, pages: int = 3, classes: int = 5) -> tuple[list, list, list[str]]:
    """Jittered ground truth + misses + duplicates + wrong classes + random false positives, on
    quarter-pixel coordinates (exact in binary, so x0 + (x1 - x0) == x1 in COCO's x, y, w, h) and
    scores rounded to 0.01 (many ties: both sides must keep input order)."""
    rng = np.random.default_rng(seed)
    names = [f"class{k}" for k in range(classes)]

    def boxes(count: int) -> np.ndarray:
        corner = np.round(rng.uniform(0, 1200, (count, 2)) * 4) / 4
        size = np.round(rng.uniform(6, 40, (count, 2)) * 4) / 4
        size[rng.random(count) < 0.02, 1] *= 15  # a few tall boxes (braces, barlines)
        return np.hstack([corner, corner + size])

    ground_truth, detections = [], []
    for _ in range(pages):
        count = int(rng.integers(200, 601))
        truth, labels = boxes(count), rng.integers(0, classes, count)
        found = rng.random(count) > 0.12
        copies = np.where(rng.random(count) < 0.06, 2, 1) * found
        source = np.repeat(np.arange(count), copies)
        jittered = truth[source] + np.round(rng.normal(0, 1.5, (len(source), 4)) * 4) / 4
        jittered[:, 2:] = np.maximum(jittered[:, 2:], jittered[:, :2] + 1)
        det_labels = np.where(rng.random(len(source)) < 0.03, rng.integers(0, classes, len(source)), labels[source])
        false_count = count // 10
        det_boxes = np.vstack([jittered, boxes(false_count)])
        det_labels = np.concatenate([det_labels, rng.integers(0, classes, false_count)])
        scores = np.round(rng.random(len(det_boxes)), 2)
        order = rng.permutation(len(det_boxes))
        ground_truth.append([(names[k], tuple(b)) for k, b in zip(labels.tolist(), truth.tolist())])
        detections.append([(names[det_labels[i]], tuple(det_boxes[i].tolist()), float(scores[i])) for i in order])
    return ground_truth, detections, names


def coco_ap_per_class(ground_truth, detections, names, thresholds) -> dict[str, np.ndarray]:
    """Per class, (T,) AP from COCOeval's precision array; the COCO conversion lives here, not in the library."""
    faster_coco_eval = pytest.importorskip("faster_coco_eval")
    category = {name: index + 1 for index, name in enumerate(names)}
    images, annotations, results = [], [], []
    for page, (truth, found) in enumerate(zip(ground_truth, detections), start=1):
        images.append({"id": page, "width": 2000, "height": 2000, "file_name": f"page{page}.png"})
        for name, (x0, y0, x1, y1) in truth:
            annotations.append({"id": len(annotations) + 1, "image_id": page, "category_id": category[name],
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0})
        for name, (x0, y0, x1, y1), score in found:
            results.append({"image_id": page, "category_id": category[name], "bbox": [x0, y0, x1 - x0, y1 - y0],
                            "score": score})
    coco = faster_coco_eval.COCO({"images": images, "annotations": annotations,
                                  "categories": [{"id": i, "name": n} for n, i in category.items()]})
    evaluator = faster_coco_eval.COCOeval_faster(coco, coco.loadRes(results), "bbox", print_function=lambda *_: None)
    evaluator.params.maxDets = [1, 10, 2000]  # the default 100 per image would cut pages of 500+ symbols
    evaluator.params.iouThrs = np.array(thresholds)
    evaluator.evaluate()
    evaluator.accumulate()
    precision = evaluator.eval["precision"]  # (T, R, K, A, M); area "all", maxDets 2000
    return {name: precision[:, :, category[name] - 1, 0, -1].mean(axis=1) for name in names}


@pytest.mark.parametrize("seed", [0, 1])
def test_coco101_matches_faster_coco_eval(seed):
    ground_truth, detections, names = synthetic_pages(seed)
    reference = coco_ap_per_class(ground_truth, detections, names, COCO_IOU_THRESHOLDS)
    ours = evaluate_detections(ground_truth, detections, interpolation="coco101").by_class()
    all_point = evaluate_detections(ground_truth, detections).by_class()
    for name in names:
        assert 0.05 < reference[name][0] < 0.95  # a set that exercises the curve, not a trivial one
        np.testing.assert_allclose(ours[name].ap_per_threshold, reference[name], rtol=0, atol=1e-6)
        # All-point and 101-point interpolation differ by at most a recall step here.
        np.testing.assert_allclose(all_point[name].ap_per_threshold, reference[name], rtol=0, atol=0.02)


def test_coco_tie_rule_on_equal_iou():
    # The first detection overlaps both boxes by 9/11; COCO gives it the later box, so the exact
    # second detection still finds A at high thresholds.
    ground_truth = [[("a", A), ("a", (2.0, 0.0, 12.0, 10.0))]]
    detections = [[("a", (1.0, 0.0, 11.0, 10.0), 0.9), ("a", A, 0.8)]]
    ours = evaluate_detections(ground_truth, detections, interpolation="coco101")
    np.testing.assert_allclose(row(ours).ap_per_threshold,
                               coco_ap_per_class(ground_truth, detections, ["a"], COCO_IOU_THRESHOLDS)["a"], atol=1e-9)
    assert ap_at(ours, 0.8) == 1.0
