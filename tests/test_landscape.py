"""`deepwild lecture landscape`: filter-normalised directions, the loss surface and its command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepwild.core.errors import ConfigError
from deepwild.core.io import read_json
from deepwild.lecture.landscape import (LandscapeConfig, LossProblem, filter_normalised_direction, landscape,
                                        loss_surface)
from tests.helpers.cli import run_cli
from tests.helpers.tiny import tiny_digits_package

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "deepwild" / "assets" / "omr-dwd"


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()


def fixed_batch_loss(model: nn.Module) -> tuple[LossProblem, torch.Tensor]:
    x = torch.randn(8, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1] * 4)

    @torch.no_grad()
    def loss(net: nn.Module) -> tuple[float, float | None]:
        return float(F.cross_entropy(net(x), y)), None

    return LossProblem(model=model, loss=loss, name="small", data="8 random inputs"), x


def test_each_direction_filter_has_the_norm_of_its_weight_filter():
    model = small_net()
    direction = filter_normalised_direction(model, torch.Generator().manual_seed(0))
    for (name, parameter), d in zip(model.named_parameters(), direction):
        assert d.shape == parameter.shape
        if parameter.dim() <= 1:  # conv/linear biases, batch-norm weight and bias: not moved
            assert not d.any(), name
            continue
        for filter_d, filter_w in zip(d, parameter):  # one per output channel / unit
            assert float(filter_d.norm()) == pytest.approx(float(filter_w.detach().norm()), rel=1e-5)
    again = filter_normalised_direction(model, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(direction, again))  # seeded


def test_the_surface_centre_is_the_models_loss_and_the_weights_come_back():
    model = small_net()
    problem, _ = fixed_batch_loss(model)
    before = [p.detach().clone() for p in model.parameters()]
    generator = torch.Generator().manual_seed(3)
    directions = (filter_normalised_direction(model, generator), filter_normalised_direction(model, generator))
    grid = np.linspace(-1, 1, 5)
    losses, accuracies = loss_surface(model, problem.loss, directions, grid, grid)
    assert losses.shape == (5, 5) and accuracies is None
    assert losses[2, 2] == pytest.approx(problem.loss(model)[0], rel=1e-6)
    assert losses.min() < losses.max()  # moving the weights changes the loss
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))

    def failing(net: nn.Module) -> tuple[float, float | None]:
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        loss_surface(model, failing, directions, grid, grid)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # restored even then


def test_batch_norm_running_statistics_are_used_and_kept():
    model = small_net().train()
    problem, _ = fixed_batch_loss(model)
    stats = model[1].running_mean.clone()
    result = landscape(problem, LandscapeConfig(steps=3, samples=8))
    assert not model.training and torch.equal(model[1].running_mean, stats)
    assert result.losses[1, 1] == pytest.approx(result.centre_loss, rel=1e-6)
    summary = read_json(result.run.path / "result.json")
    assert summary["grid_centre_loss"] == pytest.approx(summary["centre_loss"], rel=1e-6)
    assert result.figure.is_file()


def test_even_or_tiny_grids_are_refused():
    with pytest.raises(ConfigError, match="odd"):
        LandscapeConfig(steps=4).validate()
    with pytest.raises(ConfigError, match="span"):
        LandscapeConfig(span=0).validate()




def test_the_command_draws_a_digits_model(tmp_path, monkeypatch, capsys):
    folder = tiny_digits_package(tmp_path / "digits-model")
    code, out, err = run_cli(monkeypatch, capsys, "lecture", "landscape", str(folder), "--steps", "3", "--samples", "16",
                             "--runs-dir", str(tmp_path / "runs"), "--name", "land")
    assert code == 0, err
    assert "3×3 grid" in out and "16 digits of the validation split" in out
    summary = read_json(tmp_path / "runs" / "land" / "result.json")
    assert summary["grid_centre_loss"] == pytest.approx(summary["centre_loss"], rel=1e-6)
    assert (tmp_path / "runs" / "land" / "plots" / "landscape.png").is_file()


@pytest.mark.parametrize("args, words", [
    ((str(SHIPPED),), "needs its validation data — give a dataset folder with --data DIR"),
    ((str(SHIPPED), "--steps", "4"), "steps must be odd"),
])
def test_bad_requests_are_one_line(args, words, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "lecture", "landscape", *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err
