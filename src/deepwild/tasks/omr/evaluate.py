"""`deepwild eval RUN_OR_MODEL --data DIR --split test`: detection quality the way the OMR field
measures it (Pacha et al. 2018; see metrics.py), over the classes the model detects."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from deepwild.core.errors import InputError
from deepwild.core.images import load_grayscale
from deepwild.core.io import atomic_path, atomic_write_json
from deepwild.core.results import EvaluationResult, PageDetections
from deepwild.data.dataset_folder import load_symbol_dataset
from deepwild.data.overlay import draw_boxes
from deepwild.data.symbols import SymbolDataset
from deepwild.engine.run import resolve_model, runs_root
from deepwild.tasks.omr.detect import Detector
from deepwild.tasks.omr.metrics import DetectionEvaluation, evaluate_detections, write_evaluation
from deepwild.tasks.omr.postprocess import PostprocessConfig

TIME_SIGNATURE_DIGITS = tuple(f"timeSig{digit}" for digit in range(10))
CORE_CLASSES = ("noteheadBlackOnLine", "noteheadBlackInSpace", "noteheadHalfOnLine", "noteheadHalfInSpace",
                "noteheadWholeOnLine", "noteheadWholeInSpace", "clefG", "clefF", "clefCAlto", "accidentalSharp",
                "accidentalFlat", "accidentalNatural", "keySharp", "keyFlat", "restWhole", "restHalf", "restQuarter",
                "rest8th", "rest16th", "augmentationDot", "stem", "beam", "legerLine", "flag8thUp", "flag8thDown",
                "flag16thUp", "flag16thDown") + TIME_SIGNATURE_DIGITS


@dataclass(frozen=True)
class OMREvaluation:
    evaluation: DetectionEvaluation
    pages: list[PageDetections]
    seconds_per_page: list[float]
    ignored_classes: dict[str, int]  # ground truth of classes the model does not detect (not scored)


def pages_of(dataset: SymbolDataset, split: str) -> SymbolDataset:
    """A split's pages; `all`, or a dataset whose pages carry no split (e.g. a DeepScoresV2 file), gives every page."""
    if split == "all" or not any(page.split for page in dataset.pages):
        return dataset
    chosen = dataset.split(split)
    if not chosen.pages:
        present = sorted({page.split for page in dataset.pages})
        raise InputError(f"the dataset has no pages in split {split!r}; it has: {', '.join(present)} (or use all)")
    return chosen


def run_evaluation(detector: Detector, dataset: SymbolDataset,
                   progress: Callable[[int, int], None] | None = None) -> OMREvaluation:
    known = set(detector.package.class_names)
    ground_truth, detections, pages, seconds = [], [], [], []
    ignored: dict[str, int] = {}
    for number, page in enumerate(dataset.pages):
        gray = load_grayscale(dataset.image_path(page))
        start = time.perf_counter()
        result = detector.detect_gray(gray, page.image, staff_space=None)
        seconds.append(time.perf_counter() - start)
        pages.append(result)
        truth = []
        for symbol in page.symbols:
            if symbol.class_name in known:
                truth.append((symbol.class_name, symbol.bbox))
            else:
                ignored[symbol.class_name] = ignored.get(symbol.class_name, 0) + 1
        ground_truth.append(truth)
        detections.append([(s.class_name, s.bbox, s.score) for s in result.symbols])
        if progress:
            progress(number + 1, len(dataset.pages))
    evaluation = evaluate_detections(ground_truth, detections, core_classes=[c for c in CORE_CLASSES if c in known])
    return OMREvaluation(evaluation, pages, seconds, dict(sorted(ignored.items(), key=lambda kv: -kv[1])))


