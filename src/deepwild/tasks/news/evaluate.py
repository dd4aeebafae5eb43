"""`deepwild eval MODEL --data DIR --split test` for newspaper models: DER, article precision / recall /
F1 at IoU 0.5 and completeness at IoU 0.9, on all pixels and on text pixels only, pooled over the split's
pages and per page; written to the run's eval/<split>/ (JSON and CSV)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from deepwild.core.errors import InputError
from deepwild.core.io import atomic_write_json, atomic_write_text
from deepwild.core.results import EvaluationResult
from deepwild.data.newspapers import load_newspaper_dataset
from deepwild.engine.run import resolve_model, runs_root
from deepwild.tasks.news.data import read_gray, read_mask
from deepwild.tasks.news.metrics import PageScores, score_page, score_pages
from deepwild.tasks.news.segment import Segmenter


def text_pixels(gray: np.ndarray) -> np.ndarray:
    """Ink, by Otsu's threshold: the pixels a reader reads."""
    from deepwild.tasks.news.layout import otsu_threshold

    return gray < otsu_threshold(gray)


def evaluate(ref: str | Path, split: str = "test", root: str | Path | None = None,
             data: str | Path | None = None) -> EvaluationResult:
    model_dir, run = resolve_model(ref, root)
    segmenter = Segmenter.from_package(model_dir)
    folder = data or segmenter.package.data.get("folder")
    if not folder:
        raise InputError("no dataset to evaluate on", hint="pass --data DIR (made by `deepwild data newspapers`)")
    pages = load_newspaper_dataset(folder).split(split)
    if not pages:
        raise InputError(f"dataset {folder} has no {split!r} pages")
    every, text_only, rows = [], [], {}
    for page in pages:
        gray, truth = read_gray(page.image), read_mask(page.mask)
        _, predicted = segmenter.segment(gray, page.image.name)
        scores: PageScores = score_page(truth, predicted)
        on_text = score_page(truth, predicted, only=text_pixels(gray))
        every.append(scores)
        text_only.append(on_text)
        rows[page.name] = {"DER": scores.der, "F1": scores.f1, "completeness": scores.completeness,
                           "text DER": on_text.der, "articles": scores.true_articles, "found": scores.predicted_articles}
    pooled, pooled_text = score_pages(every), score_pages(text_only)
    metrics = {"pages": float(len(pages)), "DER": pooled.der, "precision": pooled.precision, "recall": pooled.recall,
               "F1": pooled.f1, "completeness": pooled.completeness, "text DER": pooled_text.der,
               "text F1": pooled_text.f1, "text completeness": pooled_text.completeness}
    out = (run.eval_dir if run else runs_root(root) / f"eval-{segmenter.package.name}") / split
    atomic_write_json(out / "metrics.json", {"model": segmenter.package.name, "split": split, "data": str(folder),
                                             "metrics": metrics, "pages": rows})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["page", *next(iter(rows.values())).keys()])
    for name, row in rows.items():
        writer.writerow([name, *row.values()])
    atomic_write_text(out / "pages.csv", buffer.getvalue())
    return EvaluationResult(model=segmenter.package.name, split=split, metrics=metrics, per_class=rows,
                            files=(str(out / "metrics.json"), str(out / "pages.csv")))
