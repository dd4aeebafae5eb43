"""Checkpoints without pickle: weights and optimizer tensors in safetensors, the rest in JSON.

    checkpoints/last/  model.safetensors  training.safetensors  state.json
    checkpoints/best/  (same)

Each checkpoint folder is replaced as a whole (`atomic_directory`), so a kill at any moment leaves
a complete previous checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from deepwild.core.errors import DeepwildError
from deepwild.core.io import atomic_directory, read_json, recover_directory


def optimizer_to_safe(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON-able rest."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, param_state in state_dict["state"].items():
        for key, value in param_state.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{param_id}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def optimizer_from_safe(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, param_id, name = key.split(".", 2)
            state.setdefault(int(param_id), {})[name] = value
    for param_id, values in meta["scalars"].items():
        state.setdefault(int(param_id), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(directory: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict[str, Any], extra_tensors: dict[str, torch.Tensor] | None = None) -> None:
    model_tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optimizer_tensors, optimizer_meta = optimizer_to_safe(optimizer)
    with atomic_directory(directory) as temp:
        save_file(model_tensors, str(temp / "model.safetensors"))
        save_file({**optimizer_tensors, **(extra_tensors or {})}, str(temp / "training.safetensors"))
        (temp / "state.json").write_text(json.dumps({**state, "optimizer": optimizer_meta}, indent=1), encoding="utf-8")


def load_checkpoint(directory: Path, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Load weights (and optimizer state) in place; return the JSON state and the extra tensors."""
    found = recover_directory(directory)
    if found is None:
        raise DeepwildError(f"no checkpoint at {directory}", hint="the run never finished a checkpoint; start it afresh")
    try:
        model.load_state_dict(load_file(str(found / "model.safetensors"), device="cpu"))
        state = read_json(found / "state.json")
        tensors = load_file(str(found / "training.safetensors"), device="cpu")
    except (OSError, ValueError, RuntimeError, json.JSONDecodeError) as error:
        raise DeepwildError(f"checkpoint {found} is unreadable: {str(error).splitlines()[0]}") from None
    if optimizer is not None:
        optimizer_from_safe(optimizer, tensors, state["optimizer"])
    extra = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    return state, extra
