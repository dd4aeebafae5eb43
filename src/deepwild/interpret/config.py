"""The always-on interpretability hooks of a training run, one switch each (`--set interpret.features=false`)."""

from __future__ import annotations

from dataclasses import dataclass

from deepwild.core.errors import ConfigError


@dataclass(frozen=True)
class InterpretConfig:
    # The training process: gradient norm per layer, weight and activation histograms, dead-unit share.
    process: bool = True
    process_every: int = 10  # optimizer steps between gradient-norm records
    # Feature visualisation (Olah et al. 2017) and each channel's top-activating validation inputs.
    features: bool = True
    features_every: int = 0  # epochs between feature pictures; 0 = only at the end of training
    features_channels: int = 3  # channels drawn per layer (plus up to 16 class pictures)
    # Optimisation steps of the final picture (mid-training ones take half): the digits CNN's pictures
    # barely change after 24, and each step is a forward and backward pass of every picture.
    features_steps: int = 16
    # Attribution (Grad-CAM, guided backpropagation, integrated gradients) on fixed validation inputs.
    attribution: bool = True
    attribution_every: int = 1  # epochs between attribution pictures
    attribution_inputs: int = 4
    # The information plane (Shwartz-Ziv & Tishby 2017): I(X;T), I(T;Y) per epoch, binning and KDE.
    infoplane: bool = True
    infoplane_samples: int = 512  # validation inputs the estimates use
    # The heavier analyses (pictures, KDE) together take at most this share of training time
    # (see interpret.schedule); 0 = no budget, every scheduled analysis runs.
    budget_share: float = 0.005

    def validate(self) -> None:
        for name in ("process_every", "features_channels", "features_steps", "attribution_every",
                     "attribution_inputs", "infoplane_samples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"interpret.{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.budget_share <= 1.0:
            raise ConfigError(f"interpret.budget_share must lie between 0 and 1, got {self.budget_share}")
        if self.features_every < 0:
            raise ConfigError(f"interpret.features_every must not be negative, got {self.features_every}")
