"""The information plane (Shwartz-Ziv & Tishby 2017): where each layer T sits between I(X;T) and I(T;Y).

Two estimators, both in bits:

- **binning** (Shwartz-Ziv & Tishby): every unit's activation is put into one of `bins` equal bins over
  a fixed range (tanh: [-1, 1]); the binned layer is a discrete variable. With the inputs X all
  distinct and equally likely and T a deterministic function of X, I(X;T) = H(T) and
  I(T;Y) = H(T) − H(T|Y). Its known limits: I(X;T) can never exceed log2 N for N samples, and for layers
  wider than ~16 units nearly every input lands in its own bin pattern, so I(X;T) saturates at log2 N
  and says nothing (use narrow layers or fewer bins); the estimate depends on the bin count, and for
  ReLU layers on the range chosen for the unbounded side.
- **KDE** (Kolchinsky & Tracey 2017; Saxe et al. 2018): T is treated as T + Gaussian noise of variance
  `noise_variance`; H(T) is bounded above by the pairwise-KL estimator of a Gaussian mixture, H(T|X)
  is the noise's own entropy, H(T|Y) the same bound within each class. It measures geometry (how far
  apart the inputs' representations are relative to the noise), and its absolute values depend on
  the noise variance (Saxe et al. use 0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

NATS_TO_BITS = 1.0 / np.log(2.0)


@dataclass(frozen=True)
class InformationPoint:
    layer: str
    i_xt: float  # bits
    i_ty: float  # bits


def _entropy_bits(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def binning_information(activations: np.ndarray, labels: np.ndarray, bins: int = 30,
                        value_range: tuple[float, float] = (-1.0, 1.0)) -> tuple[float, float]:
    """(I(X;T), I(T;Y)) in bits for activations (N, D) of N distinct, equally likely inputs with labels (N,)."""
    activations = np.asarray(activations, np.float64)
    labels = np.asarray(labels)
    if activations.ndim != 2 or len(activations) != len(labels):
        raise ValueError(f"activations must be (N, D) with N = len(labels), got {activations.shape} and {labels.shape}")
    low, high = value_range
    edges = np.linspace(low, high, bins + 1)[1:-1]
    binned = np.digitize(activations, edges)  # (N, D) in 0..bins-1; values outside the range go to the end bins
    _, pattern = np.unique(binned, axis=0, return_inverse=True)  # one id per distinct bin pattern
    pattern = pattern.ravel()
    h_t = _entropy_bits(np.bincount(pattern))
    h_t_given_y = 0.0
    for label in np.unique(labels):
        members = pattern[labels == label]
        h_t_given_y += len(members) / len(pattern) * _entropy_bits(np.bincount(members))
    return h_t, h_t - h_t_given_y


def _kde_entropy_upper(activations: torch.Tensor, noise_variance: float) -> float:
    """Upper bound (nats) on the entropy of a mixture of Gaussians of variance `noise_variance` centred on
    the rows of activations (N, D): D/2 − mean_i log(1/N Σ_j N(h_i; h_j, σ²I))."""
    n, d = activations.shape
    distances = torch.cdist(activations, activations).pow(2)  # (N, N)
    normaliser = d / 2.0 * np.log(2 * np.pi * noise_variance)
    log_probs = torch.logsumexp(-distances / (2 * noise_variance), dim=1) - np.log(n) - normaliser
    return float(d / 2.0 - log_probs.mean())


def kde_information(activations: np.ndarray, labels: np.ndarray, noise_variance: float = 0.1) -> tuple[float, float]:
    """(I(X;T), I(T;Y)) in bits by the KDE (pairwise-KL) upper bound of Kolchinsky & Tracey."""
    values = torch.from_numpy(np.asarray(activations, np.float64))
    labels = np.asarray(labels)
    d = values.shape[1]
    h_t = _kde_entropy_upper(values, noise_variance)
    h_t_given_x = d / 2.0 * (np.log(2 * np.pi * noise_variance) + 1.0)
    h_t_given_y = 0.0
    for label in np.unique(labels):
        members = torch.from_numpy(labels == label)
        h_t_given_y += float(members.float().mean()) * _kde_entropy_upper(values[members], noise_variance)
    return (h_t - h_t_given_x) * NATS_TO_BITS, (h_t - h_t_given_y) * NATS_TO_BITS
