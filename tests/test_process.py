"""The training-process hook: gradient norms per module, histograms, dead ReLU units, resumable records."""

from __future__ import annotations

import dataclasses
import json
import math
import xml.etree.ElementTree as ElementTree
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.probe import Probe
from deepwild.interpret.process import (Histogram, ProcessHook, ProcessLog, gradient_norms, parameter_modules,
                                        probe_activations, weight_histograms)
from deepwild.tasks import digits
from tests.helpers.tiny import tiny_config

PROCESS_ONLY = InterpretConfig(process=True, process_every=5, features=False, attribution=False, infoplane=False)


def process_config(epochs: int) -> digits.Config:
    return dataclasses.replace(tiny_config(epochs=epochs), interpret=PROCESS_ONLY)


def test_histogram_counts_every_value_and_rebins_without_losing_any():
    values = torch.tensor([0.0, 0.1, 0.2, 0.9, 1.0, float("nan")])
    histogram = Histogram.of(values, bins=10)
    assert (histogram.low, histogram.high) == (0.0, 1.0) and sum(histogram.counts) == 5  # NaN left out
    assert histogram.counts[0] == 1 and histogram.counts[-1] == 2  # 0.9 and the top edge 1.0
    wider = histogram.rebinned(torch.linspace(-1.0, 2.0, 7).numpy())  # bins of 0.5
    assert wider.sum() == pytest.approx(5) and wider[2] == pytest.approx(3) and wider[3] == pytest.approx(2)
    same = Histogram.of(torch.full((4,), 3.0), bins=4)  # constant values still make a valid histogram
    assert same.low < 3.0 < same.high and sum(same.counts) == 4
    assert Histogram.from_json(json.loads(json.dumps(histogram.to_json()))) == histogram


def test_gradient_norm_per_module_is_the_norm_of_its_own_parameters():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 2, bias=False)))
    model(torch.randn(5, 4)).pow(2).sum().backward()
    modules = parameter_modules(model)
    assert list(modules) == ["0", "2.0"]  # the ReLU and the inner Sequential own no parameters
    norms, total = gradient_norms(modules)
    first = math.sqrt(model[0].weight.grad.pow(2).sum().item() + model[0].bias.grad.pow(2).sum().item())
    assert norms["0"] == pytest.approx(first, rel=1e-5)
    assert norms["2.0"] == pytest.approx(model[2][0].weight.grad.norm().item(), rel=1e-5)
    assert total == pytest.approx(math.sqrt(first ** 2 + norms["2.0"] ** 2), rel=1e-5)
    model.zero_grad(set_to_none=True)
    assert gradient_norms(modules) == ({}, 0.0)  # no gradients yet: nothing to record


