"""What the OMR task stores in its model package, and loading it back."""

from __future__ import annotations

from pathlib import Path

import torch

from deepwild.core.package import ModelPackage
from deepwild.models.packaged import load_packaged_model

TASK = "omr"


def load_detector(model_dir: Path) -> tuple[ModelPackage, torch.nn.Module]:
    return load_packaged_model(model_dir, TASK, "a music symbol detector")
