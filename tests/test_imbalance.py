"""Class imbalance: weights, focal loss, the rare-class crop sampler and the class count table."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepwild.data.imbalance import (
    ClassCountRow,
    CropSamplerConfig,
    RareClassCropSampler,
    class_count_table,
    class_weights,
    focal_loss,
    plot_class_counts,
)
from deepwild.data.symbols import ScorePage, SymbolAnnotation, SymbolDataset

COUNTS = {"noteheadBlackOnLine": 10000, "stem": 2500, "segno": 100, "coda": 1}
CLASSES = ["noteheadBlackOnLine", "stem", "segno", "coda", "clefG"]  # clefG never seen


@pytest.mark.parametrize("scheme", ["inverse", "inverse_sqrt", "effective_number"])
def test_class_weights_favour_rare_classes_and_average_one(scheme):
    weights = class_weights(COUNTS, CLASSES, scheme=scheme, beta=0.999, max_weight=1000.0)
    present = weights[:4]
    assert weights.dtype == np.float32 and weights.shape == (5,)
    assert np.isclose(present.mean(), 1.0, atol=1e-5)
    assert np.all(np.diff(present) > 0)  # rarer → heavier, strictly
    assert weights[4] == 0.0


def test_class_weight_schemes_have_the_documented_ratios():
    inverse = class_weights(COUNTS, CLASSES, "inverse", max_weight=1e9)
    assert np.isclose(inverse[1] / inverse[0], 4.0)  # 10000 / 2500
    root = class_weights(COUNTS, CLASSES, "inverse_sqrt", max_weight=1e9)
    assert np.isclose(root[1] / root[0], 2.0)
    effective = class_weights(COUNTS, CLASSES, "effective_number", beta=0.999, max_weight=1e9)
    # Past ~1/(1 - beta) = 1000 samples, more samples barely count: 10000 and 2500 are nearly alike.
    assert effective[1] / effective[0] < 1.1 and effective[3] / effective[2] > 50


def test_class_weights_are_capped_yet_keep_a_unit_mean():
    weights = class_weights(COUNTS, CLASSES, "inverse", max_weight=2.5)
    assert np.isclose(weights[:4].mean(), 1.0, atol=1e-5) and weights.max() <= 2.5 + 1e-6
    # Only the rarest class hits the cap; the others keep their ratios and share the rest.
    assert np.isclose(weights[3], 2.5) and np.isclose(weights[2] / weights[1], 25.0)
    assert np.isclose(weights[:3].sum(), 4 - 2.5, atol=1e-5)
    absent_max = class_weights(COUNTS, CLASSES, "inverse", max_weight=2.5, absent="max")
    assert absent_max[4] == pytest.approx(2.5)
    with pytest.raises(ValueError, match="scheme"):
        class_weights(COUNTS, CLASSES, scheme="log")


def test_focal_loss_with_gamma_zero_is_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 5, 6, generator=generator)
    targets = torch.randint(0, 4, (2, 5, 6), generator=generator)
    targets[0, 0, :3] = -100
    weight = torch.tensor([0.5, 1.0, 2.0, 3.0])
    for w in (None, weight):
        expected = F.cross_entropy(logits, targets, weight=w, ignore_index=-100)
        assert torch.allclose(focal_loss(logits, targets, gamma=0.0, weight=w), expected, atol=1e-6)
    assert torch.allclose(focal_loss(logits, targets, gamma=0.0, reduction="none"),
                          F.cross_entropy(logits, targets, reduction="none"), atol=1e-6)


def test_focal_loss_down_weights_easy_pixels():
    # Pixel 0: class 0 predicted with p ≈ 0.97 (easy). Pixel 1: true class 1 has p ≈ 0.05 (hard).
    logits = torch.tensor([[[[4.0, 0.0]], [[0.0, -2.0]], [[0.0, 1.0]]]])  # (1, 3, 1, 2)
    targets = torch.tensor([[[0, 1]]])
    cross_entropy = F.cross_entropy(logits, targets, reduction="none")[0, 0]
    focal = focal_loss(logits, targets, gamma=2.0, reduction="none")[0, 0]
    p = torch.softmax(logits, dim=1)[0, :, 0]
    easy, hard = focal[0] / cross_entropy[0], focal[1] / cross_entropy[1]
    assert torch.isclose(easy, (1 - p[0, 0]) ** 2) and easy < 0.01
    assert hard > 0.85
    # And the gradient follows: the easy pixel's gradient nearly vanishes.
    logits.requires_grad_(True)
    focal_loss(logits, targets, gamma=2.0).backward()
    assert logits.grad[0, :, 0, 0].abs().max() < 0.01 * logits.grad[0, :, 0, 1].abs().max()


def test_focal_loss_with_every_target_ignored_is_zero_not_nan():
    loss = focal_loss(torch.randn(1, 3, 2, 2), torch.full((1, 2, 2), -100))
    assert loss.item() == 0.0


def imbalanced_dataset() -> SymbolDataset:
    """Two 600 × 400 pages: 1000 common symbols spread over both, 10 rare ones (100× rarer)."""
    rng = np.random.default_rng(0)
    pages = []
    for index in range(2):
        symbols = [SymbolAnnotation("noteheadBlackOnLine", (x, y, x + 8, y + 6))
                   for x, y in rng.uniform([0, 0], [392, 594], size=(500, 2))]
        symbols += [SymbolAnnotation("segno", (x, y, x + 10, y + 12))
                    for x, y in rng.uniform([0, 0], [390, 588], size=(5, 2))]
        pages.append(ScorePage(f"p{index}.png", 400, 600, tuple(symbols), split="train"))
    return SymbolDataset(tuple(pages))


def rare_share(dataset: SymbolDataset, windows, size: int) -> float:
    """Fraction of crops that hold a whole segno."""
    hits = 0
    for page_index, x0, y0 in windows:
        hits += any(s.class_name == "segno" and s.bbox[0] >= x0 and s.bbox[1] >= y0
                    and s.bbox[2] <= x0 + size and s.bbox[3] <= y0 + size
                    for s in dataset.pages[page_index].symbols)
    return hits / len(windows)


def test_rare_class_appears_in_crops_far_more_often_than_its_share():
    dataset, size = imbalanced_dataset(), 64
    share = 10 / 1010
    balanced = RareClassCropSampler(dataset, size, CropSamplerConfig(power=1.0, uniform_fraction=0.1, seed=1))
    windows = balanced.windows(400)
    # power 1: both classes are chosen equally often, so ~45 % of crops centre on a segno.
    assert rare_share(dataset, windows, size) > 0.35 > 20 * share
    uniform = RareClassCropSampler(dataset, size, CropSamplerConfig(uniform_fraction=1.0, seed=1))
    uniform_windows = uniform.windows(400)
    assert rare_share(dataset, uniform_windows, size) < 0.15
    assert sum(window.x0 == 0 for window in uniform_windows) < 20  # uniform, not piled up at the edge
    assert balanced.class_probability["segno"] == pytest.approx(0.5)


def test_windows_lie_inside_their_page_and_are_reproducible():
    dataset = imbalanced_dataset()
    small = ScorePage("small.png", 50, 40, (SymbolAnnotation("segno", (10, 10, 20, 22)),), split="train")
    dataset = SymbolDataset((*dataset.pages, small))
    sampler = RareClassCropSampler(dataset, (96, 64), CropSamplerConfig(jitter=0.5, uniform_fraction=0.3, seed=4))
    windows = sampler.windows(500)
    for page_index, x0, y0 in windows:
        page = dataset.pages[page_index]
        assert 0 <= x0 and 0 <= y0
        assert x0 + 96 <= max(page.width, 96) and y0 + 64 <= max(page.height, 64)
    assert any(window.page_index == 2 for window in windows)
    assert windows == sampler.windows(500)
    assert windows != sampler.windows(500, epoch=1)
    sampler.set_epoch(1)
    assert list(sampler)[:10] == sampler.windows(len(sampler), epoch=1)[:10]
    assert RareClassCropSampler(dataset, (96, 64), sampler.config).windows(500) == windows


def test_class_count_table_counts_per_split_sorted_by_total():
    def page(split, names):
        return ScorePage("p.png", 10, 10, tuple(SymbolAnnotation(name, (0, 0, 1, 1)) for name in names), split=split)

    dataset = SymbolDataset((page("train", ["stem"] * 5 + ["clefG"]), page("val", ["stem", "segno", "segno"]),
                             page("test-unseen-font", ["clefG"] * 4), page("", ["coda"])))
    rows = class_count_table(dataset)
    assert [row.class_name for row in rows] == ["stem", "clefG", "segno", "coda"]
    assert rows[0].counts == {"train": 5, "val": 1, "test": 0, "test-unseen-font": 0, "unassigned": 0}
    assert rows[1].total == 5 and rows[1].counts["test-unseen-font"] == 4
    assert rows[3].to_json() == {"class": "coda", "train": 0, "val": 0, "test": 0, "test-unseen-font": 0,
                                 "unassigned": 1, "total": 1}


def test_plot_class_counts_writes_a_png(tmp_path):
    rows = [ClassCountRow("stem", {"train": 5000, "val": 40, "test": 0}),
            ClassCountRow("segno", {"train": 3, "val": 0, "test": 1})]
    target = plot_class_counts(rows, tmp_path / "plots" / "classes.png")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 5000
