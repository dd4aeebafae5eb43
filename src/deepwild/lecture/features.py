"""The lecture's hierarchy of learned features: what each layer of a trained network responds to.

    deepwild lecture features RUN_OR_MODEL [--layers conv1,conv3] [--channels N] [--data DIR]

For the chosen layers, early to late, and the class scores: inputs optimised to excite a few channels
(feature visualisation, `deepwild.interpret.featvis`) beside the real inputs that excite them most. On
a trained network the rows show the hierarchy the lecture describes: strokes and edges, then parts,
then whole symbols or digits. The model and its probe (the task's data) come from the caller
(`deepwild.tasks.model_probe` for a run or package), so that this layer knows no task.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from deepwild.core.config import config_to_dict
from deepwild.core.errors import ConfigError, DeepwildError
from deepwild.core.io import atomic_write_json
from deepwild.engine.records import mark_run
from deepwild.engine.run import RunDir
from deepwild.interpret.featvis import FeatureVisConfig, FeatureVisResult, evaluation_mode, visualise_features
from deepwild.interpret.featvis_report import SECTION_KEY, draw_feature_grid, write_feature_section
from deepwild.interpret.probe import Probe
from deepwild.interpret.sections import Figure

TASK = "lecture-features"


@dataclass(frozen=True)
class FeatureLectureConfig:
    layers: tuple[str, ...] = ()  # maps of the model's forward_features; empty = the task's probe layers
    channels: int = 4  # channels per layer (and classes for a detector)
    steps: int = 48  # optimisation steps per picture
    seed: int = 0
    threads: int = 0  # torch CPU threads; 0 = torch's default (1 is often fastest on a busy machine)

    def validate(self) -> None:
        if self.threads < 0:
            raise ConfigError(f"--threads must not be negative, got {self.threads}")
        if not 1 <= self.channels <= 64:
            raise ConfigError(f"--channels must lie between 1 and 64, got {self.channels}")
        if self.steps < 1:
            raise ConfigError(f"--steps must be at least 1, got {self.steps}")


@dataclass(frozen=True)
class FeatureLectureResult:
    model: str
    source: str  # the inputs the top-activating pictures come from
    features: FeatureVisResult
    figure: Path
    run: RunDir

    @property
    def classes_recognised(self) -> tuple[int, int]:
        """(class pictures the model classifies as their class, class pictures)."""
        return self.features.classes_recognised


def run_feature_lecture(model: torch.nn.Module, probe: Probe, model_name: str, source: str,
                        config: FeatureLectureConfig, root: str | Path | None = None,
                        name: str | None = None) -> FeatureLectureResult:
    """Draw the feature hierarchy of `model` into a new lecture run (plots/features.png + a report section)."""
    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    layers = config.layers or probe.layers
    check_layers(model, probe, layers)
    settings = replace(FeatureVisConfig(), steps=config.steps, seed=config.seed)
    features = visualise_features(model, probe, layers=layers, channels=config.channels, config=settings)
    run = RunDir.create(TASK, root, name)
    run.write_config({"task": TASK, "model": model_name, "source": source, **config_to_dict(config),
                      "featvis": config_to_dict(settings)})
    figure = draw_feature_grid(features, run.plots / "features.png",
                               f"{model_name}: feature visualisation, layers early to late")
    write_feature_section(run.path, features, [Figure(str(figure.relative_to(run.path)), model_name)])
    result = FeatureLectureResult(model=model_name, source=source, features=features, figure=figure, run=run)
    atomic_write_json(run.path / "result.json", summary(result))
    recognised, total = result.classes_recognised
    mark_run(run, TASK, "finished", metrics={"seconds": round(features.seconds, 2),
                                             **({"classes_recognised": recognised / total} if total else {})})
    return result


def check_layers(model: torch.nn.Module, probe: Probe, layers: tuple[str, ...]) -> None:
    """Unknown layer names fail with the model's layers, before any work is done."""
    with evaluation_mode(model), torch.no_grad():
        device = next(model.parameters()).device
        known = list(model.forward_features(probe.pool[:1].to(device)))  # type: ignore[operator]
    unknown = [layer for layer in layers if layer not in known]
    if unknown:
        raise DeepwildError(f"the model has no layer {', '.join(unknown)}; its layers, early to late: "
                            f"{', '.join(known)}")


def summary(result: FeatureLectureResult) -> dict[str, Any]:
    features = result.features
    return {"model": result.model, "source": result.source, "seconds": round(features.seconds, 2),
            "objective": features.objective, "receptive_fields": features.receptive_fields,
            "figure": str(result.figure.relative_to(result.run.path)),
            "section": f"interpret/{SECTION_KEY}/section.json",
            "pictures": [{"layer": p.target.layer, "channel": p.target.channel, "name": p.target.name,
                          "optimised": round(p.activation, 4),
                          "best_validation_input": round(p.best_pool_activation, 4),
                          **({"classified_as": p.predicted} if p.predicted is not None else {})}
                         for p in features.pictures]}
