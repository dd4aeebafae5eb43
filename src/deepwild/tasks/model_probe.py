"""Probes of finished models, for the commands that explain a model after training (`deepwild lecture features`).

During training a task builds its probe from its own validation data (`interpret_probe`); a finished model
brings only its package (and, for a run, the run's records). This rebuilds the same kind of probe from them:

- digits: the run's stored validation split of scikit-learn's digits (a bare package: the split its config
  describes, which is the same split);
- omr: symbol-centred crops of the pages of a score dataset folder (`data`), scaled to the model's staff
  space; without a folder, two pages engraved on the spot from the music21 corpus (the installed package
  ships a model, not pages).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deepwild.core.config import config_from_dict
from deepwild.core.errors import DeepwildError, InputError
from deepwild.core.images import load_grayscale
from deepwild.core.io import read_json
from deepwild.core.package import ModelPackage, read_model_package
from deepwild.data.splits import Split
from deepwild.data.symbols import SymbolDataset
from deepwild.engine.run import RunDir, resolve_model
from deepwild.interpret.probe import Probe
from deepwild.models.packaged import load_packaged_model

EXPLAINED_TASKS = ("digits", "omr")
SHIPPED = "shipped"  # the name of the detector that ships with deepwild, as `deepwild explain` takes it


@dataclass(frozen=True)
class ModelProbe:
    package: ModelPackage
    model: torch.nn.Module  # in eval mode
    probe: Probe
    source: str  # where the probe's inputs come from, in words


def resolve_named_model(ref: str | Path, root: str | Path | None = None) -> tuple[Path, RunDir | None]:
    """A model package folder (and its run, if any) from a run, run name, package folder, or `shipped`."""
    if str(ref) == SHIPPED and not Path(ref).exists():
        from deepwild.tasks.omr.shipped import shipped_model

        return shipped_model(), None
    return resolve_model(ref, root)


def probe_of_model(ref: str | Path, root: str | Path | None = None, data: str | Path | None = None,
                   pool_size: int = 256) -> ModelProbe:
    """The model a user names (run, run name, package folder, or `shipped` for the detector that ships with
    deepwild), loaded, with a probe of its task's data."""
    model_dir, run = resolve_named_model(ref, root)
    task = read_model_package(model_dir).task
    if task not in EXPLAINED_TASKS:
        raise DeepwildError(f"{ref} is a {task!r} model; feature pictures are made for "
                            f"{' and '.join(EXPLAINED_TASKS)} models")
    if task == "digits":
        if data is not None:
            raise DeepwildError("digits models are explained on their own validation split; drop --data")
        return _digits_probe(model_dir, run, pool_size)
    return _omr_probe(model_dir, data, pool_size)


def _digits_probe(model_dir: Path, run: RunDir | None, pool_size: int) -> ModelProbe:
    from deepwild.tasks import digits

    package, model = load_packaged_model(model_dir, "digits", "a digits classifier")
    config = config_from_dict(digits.Config, package.config)
    stored = run.path / "data.json" if run else None
    split = Split.from_json(read_json(stored)["split"]) if stored and stored.is_file() else digits.make_split(config)
    probe = digits.interpret_probe(config, split)
    probe = replace(probe, pool=probe.pool[:pool_size], pool_labels=probe.pool_labels[:pool_size])
    return ModelProbe(package, model, probe, f"scikit-learn digits, validation split ({len(probe.pool)} inputs)")


def _omr_probe(model_dir: Path, data: str | Path | None, pool_size: int) -> ModelProbe:
    from deepwild.data.dataset_folder import load_symbol_dataset
    from deepwild.tasks.omr.task import PROBE_CROP, PROBE_LAYERS

    package, model = load_packaged_model(model_dir, "omr", "a music symbol detector")
    class_index = {name: i for i, name in enumerate(package.class_names)}
    staff_space = float(package.input["staff_space"])
    if data is not None:
        dataset = load_symbol_dataset(data)
        validation = dataset.split("val")  # a generated folder's validation pages; any other folder: all pages
        pool, labels, scale = _scaled_crops(validation if validation.pages else dataset, class_index, staff_space,
                                            PROBE_CROP, pool_size)
        source = (f"{'validation ' if validation.pages else ''}score pages of {data} "
                  f"(scaled ×{scale:.2f} to the model's staff space)")
    else:
        from deepwild.datagen.scores.generate import ScoreDataConfig, generate_scores

        with tempfile.TemporaryDirectory(prefix="deepwild-probe-") as folder:
            generate_scores(ScoreDataConfig(pages=2, seed=0), Path(folder) / "scores")
            dataset = load_symbol_dataset(Path(folder) / "scores")
            pool, labels, scale = _scaled_crops(dataset, class_index, staff_space, PROBE_CROP, pool_size)
        source = "two score pages engraved from the music21 corpus (seed 0)"
    if len(pool) == 0:
        raise InputError(f"no symbols of the model's classes on the pages of {data}")
    groups = package.input.get("class_groups")
    probe = Probe(inputs=pool[:4], labels=labels[:4], pool=pool, pool_labels=labels,
                  class_names=tuple(package.class_names), layers=PROBE_LAYERS, kind="detector",
                  class_groups=torch.tensor(groups, dtype=torch.int64) if groups is not None else None)
    return ModelProbe(package, model, probe, f"{source}, {len(pool)} symbol-centred crops")


def _scaled_crops(dataset: SymbolDataset, class_index: dict[str, int], staff_space: float, size: int,
                  count: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Symbol-centred crops (count, 1, size, size) at the model's staff space: windows of size / scale
    page pixels, resampled to size (a DeepScoresV2 page has about twice the training pages' staff space)."""
    from deepwild.tasks.omr.data import symbol_crops
    from deepwild.tasks.omr.detect import SCALE_TOLERANCE
    from deepwild.tasks.omr.postprocess import estimate_staff_space

    # One scale for the folder, measured on its first page: a folder's pages come from one engraving setup.
    found = estimate_staff_space(load_grayscale(dataset.image_path(dataset.pages[0])))
    if found is None:
        raise InputError(f"{dataset.image_path(dataset.pages[0])}: no staff lines found — not a page of music")
    scale = staff_space / found
    scale = 1.0 if abs(scale - 1.0) <= SCALE_TOLERANCE else scale
    window = int(round(size / scale))
    crops, labels = symbol_crops(dataset, class_index, window, count)
    if window != size and len(crops):
        crops = F.interpolate(crops, size=(size, size), mode="bilinear", align_corners=False, antialias=scale < 1)
    return crops.clamp(0.0, 1.0), labels, float(np.float32(scale))
