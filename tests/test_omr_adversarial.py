"""Adversarial-input flags for the music symbol detector: tiles, the attack on a dense predictor, the page
calibration and the flags `detect` writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deepwild.core.images import load_grayscale
from deepwild.core.package import read_model_package
from deepwild.tasks.omr.adversarial import (attack_tiles, calibrate_pages, energy_levels, inkiest_tiles, lost_markers,
                                            page_flag, page_score, page_tiles)
from deepwild.tasks.omr.detect import Detector
from tests.helpers.tiny_packages import FIXTURE_PAGE, music_pages, tiny_detector_package

torch.set_num_threads(1)


def test_inkiest_tiles_are_the_tiles_with_most_ink_in_page_order_and_small_pages_are_padded():
    ink = np.zeros((20, 30), np.float32)  # a 2 × 3 grid of 10-px tiles
    ink[0:10, 20:30] = 0.5  # tile 2: 50 units
    ink[10:20, 0:10] = 1.0  # tile 3: 100
    ink[3, 13] = 1.0  # tile 1: 1
    tiles = inkiest_tiles(ink, tile=10, count=2)
    assert tiles.shape == (2, 10, 10)
    assert tiles[0].sum() == pytest.approx(50) and tiles[1].sum() == pytest.approx(100)  # page order, not ink order
    small = inkiest_tiles(np.ones((4, 6), np.float32), tile=10, count=3)
    assert small.shape == (1, 10, 10) and small.sum() == 24 and small[4:].sum() == 0


def ten_music_strips() -> list[tuple[str, np.ndarray]]:
    """Ten strips of staves of a real DeepScoresV2 page: two columns, five rows."""
    page = load_grayscale(FIXTURE_PAGE)
    return [(f"strip{row}{column}", page[420 + row * 560:720 + row * 560, 300 + column * 1000:1200 + column * 1000])
            for row in range(5) for column in range(2)]


@pytest.fixture()
def detector(tmp_path_factory):
    return Detector.load(tiny_detector_package(tmp_path_factory.mktemp("omr") / "model"))


def test_the_attack_stays_in_its_budget_and_moves_the_network_off_its_own_answer(detector):
    tiles = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # without its energy bias the untrained network marks most pixels as symbols
        detector.model.energy_head.bias.zero_()
    assert float((energy_levels(detector.model.forward_maps(tiles), detector.model.groups) > 0).float().mean()) > 0.5
    for steps in (1, 5):
        attacked = attack_tiles(detector, tiles, epsilon=0.1, steps=steps)
        assert attacked.shape == tiles.shape
        assert float((attacked - tiles).abs().max()) <= 0.1 + 1e-6
        assert float(attacked.min()) >= 0.0 and float(attacked.max()) <= 1.0
        assert 0.0 < lost_markers(detector, tiles, attacked) <= 1.0
    assert lost_markers(detector, tiles, tiles) == 0.0
    levels = energy_levels(detector.model.forward_maps(tiles), detector.model.groups)
    assert levels.shape == (3, 2, 32, 32)  # one level map per energy group


def test_pages_are_scored_calibrated_flagged_and_detect_writes_the_flags(detector, tmp_path, monkeypatch):
    pages = ten_music_strips()
    tiles = page_tiles(detector, pages[0][1], pages[0][0])
    assert tiles.shape[1:] == (1, 128, 128) and len(tiles) == 8
    scores = [page_score(detector, gray, name, tiles_per_page=2) for name, gray in pages]
    assert all(0.0 < s < np.log2(9) for s in scores)
    assert page_flag(detector, pages[0][1]) is None  # no calibration yet
    model_dir = tiny_detector_package(tmp_path / "calibrated")
    calibration = calibrate_pages(Detector.load(model_dir), model_dir, pages, 0.2, "pages", tiles_per_page=2)
    assert calibration.inputs == 10 and calibration.clean_flagged <= 0.2
    assert calibration.threshold == pytest.approx(sorted(scores)[-3], abs=1e-6)  # two of ten may lie above
    saved = read_model_package(model_dir).adversarial
    assert saved["threshold"] == pytest.approx(calibration.threshold) and saved["tiles"] == 2
    flagged = Detector.load(model_dir)
    results = [flagged.detect_gray(gray, name) for name, gray in pages]
    assert [r.suspicious for r in results] == [s > calibration.threshold for s in scores]
    assert [r.adversarial_score for r in results] == pytest.approx(scores, abs=1e-4)
    # Detection through the ONNX export keeps the flag: it runs on the torch network beside it.
    monkeypatch.setenv("DEEPWILD_CACHE", str(tmp_path / "cache"))
    through_onnx = Detector.load(model_dir, runtime="onnx")
    assert not isinstance(through_onnx.model, torch.nn.Module)
    assert through_onnx.detect_gray(pages[0][1], pages[0][0]).adversarial_score == pytest.approx(scores[0], abs=1e-4)
    as_json = json.loads(json.dumps(results[0].to_json()))
    assert set(as_json) >= {"suspicious", "adversarial_score"}
    assert "suspicious" not in detector.detect_gray(pages[0][1], pages[0][0]).to_json()  # uncalibrated: no flags


def test_too_few_pages_and_a_bad_rate_are_refused(detector, tmp_path):
    from deepwild.core.errors import ConfigError, DeepwildError

    pages = [(p.name, load_grayscale(p)) for p in music_pages(tmp_path / "pages", count=2, height=300)]
    with pytest.raises(DeepwildError, match="at least 10"):
        calibrate_pages(detector, tmp_path, pages, 0.05, "pages")
    with pytest.raises(ConfigError, match="strictly between"):
        calibrate_pages(detector, tmp_path, pages, 1.5, "pages")
