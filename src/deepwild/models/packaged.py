"""Networks from model packages: checked against the task they are used for, then built and loaded."""

from __future__ import annotations

from pathlib import Path

import torch

from deepwild.core.errors import ModelPackageError
from deepwild.core.package import ModelPackage, load_model_package
from deepwild.models.registry import build_model


def load_packaged_model(model_dir: Path, task: str | None, what: str) -> tuple[ModelPackage, torch.nn.Module]:
    """The package's network in eval mode; `what` names the task for the error ("a music symbol detector");
    `task` None takes a model of any task (export)."""
    package, state_dict = load_model_package(model_dir)
    if task is not None and package.task != task:
        raise ModelPackageError(f"model {model_dir} is a {package.task!r} model, not {what} ({task!r})")
    model = build_model(package.architecture, **package.model_args)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        raise ModelPackageError(f"weights in {model_dir} do not fit architecture {package.architecture!r}: "
                                f"{str(error).splitlines()[0]}") from None
    return package, model.eval()
