"""The slide "add depth to learn features automatically": one task solved twice on the same split, by
hand-made features and an SVM, and by a small CNN that learns its features (see `lecture.classical`).

Two tasks: scikit-learn's digits (upsampled to 32 px) and music-symbol crops (`data.symbol_crops`) of a
score dataset — a folder made by `deepwild data scores`, or, without one, a few pages engraved once into
`<runs>/.cache/` (about 1.5 s a page). The split is stratified over the crops (not over pages: a lecture
comparison, not a benchmark). Both contenders are trained on growing prefixes of one class-balanced
order of the training split — the learning curve — and tested on the same test split. The lecture's
point: with little data the hand-made features often win; with more, the learned ones catch up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from deepwild.core.config import config_to_dict
from deepwild.core.errors import ConfigError
from deepwild.core.figures import pyplot, save_figure
from deepwild.data.digits import CLASS_NAMES, load_digits_arrays, upsample
from deepwild.data.splits import stratified_split
from deepwild.engine.records import mark_run
from deepwild.engine.run import RunDir, runs_root
from deepwild.lecture.classical import (CLASSICAL, DEEP, CNNSettings, Score, balanced_order, classical_pipeline,
                                        deep_pipeline, hog_picture)
from deepwild.lecture.page import Section, write_lecture_page

DATASETS = ("digits", "symbols", "both")
IMAGE_SIZE = 32  # digits are upsampled to it; symbol crops are cut at it
INTRO = ("The same task solved twice on the same split: HOG and LBP features into an SVM (hand-made), and a "
         "small CNN that learns its features from the pixels. Both are trained on growing training sets.")


@dataclass(frozen=True)
class ClassicalVsDeepConfig:
    dataset: Literal["digits", "symbols", "both"] = "both"
    data: str | None = None  # a score dataset folder; None = pages engraved into the runs' cache
    pages: int = 8  # pages engraved when there is no --data
    sizes: int = 5  # training-set sizes of the learning curve (log-spaced up to the whole training split)
    smallest: int = 50  # the smallest training set
    test_fraction: float = 0.3
    min_count: int = 40  # symbol classes with fewer crops are left out
    max_per_class: int = 120  # crops per symbol class, a seeded choice (stems would otherwise dominate)
    cnn: CNNSettings = field(default_factory=CNNSettings)
    featvis: bool = True  # optimised inputs for the final CNN's channels (a few seconds)
    threads: int = 1
    seed: int = 0

    def validate(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}; valid: {', '.join(DATASETS)}")
        if self.pages < 1 or self.sizes < 1 or self.smallest < 2 or self.min_count < 2:
            raise ConfigError("pages and sizes must be at least 1, smallest and min_count at least 2")
        cnn = self.cnn
        if min(cnn.steps, cnn.min_steps, cnn.batch_size, cnn.width) < 1 or cnn.lr <= 0 or cnn.epochs <= 0:
            raise ConfigError("cnn.steps, cnn.min_steps, cnn.batch_size, cnn.width, cnn.epochs and cnn.lr must be "
                              "positive", hint="e.g. --steps 600")
        if not 0 < self.test_fraction < 1 or self.max_per_class < 0 or self.threads < 0:
            raise ConfigError("test_fraction must lie in (0, 1); max_per_class and threads not negative")


@dataclass(frozen=True)
class LabelledImages:
    name: str
    images: torch.Tensor  # (N, 1, S, S) in [0, 1], ink bright
    labels: np.ndarray  # (N,)
    class_names: tuple[str, ...]
    source: str  # where the images come from, for the page


@dataclass(frozen=True)
class Comparison:
    dataset: str
    classes: int
    train_size: int
    test_size: int
    scores: tuple[Score, ...]  # both methods at every training-set size
    figure: Path  # inputs, their HOG, the CNN's first-layer filters
    featvis: Path | None

    def at(self, method: str) -> list[Score]:
        return [s for s in self.scores if s.method == method]


@dataclass(frozen=True)
class ClassicalVsDeepResult:
    comparisons: tuple[Comparison, ...]
    curves: Path
    page: Path
    run: RunDir


def digits_images() -> LabelledImages:
    images, labels = load_digits_arrays()
    return LabelledImages("digits", upsample(images, IMAGE_SIZE), labels, CLASS_NAMES,
                          "scikit-learn's 1,797 handwritten digits, 8×8 upsampled to 32×32")


def symbol_images(config: ClassicalVsDeepConfig, root: str | Path | None) -> LabelledImages:
    """Crops of every page of the dataset folder (or of pages engraved into the cache once)."""
    from collections import Counter

    from deepwild.data.dataset_folder import load_symbol_dataset
    from deepwild.data.symbol_crops import CropSettings, choose_classes, extract_crops

    folder = Path(config.data) if config.data else engraved_pages(config.pages, config.seed, root)
    dataset = load_symbol_dataset(folder)
    counts = Counter(symbol.class_name for page in dataset.pages for symbol in page.symbols)
    classes, _ = choose_classes(counts, config.min_count)
    if len(classes) < 2:
        raise ConfigError(f"only {len(classes)} symbol class(es) of {folder} have {config.min_count} symbols",
                          hint="more pages (--pages), or a larger dataset (--data)")
    crops = extract_crops(dataset, classes, CropSettings(crop_size=IMAGE_SIZE), config.max_per_class, config.seed)
    return LabelledImages("symbols", crops.images, crops.labels, crops.class_names,
                          f"{len(crops)} symbol crops of {len(dataset.pages)} score pages ({folder})")


def engraved_pages(pages: int, seed: int, root: str | Path | None) -> Path:
    """A small score dataset in the runs' cache, engraved on first use and reused after."""
    from deepwild.datagen.scores.generate import ScoreDataConfig, generate_scores

    folder = runs_root(root) / ".cache" / f"lecture-scores-{pages}p-seed{seed}"
    if not (folder / "manifest.json").is_file():
        generate_scores(ScoreDataConfig(pages=pages, seed=seed), folder)
    return folder


