"""Attacks against detectors, side by side: the table of Amirian et al. (AUROC and detection rate at
1 / 5 / 10 % false positives), for every attack and detector on the same inputs.

Protocol (the one the detectors' papers share):
- the detectors learn clean inputs from `fit_images` (the classifier's training inputs);
- of the scored inputs, only those the model classifies correctly are attacked, and only the attacks
  that succeed (the adversarial input is misclassified) are counted; the clean side of the ROC is the
  same inputs before the attack, so both sides hold the same images;
- an unsupervised detector's score is used as it is (one threshold decides);
- a supervised detector's characteristics are combined by a logistic regression, as in its paper, that
  sees labelled adversarial examples of the very attack it is scored on: to score every input on a
  model that did not see it, the regression is cross-validated (`folds`), an input's clean and
  adversarial versions always in the same fold. That is the setting of the papers' tables, and an
  advantage over the entropy detector, which never sees an attack.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from deepwild.core.errors import ConfigError
from deepwild.robust.base import AttackResult, Detector

FALSE_POSITIVE_RATES = (0.01, 0.05, 0.10)


@dataclass(frozen=True)
class AttackPlan:
    """One attack to run: its name and settings (ε for the L∞ attacks)."""

    attack: str
    epsilon: float | None = None

    @property
    def label(self) -> str:
        return f"{self.attack} ε={self.epsilon:g}" if self.epsilon is not None else self.attack


@dataclass(frozen=True)
class AttackSummary:
    label: str
    attacked: int  # correctly classified inputs the attack was run on
    succeeded: int  # of them, misclassified after the attack
    mean_linf: float  # over the successful ones
    mean_l2: float
    seconds: float

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.attacked if self.attacked else 0.0


@dataclass(frozen=True)
class DetectionScore:
    detector: str
    attack: str  # the attack's label
    supervised: bool
    auroc: float
    detection_rate: dict[float, float]  # false-positive rate → share of adversarial inputs flagged
    clean: int
    adversarial: int
    roc: tuple[tuple[float, ...], tuple[float, ...]] = field(default=((), ()), repr=False)  # (fpr, tpr)


@dataclass(frozen=True)
class DetectionTable:
    model: str
    inputs: int  # inputs scored (before keeping the correctly classified ones)
    correct: int
    attacks: tuple[AttackSummary, ...]
    scores: tuple[DetectionScore, ...]
    detector_seconds: dict[str, float]  # detector → seconds per scored input (characteristics only)

    def score(self, detector: str, attack: str) -> DetectionScore:
        return next(s for s in self.scores if s.detector == detector and s.attack == attack)

    def to_json(self) -> dict[str, object]:
        return {"model": self.model, "inputs": self.inputs, "correct": self.correct,
                "attacks": [{**vars(a), "success_rate": a.success_rate} for a in self.attacks],
                "scores": [{"detector": s.detector, "attack": s.attack, "supervised": s.supervised, "auroc": s.auroc,
                            "detection_rate": {f"{k:g}": v for k, v in s.detection_rate.items()},
                            "clean": s.clean, "adversarial": s.adversarial} for s in self.scores],
                "detector_seconds_per_input": self.detector_seconds}

    def markdown(self) -> str:
        """The paper's table: per attack and detector, AUROC and detection rate at each false-positive rate."""
        rates = " | ".join(f"DR@{r:.0%} FPR" for r in FALSE_POSITIVE_RATES)
        lines = [f"| attack | success | detector | AUROC | {rates} |",
                 "|---|---|---|---|" + "---|" * len(FALSE_POSITIVE_RATES)]
        for attack in self.attacks:
            for s in (s for s in self.scores if s.attack == attack.label):
                name = f"{s.detector} (supervised)" if s.supervised else s.detector
                cells = " | ".join(f"{s.detection_rate[r]:.3f}" for r in FALSE_POSITIVE_RATES)
                lines.append(f"| {attack.label} | {attack.succeeded}/{attack.attacked} | {name} | {s.auroc:.3f} | {cells} |")
        return "\n".join(lines)


