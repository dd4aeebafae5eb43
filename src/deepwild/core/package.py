"""Model packages: a folder with `model.safetensors` + `model.json` (+ a human-readable MODEL_CARD.md).

`model.json` names the task, architecture and its arguments, the resolved config, class names,
input normalisation, the data the model was trained on, its metrics and how it was made, and the
SHA-256 of the weights. Weights are safetensors: loading a package from a stranger cannot run code,
and a modified or truncated weights file is refused by its checksum.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepwild import __version__
from deepwild.core.errors import ModelPackageError
from deepwild.core.io import atomic_directory, atomic_write_json, atomic_write_text, read_json, sha256_file

PACKAGE_FORMAT = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"


@dataclass(frozen=True)
class ModelPackage:
    """What `model.json` says about a trained model."""

    name: str
    task: str
    architecture: str
    model_args: dict[str, Any]
    class_names: tuple[str, ...]
    input: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    # The calibrated adversarial-input detector deployment uses (`deepwild robust --calibrate`); {} = none.
    adversarial: dict[str, Any] = field(default_factory=dict)
    deepwild_version: str = __version__
    weights_sha256: str = ""
    format: int = PACKAGE_FORMAT

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["class_names"] = list(self.class_names)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelPackage:
        known = {f.name for f in dataclasses.fields(cls)}
        missing = [name for name in ("name", "task", "architecture", "model_args", "class_names", "input") if name not in data]
        if missing:
            raise ValueError(f"missing keys {', '.join(missing)}")
        values = {key: value for key, value in data.items() if key in known}
        for key in ("model_args", "input", "config", "data", "metrics", "provenance", "adversarial"):
            if key in values and not isinstance(values[key], dict):
                raise ValueError(f"{key} must be an object")
        names = values["class_names"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("class_names must be a list of strings")
        if not isinstance(values.get("format", PACKAGE_FORMAT), int):
            raise ValueError("format must be an integer")
        values["class_names"] = tuple(names)
        return cls(**values)


def is_model_package(path: str | Path) -> bool:
    return (Path(path) / META_FILE).is_file()


def save_model_package(directory: str | Path, package: ModelPackage, state_dict: dict[str, Any]) -> ModelPackage:
    """Write weights, metadata and model card into `directory`, atomically as a whole."""
    from safetensors.torch import save_file

    directory = Path(directory)
    tensors = {key: value.detach().cpu().contiguous() for key, value in state_dict.items()}
    with atomic_directory(directory) as temp:
        save_file(tensors, str(temp / WEIGHTS_FILE), metadata={"format": "pt", "deepwild": __version__})
        package = dataclasses.replace(package, weights_sha256=sha256_file(temp / WEIGHTS_FILE))
        atomic_write_json(temp / META_FILE, package.to_json())
        (temp / CARD_FILE).write_text(model_card(package), encoding="utf-8")
    return package


def update_model_package(directory: str | Path, **changes: Any) -> ModelPackage:
    """Rewrite `model.json` (and the card) with some fields changed; the weights stay as they are and
    are checked against their checksum first, so that a broken package is not made to look whole."""
    directory = Path(directory)
    package, _ = load_model_package(directory)
    package = dataclasses.replace(package, **changes)
    atomic_write_json(directory / META_FILE, package.to_json())
    atomic_write_text(directory / CARD_FILE, model_card(package))
    return package


def read_model_package(directory: str | Path) -> ModelPackage:
    """Read and check `model.json` of a package (weights are checked by `load_model_package`)."""
    directory = Path(directory)
    if not directory.exists():
        raise ModelPackageError(f"model package {directory} does not exist")
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise ModelPackageError(f"{directory} is not a deepwild model package: {META_FILE} is missing")
    try:
        data = read_json(meta_path)
        if not isinstance(data, dict):
            raise ValueError("model.json must hold an object")
        package = ModelPackage.from_json(data)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError) as error:
        raise ModelPackageError(f"{meta_path} is malformed: {error}", hint="re-export the model from its run") from None
    if package.format > PACKAGE_FORMAT:
        raise ModelPackageError(
            f"model package {directory} has format {package.format}; this deepwild ({__version__}) reads up to {PACKAGE_FORMAT}",
            hint="upgrade deepwild",
        )
    return package


def load_model_package(directory: str | Path) -> tuple[ModelPackage, dict[str, Any]]:
    """Metadata and a CPU state dict, after checking that the weights match their checksum."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    package = read_model_package(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelPackageError(f"model package {directory} has no {WEIGHTS_FILE}")
    if sha256_file(weights) != package.weights_sha256:
        raise ModelPackageError(
            f"{weights} does not match the checksum in {META_FILE}: the file was modified or truncated",
            hint="use an intact copy of the package, or re-export it from its run",
        )
    try:
        state_dict = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelPackageError(f"cannot read {weights}: {error}") from None
    return package, state_dict


def model_card(package: ModelPackage) -> str:
    """A short human-readable card: what the model does, how it was made, how well it does."""
    lines = [
        f"# {package.name}",
        "",
        f"- task: `{package.task}`",
        f"- architecture: `{package.architecture}` {json.dumps(package.model_args)}",
        f"- classes ({len(package.class_names)}): {', '.join(package.class_names[:40])}{' …' if len(package.class_names) > 40 else ''}",
        f"- deepwild version: {package.deepwild_version}",
    ]
    for key, value in package.provenance.items():
        lines.append(f"- {key.replace('_', ' ')}: `{value}`")
    if package.data:
        summary = {k: v for k, v in package.data.items() if not isinstance(v, (list, dict))}
        lines.append(f"- data: {json.dumps(summary)}")
    if package.metrics:
        lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
        for key, value in package.metrics.items():
            lines.append(f"| {key} | {value:.4f} |" if isinstance(value, float) else f"| {key} | {value} |")
    if package.adversarial:
        a = package.adversarial
        lines += ["", "## Adversarial-input detector", "",
                  f"`{a.get('detector')}` detector, threshold {a.get('threshold')}: flags {a.get('clean_flagged')} of "
                  f"{a.get('inputs')} clean {a.get('split')} inputs (asked: {a.get('false_positive_rate')})."]
    return "\n".join(lines) + "\n"
