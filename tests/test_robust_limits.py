"""The entropy detector's limits, shown rather than hidden: an adaptive attacker evades it, and on raw
8×8 digits it is at chance (a 3×3 patch of an 8×8 map is a third of the image)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepwild.data.digits import load_digits_arrays, upsample
from deepwild.models import build_model
from deepwild.robust.adaptive import AdaptiveSettings, adaptive_attack, soft_patch_entropy, smooth_response_maps
from deepwild.robust.attacks import run_attack
from deepwild.robust.entropy import EntropyDetector, EntropySettings, feature_response_maps, patch_entropy
from deepwild.robust.evaluate import detection_rate_at, roc

torch.set_num_threads(1)


@functools.lru_cache(maxsize=None)  # one model per size for the whole file
def trained_digits_model(size: int, steps: int = 200) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A width-8 SmallCNN trained for a few hundred steps on the digits at `size`; held-out digits it gets right."""
    images, labels = load_digits_arrays()
    x, y = upsample(images, size), torch.from_numpy(labels).long()
    torch.manual_seed(0)
    model = build_model("small_cnn", in_channels=1, num_classes=10, width=8, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    order = torch.randperm(1400, generator=torch.Generator().manual_seed(0))
    for step in range(steps):
        batch = order[(step * 64) % 1344:(step * 64) % 1344 + 64]
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    held_x, held_y = x[1400:], y[1400:]
    with torch.no_grad():
        right = model(held_x).argmax(dim=1) == held_y
    assert right.float().mean() > 0.8  # the premise: a model that works
    return model, held_x[right], held_y[right]


def fgsm_auroc(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float) -> float:
    result = run_attack("fgsm", model, x, y, epsilon=epsilon)
    detector = EntropyDetector()
    clean = detector.characteristics(model, x[result.success])[:, 0]
    adversarial = detector.characteristics(model, result.adversarial[result.success])[:, 0]
    assert result.success.sum() >= 50
    return roc(clean, adversarial)[0]


def test_on_raw_8x8_digits_the_entropy_detector_is_near_chance_and_works_at_16x16():
    low = fgsm_auroc(*trained_digits_model(8), epsilon=0.2)
    high = fgsm_auroc(*trained_digits_model(16), epsilon=0.2)
    assert 0.35 < low < 0.68  # chance: a 3×3 patch of an 8×8 map is a third of the image
    assert high > 0.85


def test_the_smooth_stand_in_follows_the_exact_score_and_has_a_gradient():
    model, x, _ = trained_digits_model(16)
    x = x[:6].clone().requires_grad_(True)
    settings = EntropySettings()
    maps = smooth_response_maps(model, x, "conv3", sharpness=50.0)
    exact_maps = feature_response_maps(model, x.detach())
    for smooth, exact_map in zip(maps.detach().numpy(), exact_maps.numpy()):
        assert np.corrcoef(smooth.ravel(), exact_map.ravel())[0, 1] > 0.99  # σ(βx) is nearly the step [x > 0]
    soft = soft_patch_entropy(maps, settings, temperature=0.02)
    (gradient,) = torch.autograd.grad(soft.sum(), x)
    assert gradient.abs().sum() > 0  # the exact score's gradient is zero almost everywhere; the stand-in's is not
    exact = patch_entropy(maps.detach(), settings)
    assert np.corrcoef(soft.detach().numpy(), exact.numpy())[0, 1] > 0.9


def test_an_adaptive_attacker_who_minimises_the_entropy_score_evades_the_detector():
    model, x, y = trained_digits_model(16)
    x, y = x[:24], y[:24]
    detector = EntropyDetector()
    clean = detector.characteristics(model, x)[:, 0]
    plain = run_attack("pgd", model, x, y, epsilon=0.2)
    plain_scores = detector.characteristics(model, plain.adversarial[plain.success])[:, 0]
    adaptive, exact = adaptive_attack(model, x, y, AdaptiveSettings(epsilon=0.2, steps=20, step_size=0.02))
    assert adaptive.success.float().mean() > 0.8  # it still fools the classifier
    assert adaptive.linf.max() <= 0.2 + 1e-6
    torch.testing.assert_close(exact, patch_entropy(feature_response_maps(model, adaptive.adversarial)))
    evading = exact[adaptive.success].numpy()
    assert detection_rate_at(clean, plain_scores, 0.05) > 0.5  # plain PGD is caught…
    assert detection_rate_at(clean, evading, 0.05) < 0.2  # …the adaptive attacker is not
    assert roc(clean[adaptive.success.numpy()], evading)[0] < 0.5
