"""`deepwild lecture complete-image`: a DCGAN on digits, and completion by a search over its input."""

from __future__ import annotations

import json

import pytest
import torch

from deepwild.core.config import config_from_dict
from deepwild.core.errors import ConfigError
from deepwild.lecture.complete_image import (CompleteImageConfig, Discriminator, Generator, complete, make_masks,
                                             run_complete_image)
from tests.helpers.cli import run_cli

torch.set_num_threads(1)


def test_the_networks_have_the_shapes_the_search_needs():
    g, d = Generator(latent=8, width=4), Discriminator(width=4)
    images = g(torch.rand(3, 8) * 2 - 1)
    assert images.shape == (3, 1, 32, 32) and images.abs().max() <= 1
    assert d(images).shape == (3,)


@pytest.mark.parametrize("kind, known", [("centre", 1 - 0.25), ("left", 0.5), ("bottom", 0.5)])
def test_masks_hide_the_named_part(kind, known):
    mask = make_masks(kind, 2, 0.2, seed=0)
    assert mask.shape == (2, 1, 32, 32) and float(mask.mean()) == pytest.approx(known)
    if kind == "left":
        assert mask[..., :16].sum() == 0 and mask[..., 16:].min() == 1


def test_completion_keeps_every_known_pixel_and_fits_them_better_than_its_start():
    torch.manual_seed(0)
    config = CompleteImageConfig(latent=8, width=4, search_steps=25, starts=2, search_lr=0.1)
    g, d = Generator(8, 4).eval(), Discriminator(4).eval()
    with torch.no_grad():
        targets = g(torch.rand(3, 8) * 2 - 1)  # images the generator can draw: the search can find them
    masks = make_masks("pixels", 3, 0.3, seed=1)
    untrained = replace_steps(config, 0)
    before, _ = complete(g, d, targets * masks, masks, untrained)
    generated, completed = complete(g, d, targets * masks, masks, config)
    assert torch.equal(completed[masks.bool()], (targets * masks)[masks.bool()])  # known pixels exactly kept
    assert torch.equal(completed[~masks.bool()], generated[~masks.bool()])  # the hole from G(ẑ)
    error = lambda images: float(((images - targets).abs() * masks).sum())  # noqa: E731
    assert error(generated) < 0.8 * error(before)
    assert all(p.requires_grad for p in g.parameters())  # the networks are left trainable


def replace_steps(config: CompleteImageConfig, steps: int) -> CompleteImageConfig:
    from dataclasses import replace

    return replace(config, search_steps=steps)


def test_a_tiny_run_writes_its_pictures_and_page(tmp_path):
    config = CompleteImageConfig(steps=3, batch_size=8, latent=8, width=4, images=2, masks=("centre", "pixels"),
                                 search_steps=2, starts=1)
    result = run_complete_image(config, tmp_path)
    assert [c.mask for c in result.completions] == ["centre", "pixels"] and result.losses.shape == (3, 2)
    for completion in result.completions:
        known = completion.masks.bool()
        assert torch.equal(completion.completed[known], completion.originals[known])
        assert 0 <= completion.hole_error <= 1 and 0 < completion.mean_fill_error <= 1
    assert all(path.is_file() for path in (result.grid, result.samples, result.curves))
    assert result.page.read_text().count("data:image/png;base64,") == 3
    assert len(json.loads((result.run.path / "result.json").read_text())["completions"]) == 2


def test_bad_settings_are_one_line_errors(monkeypatch, capsys, tmp_path):
    with pytest.raises(ConfigError, match="unknown mask"):
        config_from_dict(CompleteImageConfig, {"masks": ["centre", "star"]}).validate()
    for args in (["--steps", "0"], ["--masks", "star"], ["--masks", ","]):
        code, _, err = run_cli(monkeypatch, capsys, "lecture", "complete-image", *args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()
