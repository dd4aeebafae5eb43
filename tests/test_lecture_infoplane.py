"""`deepwild lecture infoplane`: the Shwartz-Ziv & Tishby setting, measured and drawn."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deepwild.lecture.infoplane import InfoPlaneConfig, icosahedron, measured_epochs, run_infoplane, szt_data

torch.set_num_threads(1)


def test_the_data_is_all_12_bit_patterns_labelled_by_a_rotation_invariant_rule():
    points = icosahedron()
    assert np.allclose(np.linalg.norm(points, axis=1), 1.0)
    distances = np.linalg.norm(points[:, None] - points[None], axis=2)
    assert np.allclose(np.sort(distances, axis=1)[:, 1:6], np.sort(distances, axis=1)[0, 1:6])  # 5 equal neighbours
    patterns, labels = szt_data()
    assert patterns.shape == (4096, 12) and len(np.unique(patterns, axis=0)) == 4096
    assert 0.45 < labels.mean() < 0.55
    # Complementing every bit maps Σ x_i v_i to −Σ x_i v_i (the vertices come in ± pairs): same label.
    index = lambda bits: int((bits * (1 << np.arange(12))).sum())  # noqa: E731
    assert all(labels[index(1 - p)] == labels[index(p)] for p in patterns[:200].astype(int))


def test_measured_epochs_are_log_spaced_and_include_first_and_last():
    epochs = measured_epochs(3000, 60)
    assert epochs[0] == 1 and epochs[-1] == 3000 and (np.diff(epochs) > 0).all()


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_a_short_run_records_the_plane_for_every_layer(tmp_path, activation):
    config = InfoPlaneConfig(activation=activation, epochs=12, points=3, seed=1)
    result = run_infoplane(config, tmp_path)
    assert result.binning.shape == (len(result.epochs), 6, 2) and result.kde is None
    i_xt, i_ty = result.binning[..., 0], result.binning[..., 1]
    assert (i_xt <= 12 + 1e-9).all() and (i_ty <= i_xt + 1e-9).all() and (i_ty >= -1e-9).all()
    # Data processing: the binned estimate of I(T;Y) can never exceed H(Y) ≈ 1 bit.
    assert (i_ty <= 1.0 + 1e-9).all()
    assert result.figure.is_file() and np.isfinite(result.seconds_per_binning) and result.seconds_per_binning > 0
    saved = json.loads((result.run.path / "result.json").read_text())
    assert saved["epochs"] == result.epochs.tolist() and "log2 4096" in saved["limits"]


def test_the_command_prints_the_plane_and_refuses_an_unknown_activation(tmp_path, monkeypatch, capsys):
    from tests.test_cli_errors import run_cli

    monkeypatch.setenv("DEEPWILD_RUNS", str(tmp_path / "runs"))
    code, out, _ = run_cli(monkeypatch, capsys, "lecture", "infoplane", "--epochs", "4", "--points", "2")
    assert code == 0 and "binning (I(X;T), I(T;Y)) in bits" in out and "T6 (" in out and "infoplane.png" in out
    code, _, err = run_cli(monkeypatch, capsys, "lecture", "infoplane", "--activation", "sigmoid")
    assert code == 2 and "sigmoid" in err and "Traceback" not in err
