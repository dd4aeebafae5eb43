"""The model registry: `build_model(name, **args)`, `list_models()`."""

from __future__ import annotations

import importlib

import torch

from deepwild.core.registry import Registry

MODELS: Registry[torch.nn.Module] = Registry("model")

# Modules that define models; imported explicitly here, so registration never depends on what
# else happened to be imported.
_MODEL_MODULES = ("deepwild.models.small_cnn", "deepwild.models.dwd", "deepwild.models.meier_fcn")


def _load_all() -> None:
    for module in _MODEL_MODULES:
        importlib.import_module(module)


def build_model(name: str, **kwargs: object) -> torch.nn.Module:
    _load_all()
    return MODELS.build(name, **kwargs)


def list_models() -> list[str]:
    _load_all()
    return MODELS.names()
