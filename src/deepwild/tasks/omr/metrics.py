"""Detection quality the way optical music recognition reports it: per-class AP, mAP and weighted mAP.

The reference is the evaluation of Pacha, Hajič & Calvo-Zaragoza (2018), "A Baseline for General
Music Object Detection with Deep Learning", code apacha/MusicObjectDetection,
`MusicObjectDetection/evaluation/evaluate.py` (MIT): per class, the detections of all pages sorted
by score, each greedily matched to a ground-truth box of the same class on the same page with
IoU ≥ threshold; all-point (VOC 2010+) AP; mAP unweighted over classes, w-mAP weighted by
ground-truth instances; reported at IoU 0.5 ("Pascal") and averaged over 0.50:0.05:0.95 ("COCO").

Where this module differs from that script, on purpose:
- IoU on continuous boxes (x1/y1 exclusive), no +1: our box convention, and COCO's. The script adds
  +1 (inclusive pixel boxes), which inflates the IoU of small symbols.
- A detection whose best-IoU ground truth is already taken falls through to the best still
  unmatched one (COCO's rule); the script then counts it as a false positive.
- Classes that occur only in detections have no AP and stay out of the mAP, so a stray class does
  not drag the mean down by a whole class weight; the script scores them 0
  (`count_false_only_classes=True` does the same).
- Equal scores keep input order (stable sort, as COCO); the script's quicksort does not.

`interpolation="coco101"` swaps the all-point AP for COCO's 101-recall-point one, which reproduces
pycocotools / faster-coco-eval per-class AP (the tests check this to 1e-6).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepwild.core.errors import InputError
from deepwild.core.figures import pyplot, save_figure
from deepwild.core.io import atomic_write_json, atomic_write_text

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in page pixels, x1/y1 exclusive
GroundTruthObject = tuple[str, Box]
DetectedObject = tuple[str, Box, float]

# 0.50:0.05:0.95 as the nearest doubles to the decimals: np.arange drifts (0.6000000000000001), and
# an IoU of exactly 0.6 would then fail the 0.6 threshold.
COCO_IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
INTERPOLATIONS = ("all-point", "coco101")
_MAX_THRESHOLDS = 60  # thresholds are bits of one int64 per detection while matching
_BAND = 128  # detections per band of a page when looking for overlapping ground truth


@dataclass(frozen=True)
class PrecisionRecallCurve:
    """One class at IoU 0.5: after each detection (in score order), precision and recall so far."""

    recall: tuple[float, ...]
    precision: tuple[float, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class ClassEvaluation:
    """One class over all pages. AP fields are None for a class without ground truth (unless
    `count_false_only_classes`, which scores it 0). The operating point is the score threshold
    with the best F1 at IoU 0.5: detector scores are not calibrated probabilities (DWD's come from
    an energy map), so a fixed cut at 0.5 would measure calibration more than detection."""

    class_name: str
    ground_truth_count: int
    detection_count: int
    ap50: float | None
    ap: float | None  # mean of ap_per_threshold
    ap_per_threshold: tuple[float, ...] | None  # aligned with DetectionEvaluation.iou_thresholds
    precision: float | None  # at the best-F1 operating point; None where 0/0
    recall: float | None
    f1: float | None
    score_threshold: float | None  # keep detections with score ≥ this
    curve: PrecisionRecallCurve | None = None  # not written to JSON

    def to_json(self) -> dict[str, Any]:
        return {"class": self.class_name, "ground_truth": self.ground_truth_count,
                "detections": self.detection_count, "ap50": self.ap50, "ap": self.ap,
                "ap_per_threshold": None if self.ap_per_threshold is None else list(self.ap_per_threshold),
                "precision": self.precision, "recall": self.recall, "f1": self.f1,
                "score_threshold": self.score_threshold}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClassEvaluation:
        per_threshold = data.get("ap_per_threshold")
        return cls(data["class"], int(data["ground_truth"]), int(data["detections"]), data["ap50"], data["ap"],
                   None if per_threshold is None else tuple(per_threshold), data["precision"], data["recall"],
                   data["f1"], data["score_threshold"])


@dataclass(frozen=True)
class DetectionEvaluation:
    """Detection quality of one evaluation set. The mAPs are None where no class qualifies.

    map/map50 are unweighted over classes with ground truth; weighted_* weight each class by its
    ground-truth count; core_* are the same over the `core_classes` present in the ground truth.
    """

    classes: tuple[ClassEvaluation, ...]  # by class name
    iou_thresholds: tuple[float, ...]  # ascending; `ap` averages over these
    interpolation: str
    count_false_only_classes: bool
    page_count: int
    map50: float | None
    map: float | None
    weighted_map50: float | None
    weighted_map: float | None
    core_classes: tuple[str, ...] | None = None
    core_classes_absent: tuple[str, ...] = ()  # core classes without ground truth in this set
    core_map50: float | None = None
    core_map: float | None = None
    core_weighted_map50: float | None = None
    core_weighted_map: float | None = None

    def by_class(self) -> dict[str, ClassEvaluation]:
        return {row.class_name: row for row in self.classes}

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "classes"}
        data["iou_thresholds"] = list(self.iou_thresholds)
        data["core_classes"] = None if self.core_classes is None else list(self.core_classes)
        data["core_classes_absent"] = list(self.core_classes_absent)
        data["classes"] = [row.to_json() for row in self.classes]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DetectionEvaluation:
        fields = dict(data)
        fields["classes"] = tuple(ClassEvaluation.from_json(row) for row in data["classes"])
        fields["iou_thresholds"] = tuple(data["iou_thresholds"])
        fields["core_classes"] = None if data["core_classes"] is None else tuple(data["core_classes"])
        fields["core_classes_absent"] = tuple(data["core_classes_absent"])
        return cls(**fields)


def evaluate_detections(
    ground_truth: Sequence[Sequence[GroundTruthObject]],
    detections: Sequence[Sequence[DetectedObject]],
    iou_thresholds: Iterable[float] = COCO_IOU_THRESHOLDS,
    core_classes: Iterable[str] | None = None,
    *,
    count_false_only_classes: bool = False,
    interpolation: str = "all-point",
) -> DetectionEvaluation:
    """Score detections against ground truth, page by page (both lists in the same page order).

    ground_truth[p] holds (class_name, (x0, y0, x1, y1)); detections[p] holds
    (class_name, (x0, y0, x1, y1), score). AP@0.5 is always computed, also when 0.5 is not among
    `iou_thresholds`. `core_classes` adds the same mAPs over that subset (those present);
    `count_false_only_classes` scores classes without ground truth 0 instead of leaving them out;
    `interpolation` is "all-point" (VOC 2010+, Pacha et al.) or "coco101" (pycocotools).
    """
    if len(ground_truth) != len(detections):
        raise InputError(f"ground truth has {len(ground_truth)} pages but detections have {len(detections)}",
                         hint="pass one (possibly empty) list per page to both, in the same order")
    if interpolation not in INTERPOLATIONS:
        raise InputError(f"unknown interpolation {interpolation!r}", hint=f"use one of {', '.join(INTERPOLATIONS)}")
    thresholds = _checked_thresholds(iou_thresholds)
    evaluated = thresholds if np.isclose(thresholds, 0.5, rtol=0, atol=1e-9).any() else np.union1d(thresholds, [0.5])
    at_50 = int(np.argmin(np.abs(evaluated - 0.5)))
    reported = np.isin(evaluated, thresholds)

    gt_names, gt_boxes, _, gt_pages = _flatten(ground_truth, "ground truth", with_score=False)
    det_names, det_boxes, det_scores, det_pages = _flatten(detections, "detections", with_score=True)
    class_names, codes = np.unique(np.array(gt_names + det_names, dtype=str), return_inverse=True)
    gt_codes, det_codes = codes[:len(gt_names)], codes[len(gt_names):]
    gt_groups, det_groups = _group_by_class(gt_codes, len(class_names)), _group_by_class(det_codes, len(class_names))

    rows = []
    for code, name in enumerate(class_names.tolist()):
        gt_rows = gt_groups[code]  # page order
        det_rows = det_groups[code][np.argsort(-det_scores[det_groups[code]], kind="stable")]  # score order
        true_positive = _match(gt_boxes[gt_rows], gt_pages[gt_rows], det_boxes[det_rows], det_pages[det_rows],
                               evaluated)
        rows.append(_class_row(name, len(gt_rows), det_scores[det_rows], true_positive, at_50, reported,
                               interpolation, count_false_only_classes))

    summary = _mean_aps(rows, None, count_false_only_classes)
    core = None if core_classes is None else tuple(dict.fromkeys(core_classes))
    core_summary = (None,) * 4 if core is None else _mean_aps(rows, set(core), count_false_only_classes)
    with_ground_truth = {row.class_name for row in rows if row.ground_truth_count > 0}
    return DetectionEvaluation(
        classes=tuple(rows), iou_thresholds=tuple(float(t) for t in thresholds), interpolation=interpolation,
        count_false_only_classes=count_false_only_classes, page_count=len(ground_truth),
        map50=summary[0], map=summary[1], weighted_map50=summary[2], weighted_map=summary[3],
        core_classes=core, core_classes_absent=tuple(c for c in core or () if c not in with_ground_truth),
        core_map50=core_summary[0], core_map=core_summary[1],
        core_weighted_map50=core_summary[2], core_weighted_map=core_summary[3])


def write_evaluation(evaluation: DetectionEvaluation, folder: str | Path, pr_curves: bool = True) -> tuple[Path, ...]:
    """Write metrics.json, per_class.csv and (if curves are present) pr_curves.png; return the paths."""
    folder = Path(folder)
    written = [folder / "metrics.json", folder / "per_class.csv"]
    atomic_write_json(written[0], evaluation.to_json())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = ["class", "ground_truth", "detections", "ap50", "ap", "precision", "recall", "f1", "score_threshold"]
    writer.writerow(columns)
    for row in evaluation.classes:
        values = row.to_json()
        writer.writerow(["" if values[c] is None else values[c] for c in columns])
    atomic_write_text(written[1], buffer.getvalue())
    # A loaded evaluation (from metrics.json) has no curves, so there is nothing to draw.
    if pr_curves and any(row.curve is not None for row in evaluation.classes):
        written.append(_plot_pr_curves(evaluation, folder / "pr_curves.png"))
    return tuple(written)


def _checked_thresholds(iou_thresholds: Iterable[float]) -> np.ndarray:
    thresholds = np.unique(np.asarray(list(iou_thresholds), dtype=np.float64))
    if thresholds.size == 0 or not np.all((thresholds > 0) & (thresholds <= 1)) or thresholds.size > _MAX_THRESHOLDS:
        raise InputError(f"IoU thresholds must be 1 to {_MAX_THRESHOLDS} values in (0, 1], got {thresholds.tolist()}",
                         hint="the COCO set is 0.50:0.05:0.95")
    return thresholds


def _flatten(pages: Sequence[Sequence[Any]], kind: str, with_score: bool
             ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """All objects of all pages as arrays: names, boxes (N, 4), scores (N,), page index (N,)."""
    names: list[str] = []
    boxes: list[Any] = []
    scores: list[Any] = []
    pages_of: list[int] = []
    shape = "(class_name, (x0, y0, x1, y1), score)" if with_score else "(class_name, (x0, y0, x1, y1))"
    for page_index, page in enumerate(pages):
        for item_index, item in enumerate(page):
            if not isinstance(item, (tuple, list)) or len(item) != (3 if with_score else 2):
                raise InputError(f"{kind}, page {page_index}, item {item_index}: expected {shape}, got {item!r}")
            names.append(str(item[0]))
            boxes.append(item[1])
            scores.append(item[2] if with_score else 0.0)
        pages_of.extend([page_index] * len(page))
    try:
        box_array = np.asarray(boxes, dtype=np.float64).reshape(len(boxes), 4)
        score_array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"{kind}: every box must be 4 numbers and every score a number ({error})") from None
    valid = (np.isfinite(box_array).all(axis=1) & np.isfinite(score_array)
             & (box_array[:, 2] >= box_array[:, 0]) & (box_array[:, 3] >= box_array[:, 1]))
    if not valid.all():
        first = int(np.flatnonzero(~valid)[0])
        page_index = pages_of[first]
        item_index = first - pages_of.index(page_index)
        raise InputError(f"{kind}, page {page_index}, item {item_index}: box {box_array[first].tolist()} "
                         f"score {score_array[first]} is not finite or has x1 < x0 or y1 < y0",
                         hint="boxes are (x0, y0, x1, y1) in pixels")
    return names, box_array, score_array, np.asarray(pages_of, dtype=np.int64)


def _group_by_class(codes: np.ndarray, class_count: int) -> list[np.ndarray]:
    """Row indices per class code, each in input (page) order."""
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(class_count + 1))
    return [order[bounds[k]:bounds[k + 1]] for k in range(class_count)]


def _iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(A, B) IoU of continuous boxes, as COCO computes it (no +1); 0 where the union is empty."""
    width = np.minimum(boxes_a[:, None, 2], boxes_b[None, :, 2]) - np.maximum(boxes_a[:, None, 0], boxes_b[None, :, 0])
    height = np.minimum(boxes_a[:, None, 3], boxes_b[None, :, 3]) - np.maximum(boxes_a[:, None, 1], boxes_b[None, :, 1])
    intersection = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = (boxes_a[:, 2] - boxes_a[:, 0]) * (boxes_a[:, 3] - boxes_a[:, 1])
    area_b = (boxes_b[:, 2] - boxes_b[:, 0]) * (boxes_b[:, 3] - boxes_b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def _candidate_pairs(gt_boxes: np.ndarray, gt_pages: np.ndarray, det_boxes: np.ndarray, det_pages: np.ndarray,
                     min_iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(detection, ground truth, IoU) for every same-page pair with IoU ≥ min_iou. The IoUs are
    computed once and serve every threshold; the pairs are few (a symbol overlaps few boxes by half)."""
    det_by_page = np.argsort(det_pages, kind="stable")
    pages = np.intersect1d(gt_pages, det_pages)
    gt_bounds = np.searchsorted(gt_pages, np.stack([pages, pages + 1]))  # gt_pages is sorted
    det_bounds = np.searchsorted(det_pages[det_by_page], np.stack([pages, pages + 1]))
    found_det, found_gt, found_iou = [], [], []
    for gt_start, gt_stop, det_start, det_stop in zip(*gt_bounds.tolist(), *det_bounds.tolist()):
        det_rows = det_by_page[det_start:det_stop]
        det_index, gt_index, iou = _page_pairs(det_boxes[det_rows], gt_boxes[gt_start:gt_stop], min_iou)
        found_det.append(det_rows[det_index])
        found_gt.append(gt_start + gt_index)
        found_iou.append(iou)
    if not found_det:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(found_det), np.concatenate(found_gt), np.concatenate(found_iou)


def _page_pairs(dets: np.ndarray, gts: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of one page and class with IoU ≥ min_iou (> 0), as local indices.

    Detections go in horizontal bands (sorted by top edge), each against only the ground truth
    that can reach the band vertically: a 1,700-symbol page costs about 1,700 × band IoUs, not
    1,700², and memory stays bounded.
    """
    det_order = np.argsort(dets[:, 1], kind="stable")
    gt_order = np.argsort(gts[:, 1], kind="stable")
    gt_tops = gts[gt_order, 1]
    tallest = float(np.max(gts[:, 3] - gts[:, 1]))
    found_det, found_gt, found_iou = [], [], []
    for start in range(0, len(det_order), _BAND):
        rows = det_order[start:start + _BAND]
        band_top, band_bottom = dets[rows[0], 1], dets[rows, 3].max()
        # Overlap needs gt top < band bottom and gt bottom (≤ gt top + tallest) > band top.
        first = np.searchsorted(gt_tops, band_top - tallest, side="right")
        stop = np.searchsorted(gt_tops, band_bottom, side="left")
        columns = gt_order[first:stop]
        iou = _iou_matrix(dets[rows], gts[columns])  # (band, reachable gt)
        det_index, gt_index = np.nonzero(iou >= min_iou)
        found_det.append(rows[det_index])
        found_gt.append(columns[gt_index])
        found_iou.append(iou[det_index, gt_index])
    return np.concatenate(found_det), np.concatenate(found_gt), np.concatenate(found_iou)


def _match(gt_boxes: np.ndarray, gt_pages: np.ndarray, det_boxes: np.ndarray, det_pages: np.ndarray,
           thresholds: np.ndarray) -> np.ndarray:
    """(T, D) true-positive flags of detections (in score order) at each (ascending) IoU threshold.

    Greedy, per threshold: each detection takes the unmatched ground truth of highest IoU ≥ the
    threshold. All thresholds are matched in one pass: for each candidate pair, the thresholds it
    passes are an int bit mask, so one detection's matching is a few integer operations.
    """
    true_positive = np.zeros((len(thresholds), len(det_boxes)), dtype=bool)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return true_positive
    det_index, gt_index, iou = _candidate_pairs(gt_boxes, gt_pages, det_boxes, det_pages, float(thresholds[0]))
    # Detections in score order; per detection, best IoU first; on equal IoU the later ground
    # truth first, as COCO (its loop keeps the last of equal IoUs), so the two agree on ties.
    order = np.lexsort((-gt_index, -iou, det_index))
    passes = np.left_shift(1, np.searchsorted(thresholds, iou[order], side="right")) - 1  # bits of t ≤ IoU
    all_thresholds = (1 << len(thresholds)) - 1
    taken = [0] * len(gt_boxes)  # per ground truth: bits of the thresholds at which it is matched
    hits = [0] * len(det_boxes)
    current, open_bits = -1, 0
    for det, gt, ok in zip(det_index[order].tolist(), gt_index[order].tolist(), passes.tolist()):
        if det != current:
            current, open_bits = det, all_thresholds
        claim = open_bits & ok & ~taken[gt]
        if claim:
            taken[gt] |= claim
            hits[det] |= claim
            open_bits &= ~claim
    bits = np.asarray(hits, dtype=np.int64)
    return ((bits[None, :] >> np.arange(len(thresholds))[:, None]) & 1).astype(bool)


def _average_precision(recall: np.ndarray, precision: np.ndarray, interpolation: str) -> np.ndarray:
    """(T,) AP from (T, D) curves. Precision is first made non-increasing from the right."""
    thresholds_count, count = recall.shape
    if count == 0:
        return np.zeros(thresholds_count)
    if interpolation == "all-point":
        # VOC 2010+: area under the step curve over recall, with sentinels (0, 0) … (1, 0).
        recall = np.hstack([np.zeros((thresholds_count, 1)), recall, np.ones((thresholds_count, 1))])
        precision = np.hstack([np.zeros((thresholds_count, 1)), precision, np.zeros((thresholds_count, 1))])
        envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        return np.sum(np.diff(recall, axis=1) * envelope[:, 1:], axis=1)
    # COCO: envelope precision at the first point reaching each of 101 recall levels, 0 past the end.
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    recall_levels = np.linspace(0.0, 1.0, 101)
    result = np.zeros(thresholds_count)
    for t in range(thresholds_count):
        index = np.searchsorted(recall[t], recall_levels, side="left")
        result[t] = np.where(index < count, envelope[t, np.minimum(index, count - 1)], 0.0).mean()
    return result


def _class_row(name: str, gt_count: int, scores: np.ndarray, true_positive: np.ndarray, at_50: int,
               reported: np.ndarray, interpolation: str, count_false_only_classes: bool) -> ClassEvaluation:
    detection_count = len(scores)
    tp_so_far = np.cumsum(true_positive, axis=1)  # (T, D)
    precision = tp_so_far / np.arange(1, detection_count + 1)
    if gt_count == 0:
        ap_value = 0.0 if count_false_only_classes else None
        per_threshold = (0.0,) * int(reported.sum()) if count_false_only_classes else None
        return ClassEvaluation(name, 0, detection_count, ap_value, ap_value, per_threshold,
                               0.0 if detection_count else None, None, None, None,
                               PrecisionRecallCurve((), (), tuple(scores.tolist())))
    recall = tp_so_far / gt_count
    ap = _average_precision(recall, precision, interpolation)
    curve = PrecisionRecallCurve(tuple(recall[at_50].tolist()), tuple(precision[at_50].tolist()),
                                 tuple(scores.tolist()))
    if detection_count == 0:
        return ClassEvaluation(name, gt_count, 0, float(ap[at_50]), float(ap[reported].mean()),
                               tuple(ap[reported].tolist()), None, 0.0, 0.0, None, curve)
    # Only the last detection of a run of equal scores is a point a score threshold can select.
    cuts = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    p, r = precision[at_50, cuts], recall[at_50, cuts]
    f1 = np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=(p + r) > 0)
    best = int(np.argmax(f1))  # first maximum: the highest threshold, fewest detections kept
    return ClassEvaluation(name, gt_count, detection_count, float(ap[at_50]), float(ap[reported].mean()),
                           tuple(ap[reported].tolist()), float(p[best]), float(r[best]), float(f1[best]),
                           float(scores[cuts[best]]), curve)


def _mean_aps(rows: list[ClassEvaluation], subset: set[str] | None, count_false_only_classes: bool
              ) -> tuple[float | None, float | None, float | None, float | None]:
    """(mAP@0.5, mAP, weighted mAP@0.5, weighted mAP) over the qualifying classes of `subset`."""
    chosen = [row for row in rows if (subset is None or row.class_name in subset)
              and (row.ground_truth_count > 0 or (count_false_only_classes and row.detection_count > 0))]
    if not chosen:
        return None, None, None, None
    ap50 = np.array([row.ap50 for row in chosen], dtype=float)
    ap = np.array([row.ap for row in chosen], dtype=float)
    weights = np.array([row.ground_truth_count for row in chosen], dtype=float)
    total = weights.sum()  # 0 only if every chosen class is a false-only one
    return (float(ap50.mean()), float(ap.mean()),
            float(ap50 @ weights / total) if total else None, float(ap @ weights / total) if total else None)


def _plot_pr_curves(evaluation: DetectionEvaluation, target: Path) -> Path:
    """Precision–recall at IoU 0.5 of the 12 classes with the most ground truth, in one panel."""
    plt = pyplot()
    frequent = sorted((row for row in evaluation.classes if row.ground_truth_count > 0 and row.curve is not None),
                      key=lambda row: (-row.ground_truth_count, row.class_name))[:12]
    fig, axes = plt.subplots(figsize=(8, 6))
    colours = plt.get_cmap("tab10").colors  # 10 distinct hues; classes 11 and 12 repeat them dashed
    for index, row in enumerate(frequent):
        axes.plot(row.curve.recall, row.curve.precision, color=colours[index % 10], linewidth=1.2,
                  linestyle="-" if index < 10 else "--",
                  label=f"{row.class_name} (n={row.ground_truth_count}, AP50 {row.ap50:.3f})")
    title = "Precision–recall at IoU 0.5"
    if evaluation.map50 is not None:
        title += f" (mAP50 {evaluation.map50:.3f} over all classes)"
    axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title=title)
    axes.grid(alpha=0.3)
    if frequent:
        axes.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return save_figure(fig, target)
