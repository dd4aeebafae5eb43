"""`deepwild robust`: attacks and adversarial-input detectors on a trained classifier of any task, with
the table of Amirian et al. in the run and its report; and the calibration of the entropy detector
that deployment uses (`predict` and the service flag suspicious inputs).

A classifier task module offers `classifier_inputs(package, run, part) -> (images, labels)`: its inputs
of a split as the model takes them (digits and music-symbol crops).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np
import torch

from deepwild.core.charts import Series, grid, line_chart
from deepwild.core.errors import ConfigError, DeepwildError
from deepwild.core.io import atomic_write_json, atomic_write_text
from deepwild.core.package import ModelPackage, read_model_package, update_model_package
from deepwild.engine.run import RunDir, runs_root
from deepwild.interpret.sections import Figure, Section, section_dir, write_section
from deepwild.robust.base import check_epsilon
from deepwild.robust.entropy import EntropyDetector, EntropySettings
from deepwild.robust.evaluate import (FALSE_POSITIVE_RATES, AttackPlan, DetectionTable, check_false_positive_rate,
                                      clean_threshold, detection_table)
from deepwild.tasks import load_task
from deepwild.tasks.classification import load_classifier
from deepwild.tasks.model_probe import resolve_named_model

KEY = "robust"
CLASSIFIER_TASKS = ("digits", "symbols")
L_INF_ATTACKS = ("fgsm", "bim", "pgd")


@dataclass(frozen=True)
class RobustConfig:
    attacks: tuple[str, ...] = ("fgsm", "pgd", "deepfool", "cw")
    epsilons: tuple[float, ...] = (0.1, 0.2)  # each L∞ attack (fgsm, bim, pgd) at each ε; inputs lie in [0, 1]
    detectors: tuple[str, ...] = ("entropy", "mahalanobis", "lid", "kd+bu", "squeeze")
    inputs: int = 300  # test inputs scored (the correctly classified ones are attacked)
    fit_inputs: int = 1000  # training inputs the detectors learn clean data from
    folds: int = 5  # cross-validation of the supervised detectors' logistic regression
    seed: int = 0

    def validate(self) -> None:
        from deepwild.robust.attacks import ATTACKS
        from deepwild.robust.baselines import BASELINES

        unknown = [a for a in self.attacks if a not in ATTACKS]
        if unknown:
            raise ConfigError(f"unknown attack {', '.join(unknown)}; valid: {', '.join(ATTACKS)}")
        unknown = [d for d in self.detectors if d != EntropyDetector.name and d not in BASELINES]
        if unknown:
            raise ConfigError(f"unknown detector {', '.join(unknown)}; valid: entropy, {', '.join(BASELINES)}")
        for epsilon in self.epsilons:
            check_epsilon(epsilon)
        if self.inputs < 10 or self.fit_inputs < 10 or self.folds < 2:
            raise ConfigError("inputs and fit_inputs must be at least 10, folds at least 2")

    def plans(self) -> list[AttackPlan]:
        return [AttackPlan(attack, epsilon) for attack in self.attacks
                for epsilon in (self.epsilons if attack in L_INF_ATTACKS else (None,))]


@dataclass(frozen=True)
class RobustnessOutcome:
    table: DetectionTable
    folder: Path  # where the table and figures were written
    run: RunDir | None
    files: tuple[Path, ...] = field(default=())


@dataclass(frozen=True)
class Calibration:
    model: str
    detector: str
    settings: dict[str, Any]
    threshold: float
    false_positive_rate: float  # asked for
    clean_flagged: float  # share of the calibration inputs above the threshold
    inputs: int
    split: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_classifier_task(ref: str | Path, root: str | Path | None) -> tuple[ModelPackage, torch.nn.Module, RunDir | None, Any]:
    """A classifier model (run or package) with its task module; any other model is refused in one line."""
    model_dir, run = resolve_named_model(ref, root)
    package = read_model_package(model_dir)
    if package.task not in CLASSIFIER_TASKS:
        raise DeepwildError(f"{package.name} is a {package.task} model, not a classifier: attacks and adversarial "
                            f"detectors here work on classifiers ({', '.join(CLASSIFIER_TASKS)})")
    package, model = load_classifier(model_dir, package.task)
    return package, model, run, load_task(package.task)


def sample(images: torch.Tensor, labels: np.ndarray | torch.Tensor, count: int, seed: int,
           every_class: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded choice of `count` inputs; with `every_class`, each class gets an equal share first (all of
    it, if it has fewer), so that detectors that model each class (Mahalanobis, KD) know every class."""
    labels = torch.as_tensor(labels).long()
    if len(images) <= count:
        return images, labels
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(images), dtype=bool)
    if every_class:
        classes = labels.unique()
        share = max(count // len(classes), 1)
        for label in classes.tolist():
            members = np.flatnonzero(labels.numpy() == label)
            chosen[rng.choice(members, min(share, len(members)), replace=False)] = True
    rest = np.flatnonzero(~chosen)
    chosen[rng.choice(rest, max(count - int(chosen.sum()), 0), replace=False)] = True
    index = torch.from_numpy(np.flatnonzero(chosen))
    return images[index], labels[index]


def make_detectors(names: tuple[str, ...]) -> list[Any]:
    from deepwild.robust.baselines import make_baseline

    return [EntropyDetector() if name == EntropyDetector.name else make_baseline(name) for name in names]


def robustness(ref: str | Path, config: RobustConfig = RobustConfig(), root: str | Path | None = None,
               log: Callable[[str], None] = lambda _: None) -> RobustnessOutcome:
    """Attack the model's test inputs and score every detector; write the table, ROC figures and a report
    section into the run (or `<runs>/robust-<model>/` for a package without a run)."""
    from deepwild.robust.attacks import run_attack

    config.validate()
    package, model, run, task = load_classifier_task(ref, root)
    seed = config.seed
    fit_images, fit_labels = sample(*task.classifier_inputs(package, run, "train"), config.fit_inputs, seed,
                                    every_class=True)
    images, labels = sample(*task.classifier_inputs(package, run, "test"), config.inputs, seed + 1)
    table = detection_table(model, package.name, make_detectors(config.detectors), config.plans(), fit_images,
                            fit_labels, images, labels, run_attack, folds=config.folds, seed=seed, log=log)
    base = run.path if run is not None else runs_root(root) / f"robust-{package.name}"
    folder = section_dir(base, KEY)
    files = write_table(table, folder, config)
    write_section(base, robust_section(table, config, [f.name for f in files if f.suffix == ".svg"]))
    return RobustnessOutcome(table, folder, run, tuple(files))


def write_table(table: DetectionTable, folder: Path, config: RobustConfig) -> list[Path]:
    atomic_write_json(folder / "table.json", {**table.to_json(), "config": dataclasses.asdict(config)})
    atomic_write_text(folder / "table.md", table.markdown() + "\n")
    target = folder / "roc.svg"
    atomic_write_text(target, roc_figure(table))
    return [folder / "table.json", folder / "table.md", target]


def roc_figure(table: DetectionTable) -> str:
    """One ROC chart per attack, a curve per detector; the diagonal is chance."""
    charts = []
    for attack in table.attacks:
        series = [Series("chance", (0.0, 1.0), (0.0, 1.0), color="#bbbbbb", dashed=True)]
        for score in (s for s in table.scores if s.attack == attack.label and s.roc[0]):
            series.append(Series(f"{score.detector} {score.auroc:.2f}", score.roc[0], score.roc[1]))
        charts.append(line_chart(f"{attack.label}: {attack.succeeded}/{attack.attacked} succeeded", series,
                                 x_label="false-positive rate", y_range=(0.0, 1.0), width=340, height=260))
    return grid(charts, columns=3)


def robust_section(table: DetectionTable, config: RobustConfig, figures: list[str]) -> Section:
    supervised = sorted({s.detector for s in table.scores if s.supervised})
    text = (f"{table.correct} of {table.inputs} test inputs were classified correctly and attacked; only the "
            f"successful attacks count. Clean side of each ROC: the same inputs before the attack. The entropy "
            f"detector (Amirian et al. 2018) and feature squeezing use one threshold on their score and never see "
            f"an attack; {', '.join(supervised) or 'no detector'} combine their characteristics with a logistic "
            f"regression fitted, as in their papers, on adversarial examples of the attack scored "
            f"({config.folds}-fold cross-validated). Detection rate at 1 / 5 / 10 % false positives as in the paper.")
    rows = [{"attack": s.attack, "detector": s.detector + (" (supervised)" if s.supervised else ""), "AUROC": s.auroc,
             **{f"DR@{r:.0%} FPR": s.detection_rate[r] for r in FALSE_POSITIVE_RATES}, "adversarial": s.adversarial}
            for s in table.scores]
    attacks = [{"attack": a.label, "attacked": a.attacked, "succeeded": a.succeeded, "success rate": a.success_rate,
                "mean L∞": a.mean_linf, "mean L2": a.mean_l2, "seconds": a.seconds} for a in table.attacks]
    return Section(key=KEY, title="Adversarial inputs: attacks and detectors", order=70, text=text,
                   figures=tuple(Figure(f"interpret/{KEY}/{name}", "ROC per attack; AUROC in the legend")
                                 for name in figures),
                   tables=(attacks, rows), extra={"model": table.model})


def calibrate(ref: str | Path, false_positive_rate: float, root: str | Path | None = None,
              settings: EntropySettings = EntropySettings()) -> Calibration:
    """Set the entropy detector's threshold on the model's clean validation inputs so that it flags
    `false_positive_rate` of them, and save it in the model package (`model.json`, "adversarial")."""
    check_false_positive_rate(false_positive_rate)
    package, model, run, task = load_classifier_task(ref, root)
    images, _ = task.classifier_inputs(package, run, "val")
    detector = EntropyDetector(settings)
    scores = detector.characteristics(model, images)[:, 0]
    threshold = clean_threshold(scores, false_positive_rate)
    calibration = Calibration(model=package.name, detector=detector.name, settings=dataclasses.asdict(settings),
                              threshold=threshold, false_positive_rate=false_positive_rate,
                              clean_flagged=float((scores > threshold).mean()), inputs=len(scores), split="val")
    model_dir, _ = resolve_named_model(ref, root)
    update_model_package(model_dir, adversarial=calibration.to_json())
    return calibration


# ---- the music symbol detector: whole pages (tasks.omr.adversarial) ----------------------------------

def detector_pages(ref: str | Path, root: str | Path | None, data: str | Path | None, split: str,
                   count: int | None = None) -> tuple[Any, Path, RunDir | None, Iterator[tuple[str, np.ndarray]]]:
    """A detector model with clean pages of a dataset split (default: the data it was trained on), each page
    read when it is reached (a page is ~9 MB as floats: never all of them at once)."""
    from deepwild.core.images import load_grayscale
    from deepwild.data.dataset_folder import load_symbol_dataset
    from deepwild.tasks.omr.detect import Detector

    model_dir, run = resolve_named_model(ref, root)
    detector = Detector.load(model_dir)
    folder = data or detector.package.data.get("folder")
    if not folder:
        raise DeepwildError("no score pages to use", hint="pass --data DIR (made by `deepwild data scores`)")
    dataset = load_symbol_dataset(folder)
    chosen = dataset.pages if split == "all" else dataset.split(split).pages
    if not chosen:
        raise DeepwildError(f"dataset {folder} has no {split!r} pages")
    pages = ((page.image, load_grayscale(dataset.root / page.image)) for page in chosen[:count])
    return detector, model_dir, run, pages


def calibrate_detector(ref: str | Path, false_positive_rate: float, root: str | Path | None = None,
                       data: str | Path | None = None, split: str = "val") -> Any:
    """The page detector's threshold on clean pages, saved in the detector's package."""
    from deepwild.tasks.omr.adversarial import calibrate_pages

    check_false_positive_rate(false_positive_rate)
    detector, model_dir, _, pages = detector_pages(ref, root, data, split)
    return calibrate_pages(detector, model_dir, pages, false_positive_rate, split)


def detector_robustness(ref: str | Path, attacks: tuple[str, ...], epsilons: tuple[float, ...], pages: int,
                        root: str | Path | None = None, data: str | Path | None = None, split: str = "test",
                        seed: int = 0, log: Callable[[str], None] = lambda _: None) -> tuple[Any, Path]:
    """Attack the inkiest tiles of `pages` test pages; the entropy score's AUROC on tiles and pages, written
    to `<run or runs/robust-<model>>/interpret/robust/pages.{json,md}`."""
    from deepwild.tasks.omr.adversarial import check_attacks, page_robustness

    check_attacks(attacks)
    for epsilon in epsilons:
        check_epsilon(epsilon)
    detector, _, run, chosen = detector_pages(ref, root, data, split, pages)
    result = page_robustness(detector, chosen, attacks, epsilons, seed, log)
    folder = section_dir(run.path if run is not None else runs_root(root) / f"robust-{detector.package.name}", KEY)
    atomic_write_json(folder / "pages.json", result.to_json())
    atomic_write_text(folder / "pages.md", result.markdown() + "\n")
    return result, folder
