"""Article segmentation metrics: DER (Meier et al.'s diarization error rate over pixels), article
P/R/F1 at IoU 0.5 and completeness at IoU 0.9 — checked against brute force and hand-made pages."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from deepwild.tasks.news.metrics import score_page, score_pages


def brute_force(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, int, int]:
    """DER, matches at IoU ≥ 0.5 and at ≥ 0.9, trying every one-to-one map of predicted onto true articles."""
    true_ids = [t for t in np.unique(truth) if t]
    predicted_ids = [p for p in np.unique(predicted) if p]
    reference = int((truth > 0).sum())
    best_errors, best_iou = None, None
    slots = true_ids + [None] * len(predicted_ids)  # None: mapped to no true article
    for targets in itertools.permutations(slots, len(predicted_ids)):
        mapping = dict(zip(predicted_ids, targets))
        errors = 0
        for t, p in zip(truth.ravel(), predicted.ravel()):
            if t and not p:
                errors += 1  # missed
            elif p and not t:
                errors += 1  # false alarm
            elif t and p and mapping[p] != t:
                errors += 1  # confused
        ious = []
        for p, t in mapping.items():
            if t is not None:
                inter = ((truth == t) & (predicted == p)).sum()
                ious.append(inter / ((truth == t) | (predicted == p)).sum())
        best_errors = errors if best_errors is None else min(best_errors, errors)
        total = sum(ious)
        if best_iou is None or total > best_iou[0]:
            best_iou = (total, ious)
    ious = best_iou[1] if best_iou else []
    return best_errors / reference, sum(i >= 0.5 for i in ious), sum(i >= 0.9 for i in ious)


@pytest.mark.parametrize("seed", range(12))
def test_der_and_matches_agree_with_brute_force(seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, (6, 7))  # up to 3 articles
    predicted = np.where(rng.random((6, 7)) < 0.7, truth, rng.integers(0, 5, (6, 7)))  # noisy, ids shuffled below
    predicted = np.vectorize({0: 0, 1: 3, 2: 1, 3: 4, 4: 2}.get)(predicted)
    scores = score_page(truth, predicted)
    der, matched, complete = brute_force(truth, predicted)
    assert scores.der == pytest.approx(der)
    assert (scores.matched, scores.complete) == (matched, complete)


def page(*rows: str) -> np.ndarray:
    return np.array([[int(c) for c in row] for row in rows])


def test_hand_made_pages():
    truth = page("1122", "1122", "3333")
    perfect = score_page(truth, truth * 7)  # ids need not agree, only the partition
    assert perfect.der == 0.0 and perfect.f1 == 1.0 and perfect.completeness == 1.0
    nothing = score_page(truth, np.zeros_like(truth))
    assert nothing.der == 1.0 and nothing.recall == 0.0 and nothing.precision == 0.0
    merged = score_page(truth, page("1111", "1111", "3333"))  # two articles cut as one
    assert merged.der == pytest.approx(4 / 12)  # the smaller half is confused
    assert merged.matched == 2 and merged.complete == 1  # IoU 0.5 still counts as found, not as complete
    noise = score_page(page("0000", "0110"), page("2200", "0110"))
    assert noise.false_alarm == 2 and noise.der == pytest.approx(1.0)
    ink = truth > 0
    ink[0, :] = False
    only_text = score_page(truth, page("0022", "1122", "3333"), only=ink)
    assert only_text.der == 0.0  # the wrong pixels lie outside the text
    with pytest.raises(ValueError):
        score_page(truth, truth[:2])


def test_pooled_scores_weigh_pages_by_their_pixels_and_articles():
    big = score_page(np.ones((10, 10), int), np.ones((10, 10), int))
    small = score_page(page("12"), page("11"))
    pooled = score_pages([big, small])
    assert pooled.der == pytest.approx(1 / 102) and pooled.mean_page_der == pytest.approx(0.25)
    assert pooled.recall == pytest.approx(2 / 3) and pooled.precision == 1.0
