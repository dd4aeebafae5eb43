"""Attribution (Grad-CAM, guided backprop, integrated gradients) on planted models whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepwild.core.errors import ConfigError
from deepwild.interpret.attribution import AttributionConfig, attribute, feature_module, normalise, plot_attributions
from deepwild.interpret.probe import Probe
from deepwild.models import build_model

SIZE = 16
REGION = (slice(3, 8), slice(9, 14))  # rows, cols: the only pixels the planted model sees


class LooksAtOneRegion(nn.Module):
    """Scores depend on REGION only: the input is masked before the first conv (no bias, so the conv's
    maps are zero away from the region, one pixel of padding aside)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        mask = torch.zeros(1, 1, SIZE, SIZE)
        mask[:, :, REGION[0], REGION[1]] = 1.0
        self.register_buffer("mask", mask)
        self.conv = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1, bias=False), nn.ReLU())
        self.head = nn.Linear(6, 3)

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"conv": self.conv(x * self.mask)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x)["conv"].sum(dim=(2, 3)))


def probe_of(model: nn.Module, inputs: torch.Tensor, **kwargs) -> Probe:
    with torch.no_grad():
        labels = model(inputs).argmax(dim=1) if not kwargs.get("kind") == "detector" else torch.zeros(len(inputs), dtype=torch.long)
    return Probe(inputs=inputs, labels=labels, pool=inputs, pool_labels=labels, class_names=("a", "b", "c"),
                 layers=("conv",), **kwargs)


def inside_share(maps: np.ndarray, margin: int = 0) -> float:
    """Share of |attribution| inside REGION (grown by `margin` pixels)."""
    rows, cols = REGION
    inside = np.abs(maps[:, rows.start - margin:rows.stop + margin, cols.start - margin:cols.stop + margin]).sum()
    return float(inside / np.abs(maps).sum())


def test_every_method_concentrates_on_the_only_region_the_model_sees():
    model = LooksAtOneRegion()
    inputs = torch.rand(4, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))  # ink everywhere
    result = attribute(model, probe_of(model, inputs))
    assert set(result.raw) == {"gradcam", "guided", "ig"}
    assert inside_share(result.raw["guided"]) > 0.999 and inside_share(result.raw["ig"]) > 0.999
    # Grad-CAM lives at the layer's resolution and is upsampled bilinearly: allow its blur of two pixels.
    assert inside_share(result.raw["gradcam"], margin=2) > 0.97
    assert inside_share(inputs[:, 0].numpy()) < 0.15  # the input itself is not concentrated: the maps are


def test_integrated_gradients_add_up_to_the_score_change_from_the_baseline():
    model = LooksAtOneRegion()
    inputs = torch.rand(3, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    probe = probe_of(model, inputs)
    result = attribute(model, probe, AttributionConfig(methods=("ig",), ig_steps=64))
    with torch.no_grad():
        rows = torch.arange(3)
        gap = (model(inputs)[rows, probe.labels] - model(torch.zeros_like(inputs))[rows, probe.labels]).numpy()
    sums = result.raw["ig"].reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(result.score_gap, gap, rtol=1e-5)
    np.testing.assert_allclose(sums, gap, rtol=0.02, atol=1e-3)
    np.testing.assert_allclose(result.ig_delta, sums - gap, atol=1e-4)


def test_model_mode_and_parameter_gradients_are_left_alone():
    model = LooksAtOneRegion().train()
    attribute(model, probe_of(model, torch.rand(2, 1, SIZE, SIZE)))
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_the_detector_is_explained_at_the_centre_pixel_within_its_energy_group():
    model = build_model("dwd", num_classes=4, widths=(4, 4, 4, 4), head_width=4, groups=2, energy_levels=2).eval()
    inputs = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    groups = torch.tensor([0, 0, 1, 1])
    probe = Probe(inputs=inputs, labels=torch.tensor([2, 3]), pool=inputs, pool_labels=torch.tensor([2, 3]),
                  class_names=("w", "x", "y", "z"), layers=("up1", "refined"), kind="detector", class_groups=groups)
    result = attribute(model, probe, AttributionConfig(layer="up2", ig_steps=32))
    assert result.maps["gradcam"].shape == (2, 32, 32) and result.layer == "up2"
    assert set(result.predicted.tolist()) <= {2, 3}  # read among the explained class's group only
    sums = result.raw["ig"].reshape(2, -1).sum(axis=1)
    np.testing.assert_allclose(sums, result.score_gap, rtol=0.05, atol=1e-3)
    with pytest.raises(ConfigError, match="'refined' does not feed the scores"):  # it feeds the energy map only
        attribute(model, probe, AttributionConfig(layer="refined", methods=("gradcam",)))


def test_a_layer_that_is_no_module_is_found_by_its_output():
    model = build_model("dwd", num_classes=3, widths=(4, 4, 4, 4), head_width=4).eval()
    assert feature_module(model, "refined", torch.rand(1, 1, 16, 16)) is model.refine  # `refined` is not a name
    assert feature_module(model, "up1", torch.rand(1, 1, 16, 16)) is model.up1
    with pytest.raises(ConfigError, match="its feature maps: stem"):
        feature_module(model, "nowhere", torch.rand(1, 1, 16, 16))


def test_guided_backprop_refuses_a_model_without_relu_modules():
    class FunctionalRelu(LooksAtOneRegion):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1, bias=False))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(torch.relu(self.forward_features(x)["conv"]).sum(dim=(2, 3)))

    model = FunctionalRelu()
    with pytest.raises(ConfigError, match="nn.ReLU modules"):
        attribute(model, probe_of(model, torch.rand(1, 1, SIZE, SIZE)), AttributionConfig(methods=("guided",)))


def test_unknown_methods_are_named():
    with pytest.raises(ConfigError, match="unknown attribution method.*lime.*valid: gradcam, guided, ig"):
        AttributionConfig(methods=("gradcam", "lime")).validate()


def test_display_maps_keep_their_ranges_and_sign():
    raw = np.stack([np.linspace(-2, 3, 100).reshape(10, 10), np.zeros((10, 10))])
    assert normalise("gradcam", np.abs(raw)).max() == pytest.approx(1.0)
    guided = normalise("guided", raw)
    assert guided.min() >= 0 and guided.max() == 1.0 and not guided[1].any()  # an all-zero map stays zero
    ig = normalise("ig", raw)
    assert ig.min() < 0 < ig.max() and ig.min() >= -1 and ig.max() <= 1


def test_the_figure_has_a_row_per_input(tmp_path):
    from PIL import Image

    model = LooksAtOneRegion()
    result = attribute(model, probe_of(model, torch.rand(3, 1, SIZE, SIZE)), AttributionConfig(ig_steps=4))
    path = plot_attributions(result, tmp_path / "a.png", "title", box=(9, 3, 14, 8))
    width, height = Image.open(path).size
    assert height > width * 0.5  # 3 rows of 4 columns


def test_the_maps_do_not_depend_on_the_batch_size():
    model = LooksAtOneRegion()
    probe = probe_of(model, torch.rand(3, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(4)))
    whole = attribute(model, probe, AttributionConfig(ig_steps=8))
    one_by_one = attribute(model, probe, AttributionConfig(ig_steps=8, batch_size=1))
    for method in whole.raw:
        np.testing.assert_allclose(whole.raw[method], one_by_one.raw[method], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(whole.score_gap, one_by_one.score_gap, rtol=1e-5)
