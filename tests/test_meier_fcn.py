"""The newspaper FCN (Meier et al. 2017): shapes, named maps, the whole-page view, the variants."""

from __future__ import annotations

import torch

from deepwild.models import build_model

torch.set_num_threads(1)


def test_one_logit_per_pixel_and_named_maps_from_full_resolution_down_to_4x4_and_back():
    model = build_model("meier_fcn", width=4, max_width=16).eval()
    x = torch.rand(2, 2, 256, 256)
    maps = model.forward_features(x)
    assert list(maps)[:9] == ["stem", "down1", "down2", "down3", "down4", "down5", "down6", "context", "up6"]
    assert maps["down6"].shape[-2:] == (4, 4) and maps["up1"].shape[-2:] == (256, 256)
    assert model(x).shape == (2, 1, 256, 256)
    odd = torch.rand(1, 2, 250, 100)
    assert model(odd).shape == (1, 1, 250, 100)  # padded to multiples of 64 inside, cropped back
    assert model.forward_maps(odd)["classes"].shape == (1, 2, 250, 100)


def test_the_deepest_stage_sees_the_whole_page():
    """A change in one corner of the page moves the logit in the opposite corner: the receptive field is
    the page, which deciding whether a gutter separates articles needs."""
    torch.manual_seed(0)
    model = build_model("meier_fcn", width=4, max_width=16, input_dropout=0.0, dropout=0.0).eval()
    x = torch.rand(1, 2, 256, 256, requires_grad=True)
    model(x)[0, 0, 250, 250].backward()
    assert x.grad[0, :, :16, :16].abs().sum() > 0


def test_deeper_and_wider_variants_have_more_parameters_and_the_same_output():
    def parameters(**settings):
        return sum(p.numel() for p in build_model("meier_fcn", **settings).parameters())

    base = parameters(width=4, max_width=16)
    assert parameters(width=4, max_width=16, deep=True) > base and parameters(width=8, max_width=32) > base
    model = build_model("meier_fcn", width=4, max_width=16, deep=True, stages=5).eval()
    assert model(torch.rand(1, 2, 64, 96)).shape == (1, 1, 64, 96)