def training_sizes(train_count: int, config: ClassicalVsDeepConfig) -> list[int]:
    smallest = min(config.smallest, train_count)
    return sorted({int(round(s)) for s in np.geomspace(smallest, train_count, config.sizes)})


def compare(data: LabelledImages, config: ClassicalVsDeepConfig, run: RunDir) -> Comparison:
    split = stratified_split(data.labels, 0.0, config.test_fraction, config.seed)
    train, test = np.array(split.train + split.val, np.int64), np.array(split.test, np.int64)
    order = train[balanced_order(data.labels[train], config.seed)]
    test_x, test_y = data.images[test], data.labels[test]
    scores, model = [], None
    for size in training_sizes(len(order), config):
        chosen = order[:size]
        train_x, train_y = data.images[chosen], data.labels[chosen]
        scores.append(classical_pipeline(train_x, train_y, test_x, test_y, config.seed))
        deep, model = deep_pipeline(train_x, train_y, test_x, test_y, len(data.class_names), config.cnn)
        scores.append(deep)
        for score in scores[-2:]:
            run.append_metrics({"kind": "score", "dataset": data.name, **score.__dict__})
    figure = plot_features(data, test_x[:6], test_y[:6], model, run.plots / f"features_{data.name}.png")
    featvis = feature_pictures(model, data, test_x, test_y, config, run) if config.featvis else None
    return Comparison(data.name, len(data.class_names), len(order), len(test), tuple(scores), figure, featvis)


def run_classical_vs_deep(config: ClassicalVsDeepConfig, root: str | Path | None = None,
                          name: str | None = None) -> ClassicalVsDeepResult:
    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    chosen = ("digits", "symbols") if config.dataset == "both" else (config.dataset,)
    datasets = [digits_images() if d == "digits" else symbol_images(config, root) for d in chosen]  # errors first
    run = RunDir.create("lecture-classical-vs-deep", root, name)
    run.write_config({"task": "lecture-classical-vs-deep", **config_to_dict(config)})
    comparisons = tuple(compare(data, config, run) for data in datasets)
    curves = plot_learning_curves(comparisons, run.plots / "learning_curves.png")
    page = write_lecture_page(run, "Hand-made features or learned ones?", INTRO, page_sections(comparisons, datasets, curves),
                              summary(comparisons))
    largest = {f"{c.dataset}_{'svm' if s.method == CLASSICAL else 'cnn'}_accuracy": s.accuracy
               for c in comparisons for s in c.scores[-2:]}
    mark_run(run, "lecture-classical-vs-deep", "finished", metrics=largest)
    return ClassicalVsDeepResult(comparisons, curves, page, run)


def score_table(comparison: Comparison) -> list[list[Any]]:
    rows: list[list[Any]] = [["training images", "method", "test accuracy", "train s", "inference ms/image"]]
    for score in comparison.scores:
        rows.append([score.train_size, score.method, f"{score.accuracy:.3f}", f"{score.train_seconds:.2f}",
                     f"{score.infer_ms:.3f}"])
    return rows


