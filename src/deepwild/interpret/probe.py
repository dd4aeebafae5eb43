"""What the interpretability hooks need from a task, whatever the task: fixed inputs and a way to score them.

A classifier scores an input by its logits. A detector is explained at one pixel: its probe inputs are
crops centred on a symbol, and their scores are the class logits at the crop's centre, so that Grad-CAM,
guided backpropagation and integrated gradients all answer "why is the symbol here of this class".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch


@dataclass(frozen=True)
class Probe:
    inputs: torch.Tensor  # (N, C, H, W) fixed validation inputs, as the network takes them
    labels: torch.Tensor  # (N,) the class to explain for each input
    pool: torch.Tensor  # (M, C, H, W) more validation inputs: top-activating inputs, the information plane
    pool_labels: torch.Tensor  # (M,)
    class_names: tuple[str, ...]
    layers: tuple[str, ...]  # names of `model.forward_features` maps, early to late
    kind: Literal["classifier", "detector"] = "classifier"
    # Detector: each class's energy group (classes,). A marker's class is decided among its group's classes
    # only (the others' logits are not trained there), so the predicted class is read within that group.
    class_groups: torch.Tensor | None = None

    def scores(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """(B, classes) logits to explain; differentiable in x."""
        if self.kind == "classifier":
            return model(x)
        classes = model.forward_maps(x)["classes"]  # type: ignore[operator]  # (B, C, h, w)
        return classes[:, :, classes.shape[2] // 2, classes.shape[3] // 2]

    def features(self, model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The probe's layers for inputs x: (B, channels, h, w) each."""
        maps = model.forward_features(x)  # type: ignore[operator]
        return {name: maps[name] for name in self.layers}
