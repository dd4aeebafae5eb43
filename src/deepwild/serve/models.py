"""The models a service answers with: every model package found in the folders it is given (by default
each package shipped in deepwild's `assets/`), loaded once at start-up and put behind its task's route.

A folder given is either a model package itself or a folder of packages (its direct subfolders that hold
a `model.json`). Tasks and routes: `omr` → detect, `news` → segment, the classifiers `digits` and
`symbols` → classify.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepwild.core.errors import DeepwildError, InputError
from deepwild.core.package import ModelPackage, is_model_package, read_model_package

ASSETS = Path(__file__).resolve().parents[1] / "assets"
ROUTES = {"omr": "detect", "news": "segment", "digits": "classify", "symbols": "classify"}
ROUTE_PATHS = {"detect": "/v1/omr/detect", "segment": "/v1/news/segment", "classify": "/v1/classify"}

# (gray (H, W) float32 in [0, 1], 1 = paper; the image's name; route options) → a result dataclass of core.results
Predict = Callable[..., Any]


@dataclass(frozen=True)
class ServedModel:
    name: str
    task: str
    route: str
    version: str  # the first 12 hex digits of the weights' SHA-256: changes whenever the weights do
    classes: tuple[str, ...]
    metrics: dict[str, Any]
    adversarial: dict[str, Any]  # the calibrated adversarial-input detector, {} = none
    deepwild_version: str
    predict: Predict

    def describe(self) -> dict[str, Any]:
        """What `GET /v1/models` says about the model: from its package's model card."""
        detector = {k: self.adversarial[k] for k in ("detector", "threshold", "false_positive_rate")
                    if k in self.adversarial} or None
        return {"name": self.name, "task": self.task, "route": ROUTE_PATHS[self.route],
                "version": self.version, "deepwild_version": self.deepwild_version, "classes": list(self.classes),
                "metrics": json_safe(self.metrics), "adversarial_detector": json_safe(detector)}


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities as None: a model card may hold them, strict JSON may not."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def find_packages(folders: Sequence[Path]) -> list[Path]:
    """The model packages in `folders`: each a package, or a folder whose subfolders are packages."""
    found: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            raise InputError(f"--models {folder}: no such folder", hint="give a model package or a folder of them")
        if is_model_package(folder):
            found.append(folder)
            continue
        inside = sorted(p for p in folder.iterdir() if p.is_dir() and is_model_package(p))
        if not inside:
            raise InputError(f"--models {folder} holds no model packages (folders with a model.json)")
        found += inside
    return list(dict.fromkeys(p.resolve() for p in found))


def load_models(folders: Sequence[Path] | None = None, runtime: str = "torch") -> list[ServedModel]:
    """Every package of `folders` (default: the shipped ones) loaded and checked; names must be unique.
    `runtime` "onnx" runs the networks' ONNX exports (`models.onnx_runtime`)."""
    return check_unique([load_model(path, runtime) for path in find_packages(list(folders) if folders else [ASSETS])])


def check_unique(models: Sequence[ServedModel]) -> list[ServedModel]:
    """`models`, refused when two share a name (the `model=` choice would be ambiguous)."""
    names = [m.name for m in models]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DeepwildError(f"two model packages are named {', '.join(twice)}; a service needs unique names",
                            hint="serve one of them, or rename one in its model.json")
    return list(models)


def load_model(model_dir: Path, runtime: str = "torch") -> ServedModel:
    package = read_model_package(model_dir)
    if package.task not in ROUTES:
        raise DeepwildError(f"{model_dir}: deepwild serve has no route for task {package.task!r}; it serves "
                            f"{', '.join(sorted(ROUTES))} models")
    loaders = {"detect": _detector, "segment": _segmenter, "classify": _classifier}
    predict = loaders[ROUTES[package.task]](model_dir, package, runtime)
    return served(package, one_at_a_time(predict) if package.adversarial else predict)


def one_at_a_time(predict: Predict) -> Predict:
    """`predict` behind a lock: the adversarial-input detector's guided backpropagation hooks the model's
    ReLUs while it runs, which another thread's pass through the same model must not meet."""
    lock = threading.Lock()

    def locked(*args: Any, **options: Any) -> Any:
        with lock:
            return predict(*args, **options)

    return locked


def served(package: ModelPackage, predict: Predict) -> ServedModel:
    """A `ServedModel` from a package's metadata and its prediction function."""
    return ServedModel(package.name, package.task, ROUTES[package.task], package.weights_sha256[:12],
                       package.class_names, dict(package.metrics), dict(package.adversarial),
                       package.deepwild_version, predict)


def _detector(model_dir: Path, package: ModelPackage, runtime: str) -> Predict:
    from deepwild.tasks.omr.detect import Detector

    detector = Detector.load(model_dir, runtime=runtime)
    known = set(package.class_names)

    def predict(gray: np.ndarray, name: str, classes: set[str] | None = None, min_score: float | None = None,
                staff_space: float | None = None) -> Any:
        unknown = sorted((classes or set()) - known)
        if unknown:
            raise InputError(f"the model does not detect {', '.join(unknown)}",
                             hint="GET /v1/models lists the classes of each model")
        result = detector.detect_gray(gray, name, classes or None, staff_space)
        if min_score is None:
            return result
        return dataclasses.replace(result, symbols=tuple(s for s in result.symbols if s.score >= min_score))

    return predict


def _segmenter(model_dir: Path, package: ModelPackage, runtime: str) -> Predict:
    from deepwild.tasks.news.segment import MIN_SIDE, Segmenter

    segmenter = Segmenter.from_package(model_dir, runtime)

    def predict(gray: np.ndarray, name: str) -> Any:
        if min(gray.shape) < MIN_SIDE:
            raise InputError(f"{name} is {gray.shape[1]} × {gray.shape[0]} px: too small to hold articles "
                             f"(at least {MIN_SIDE} px a side)")
        gray8 = (np.clip(gray, 0.0, 1.0) * 255.0).round().astype(np.uint8)
        return segmenter.segment(gray8, name)[0]

    return predict


def _classifier(model_dir: Path, package: ModelPackage, runtime: str) -> Predict:
    from deepwild.tasks.classification import classifications, load_classifier

    package, model = load_classifier(model_dir, package.task, runtime)
    prepare = _classifier_input(package)

    def predict(gray: np.ndarray, name: str, top_k: int = 3) -> Any:
        batch = prepare(gray)[None]  # (1, 1, size, size)
        return classifications([Path(name)], batch, model, package, top_k)[0]

    return predict


def _classifier_input(package: ModelPackage) -> Callable[[np.ndarray], Any]:
    """How the classifier task turns a user's image into its network input, as its `predict` does."""
    if package.task == "digits":
        from deepwild.data.digits import digit_from_grayscale

        return lambda gray: digit_from_grayscale(gray, int(package.input["image_size"]))
    from deepwild.data.symbol_crops import crop_from_image

    return lambda gray: crop_from_image(gray, int(package.input["crop_size"]))
