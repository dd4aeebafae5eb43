"""Information-plane estimators against cases whose information is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepwild.interpret.infoplane import binning_information, kde_information

torch.set_num_threads(1)


def test_binning_recovers_exact_information_of_discrete_layers():
    n = 64
    labels = np.arange(n) % 2
    # A layer that keeps everything: every input its own bin pattern → I(X;T) = log2 N, I(T;Y) = H(Y) = 1.
    identity = np.linspace(-0.99, 0.99, n)[:, None]
    assert binning_information(identity, labels, bins=n) == pytest.approx((6.0, 1.0))
    # A layer that keeps only the label: I(X;T) = I(T;Y) = 1 bit.
    label_only = np.where(labels == 1, 0.9, -0.9)[:, None]
    assert binning_information(label_only, labels) == pytest.approx((1.0, 1.0))
    # A layer that keeps one bit unrelated to the label: I(X;T) = 1, I(T;Y) = 0.
    unrelated = np.where(np.arange(n) < n // 2, 0.9, -0.9)[:, None]
    assert binning_information(unrelated, labels) == pytest.approx((1.0, 0.0))
    # A constant layer keeps nothing.
    assert binning_information(np.zeros((n, 3)), labels) == pytest.approx((0.0, 0.0))


def test_binning_saturates_at_log2_n_for_wide_layers():
    rng = np.random.default_rng(0)
    wide = np.tanh(rng.normal(size=(256, 32)))
    i_xt, i_ty = binning_information(wide, rng.integers(0, 2, 256))
    assert i_xt == pytest.approx(np.log2(256))  # every input in its own pattern: the known limit


def test_kde_estimate_tends_to_the_exact_values_for_far_apart_clusters():
    n = 200
    labels = np.arange(n) % 2
    # Two clusters far apart compared with the noise: T keeps the label (1 bit) and nothing else.
    clusters = np.where(labels[:, None] == 1, 5.0, -5.0) + np.zeros((n, 2))
    i_xt, i_ty = kde_information(clusters, labels, noise_variance=0.1)
    assert i_xt == pytest.approx(1.0, abs=1e-3) and i_ty == pytest.approx(1.0, abs=1e-3)
    # Every input far from every other: I(X;T) → log2 N, I(T;Y) → H(Y).
    spread = np.arange(n, dtype=np.float64)[:, None] * 10.0
    i_xt, i_ty = kde_information(spread, labels, noise_variance=0.1)
    assert i_xt == pytest.approx(np.log2(n), abs=1e-3) and i_ty == pytest.approx(1.0, abs=1e-3)
    # More noise hides more: the estimate falls as the variance grows.
    assert kde_information(spread / 20.0, labels, noise_variance=1.0)[0] < np.log2(n) - 1
