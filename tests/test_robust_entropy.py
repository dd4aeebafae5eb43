"""The entropy detector (Amirian et al. 2018): patch entropy, feature response maps, and the protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from deepwild.core.errors import ConfigError
from deepwild.models import build_model
from deepwild.robust.entropy import (EntropyDetector, EntropySettings, feature_response_maps, max_patch_entropy,
                                     patch_entropy)
from deepwild.robust.evaluate import clean_threshold, cross_validated_scores, detection_rate_at, roc

torch.set_num_threads(1)


def naive_patch_entropy(image: np.ndarray, settings: EntropySettings) -> float:
    """The definition, one patch at a time."""
    values = np.abs(image) if settings.magnitude else image
    scaled = (values - values.min()) / max(values.max() - values.min(), 1e-12)
    binned = np.clip((scaled * settings.bins).astype(int), 0, settings.bins - 1)
    entropies = []
    for top in range(0, image.shape[0] - settings.patch + 1, settings.stride):
        for left in range(0, image.shape[1] - settings.patch + 1, settings.stride):
            counts = np.bincount(binned[top:top + settings.patch, left:left + settings.patch].ravel(),
                                 minlength=settings.bins)
            share = counts[counts > 0] / counts.sum()
            entropies.append(-(share * np.log2(share)).sum())
    return float(np.mean(entropies))


@pytest.mark.parametrize("settings", [EntropySettings(), EntropySettings(bins=4, stride=3, magnitude=True),
                                      EntropySettings(bins=256, patch=2, stride=2)])
def test_patch_entropy_matches_the_definition_patch_by_patch(settings):
    maps = torch.randn(3, 11, 13, generator=torch.Generator().manual_seed(0))
    maps[1, :5] = 0.0  # a flat region
    fast = patch_entropy(maps, settings).numpy()
    slow = [naive_patch_entropy(m.numpy(), settings) for m in maps]
    np.testing.assert_allclose(fast, slow, atol=1e-5)


def test_patch_entropy_limits_and_scale_invariance():
    flat = torch.zeros(1, 8, 8)
    assert patch_entropy(flat).item() == 0.0  # no response anywhere: every patch one bin
    stripes = torch.zeros(1, 9, 9)
    stripes[:, :, ::2] = 1.0  # columns alternate: every 3×3 patch holds 6 of one value and 3 of the other (or 3/6)
    expected = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert patch_entropy(stripes).item() == pytest.approx(expected, abs=1e-6)
    noise = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(patch_entropy(noise * 7.0 + 3.0), patch_entropy(noise), atol=1e-6)  # per-image scaling
    assert patch_entropy(noise).max().item() <= max_patch_entropy(EntropySettings()) + 1e-6
    assert max_patch_entropy(EntropySettings(bins=16)) == pytest.approx(math.log2(9))
    assert max_patch_entropy(EntropySettings(bins=2)) == pytest.approx(-(5 / 9 * math.log2(5 / 9) + 4 / 9 * math.log2(4 / 9)))
    with pytest.raises(ConfigError):
        EntropySettings(bins=1).validate()


class GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0)


def test_feature_response_map_is_guided_backprop_of_the_last_layer_per_input():
    torch.manual_seed(0)
    model = build_model("small_cnn", in_channels=1, num_classes=10, width=4, dropout=0.1)
    model.train()
    images = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    maps = feature_response_maps(model, images, batch_size=2)
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())

    # The definition by hand: ReLUs replaced by the guided one, gradient of the last map's sum.
    model.eval()
    handles = [m.register_forward_hook(lambda _m, args, _out: GuidedReLU.apply(args[0]))
               for m in model.modules() if isinstance(m, nn.ReLU)]
    x = images.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model.forward_features(x)["conv3"].sum(), x)
    for handle in handles:
        handle.remove()
    torch.testing.assert_close(maps, gradient[:, 0], rtol=1e-4, atol=1e-6)
    single = feature_response_maps(model, images[3:4])
    torch.testing.assert_close(single[0], maps[3], rtol=1e-4, atol=1e-6)  # one input's map does not depend on the batch


def test_detector_without_relu_modules_is_refused():
    class NoRelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward_features(self, x):
            return {"conv": torch.tanh(self.conv(x))}

    with pytest.raises(ConfigError, match="nn.ReLU"):
        EntropyDetector().characteristics(NoRelu(), torch.rand(2, 1, 8, 8))


def test_thresholds_and_detection_rates_follow_their_definitions():
    clean = np.arange(100, dtype=float)  # 0..99
    assert clean_threshold(clean, 0.05) == 94.0  # 95..99 lie above: 5 %
    assert (clean > clean_threshold(clean, 0.01)).sum() == 1
    adversarial = np.array([50.0, 94.5, 96.0, 200.0])
    assert detection_rate_at(clean, adversarial, 0.05) == 0.75
    auroc, fpr, tpr = roc(np.array([0.1, 0.2]), np.array([0.3, 0.4]))
    assert auroc == 1.0 and fpr[0] == 0.0 and tpr[-1] == 1.0


def test_supervised_scores_are_out_of_fold_and_pairs_stay_together():
    rng = np.random.default_rng(0)
    clean = rng.normal(0.0, 1.0, (60, 3))
    adversarial = clean + np.array([3.0, 0.0, 0.0])  # apart along one characteristic
    clean_scores, adversarial_scores = cross_validated_scores(clean, adversarial, folds=5, seed=0)
    assert roc(clean_scores, adversarial_scores)[0] > 0.9
    noise_clean, noise_adversarial = cross_validated_scores(clean, rng.normal(0.0, 1.0, (60, 3)), folds=5, seed=0)
    assert 0.3 < roc(noise_clean, noise_adversarial)[0] < 0.7  # nothing to learn: near chance, not memorised
