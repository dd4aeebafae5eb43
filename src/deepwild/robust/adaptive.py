"""An adaptive attacker who knows the entropy detector and minimises its score too (Carlini & Wagner
2017, "Adversarial examples are not easily detected"; Athalye, Carlini & Wagner 2018).

The detector's score is not differentiable: the feature response map of a ReLU network depends on the
input only through which units are active (so its gradient is zero almost everywhere), and counting
values into bins is a step function. As Athalye et al. prescribe (BPDA), the attacker differentiates a
smooth stand-in with the same forward behaviour:
- the map of the same network with each ReLU's guided backward made smooth, gradient · σ(β·x) instead
  of gradient · [x > 0] (its forward pass stays the ReLU), so that the map has a derivative;
- soft bins: each map value belongs to every bin with a softmax weight of its squared distance to the
  bin centre, so that patch entropies have a derivative.
It runs PGD (L∞ ball ε) on Carlini & Wagner's margin loss plus `weight` × the stand-in score, keeps the
successful input with the lowest true (exact) entropy score per input, and reports both scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from deepwild.robust.base import AttackResult, check_epsilon, feature_maps
from deepwild.robust.entropy import EntropySettings, feature_response_maps, patch_entropy, scaled_maps


@dataclass(frozen=True)
class AdaptiveSettings:
    epsilon: float = 0.2
    steps: int = 60
    step_size: float = 0.01
    weight: float = 4.0  # the score's weight against the margin loss (the margin is in logits)
    sharpness: float = 10.0  # β of the smooth guided backward
    bin_temperature: float = 0.02  # width of the soft bins, in units of the [0, 1] scaled map
    confidence: float = 1.0  # margin (logits) the attacker keeps above the decision boundary


class _SmoothGuidedReLU(torch.autograd.Function):
    """ReLU forward; backward = positive gradient · σ(β x), itself differentiable (double backward)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sharpness: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.sharpness = sharpness
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return F.relu(grad) * torch.sigmoid(ctx.sharpness * x), None


def smooth_response_maps(model: nn.Module, x: torch.Tensor, layer: str, sharpness: float) -> torch.Tensor:
    """(B, H, W) differentiable stand-in for `feature_response_maps` (x must require grad)."""
    handles = [m.register_forward_hook(lambda _m, args, _out: _SmoothGuidedReLU.apply(args[0], sharpness))
               for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        total = feature_maps(model, x)[layer].sum()
        (gradient,) = torch.autograd.grad(total, x, create_graph=True)
    finally:
        for handle in handles:
            handle.remove()
    return gradient.mean(dim=1)


def soft_patch_entropy(maps: torch.Tensor, settings: EntropySettings, temperature: float) -> torch.Tensor:
    """(B,) differentiable stand-in for `patch_entropy`: soft bin membership instead of counting."""
    scaled = scaled_maps(maps, settings)
    centres = (torch.arange(settings.bins, device=maps.device, dtype=maps.dtype) + 0.5) / settings.bins
    membership = torch.softmax(-(scaled[:, None] - centres[None, :, None, None]) ** 2 / temperature ** 2, dim=1)
    patches = F.unfold(membership, settings.patch, stride=settings.stride)  # (B, bins·patch², L)
    counts = patches.view(len(maps), settings.bins, settings.patch ** 2, -1).mean(dim=2)  # (B, bins, L)
    return -(counts * torch.log2(counts.clamp_min(1e-12))).sum(dim=1).mean(dim=1)


def adaptive_attack(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                    settings: AdaptiveSettings = AdaptiveSettings(),
                    detector: EntropySettings = EntropySettings()) -> tuple[AttackResult, torch.Tensor]:
    """PGD on margin + weight · stand-in entropy; returns the attack result and the exact entropy scores
    of its inputs (successful ones: the lowest score found; others: the last iterate)."""
    epsilon = check_epsilon(settings.epsilon)
    was_training = model.training
    model.eval()
    x = images.float()
    layer = detector.layer or list(feature_maps(model, x[:1]))[-1]
    best = x.clone()
    best_score = torch.full((len(x),), float("inf"))
    found = torch.zeros(len(x), dtype=torch.bool)
    adversarial = x.clone()
    try:
        for _ in range(settings.steps):
            adversarial.requires_grad_(True)
            logits = model(adversarial)
            true = logits.gather(1, labels[:, None])[:, 0]
            other = logits.masked_fill(F.one_hot(labels, logits.shape[1]).bool(), float("-inf")).max(dim=1).values
            margin = (true - other + settings.confidence).clamp(min=0)
            maps = smooth_response_maps(model, adversarial, layer, settings.sharpness)
            loss = (margin + settings.weight * soft_patch_entropy(maps, detector, settings.bin_temperature)).sum()
            (gradient,) = torch.autograd.grad(loss, adversarial)
            with torch.no_grad():
                adversarial = adversarial - settings.step_size * gradient.sign()
                adversarial = torch.min(torch.max(adversarial, x - epsilon), x + epsilon).clamp(0.0, 1.0)
                success = model(adversarial).argmax(dim=1) != labels
            score = patch_entropy(feature_response_maps(model, adversarial, layer), detector)
            better = success & (score < best_score)
            best[better], best_score[better] = adversarial[better], score[better]
            found |= success
        best[~found] = adversarial[~found].detach()
        with torch.no_grad():
            predicted = model(best).argmax(dim=1)
    finally:
        model.train(was_training)
    delta = (best - x).flatten(1)
    result = AttackResult(attack="adaptive-entropy", settings={"epsilon": epsilon, "steps": settings.steps,
                                                               "weight": settings.weight},
                          adversarial=best, labels=labels, predicted=predicted, success=predicted != labels,
                          linf=delta.abs().max(dim=1).values, l2=delta.norm(dim=1))
    exact = patch_entropy(feature_response_maps(model, best, layer), detector)
    return result, exact
