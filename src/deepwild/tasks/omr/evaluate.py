"""`deepwild eval RUN_OR_MODEL --data DIR --split test`: detection quality the way the OMR field
measures it (Pacha et al. 2018; see metrics.py), over the classes the model detects."""

from __future__ import annotations

import time
from collections import Counter
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
    names = detector.package.class_names
    groups = detector.class_groups.tolist()
    group_count = max(groups) + 1
    base = replace(detector.postprocess, class_thresholds=(), class_split_margins=())
    truth = [[(s.class_name, s.bbox) for s in page.symbols if s.class_name in set(names)] for page in val.pages]
    readings = [detector.read_page(load_grayscale(val.image_path(page)), page.image, lowest_threshold=min(thresholds))
                for page in val.pages]
    counts = Counter(name for page in truth for name, _ in page)

    def class_aps(postprocess: PostprocessConfig) -> dict[str, float]:
        found = [[(s.class_name, s.bbox, s.score) for s in detector.decode_page(r, postprocess=postprocess).symbols]
                 for r in readings]
        return {c.class_name: c.ap50 for c in evaluate_detections(truth, found).classes if c.ap50 is not None}

    def group_sums(aps: dict[str, float]) -> list[float]:
        sums = []
        for g in range(group_count):
            members = [name for name, group in zip(names, groups) if group == g and name in aps]
            core = [name for name in members if name in CORE_CLASSES]
            sums.append(sum(aps[name] for name in (core or members)))
        return sums

    def scored(what: str, candidates: dict[float, PostprocessConfig]) -> dict[float, dict[str, float]]:
        aps_by_value = {}
        for value, postprocess in candidates.items():
            aps_by_value[value] = class_aps(postprocess)
            if what:
                say(f"{what} {value}: val AP sums per group {[round(v, 3) for v in group_sums(aps_by_value[value])]}")
        return aps_by_value

    def choose(aps_by_value: dict[float, dict[str, float]]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The best value per group (ties: the first), and per class: its group's, or its own where that
        gains more than min_gain on a class with enough validation symbols."""
        per_group = tuple(max(aps_by_value, key=lambda v: group_sums(aps_by_value[v])[g]) for g in range(group_count))
        per_class = []
        for name, group in zip(names, groups):
            chosen = per_group[group]
            if counts[name] >= min_class_count:
                best = max(aps_by_value, key=lambda v: aps_by_value[v].get(name, 0.0))
                if aps_by_value[best].get(name, 0.0) > aps_by_value[chosen].get(name, 0.0) + min_gain:
                    chosen = best
            per_class.append(chosen)
        return per_group, tuple(per_class)

    group_thresholds, class_thresholds = choose(scored("energy threshold", {
        t: replace(base, energy_threshold=t, split_margin=0.0, group_thresholds=(), group_split_margins=())
        for t in thresholds}))
    tuned = replace(base, group_thresholds=group_thresholds, class_thresholds=class_thresholds)
    group_margins, class_margins = choose({**scored("", {0.0: tuned}), **scored("split margin", {
        m: replace(tuned, group_split_margins=(m,) * group_count) for m in margins})})
    chosen = replace(tuned, group_split_margins=group_margins, class_split_margins=class_margins)
    say(f"chosen: group thresholds {group_thresholds}, split margins {group_margins}; classes with their own "
        f"(threshold, margin): {own_settings(chosen, names, detector.class_groups)}")
    return chosen


def own_settings(postprocess: PostprocessConfig, names: tuple[str, ...], class_groups: np.ndarray) -> dict[str, tuple[float, float]]:
    """The classes decoded at a (threshold, split margin) other than their energy group's."""
    thresholds, margins = postprocess.thresholds_of_classes(class_groups), postprocess.margins_of_classes(class_groups)
    return {name: (float(t), float(m)) for name, t, m, g in zip(names, thresholds, margins, class_groups.tolist())
            if (t, m) != (postprocess.threshold(g), postprocess.margin(g))}


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
