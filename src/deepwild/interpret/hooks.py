"""The always-on interpretability hooks, assembled from a task's `InterpretConfig` and `Probe`.

Every task calls `interpret_hooks` and passes the result to `run_training`; each hook writes its
pictures and a report section under `<run>/interpret/<key>/` (see `interpret.sections`).
"""

from __future__ import annotations

from deepwild.engine.hooks import HookBase
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.probe import Probe
from deepwild.interpret.schedule import CostBudget


def interpret_hooks(config: InterpretConfig, probe: Probe) -> list[HookBase]:
    budget = CostBudget(config.budget_share or None)  # shared by the heavier analyses
    hooks: list[HookBase] = []
    del budget  # (each hook that draws pictures takes `budget`)
    return hooks
