"""DWD decoding: targets made from boxes, read back by the post-processing, give the boxes again."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepwild.tasks.omr.postprocess import PostprocessConfig, detect_array, estimate_staff_space
from deepwild.tasks.omr.targets import TargetConfig, make_targets


class PerfectNet(nn.Module):
    """Stands in for a trained network: its maps are the targets, each tile reads its part of them."""

    def __init__(self, targets, levels: int, classes: int) -> None:
        super().__init__()
        self.groups, self.num_classes = targets.energy.shape[0], classes
        one_hot = torch.nn.functional.one_hot
        energy = one_hot(torch.from_numpy(targets.energy), levels + 1).permute(0, 3, 1, 2).flatten(0, 1).float()
        labels = torch.from_numpy(targets.classes.max(axis=0).clip(0))  # any group's class: groups mask the rest
        class_map = one_hot(labels, classes).permute(2, 0, 1).float()
        self.maps = {"energy": energy * 20.0, "classes": class_map * 20.0,
                     "box": torch.from_numpy(targets.box).flatten(0, 1)}  # (G·(K+1) | C | 2G, H, W)

    def forward_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # The input holds each pixel's index in the page, so a tile finds its own part of the maps.
        index = x[0, 0].round().long().flatten()  # (h·w,)
        return {name: m.flatten(1)[:, index].reshape(1, -1, *x.shape[-2:]) for name, m in self.maps.items()}


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("tile,margin", [(1024, 0.0), (64, 0.0), (1024, 3.0)])  # one tile, many tiles, splitting on
def test_perfect_maps_decode_to_the_original_boxes(tile, margin):
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
    assert targets.energy.shape == (1, 200, 210)
    net = PerfectNet(targets, 8, 3)
    pixel_index = np.arange(200 * 210, dtype=np.float32).reshape(200, 210)
    found = detect_array(net, pixel_index, PostprocessConfig(tile=tile, overlap=16, split_margin=margin), box_unit=10.0)
    assert len(found) == len(boxes)
    for box, label in zip(boxes, labels):
        best = max(found, key=lambda d: iou(d.box, box))
        assert best.class_index == label and iou(best.box, box) > 0.85, (box, best)  # sub-pixel centres
        assert best.score > 0.9


def test_energy_groups_keep_symbols_that_share_pixels_or_centres():
    # A notehead with a ledger line through its centre and a stem running into it: in one energy map
    # the notehead takes the ledger line's centre; with their own groups all three come back.
    notehead, ledger, stem = (50.0, 50.0, 61.0, 59.0), (46.0, 54.0, 65.0, 55.5), (59.5, 20.0, 61.0, 55.0)
    boxes = np.array([notehead, ledger, stem], np.float32)
    labels = np.array([0, 1, 2])
    single = make_targets(100, 100, boxes, labels, TargetConfig())
    net = PerfectNet(single, 8, 3)
    pixel_index = np.arange(100 * 100, dtype=np.float32).reshape(100, 100)
    found_single = detect_array(net, pixel_index, PostprocessConfig(), box_unit=10.0)
    assert 1 not in {d.class_index for d in found_single}  # the ledger line is lost under the notehead
    class_groups = np.array([0, 1, 2])
    grouped = make_targets(100, 100, boxes, labels, TargetConfig(), class_groups)
    assert grouped.energy.shape == (3, 100, 100) and (grouped.energy[1] > 0).sum() > 0
    net = PerfectNet(grouped, 8, 3)
    found = detect_array(net, pixel_index, PostprocessConfig(), box_unit=10.0, class_groups=class_groups)
    assert sorted(d.class_index for d in found) == [0, 1, 2]
    for detection in found:
        assert iou(detection.box, tuple(boxes[detection.class_index])) > 0.7, detection


def test_small_symbols_weigh_more_in_the_loss():
    boxes = np.array([(10, 10, 13, 13), (40, 40, 60, 70)], np.float32)  # a dot and a clef-sized symbol
    targets = make_targets(100, 100, boxes, np.array([0, 1]), TargetConfig())
    dot, big = targets.size_weight[0, 11, 11], targets.size_weight[0, 55, 50]
    assert dot > 2.0 and big == pytest.approx(1.0) and targets.size_weight[0, 90, 90] == 1.0


def test_staff_space_is_measured_from_the_lines():
    page = np.ones((300, 400), np.float32)
    for top in (40, 160):
        for line in range(5):
            page[top + line * 13: top + line * 13 + 2, 20:380] = 0.0  # lines 2 px thick, 13 px apart
    assert estimate_staff_space(page) == pytest.approx(13, abs=0.5)
    assert estimate_staff_space(np.ones((100, 100), np.float32)) is None


def test_touching_symbols_are_split_at_their_seeds():
    from deepwild.tasks.omr.postprocess import split_touching

    # Two stacked time-signature digits: their cores touch, their centres (seeds) do not.
    yy, xx = np.mgrid[0:60, 0:20]
    expected = np.maximum(8 - np.hypot(yy - 15, xx - 10) / 2, 8 - np.hypot(yy - 40, xx - 10) / 2).clip(0)
    core = expected >= 2.0
    labels, count = split_touching(core, expected, seed_level=2.0)  # seeds = cores: nothing to split
    assert count == 1
    labels, count = split_touching(core, expected, seed_level=6.0)
    assert count == 2 and labels[15, 10] != labels[40, 10] and (labels > 0).sum() == core.sum()
    assert set(np.unique(labels)) == {0, 1, 2}
    assert (labels[:27][core[:27]] == labels[15, 10]).all() and (labels[29:][core[29:]] == labels[40, 10]).all()


def test_half_resolution_maps_are_read_as_the_training_loss_upsamples_them():
    from deepwild.tasks.omr.postprocess import _sample

    maps = torch.randn(5, 12, 16)  # (C, h, w) at half of a 24 × 32 input
    full = torch.nn.functional.interpolate(maps[None], size=(24, 32), mode="bilinear", align_corners=False)[0]
    rows, cols = np.array([0, 5, 11, 23, 17]), np.array([0, 31, 8, 3, 20])
    assert torch.allclose(_sample(maps, rows, cols, 24, 32), full[:, rows, cols].T, atol=1e-5)


def test_each_class_is_reported_from_its_own_thresholds_decoding():
    from deepwild.tasks.omr.postprocess import decode, network_outputs

    boxes = np.array([(10, 10, 21, 19), (40, 10, 42, 12)], np.float32)  # a notehead (class 0) and a dot (class 1)
    targets = make_targets(40, 60, boxes, np.array([0, 1]), TargetConfig())
    net = PerfectNet(targets, 8, 2)
    pixel_index = np.arange(40 * 60, dtype=np.float32).reshape(40, 60)
    groups = np.zeros(2, np.int64)
    outputs = network_outputs(net, pixel_index, PostprocessConfig(), groups, lowest=1.0)
    high = decode(outputs, PostprocessConfig(energy_threshold=6.0), 10.0)
    assert [d.class_index for d in high] == [0]  # the dot's small marker never reaches level 6
    mixed = decode(outputs, PostprocessConfig(energy_threshold=6.0, class_thresholds=(6.0, 1.0)), 10.0)
    assert sorted(d.class_index for d in mixed) == [0, 1]
    with pytest.raises(ValueError, match="kept down to"):
        decode(outputs, PostprocessConfig(energy_threshold=0.5), 10.0)


def test_each_class_is_split_with_its_own_margin():
    from deepwild.tasks.omr.postprocess import decode, network_outputs

    # Two stacked digits (class 0) whose cores touch, and a notehead (class 1) far away.
    boxes = np.array([(10, 10, 26, 30), (10, 28, 26, 48), (40, 20, 51, 29)], np.float32)
    targets = make_targets(60, 60, boxes, np.array([0, 0, 1]), TargetConfig(marker_scale=1.2))
    net = PerfectNet(targets, 8, 2)
    outputs = network_outputs(net, np.arange(3600, dtype=np.float32).reshape(60, 60), PostprocessConfig(),
                              np.zeros(2, np.int64), lowest=1.0)
    merged = decode(outputs, PostprocessConfig(energy_threshold=1.0), 10.0)
    assert sorted(d.class_index for d in merged) == [0, 1]  # the digits' cores touch: one symbol
    split = decode(outputs, PostprocessConfig(energy_threshold=1.0, class_split_margins=(4.0, 0.0)), 10.0)
    assert sorted(d.class_index for d in split) == [0, 0, 1]
