"""DWD decoding: targets made from boxes, read back by the post-processing, give the boxes again."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepwild.tasks.omr.postprocess import PostprocessConfig, detect_array, estimate_staff_space
from deepwild.tasks.omr.targets import TargetConfig, make_targets


class PerfectNet(nn.Module):
    """Stands in for a trained network: its 'features' are the targets, its heads read them out."""

    def __init__(self, targets, levels: int, classes: int) -> None:
        super().__init__()
        energy = torch.nn.functional.one_hot(torch.from_numpy(targets.energy), levels + 1).permute(2, 0, 1).float()
        labels = torch.from_numpy(np.maximum(targets.classes, 0))
        class_map = torch.nn.functional.one_hot(labels, classes).permute(2, 0, 1).float()
        self.maps = torch.cat([energy, class_map, torch.from_numpy(targets.box)])[None]  # (1, K+1+C+2, H, W)
        channels = self.maps.shape[1]
        self.energy_head = self._selector(range(0, levels + 1), channels, gain=20.0)
        self.class_head = self._selector(range(levels + 1, levels + 1 + classes), channels, gain=20.0)
        self.box_head = self._selector(range(levels + 1 + classes, channels), channels, gain=1.0)

    @staticmethod
    def _selector(rows, channels: int, gain: float) -> nn.Conv2d:
        rows = list(rows)
        conv = nn.Conv2d(channels, len(rows), 1)
        with torch.no_grad():
            conv.weight.zero_()
            conv.bias.zero_()
            for out, row in enumerate(rows):
                conv.weight[out, row] = gain
        return conv

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # The input holds each pixel's index in the page, so a tile finds its own part of the maps.
        index = x[0, 0].round().long()  # (h, w)
        flat = self.maps.flatten(2)  # (1, channels, H·W)
        return {"refined": flat[:, :, index.flatten()].reshape(1, -1, *index.shape)}


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("tile", [1024, 64])  # one tile, and many tiles with symbols across their seams
def test_perfect_maps_decode_to_the_original_boxes(tile):
    rng = np.random.default_rng(0)
    boxes, labels = [], []
    for row in range(6):  # a grid of noteheads, dots and stems, never overlapping
        for col in range(8):
            kind = (row + col) % 3
            x, y = 10 + col * 24 + rng.uniform(0, 3), 10 + row * 30 + rng.uniform(0, 3)
            size = [(11, 9), (3, 3), (1.5, 25)][kind]
            boxes.append((x, y, x + size[0], y + size[1]))
            labels.append(kind)
    boxes_array = np.array(boxes, np.float32)
    targets = make_targets(200, 210, boxes_array, np.array(labels), TargetConfig())
    net = PerfectNet(targets, 8, 3)
    pixel_index = np.arange(200 * 210, dtype=np.float32).reshape(200, 210)
    found = detect_array(net, pixel_index, PostprocessConfig(tile=tile, overlap=16), box_unit=10.0)
    assert len(found) == len(boxes)
    for box, label in zip(boxes, labels):
        best = max(found, key=lambda d: iou(d.box, box))
        assert best.class_index == label and iou(best.box, box) > 0.85, (box, best)  # sub-pixel centres
        assert best.score > 0.9


def test_staff_space_is_measured_from_the_lines():
    page = np.ones((300, 400), np.float32)
    for top in (40, 160):
        for line in range(5):
            page[top + line * 13: top + line * 13 + 2, 20:380] = 0.0  # lines 2 px thick, 13 px apart
    assert estimate_staff_space(page) == pytest.approx(13, abs=0.5)
    assert estimate_staff_space(np.ones((100, 100), np.float32)) is None