def roc(clean: np.ndarray, adversarial: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUROC (scikit-learn's) and the ROC curve of scores where higher means adversarial."""
    from sklearn.metrics import roc_auc_score, roc_curve

    truth = np.r_[np.zeros(len(clean)), np.ones(len(adversarial))]
    scores = np.r_[clean, adversarial]
    fpr, tpr, _ = roc_curve(truth, scores)
    return float(roc_auc_score(truth, scores)), fpr, tpr


def detection_rate_at(clean: np.ndarray, adversarial: np.ndarray, false_positive_rate: float) -> float:
    """The share of adversarial inputs scored above the threshold that flags at most
    `false_positive_rate` of the clean ones (the threshold a deployment would set on clean data)."""
    threshold = clean_threshold(clean, false_positive_rate)
    return float((adversarial > threshold).mean()) if len(adversarial) else 0.0


def check_false_positive_rate(false_positive_rate: float) -> float:
    if not 0.0 < false_positive_rate < 1.0:
        raise ConfigError(f"the false-positive rate must lie strictly between 0 and 1, got {false_positive_rate}")
    return false_positive_rate


def clean_threshold(clean: np.ndarray, false_positive_rate: float) -> float:
    """The smallest score that at most `false_positive_rate` of the clean scores exceed."""
    ordered = np.sort(clean)[::-1]
    allowed = int(np.floor(false_positive_rate * len(ordered)))  # clean inputs that may lie above
    if allowed >= len(ordered):
        return float(ordered[-1]) - 1e-12
    return float(ordered[allowed])


def cross_validated_scores(clean: np.ndarray, adversarial: np.ndarray, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities of a standardised logistic regression on paired characteristics
    (row i of `clean` and of `adversarial` are one input before and after the attack)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    count = len(clean)
    folds = max(2, min(folds, count))
    assignment = np.random.default_rng(seed).permutation(count) % folds
    clean_scores, adversarial_scores = np.zeros(count), np.zeros(count)
    for fold in range(folds):
        held = assignment == fold
        features = np.r_[clean[~held], adversarial[~held]]
        truth = np.r_[np.zeros((~held).sum()), np.ones((~held).sum())]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        model.fit(np.nan_to_num(features), truth)
        clean_scores[held] = model.predict_proba(np.nan_to_num(clean[held]))[:, 1]
        adversarial_scores[held] = model.predict_proba(np.nan_to_num(adversarial[held]))[:, 1]
    return clean_scores, adversarial_scores


AttackRunner = Callable[..., AttackResult]


def detection_table(model: nn.Module, model_name: str, detectors: Sequence[Detector], plans: Sequence[AttackPlan],
                    fit_images: torch.Tensor, fit_labels: torch.Tensor, images: torch.Tensor, labels: torch.Tensor,
                    run_attack: AttackRunner, folds: int = 5, seed: int = 0,
                    log: Callable[[str], None] = lambda _: None) -> DetectionTable:
    """Every attack in `plans` on the correctly classified `images`, every detector on the successful ones."""
    if not plans or not detectors:
        raise ConfigError("name at least one attack and one detector")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            predicted = torch.cat([model(images[i:i + 256]).argmax(dim=1) for i in range(0, len(images), 256)])
        correct = predicted == labels
        x, y = images[correct], labels[correct]
        clean_characteristics, detector_seconds = {}, {}
        for detector in detectors:
            detector.fit(model, fit_images, fit_labels)
            start = time.perf_counter()
            clean_characteristics[detector.name] = np.asarray(detector.characteristics(model, x), np.float64)
            detector_seconds[detector.name] = (time.perf_counter() - start) / max(len(x), 1)
            log(f"{detector.name}: fitted; {detector_seconds[detector.name] * 1000:.1f} ms per input")
        summaries, scores = [], []
        for plan in plans:
            start = time.perf_counter()
            result = run_attack(plan.attack, model, x, y, epsilon=plan.epsilon, seed=seed)
            seconds = time.perf_counter() - start
            success = result.success.cpu().numpy()
            summaries.append(AttackSummary(plan.label, len(x), int(success.sum()),
                                           float(result.linf[result.success].mean()) if success.any() else 0.0,
                                           float(result.l2[result.success].mean()) if success.any() else 0.0, seconds))
            log(f"{plan.label}: {int(success.sum())}/{len(x)} succeeded in {seconds:.1f} s")
            adversarial_inputs = result.adversarial[result.success]
            for detector in detectors:
                clean = clean_characteristics[detector.name][success]
                adversarial = np.asarray(detector.characteristics(model, adversarial_inputs), np.float64)
                scores.append(score_detector(detector, plan.label, clean, adversarial, folds, seed))
    finally:
        model.train(was_training)
    return DetectionTable(model_name, len(images), int(correct.sum()), tuple(summaries), tuple(scores), detector_seconds)


def score_detector(detector: Detector, attack: str, clean: np.ndarray, adversarial: np.ndarray, folds: int,
                   seed: int) -> DetectionScore:
    if len(adversarial) < 2:  # nothing to tell apart: an attack that (nearly) never succeeded
        nan = float("nan")
        return DetectionScore(detector.name, attack, detector.supervised, nan, {r: nan for r in FALSE_POSITIVE_RATES},
                              len(clean), len(adversarial))
    if detector.supervised:
        clean_scores, adversarial_scores = cross_validated_scores(clean, adversarial, folds, seed)
    else:
        clean_scores, adversarial_scores = clean[:, 0], adversarial[:, 0]
    auroc, fpr, tpr = roc(clean_scores, adversarial_scores)
    rates = {r: detection_rate_at(clean_scores, adversarial_scores, r) for r in FALSE_POSITIVE_RATES}
    return DetectionScore(detector.name, attack, detector.supervised, auroc, rates, len(clean), len(adversarial),
                          (tuple(float(v) for v in fpr), tuple(float(v) for v in tpr)))
