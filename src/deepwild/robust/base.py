"""What attacks and adversarial-input detectors share.

A classifier here is any deepwild image classifier: `model(x)` gives logits (B, classes) and
`model.forward_features(x)` its convolutional feature maps by name, early to late (`SmallCNN`).
Inputs are (B, C, H, W) float tensors in [0, 1]; attacks keep them there.

A detector turns inputs into per-input characteristics. An unsupervised detector (`supervised = False`)
gives one column, a score where higher means more suspicious, and is used with one threshold set on
clean inputs. A supervised detector gives several columns that, as in its paper, a logistic regression
combines after seeing labelled adversarial examples of the attack it is scored on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from deepwild.core.errors import DeepwildError


def feature_maps(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The classifier's named convolutional maps for inputs x, early to late."""
    if not hasattr(model, "forward_features"):
        raise DeepwildError(f"{type(model).__name__} has no forward_features: attacks and detectors need a "
                            "deepwild image classifier")
    return model.forward_features(x)  # type: ignore[operator,no-any-return]


def last_conv_name(model: nn.Module, x: torch.Tensor) -> str:
    return list(feature_maps(model, x[:1]))[-1]


def check_epsilon(epsilon: float) -> float:
    if not 0.0 <= float(epsilon) <= 1.0:
        raise DeepwildError(f"epsilon must lie in [0, 1] (inputs are scaled to [0, 1]), got {epsilon}")
    return float(epsilon)


@dataclass(frozen=True)
class AttackResult:
    attack: str  # e.g. "fgsm"
    settings: dict[str, float]  # epsilon, steps, ...
    adversarial: torch.Tensor  # (N, C, H, W) in [0, 1]
    labels: torch.Tensor  # (N,) the true classes the attack pushed away from
    predicted: torch.Tensor  # (N,) the model's class for each adversarial input
    success: torch.Tensor  # (N,) bool: the adversarial input is misclassified
    linf: torch.Tensor  # (N,) L∞ norm of the perturbation
    l2: torch.Tensor  # (N,) L2 norm of the perturbation

    @property
    def success_rate(self) -> float:
        return float(self.success.float().mean()) if len(self.success) else 0.0


class Detector(Protocol):
    name: str  # short, for tables: "entropy", "mahalanobis", "lid", "kd+bu", "squeeze"
    supervised: bool

    def fit(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Learn what clean inputs look like (training or validation inputs of the classifier)."""

    def characteristics(self, model: nn.Module, images: torch.Tensor) -> np.ndarray:
        """(N, F) per input; for an unsupervised detector F = 1 and higher means more suspicious."""
