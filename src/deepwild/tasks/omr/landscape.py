"""The detector's training loss on a fixed batch of validation crops, for `deepwild lecture landscape --data`.

The lecture layer draws landscapes of any loss it is handed but may not import tasks; this builds the
detector's (the loss it was trained with, on validation crops of a score dataset folder), and the CLI
hands it over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from deepwild.core.config import config_from_dict
from deepwild.core.errors import InputError
from deepwild.data.dataset_folder import load_symbol_dataset
from deepwild.engine.run import resolve_model
from deepwild.tasks.omr.data import CropConfig, CropDataset
from deepwild.tasks.omr.model_io import load_detector
from deepwild.tasks.omr.task import Config, OMRLoss

SEED = 1  # the crops the training run validated on (its train seed + 1) with the default seed


@dataclass(frozen=True)
class FixedBatchLoss:
    model: torch.nn.Module  # eval mode
    loss: Callable[[torch.nn.Module], tuple[float, float | None]]  # → (loss, marker accuracy)
    name: str
    data: str


def detector_loss(ref: str | Path, data: str | Path, samples: int, root: str | Path | None = None) -> FixedBatchLoss:
    """The package's training loss (energy + class + box, without class weights) on `samples` validation crops."""
    model_dir, _ = resolve_model(ref, root)
    package, model = load_detector(model_dir)
    config = config_from_dict(Config, {k: v for k, v in package.config.items() if k in Config.__dataclass_fields__})
    dataset = load_symbol_dataset(data)
    pages = next((part for part in (dataset.split("val"), dataset.split("test")) if part.pages), dataset)
    class_groups = np.array(package.input.get("class_groups", [0] * len(package.class_names)), np.int64)
    class_index = {name: index for index, name in enumerate(package.class_names)}
    if not any(s.class_name in class_index for page in pages.pages for s in page.symbols):
        raise InputError(f"the pages of {data} hold none of the model's classes")
    crops = CropDataset(pages, class_index, class_groups,
                        CropConfig(crop_size=config.crop.crop_size, crops_per_epoch=samples, oversample_rare=False,
                                   augment=False), config.targets, config.train.seed + SEED, train=False)
    batch = tuple(torch.stack(items) for items in zip(*(crops[i] for i in range(samples))))
    # Class weights came from the training set's counts, which a data folder need not match: left out.
    objective = OMRLoss(config, None, class_groups)

    def loss(net: torch.nn.Module) -> tuple[float, float | None]:
        out = objective(net, batch)
        return float(out.loss), float(out.metrics["marker_accuracy"])

    return FixedBatchLoss(model=model, loss=loss, name=package.name,
                          data=f"{samples} validation crops ({config.crop.crop_size} px) of {Path(data).name}")
