"""The DWD loss: energy groups keep their class decisions apart; size weights only with imbalance handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepwild.tasks.omr.task import Config, OMRLoss

torch.set_num_threads(1)


class FixedNet(torch.nn.Module):
    def __init__(self, outputs: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.outputs = outputs

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.outputs


def batch_with_one_marker_per_group(size: int = 8):
    energy = torch.zeros(1, 2, size, size, dtype=torch.long)
    classes = torch.full((1, 2, size, size), -100, dtype=torch.long)
    energy[0, 0, 2, 2], classes[0, 0, 2, 2] = 8, 0  # a notehead (class 0, group 0)
    energy[0, 1, 2, 2], classes[0, 1, 2, 2] = 8, 2  # a stem at the same pixel (class 2, group 1)
    box = torch.zeros(1, 2, 2, size, size)
    weight = torch.ones(1, 2, size, size)
    weight[0, 1, 2, 2] = 3.0
    return torch.zeros(1, 1, size, size), energy, classes, box, weight


def outputs(class_logits: torch.Tensor, size: int = 8) -> dict[str, torch.Tensor]:
    return {"energy": torch.zeros(1, 18, size, size), "classes": class_logits, "box": torch.zeros(1, 4, size, size)}


def test_each_group_decides_among_its_own_classes():
    class_groups = np.array([0, 0, 1])  # notehead kinds in group 0, stem in group 1
    loss = OMRLoss(Config(imbalance="none"), None, class_groups)
    batch = batch_with_one_marker_per_group()
    logits = torch.zeros(1, 3, 8, 8)
    base = loss(FixedNet(outputs(logits)), batch).metrics["class_loss"]
    # At the shared pixel, group 0 sees classes 0 and 1 (loss log 2), group 1 only class 2 (loss 0).
    assert float(base) == pytest.approx(np.log(2), abs=1e-5)
    logits[0, 2, 2, 2] = 10.0  # a confident "stem" does not hurt the notehead's decision
    assert float(loss(FixedNet(outputs(logits)), batch).metrics["class_loss"]) == pytest.approx(np.log(2), abs=1e-5)
    logits[0, 1, 2, 2] = 10.0  # but confusing it with the other notehead kind does
    assert float(loss(FixedNet(outputs(logits)), batch).metrics["class_loss"]) > 5.0


def test_marker_and_size_weights_only_with_imbalance_handling():
    class_groups = np.array([0, 0, 1])
    batch = batch_with_one_marker_per_group()
    plain = OMRLoss(Config(imbalance="none"), None, class_groups)(FixedNet(outputs(torch.zeros(1, 3, 8, 8))), batch)
    # Uniform energy logits: every pixel's cross-entropy is log 9, whatever the weights.
    assert float(plain.metrics["energy_loss"]) == pytest.approx(2 * np.log(9), abs=1e-5)
    energy = torch.zeros(1, 18, 8, 8)
    energy[0, 0] = 5.0  # group 0 says "background" everywhere: wrong only on its one marker
    net = FixedNet({**outputs(torch.zeros(1, 3, 8, 8)), "energy": energy})
    unweighted = float(OMRLoss(Config(imbalance="none"), None, class_groups)(net, batch).metrics["energy_loss"])
    weighted = float(OMRLoss(Config(imbalance="weighted"), None, class_groups)(net, batch).metrics["energy_loss"])
    marker_ce = float(F.cross_entropy(energy[:, :9, 2, 2], torch.tensor([8])))
    background_ce = float(F.cross_entropy(energy[:, :9, 0, 0], torch.tensor([0])))
    assert unweighted == pytest.approx((marker_ce + 63 * background_ce) / 64 + np.log(9), rel=1e-4)
    assert weighted == pytest.approx((4 * marker_ce + 63 * background_ce) / 67 + np.log(9), rel=1e-4)
