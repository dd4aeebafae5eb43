"""`deepwild lecture classical-vs-deep`: hand-made features + SVM against a small CNN on the same split."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deepwild.core.errors import ConfigError
from deepwild.data.digits import load_digits_arrays, upsample
from deepwild.lecture.classical import (CNNSettings, balanced_order, classical_pipeline, deep_pipeline,
                                        hand_made_features, hog_features)
from deepwild.lecture.classical_vs_deep import ClassicalVsDeepConfig, run_classical_vs_deep, training_sizes
from tests.helpers.cli import run_cli
from tests.helpers.symbol_pages import write_shape_dataset

torch.set_num_threads(1)


def digits(count: int, offset: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    images, labels = load_digits_arrays()
    return upsample(images[offset:offset + count], 32), labels[offset:offset + count]


def test_hog_sees_edge_orientation():
    vertical = np.zeros((1, 32, 32), np.float32)
    vertical[0, :, 16:] = 1.0  # one vertical edge: horizontal gradients only
    horizontal = vertical.transpose(0, 2, 1).copy()
    a, b = hog_features(vertical)[0], hog_features(horizontal)[0]
    assert a.shape == (324,) and np.abs(a - b).sum() > 1.0  # 3×3 blocks × 2×2 cells × 9 orientations
    both = hand_made_features(torch.from_numpy(vertical)[:, None])
    assert both.shape == (1, 324 + 16 * 10)  # + a 10-code LBP histogram per 8×8 cell


def test_the_classical_pipeline_beats_chance_on_200_digits():
    train_x, train_y = digits(200)
    test_x, test_y = digits(300, offset=1000)
    score = classical_pipeline(train_x, train_y, test_x, test_y)
    assert score.train_size == 200 and score.accuracy > 0.8  # chance: 0.1
    assert score.train_seconds > 0 and score.infer_ms > 0


def test_a_briefly_trained_cnn_learns_something():
    train_x, train_y = digits(200)
    test_x, test_y = digits(200, offset=1000)
    score, model = deep_pipeline(train_x, train_y, test_x, test_y, 10, CNNSettings(steps=40, width=8))
    assert score.method == "small CNN" and score.accuracy > 0.2 and not model.training  # chance: 0.1


def test_every_prefix_of_the_balanced_order_holds_the_classes_evenly():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    order = balanced_order(labels, seed=3)
    assert sorted(order.tolist()) == list(range(100))
    assert np.bincount(labels[order[:40]], minlength=4).tolist() == [10, 10, 10, 10]
    assert training_sizes(1000, ClassicalVsDeepConfig(sizes=5, smallest=50)) == [50, 106, 224, 473, 1000]
    cnn = CNNSettings()  # about 30 epochs, within [min_steps, steps]
    assert (cnn.steps_for(50), cnn.steps_for(562), cnn.steps_for(1258), cnn.steps_for(9000)) == (200, 263, 590, 600)


def test_a_tiny_run_on_digits_writes_its_table_pictures_and_page(tmp_path):
    config = ClassicalVsDeepConfig(dataset="digits", sizes=2, smallest=40, featvis=False,
                                   cnn=CNNSettings(steps=3, width=4))
    result = run_classical_vs_deep(config, tmp_path)
    (comparison,) = result.comparisons
    assert [s.train_size for s in comparison.scores] == [40, 40, 1258, 1258]
    assert comparison.scores[-2].accuracy > 0.95  # the SVM on every training digit
    page = result.page.read_text()
    assert result.page.name == "index.html" and page.count("data:image/png;base64,") == 2
    saved = json.loads((result.run.path / "result.json").read_text())
    assert len(saved["digits"]["scores"]) == 4 and result.curves.is_file() and comparison.figure.is_file()


def test_symbols_come_from_a_dataset_folder(tmp_path):
    data = write_shape_dataset(tmp_path / "shapes")
    config = ClassicalVsDeepConfig(dataset="symbols", data=str(data), sizes=1, min_count=5, featvis=True,
                                   cnn=CNNSettings(steps=2, width=4))
    (comparison,) = run_classical_vs_deep(config, tmp_path / "runs").comparisons
    assert comparison.classes == 4 and comparison.scores[0].accuracy > 0.5  # four clearly different shapes
    assert comparison.featvis is not None and comparison.featvis.is_file()


def test_bad_input_is_refused_before_any_work(monkeypatch, capsys, tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset"):
        run_classical_vs_deep(ClassicalVsDeepConfig(dataset="cifar"), tmp_path)  # type: ignore[arg-type]
    for args, expected in ((["--dataset", "cifar"], "digits, symbols, both"), (["--steps", "0"], "cnn.steps"),
                           (["--data", str(tmp_path / "missing")], "does not exist")):
        code, _, err = run_cli(monkeypatch, capsys, "lecture", "classical-vs-deep", *args)
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