def tune_decoding(detector: Detector, val: SymbolDataset, log: Callable[[str], None] | None = None,
                  thresholds: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0),
                  margins: tuple[float, ...] = (1.0, 2.0, 3.0), min_class_count: int = 20,
                  min_gain: float = 0.02) -> PostprocessConfig:
    """Decoding settings chosen on validation pages: each energy group's threshold and split margin, and
    a threshold and margin of its own for every class with at least `min_class_count` validation symbols
    whose AP@0.5 they raise by more than `min_gain` (each setting in use costs a decoding pass, and
    smaller gains on a few validation pages are noise).

    A class belongs to exactly one group, a group's decoding touches only its own classes and AP is
    computed per class, so one decoding per candidate value (applied everywhere) scores every group and
    every class at once: each takes the value that maximises its AP@0.5 (a group: the summed AP of its
    core classes where it has any). The network runs once per page; only the decoding is repeated."""
    say = log or (lambda line: None)
    known = set(detector.package.class_names)
    groups = detector.class_groups
    group_of = dict(zip(detector.package.class_names, groups.tolist()))
    group_count = int(groups.max()) + 1
    original = detector.postprocess
    base = replace(original, class_thresholds=(), class_split_margins=())
    truth = [[(s.class_name, s.bbox) for s in page.symbols if s.class_name in known] for page in val.pages]
    readings = [detector.read_page(load_grayscale(val.image_path(page)), page.image, lowest_threshold=min(thresholds))
                for page in val.pages]
    counts: dict[str, int] = {}
    for page in truth:
        for name, _ in page:
            counts[name] = counts.get(name, 0) + 1

    def class_aps(postprocess: PostprocessConfig) -> dict[str, float]:
        detector.postprocess = postprocess
        found = [[(s.class_name, s.bbox, s.score) for s in detector.decode_page(r).symbols] for r in readings]
        return {c.class_name: c.ap50 for c in evaluate_detections(truth, found).classes if c.ap50 is not None}

    def group_sums(aps: dict[str, float]) -> list[float]:
        sums = []
        for g in range(group_count):
            members = [name for name in aps if group_of.get(name) == g]
            core = [name for name in members if name in CORE_CLASSES]
            sums.append(sum(aps[name] for name in (core or members)))
        return sums

    by_threshold = {}
    for candidate in thresholds:
        by_threshold[candidate] = class_aps(replace(base, energy_threshold=candidate, split_margin=0.0,
                                                    group_thresholds=(), group_split_margins=()))
        say(f"energy threshold {candidate}: val AP sums per group {[round(v, 3) for v in group_sums(by_threshold[candidate])]}")
    # Ties go to the first (lowest) candidate.
    best_groups = tuple(max(thresholds, key=lambda t: group_sums(by_threshold[t])[g]) for g in range(group_count))
    per_class = []
    for name, group in zip(detector.package.class_names, groups.tolist()):
        chosen = best_groups[group]
        if counts.get(name, 0) >= min_class_count:
            best = max(thresholds, key=lambda t: by_threshold[t].get(name, 0.0))
            if by_threshold[best].get(name, 0.0) > by_threshold[chosen].get(name, 0.0) + min_gain:
                chosen = best
        per_class.append(chosen)
    tuned = replace(base, group_thresholds=best_groups, class_thresholds=tuple(per_class))
    by_margin = {0.0: class_aps(tuned)}
    for candidate in margins:
        by_margin[candidate] = class_aps(replace(tuned, group_split_margins=(candidate,) * group_count))
        say(f"split margin {candidate}: val AP sums per group {[round(v, 3) for v in group_sums(by_margin[candidate])]}")
    best_margins = tuple(max(by_margin, key=lambda m: group_sums(by_margin[m])[g]) for g in range(group_count))
    class_margins = []
    for name, group in zip(detector.package.class_names, groups.tolist()):
        chosen = best_margins[group]
        if counts.get(name, 0) >= min_class_count:
            best = max(by_margin, key=lambda m: by_margin[m].get(name, 0.0))
            if by_margin[best].get(name, 0.0) > by_margin[chosen].get(name, 0.0) + min_gain:
                chosen = best
        class_margins.append(chosen)
    own = {name: (t, m) for name, t, m, group in zip(detector.package.class_names, per_class, class_margins, groups.tolist())
           if (t, m) != (best_groups[group], best_margins[group])}
    say(f"chosen: group thresholds {best_groups}, split margins {best_margins}; classes with their own "
        f"(threshold, margin): {own}")
    detector.postprocess = original
    return replace(tuned, group_split_margins=best_margins, class_split_margins=tuple(class_margins))


def evaluate(ref: str | Path, split: str = "test", root: str | Path | None = None, data: str | Path | None = None,
             out: Path | None = None, overlays: int = 2,
             progress: Callable[[int, int], None] | None = None) -> EvaluationResult:
    """Detect on every page of `data`'s split, score against its labels, write eval/<split>/ files."""
    model_dir, run = resolve_model(ref, root)
    detector = Detector.load(model_dir)
    if data is None:
        data = detector.package.config.get("data") or None
        if not data:
            raise InputError("no evaluation data given", hint="pass --data DIR (a dataset folder)")
    dataset = pages_of(load_symbol_dataset(data), split)
    result = run_evaluation(detector, dataset, progress)
    name = split if any(p.split for p in dataset.pages) else Path(data).name  # unsplit data: named by its folder
    # A package outside any run (e.g. the shipped model) gets its results in the runs folder, never beside itself.
    folder = out or (run.eval_dir if run else runs_root(root) / f"eval-{detector.package.name}") / name
    files = list(write_evaluation(result.evaluation, folder))
    atomic_write_json(folder / "timing.json", {"pages": len(result.pages),
                                               "median_seconds_per_page": float(np.median(result.seconds_per_page)),
                                               "seconds_per_page": result.seconds_per_page,
                                               "ignored_ground_truth": result.ignored_classes, "data": str(data)})
    for page, detected in list(zip(dataset.pages, result.pages))[:overlays]:
        picture = draw_boxes(load_grayscale(dataset.image_path(page)), [(s.class_name, s.bbox) for s in detected.symbols])
        target = folder / f"{Path(page.image).stem}_detections.png"
        with atomic_path(target) as temp:
            picture.save(temp, format="PNG")
        files.append(target)
    return to_result(detector.package.name, name, result, tuple(str(f) for f in files))


def to_result(model: str, split: str, result: OMREvaluation, files: tuple[str, ...]) -> EvaluationResult:
    e = result.evaluation
    metrics: dict[str, Any] = {"pages": len(result.pages), "mAP@0.5": e.map50, "mAP@[.5:.95]": e.map,
                               "weighted mAP@0.5": e.weighted_map50, "weighted mAP@[.5:.95]": e.weighted_map,
                               "core mAP@0.5": e.core_map50, "core mAP@[.5:.95]": e.core_map,
                               "median s/page": float(np.median(result.seconds_per_page))}
    per_class = {c.class_name: {"gt": c.ground_truth_count, "det": c.detection_count,
                                "AP@0.5": c.ap50 if c.ap50 is not None else float("nan"),
                                "AP@[.5:.95]": c.ap if c.ap is not None else float("nan"),
                                "recall": c.recall if c.recall is not None else float("nan")}
                 for c in sorted(e.classes, key=lambda c: -c.ground_truth_count)}
    return EvaluationResult(model=model, split=split, metrics=metrics, per_class=per_class, files=files)
