"""How well a page is cut into articles, from article-id masks (0 = no article, k = article k).

- **DER**, as Meier et al. (ICDAR 2017) carry the diarization error rate of speaker diarization over to
  pages: pixels play the part of time frames and articles that of speakers. Predicted articles are
  mapped one-to-one onto true ones so that the mapped pairs share the most pixels (the Hungarian
  algorithm, as NIST's scoring does); then
  DER = (missed + false alarm + confused) / true article pixels, where missed pixels belong to a true
  article but to no predicted one, false-alarm pixels to a predicted article but to no true one, and
  confused pixels to a predicted article mapped to another true article (or to none). 0 is perfect;
  cutting nothing at all scores 1.
- **Article precision / recall / F1 at IoU ≥ 0.5**: predicted and true articles matched one-to-one by
  IoU (Hungarian, highest total IoU), a match counting when its IoU reaches 0.5.
- **Completeness**: the share of true articles matched at IoU ≥ 0.9 — "almost perfectly", as Meier
  et al. count it.
- Each also on text pixels only (`only`: a boolean mask, e.g. the ink or the layout's text blocks), so
  that blank margins and gutters, which no reader cares about, neither help nor hurt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MATCH_IOU = 0.5
COMPLETE_IOU = 0.9


@dataclass(frozen=True)
class PageScores:
    der: float
    missed: int  # pixels
    false_alarm: int
    confused: int
    reference: int  # true article pixels
    true_articles: int
    predicted_articles: int
    matched: int  # one-to-one matches at IoU ≥ MATCH_IOU
    complete: int  # true articles matched at IoU ≥ COMPLETE_IOU

    @property
    def precision(self) -> float:
        return self.matched / self.predicted_articles if self.predicted_articles else float(self.true_articles == 0)

    @property
    def recall(self) -> float:
        return self.matched / self.true_articles if self.true_articles else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def completeness(self) -> float:
        return self.complete / self.true_articles if self.true_articles else 1.0


def overlaps(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T+1, P+1) pixel counts of true id i (0 = none) under predicted id j, and the ids in each axis."""
    true_ids, true_index = np.unique(truth, return_inverse=True)
    predicted_ids, predicted_index = np.unique(predicted, return_inverse=True)
    # Make sure 0 ("none") is row/column 0 even when a mask has no background pixel.
    if true_ids[0] != 0:
        true_ids, true_index = np.r_[0, true_ids], true_index + 1
    if predicted_ids[0] != 0:
        predicted_ids, predicted_index = np.r_[0, predicted_ids], predicted_index + 1
    counts = np.bincount(true_index.ravel() * len(predicted_ids) + predicted_index.ravel(),
                         minlength=len(true_ids) * len(predicted_ids)).reshape(len(true_ids), len(predicted_ids))
    return counts, true_ids, predicted_ids


def _one_to_one(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.optimize import linear_sum_assignment

    if weights.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    return linear_sum_assignment(weights, maximize=True)


def score_page(truth: np.ndarray, predicted: np.ndarray, only: np.ndarray | None = None) -> PageScores:
    """Scores of one page from its true and predicted article-id masks (same shape; 0 = no article)."""
    if truth.shape != predicted.shape:
        raise ValueError(f"masks differ in shape: {truth.shape} vs {predicted.shape}")
    if only is not None:
        truth, predicted = truth[only], predicted[only]
    counts, _, _ = overlaps(np.asarray(truth), np.asarray(predicted))
    pairs = counts[1:, 1:]  # true article × predicted article
    rows, columns = _one_to_one(pairs)
    mapped = int(pairs[rows, columns].sum())
    reference = int(counts[1:].sum())
    missed, false_alarm = int(counts[1:, 0].sum()), int(counts[0, 1:].sum())
    confused = reference - missed - mapped
    der = (missed + false_alarm + confused) / reference if reference else float(false_alarm > 0)

    true_sizes, predicted_sizes = counts[1:].sum(axis=1), counts[:, 1:].sum(axis=0)
    union = true_sizes[:, None] + predicted_sizes[None, :] - pairs
    iou = np.divide(pairs, union, out=np.zeros(pairs.shape), where=union > 0)
    rows, columns = _one_to_one(iou)
    matched_iou = iou[rows, columns]
    return PageScores(der=float(der), missed=missed, false_alarm=false_alarm, confused=confused,
                      reference=reference, true_articles=pairs.shape[0], predicted_articles=pairs.shape[1],
                      matched=int((matched_iou >= MATCH_IOU).sum()), complete=int((matched_iou >= COMPLETE_IOU).sum()))


@dataclass(frozen=True)
class SetScores:
    """A set of pages: DER pooled over pixels (as NIST pools time), article counts pooled over pages."""

    pages: int
    der: float
    precision: float
    recall: float
    f1: float
    completeness: float
    mean_page_der: float


def score_pages(pages: list[PageScores]) -> SetScores:
    reference = sum(p.reference for p in pages)
    errors = sum(p.missed + p.false_alarm + p.confused for p in pages)
    predicted, true = sum(p.predicted_articles for p in pages), sum(p.true_articles for p in pages)
    matched, complete = sum(p.matched for p in pages), sum(p.complete for p in pages)
    precision = matched / predicted if predicted else 0.0
    recall = matched / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return SetScores(pages=len(pages), der=errors / reference if reference else 0.0, precision=precision,
                     recall=recall, f1=f1, completeness=complete / true if true else 0.0,
                     mean_page_der=float(np.mean([p.der for p in pages])) if pages else 0.0)