class TwoChannelNet(nn.Module):
    """conv → BatchNorm → ReLU with channel 1 forced dead (zero weights, negative bias)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.norm = nn.BatchNorm2d(2)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        with torch.no_grad():
            self.conv.weight[1].zero_()
            self.conv.bias[1] = -1.0
            self.conv.weight[0].fill_(1.0)
            self.conv.bias[0] = 0.0

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"block": self.dropout(self.relu(self.conv(x)))}


def test_dead_units_are_channels_zero_on_every_probe_input_and_modes_are_restored():
    model = TwoChannelNet()
    model.train()
    model.norm.eval()  # a module someone froze in eval mode must stay so
    pool = torch.rand(40, 1, 6, 6) + 0.1  # positive inputs: channel 0 (a sum of them) is alive everywhere
    probe = Probe(inputs=pool[:2], labels=torch.zeros(2, dtype=torch.long), pool=pool,
                  pool_labels=torch.zeros(40, dtype=torch.long), class_names=("a",), layers=("block",))
    rng_before = torch.get_rng_state()
    histograms, dead = probe_activations(model, probe, count=40)
    assert dead == {"relu": 0.5}
    assert torch.equal(torch.get_rng_state(), rng_before)  # training draws the same random numbers with the hook on
    assert model.training and model.conv.training and not model.norm.training
    block = histograms["block"]
    assert sum(block.counts) == 40 * 2 * 36 and block.low == 0.0  # eval mode: dropout did not zero anything extra
    assert block.counts[0] >= 40 * 36  # the dead channel's zeros
    assert set(weight_histograms(model)) == {"conv"}  # BatchNorm's 1-d weight is no layer of weights


def test_hook_records_steps_and_epochs_and_a_resumed_run_neither_loses_nor_repeats(tmp_path):
    first = digits.train(process_config(epochs=1), root=tmp_path, name="process")
    log = ProcessLog(first.run.path / "interpret" / "process")
    steps_one_epoch = first.result.state.step
    assert [r.step for r in log.steps()] == list(range(5, steps_one_epoch + 1, 5))
    assert [r.epoch for r in log.epochs()] == [0, 1]
    record = log.epochs()[-1]
    assert set(record.activations) == {"conv1", "conv2", "conv3"} and set(record.dead_share) == {"conv1.2", "conv2.2",
                                                                                                 "conv3.2"}
    assert set(log.steps()[0].grad_norm) >= {"conv1.0", "conv1.1", "classifier"}
    # Records an interrupted process wrote after the checkpoint, and a line a crash cut in half.
    with open(log.steps_path, "a") as handle:
        handle.write(json.dumps({**log.steps()[-1].to_json(), "step": steps_one_epoch + 5}) + "\n{\"step\": 9")
    with open(log.epochs_path, "a") as handle:
        handle.write(json.dumps({**log.epochs()[-1].to_json(), "epoch": 2}) + "\n")
    resumed = digits.train(process_config(epochs=2), root=tmp_path, resume=first.run.path)
    total = resumed.result.state.step
    assert [r.step for r in log.steps()] == list(range(5, total + 1, 5))  # each step once, none lost
    assert [r.epoch for r in log.epochs()] == [0, 1, 2]
    section = json.loads((first.run.path / "interpret" / "process" / "section.json").read_text())
    assert section["title"] == "Training process" and section["extra"]["epochs_recorded"] == 3
    assert {f["path"] for f in section["figures"]} == {"interpret/process/training_process.svg",
                                                      "interpret/process/weight_histograms.svg",
                                                      "interpret/process/activation_histograms.svg"}
    for figure in section["figures"]:  # well-formed SVG, with an embedded picture per heatmap column
        root = ElementTree.parse(first.run.path / figure["path"]).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    heatmaps = ElementTree.parse(first.run.path / "interpret/process/weight_histograms.svg").getroot()
    titles = [t.text for t in heatmaps.iter("{http://www.w3.org/2000/svg}text")]
    assert {"conv1.0", "conv2.0", "conv3.0", "classifier"} <= set(titles)
    assert len(list(heatmaps.iter("{http://www.w3.org/2000/svg}image"))) == 4 + 1  # 4 layers (epochs 0-2 evenly spaced), colour scale


def test_hook_without_a_run_directory_does_nothing():
    hook = ProcessHook(probe=None, every=1)  # type: ignore[arg-type]
    trainer = SimpleNamespace(run=None, state=SimpleNamespace(step=3, epoch=0))
    hook.before_train(trainer)  # type: ignore[arg-type]
    hook.after_step(trainer)  # type: ignore[arg-type]
    hook.after_epoch(trainer)  # type: ignore[arg-type]
    hook.after_train(trainer)  # type: ignore[arg-type]
    assert hook.steps == [] and hook.epochs == []


def test_the_detector_network_is_measured_at_its_probe_layers_and_every_relu():
    from deepwild.models import build_model

    torch.manual_seed(0)
    model = build_model("dwd", num_classes=3, energy_levels=4, widths=(4, 8, 8, 8), head_width=8)
    crops = torch.rand(6, 1, 32, 32)
    layers = ("stem", "down1", "down2", "context", "up2", "up1")
    probe = Probe(inputs=crops[:2], labels=torch.zeros(2, dtype=torch.long), pool=crops,
                  pool_labels=torch.zeros(6, dtype=torch.long), class_names=("a", "b", "c"), layers=layers,
                  kind="detector")
    histograms, dead = probe_activations(model, probe)
    assert set(histograms) == set(layers)
    # forward_features runs through the encoder, context, decoder and refine blocks (heads come after it).
    relus = {name for name, module in model.named_modules() if isinstance(module, nn.ReLU)}
    assert set(dead) <= relus and {"stem.2", "down1.0.2", "context.1.2", "up1.1.2"} <= set(dead)
    assert all(0.0 <= share <= 1.0 for share in dead.values())
    assert "energy_head" in weight_histograms(model) and "stem.0" in weight_histograms(model)
