"""What the OMR task stores in its model package, and loading it back."""

from __future__ import annotations

from pathlib import Path

import torch

from deepwild.core.errors import ModelPackageError
from deepwild.core.package import ModelPackage, load_model_package
from deepwild.models import build_model

TASK = "omr"


def load_detector(model_dir: Path) -> tuple[ModelPackage, torch.nn.Module]:
    package, state_dict = load_model_package(model_dir)
    if package.task != TASK:
        raise ModelPackageError(f"model {model_dir} is a {package.task!r} model, not a music symbol detector ({TASK!r})")
    model = build_model(package.architecture, **package.model_args)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        raise ModelPackageError(f"weights in {model_dir} do not fit architecture {package.architecture!r}: "
                                f"{str(error).splitlines()[0]}") from None
    return package, model.eval()
