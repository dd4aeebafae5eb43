"""One module per task: it wires data + model + loss + metrics + post-processing + export.

Each task module provides `Config`, `train(...)`, `evaluate(...)` and, where it applies,
`predict(...)`. Tasks are imported lazily by name, so `deepwild --help` stays fast.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from deepwild.core.errors import ConfigError
from deepwild.core.registry import unknown_name_message

TASK_MODULES = {"digits": "deepwild.tasks.digits", "omr": "deepwild.tasks.omr", "symbols": "deepwild.tasks.symbols",
                "news": "deepwild.tasks.news"}


def load_task(name: str) -> ModuleType:
    if name not in TASK_MODULES:
        raise ConfigError(unknown_name_message("task", name, list(TASK_MODULES)))
    return importlib.import_module(TASK_MODULES[name])