def summary(comparisons: tuple[Comparison, ...]) -> dict[str, Any]:
    return {c.dataset: {"classes": c.classes, "train": c.train_size, "test": c.test_size,
                        "scores": [s.__dict__ for s in c.scores]} for c in comparisons}


def page_sections(comparisons: tuple[Comparison, ...], datasets: list[LabelledImages], curves: Path) -> list[Section]:
    sections = [Section("Learning curves", "Test accuracy and training time of both over training-set sizes.",
                        picture=curves)]
    for comparison, data in zip(comparisons, datasets):
        sections.append(Section(f"{comparison.dataset}: {comparison.classes} classes, {comparison.test_size} test images",
                                data.source, picture=comparison.figure, table=score_table(comparison)))
        if comparison.featvis is not None:
            sections.append(Section(f"{comparison.dataset}: what the CNN's channels respond to",
                                    "Inputs optimised to excite channels of the last CNN (rows: layers), beside the "
                                    "test inputs that excite them most.", picture=comparison.featvis))
    return sections


def plot_features(data: LabelledImages, inputs: torch.Tensor, labels: np.ndarray, model: torch.nn.Module,
                  target: Path) -> Path:
    """Top: inputs and their HOG (what the classical pipeline sees); bottom: the CNN's 3×3 first-layer filters."""
    plt = pyplot()
    filters = model.conv1[0].weight.detach()[:, 0].numpy()  # (width, 3, 3)
    columns = max(len(inputs), 8)
    filter_rows = -(-len(filters) // columns)
    fig, axes = plt.subplots(2 + filter_rows, columns, figsize=(1.5 * columns, 1.6 * (2 + filter_rows)), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for column, image in enumerate(inputs[:, 0].numpy()):
        axes[0, column].imshow(image, cmap="gray", vmin=0, vmax=1)
        axes[0, column].text(0.5, -0.08, data.class_names[labels[column]], fontsize=7, ha="center", va="top",
                             transform=axes[0, column].transAxes)
        axes[1, column].imshow(hog_picture(image), cmap="magma")
    axes[0, 0].set_title("inputs", fontsize=8, loc="left")
    axes[1, 0].set_title("their HOG (hand-made)", fontsize=8, loc="left")
    bound = float(np.abs(filters).max())
    for index, kernel in enumerate(filters):
        axis = axes[2 + index // columns, index % columns]
        axis.imshow(kernel, cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
    axes[2, 0].set_title("CNN first-layer filters (learned, 3×3)", fontsize=8, loc="left")
    fig.suptitle(f"{data.name}: hand-made features vs learned filters", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, target, dpi=100)


def feature_pictures(model: torch.nn.Module, data: LabelledImages, test_x: torch.Tensor, test_y: np.ndarray,
                     config: ClassicalVsDeepConfig, run: RunDir) -> Path:
    from deepwild.interpret.featvis import FeatureVisConfig, visualise_features
    from deepwild.interpret.featvis_report import draw_feature_grid
    from deepwild.interpret.probe import Probe

    labels = torch.from_numpy(test_y)
    probe = Probe(inputs=test_x[:8], labels=labels[:8], pool=test_x[:256], pool_labels=labels[:256],
                  class_names=data.class_names, layers=("conv1", "conv2", "conv3"))
    result = visualise_features(model, probe, channels=4, classes=(), config=FeatureVisConfig(steps=32, seed=config.seed))
    return draw_feature_grid(result, run.plots / f"featvis_{data.name}.png", f"{data.name}: the small CNN's features")


def plot_learning_curves(comparisons: tuple[Comparison, ...], target: Path) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(2, len(comparisons), figsize=(5.5 * len(comparisons), 7), squeeze=False)
    for column, comparison in enumerate(comparisons):
        for method, style in ((CLASSICAL, "-o"), (DEEP, "-s")):
            scores = comparison.at(method)
            sizes = [s.train_size for s in scores]
            axes[0, column].semilogx(sizes, [s.accuracy for s in scores], style, label=method)
            axes[1, column].loglog(sizes, [s.train_seconds for s in scores], style, label=method)
        axes[0, column].axhline(1 / comparison.classes, color="grey", linestyle=":", label="chance")
        axes[0, column].set_title(f"{comparison.dataset} ({comparison.classes} classes): test accuracy")
        axes[0, column].set_ylabel("accuracy")
        axes[1, column].set_title("training time")
        axes[1, column].set_ylabel("seconds")
        for axis in axes[:, column]:
            axis.set_xlabel("training images")
            axis.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, target, dpi=100)
