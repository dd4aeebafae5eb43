"""What every image classifier task shares: the step, validation, metrics, evaluation files, loading,
the run around training, the model export and the prediction results."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from deepwild.core.config import config_to_dict
from deepwild.core.errors import DeepwildError, ModelPackageError
from deepwild.core.figures import pyplot, save_figure
from deepwild.core.io import atomic_write_json, atomic_write_text
from deepwild.core.package import ModelPackage, save_model_package
from deepwild.core.results import Classification, ClassScore, EvaluationResult
from deepwild.engine.checkpoint import load_checkpoint
from deepwild.engine.config import TrainConfig
from deepwild.engine.distributed import DistInfo, setup_distributed, teardown_distributed
from deepwild.engine.hooks import HookBase
from deepwild.engine.loop import StepOutput, Trainer, TrainingProblem, TrainResult
from deepwild.engine.records import prepare_run, run_training
from deepwild.engine.run import RunDir
from deepwild.engine.tracking import check_tracking
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.hooks import interpret_hooks
from deepwild.interpret.probe import Probe
from deepwild.models.onnx_runtime import inference_network
from deepwild.models.packaged import load_packaged_model


@dataclass(frozen=True)
class TrainOutcome:
    run: RunDir
    result: TrainResult
    package: ModelPackage | None  # None on ranks other than 0


class ClassificationStep:
    """Cross-entropy on the logits, optionally class-weighted (weights (classes,), e.g. from
    `data.imbalance.class_weights`)."""

    def __init__(self, weights: torch.Tensor | None = None) -> None:
        self.weights = weights

    def __call__(self, net: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
        images, labels = batch
        logits = net(images)
        weight = None if self.weights is None else self.weights.to(logits.device, logits.dtype)
        loss = F.cross_entropy(logits, labels, weight=weight)
        accuracy = (logits.detach().argmax(dim=1) == labels).float().mean()
        return StepOutput(loss=loss, metrics={"accuracy": accuracy})


classification_step = ClassificationStep()


def classification_validate(model: torch.nn.Module, loader: DataLoader, device: torch.device,
                            macro: bool = False) -> dict[str, float]:
    """Loss, accuracy and, with `macro`, macro accuracy (the mean of per-class accuracies over the classes
    present: what an imbalanced validation set's accuracy hides)."""
    loss_sum, correct, count = 0.0, 0, 0
    per_class_correct: torch.Tensor | None = None
    per_class_count: torch.Tensor | None = None
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        right = logits.argmax(dim=1) == labels
        correct += int(right.sum())
        count += len(labels)
        classes = logits.shape[1]
        hits = torch.bincount(labels[right], minlength=classes).cpu()
        seen = torch.bincount(labels, minlength=classes).cpu()
        per_class_correct = hits if per_class_correct is None else per_class_correct + hits
        per_class_count = seen if per_class_count is None else per_class_count + seen
    metrics = {"loss": loss_sum / max(count, 1), "accuracy": correct / max(count, 1)}
    if macro and per_class_count is not None and per_class_correct is not None:
        present = per_class_count > 0
        metrics["macro_accuracy"] = float((per_class_correct[present].float() / per_class_count[present].float()).mean())
    return metrics


@torch.no_grad()
def predict_probabilities(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    outputs = [F.softmax(model(images[i:i + batch_size]).float(), dim=1) for i in range(0, len(images), batch_size)]
    return torch.cat(outputs) if outputs else torch.empty(0)


def classification_metrics(labels: np.ndarray, predictions: np.ndarray,
                           class_names: tuple[str, ...]) -> tuple[dict[str, float], dict[str, dict[str, float]], np.ndarray]:
    """Accuracy (top-1), macro accuracy (mean recall = per-class top-1 accuracy, over classes present), macro F1,
    per-class precision/recall/F1/support, and the confusion matrix (rows = truth)."""
    n = len(class_names)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class: dict[str, dict[str, float]] = {}
    for index, name in enumerate(class_names):
        true_positive = confusion[index, index]
        precision = true_positive / max(confusion[:, index].sum(), 1)
        recall = true_positive / max(confusion[index].sum(), 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                           "support": int(confusion[index].sum())}
    present = [v for v in per_class.values() if v["support"] > 0]
    metrics = {"accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)),
               "macro_accuracy": float(np.mean([v["recall"] for v in present])) if present else 0.0,
               "macro_f1": float(np.mean([v["f1"] for v in present])) if present else 0.0,
               "samples": int(confusion.sum())}
    return metrics, per_class, confusion


def write_classification_eval(directory: Path, metrics: dict[str, Any], per_class: dict[str, dict[str, float]],
                              confusion: np.ndarray, class_names: tuple[str, ...], title: str) -> list[Path]:
    """metrics.json, per_class.csv, confusion.csv and confusion.png in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_json(directory / "metrics.json", {"metrics": metrics, "per_class": per_class})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["class", "precision", "recall", "f1", "support"])
    for name, row in per_class.items():
        writer.writerow([name, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}", row["support"]])
    atomic_write_text(directory / "per_class.csv", buffer.getvalue())
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["truth\\predicted", *class_names],
                                  *[[name, *row.tolist()] for name, row in zip(class_names, confusion)]])
    atomic_write_text(directory / "confusion.csv", buffer.getvalue())
    plot = plot_confusion(confusion, class_names, directory / "confusion.png", title)
    return [directory / "metrics.json", directory / "per_class.csv", directory / "confusion.csv", plot]


def plot_confusion(confusion: np.ndarray, class_names: tuple[str, ...], target: Path, title: str) -> Path:
    plt = pyplot()

    size = max(4.0, 0.45 * len(class_names) + 1.5)
    fig, axis = plt.subplots(figsize=(size, size * 0.9))
    axis.imshow(confusion, cmap="Blues")
    axis.set_xticks(range(len(class_names)), class_names, rotation=90 if len(class_names) > 12 else 0)
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("truth")
    if len(class_names) <= 20:
        for (row, col), value in np.ndenumerate(confusion):
            if value:
                axis.text(col, row, str(value), ha="center", va="center", fontsize=7,
                          color="white" if value > confusion.max() / 2 else "black")
    axis.set_title(title)
    fig.tight_layout()
    return save_figure(fig, target, dpi=110)


def load_classifier(model_dir: Path, task: str, runtime: str = "torch") -> tuple[ModelPackage, torch.nn.Module]:
    """A model package's network, checked against the task it is used for; `runtime` "onnx" gives its ONNX export
    run by onnxruntime (`models.onnx_runtime`), for predictions only: the adversarial-input detector and the
    interpretability tools need torch's gradients."""
    package, model = load_packaged_model(model_dir, task, f"a {task!r} classifier")
    if runtime != "torch" and package.adversarial:
        raise ModelPackageError(f"{package.name} flags adversarial inputs by guided backpropagation, which needs the "
                                "PyTorch network", hint="use --runtime torch with this model")
    return package, inference_network(model_dir, model, runtime, package)  # type: ignore[return-value]


def evaluate_classifier(model: torch.nn.Module, package: ModelPackage, images: torch.Tensor, labels: np.ndarray,
                        out_dir: Path, split: str, extra_metrics: Mapping[str, Any] | None = None) -> EvaluationResult:
    """Score a loaded classifier on (images, labels) and write the evaluation files into `out_dir`."""
    predictions = predict_probabilities(model, images).argmax(dim=1).numpy()
    metrics, per_class, confusion = classification_metrics(labels, predictions, package.class_names)
    metrics = {**metrics, **(extra_metrics or {})}
    files = write_classification_eval(out_dir, metrics, per_class, confusion, package.class_names,
                                      f"{package.name} — {split}")
    return EvaluationResult(model=package.name, split=split, metrics=metrics, per_class=per_class,
                            files=tuple(str(f) for f in files))


def classifications(images: Sequence[Path], inputs: torch.Tensor, model: torch.nn.Module, package: ModelPackage,
                    top_k: int = 3, require_detector: bool = False) -> list[Classification]:
    """One `Classification` per image from the model's inputs (N, C, H, W); flagged suspicious or not by the
    package's calibrated adversarial-input detector, when it has one (`require_detector`: it must)."""
    probabilities = predict_probabilities(model, inputs)
    flags = adversarial_flags(package, model, inputs, require_detector)
    results = []
    for index, (path, row) in enumerate(zip(images, probabilities)):
        values, indices = row.topk(min(top_k, len(package.class_names)))
        top = tuple(ClassScore(package.class_names[i], float(v)) for v, i in zip(values.tolist(), indices.tolist()))
        suspicious, score = flags[index] if flags is not None else (None, None)
        results.append(Classification(image=str(path), label=top[0].label, probability=top[0].probability,
                                      top=top, model=package.name, suspicious=suspicious, adversarial_score=score))
    return results


def entropy_calibration(package: ModelPackage, require: bool = False) -> tuple[Any, dict[str, Any]] | None:
    """(EntropySettings, the calibration record) of the package's calibrated entropy detector; None when it
    has none (an error instead when `require`), an error when model.json names a detector we do not know."""
    from deepwild.robust.entropy import EntropyDetector, EntropySettings

    calibration = package.adversarial
    if not calibration:
        if require:
            raise DeepwildError(f"{package.name} has no calibrated adversarial-input detector; "
                                f"calibrate one with `deepwild robust MODEL --calibrate 0.05`")
        return None
    if calibration.get("detector") != EntropyDetector.name or "threshold" not in calibration:
        raise DeepwildError(f"{package.name}: model.json names an unknown adversarial detector "
                            f"{calibration.get('detector')!r}; recalibrate with `deepwild robust MODEL --calibrate 0.05`")
    known = {f.name for f in dataclasses.fields(EntropySettings)}
    return EntropySettings(**{k: v for k, v in calibration.get("settings", {}).items() if k in known}), calibration


def adversarial_flags(package: ModelPackage, model: torch.nn.Module, inputs: torch.Tensor,
                      require: bool = False) -> list[tuple[bool, float]] | None:
    """(suspicious, score) per input from the package's calibrated detector (`deepwild robust --calibrate`);
    None when it has none (an error instead when `require`)."""
    from deepwild.robust.entropy import EntropyDetector

    found = entropy_calibration(package, require)
    if found is None:
        return None
    settings, calibration = found
    scores = EntropyDetector(settings).characteristics(model, inputs)[:, 0]
    threshold = float(calibration["threshold"])
    return [(bool(score > threshold), round(float(score), 4)) for score in scores]


class ClassifierExport(HookBase):
    """At the end of training: the best checkpoint, scored on some parts of the data (e.g. val and test:
    `<part>_accuracy`, and with `macro` `<part>_macro_accuracy`), becomes the run's `model/` package.
    `package` holds everything but the metrics and the command that made the run."""

    def __init__(self, run: RunDir, package: ModelPackage,
                 parts: Mapping[str, Callable[[], tuple[torch.Tensor, np.ndarray]]], macro: bool = False) -> None:
        self.run, self.template, self.parts, self.macro = run, package, parts, macro
        self.package: ModelPackage | None = None

    def after_train(self, trainer: Trainer) -> None:
        model = trainer.model
        load_checkpoint(self.run.checkpoints / "best", model)
        metrics: dict[str, Any] = {"best_epoch": trainer.state.best_epoch}
        for part, load in self.parts.items():
            images, labels = load()
            predictions = predict_probabilities(model, images.to(trainer.dist.device)).argmax(dim=1).cpu().numpy()
            scores, _, _ = classification_metrics(labels, predictions, self.template.class_names)
            metrics[f"{part}_accuracy"] = scores["accuracy"]
            if self.macro:
                metrics[f"{part}_macro_accuracy"] = scores["macro_accuracy"]
        provenance = {"command": self.run.info().get("command", ""), "run": self.run.name, **self.template.provenance}
        package = replace(self.template, metrics=metrics, provenance=provenance)
        self.package = save_model_package(self.run.model_dir, package, model.state_dict())


def start_run(task: str, train: TrainConfig, root: str | Path | None, name: str | None, resume: str | Path | None,
              track: str | None, tracking_uri: str | None) -> tuple[RunDir, DistInfo]:
    """The (new or resumed) run of a classifier's training, with the process group and threads set up."""
    check_tracking(track, tracking_uri)  # before anything is written
    dist = setup_distributed(train.device)
    if train.threads:
        torch.set_num_threads(train.threads)
    return prepare_run(task, dist, root, name, resume), dist


def write_run_records(run: RunDir, dist: DistInfo, task: str, config: Any, data: dict[str, Any] | None) -> None:
    """On rank 0: the resolved config (config.json) and, unless None (a resumed run keeps its own), data.json."""
    if dist.is_main:
        run.write_config({"task": task, **config_to_dict(config)})
        if data is not None:
            atomic_write_json(run.path / "data.json", data)


def fit_classifier(problem: TrainingProblem, task: str, train: TrainConfig, interpret: InterpretConfig, probe: Probe,
                   run: RunDir, dist: DistInfo, export: ClassifierExport, resume: bool,
                   extra_hooks: Sequence[HookBase] = (), task_hooks: Sequence[HookBase] = (),
                   track: str | None = None, tracking_uri: str | None = None) -> TrainOutcome:
    """Train with the standard records, the always-on interpretability hooks on `probe`, and the export."""
    try:
        result = run_training(problem, train, run, task, dist, resume=resume,
                              extra_hooks=(*task_hooks, *interpret_hooks(interpret, probe), *extra_hooks, export),
                              track=track, tracking_uri=tracking_uri)
    finally:
        teardown_distributed()
    return TrainOutcome(run=run, result=result, package=export.package)
