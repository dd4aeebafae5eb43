"""The always-on interpretability hooks, assembled from a task's `InterpretConfig` and `Probe`.

Every task calls `interpret_hooks` and passes the result to `run_training`; each hook writes its
pictures and a report section under `<run>/interpret/<key>/` (see `interpret.sections`).
"""

from __future__ import annotations

from deepwild.engine.hooks import HookBase
from deepwild.interpret.attribution_hook import AttributionHook
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.featvis_report import FeatureVisualisationHook
from deepwild.interpret.infoplane_hook import InfoPlaneHook
from deepwild.interpret.probe import Probe
from deepwild.interpret.process import ProcessHook
from deepwild.interpret.schedule import CostBudget


def interpret_hooks(config: InterpretConfig, probe: Probe) -> list[HookBase]:
    budget = CostBudget(config.budget_share or None)  # shared by the heavier analyses
    hooks: list[HookBase] = []
    if config.process:  # cheap: no share of the budget
        hooks.append(ProcessHook(probe, config.process_every))
    if config.features:  # optimised and top-activating inputs per channel, every features_every epochs (0: at the end)
        hooks.append(FeatureVisualisationHook(config, probe, budget))
    if config.attribution:  # Grad-CAM, guided backprop, IG of the fixed inputs, kept per epoch
        hooks.append(AttributionHook(config, probe, budget))
    if config.infoplane:  # I(X;T), I(T;Y) per layer by binning and KDE; a forward pass over the pool each time
        hooks.append(InfoPlaneHook(config, probe, budget))
    return hooks
