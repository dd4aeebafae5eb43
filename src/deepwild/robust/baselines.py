"""The baseline adversarial-input detectors a reviewer would name, as `Detector`s on any deepwild classifier.

- `MahalanobisDetector` (Lee, Lee, Lee & Shin, NeurIPS 2018): per layer, class-conditional Gaussians
  with one tied covariance on the layer's channel means; the score is the distance to the closest class.
- `LIDDetector` (Ma et al., ICLR 2018): per layer, the local intrinsic dimensionality of an input's
  features among clean reference features, by maximum likelihood.
- `DensityUncertaintyDetector` (Feinman, Curtin, Shintre & Gardner 2017): kernel density of the last
  hidden features under the predicted class's clean features, and Bayesian uncertainty by MC dropout.
- `FeatureSqueezingDetector` (Xu, Evans & Qi, NDSS 2018): how far the softmax moves when the input is
  squeezed (bit-depth reduction, median filter); unsupervised.

Every column is oriented so that higher means more suspicious. The supervised ones give one column per
layer (or characteristic), which, as in their papers, a logistic regression fitted on adversarial
examples combines. What they share: inputs (N, C, H, W) in [0, 1] pass through the model in batches of
`batch_size` on the model's device, in eval mode (each module's own mode is restored afterwards); a
layer's features are its channel means over space (Lee et al.'s choice, and what SmallCNN's head sees
of its last map); randomness (MC dropout only) comes from the detector's own seeded generator, never
from the global RNG, so that a detector cannot shift a training run's random stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.distance import cdist
from scipy.special import logsumexp
from torch import nn

from deepwild.core.config import config_from_dict
from deepwild.core.errors import ConfigError, DeepwildError
from deepwild.core.registry import unknown_name_message
from deepwild.robust.base import Detector, feature_maps

# ---------------------------------------------------------------------------------------------- shared


def model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode; afterwards every module gets back its own mode (a model may be mixed)."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.training = training


def spatial_means(maps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each map's channel means over space, (B, C, ...) → (B, C); a (B, D) vector stays as it is."""
    return {name: values if values.ndim == 2 else values.flatten(2).mean(dim=2) for name, values in maps.items()}


def channel_means(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each feature map's channel means over space, early to late: name → (B, C)."""
    return spatial_means(feature_maps(model, x))


def means_and_logits(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Channel means of every map and the logits (B, classes), from one pass where the model has a head."""
    maps = feature_maps(model, x)
    logits = model.forward_head(maps) if hasattr(model, "forward_head") else model(x)
    return spatial_means(maps), logits


def per_batch(model: nn.Module, images: torch.Tensor, batch_size: int,
              compute: Callable[[torch.Tensor], dict[str, torch.Tensor]]) -> dict[str, np.ndarray]:
    """`compute(batch)` on the model's device, in eval mode and without gradients, concatenated per key
    as float64 arrays (float64 because covariances and log-densities are formed from them)."""
    if images.ndim != 4:
        raise DeepwildError(f"detectors take images (N, C, H, W), got shape {tuple(images.shape)}")
    device, parts = model_device(model), {}
    with eval_mode(model), torch.no_grad():
        for start in range(0, len(images), batch_size):
            for key, values in compute(images[start:start + batch_size].to(device, torch.float32)).items():
                parts.setdefault(key, []).append(values.detach().to("cpu", torch.float64).numpy())
    return {key: np.concatenate(values) for key, values in parts.items()}


def label_array(labels: torch.Tensor | np.ndarray, count: int) -> np.ndarray:
    labels = np.asarray(torch.as_tensor(labels).cpu()).astype(np.int64).reshape(-1)
    if len(labels) != count:
        raise DeepwildError(f"fit got {count} images but {len(labels)} labels")
    return labels


def check_batch_size(batch_size: int, detector: str) -> None:
    if batch_size < 1:
        raise ConfigError(f"{detector} detector: batch_size must be at least 1, got {batch_size}")


def not_fitted(detector: str) -> DeepwildError:
    return DeepwildError(f"the {detector} detector is not fitted",
                         hint="call fit(model, images, labels) on clean inputs first")


class BaselineDetector:
    """What the four share: a table name, whether a logistic regression must combine the columns, and
    frozen settings of their own type, checked on construction (None: the defaults)."""

    name: ClassVar[str]
    supervised: ClassVar[bool]
    settings_type: ClassVar[type]

    def __init__(self, settings: Any = None) -> None:
        settings = self.settings_type() if settings is None else settings
        if not isinstance(settings, self.settings_type):
            raise ConfigError(f"the {self.name} detector takes {self.settings_type.__name__}, "
                              f"got {type(settings).__name__}")
        settings.validate()
        self.settings = settings


# ------------------------------------------------------------------------------------------ Mahalanobis


@dataclass(frozen=True)
class MahalanobisSettings:
    # The paper's input pre-processing: x̃ = x − noise · sign(∇x distance to the closest class), per layer.
    # Off by default: the paper picks the magnitude per data set *and attack* from a grid
    # {0, 0.0005, 0.001, 0.0014, 0.002, 0.005, 0.01, 0.05, 0.1, 0.2} on adversarial validation data,
    # so there is no single paper value, and it costs a backward and a forward pass per layer. Our inputs
    # are in [0, 1] (the paper's were standardised); the stepped input is not clipped, as in the paper.
    noise: float = 0.0
    # Σ ← (1 − s) Σ + s (tr Σ / D) I before inverting; 0 = the paper's empirical Σ, whose pseudo-inverse
    # (as sklearn's pinvh in the authors' code) already copes with the dead channels that make Σ singular.
    shrinkage: float = 0.0
    batch_size: int = 128

    def validate(self) -> None:
        check_batch_size(self.batch_size, "mahalanobis")
        if self.noise < 0 or not 0.0 <= self.shrinkage <= 1.0:
            raise ConfigError("mahalanobis detector: noise must be ≥ 0 and shrinkage in [0, 1]")


@dataclass(frozen=True)
class TiedGaussian:
    """One layer's class-conditional Gaussians with a shared covariance (linear discriminant analysis)."""

    layer: str
    classes: np.ndarray  # (K,) the labels seen at fit time
    means: np.ndarray  # (K, D)
    covariance: np.ndarray  # (D, D) pooled within-class, divided by N (maximum likelihood, as the paper)
    precision: np.ndarray  # (D, D) pseudo-inverse of the (shrunk) covariance


def fit_tied_gaussian(layer: str, features: np.ndarray, labels: np.ndarray, shrinkage: float = 0.0) -> TiedGaussian:
    classes, index = np.unique(labels, return_inverse=True)
    means = np.stack([features[index == k].mean(axis=0) for k in range(len(classes))])  # (K, D)
    centred = features - means[index]
    covariance = centred.T @ centred / len(features)
    dimension = len(covariance)
    shrunk = (1 - shrinkage) * covariance + shrinkage * np.trace(covariance) / dimension * np.eye(dimension)
    return TiedGaussian(layer, classes, means, covariance, np.linalg.pinv(shrunk, hermitian=True))


def mahalanobis_distances(features: torch.Tensor, means: torch.Tensor, precision: torch.Tensor) -> torch.Tensor:
    """(B, K) squared Mahalanobis distance (f − μ_k)ᵀ P (f − μ_k) of features (B, D) to each mean (K, D)."""
    centred = features[:, None, :] - means[None]  # (B, K, D)
    return torch.einsum("bkd,de,bke->bk", centred, precision, centred)


class MahalanobisDetector(BaselineDetector):
    """Per layer −max_c −(f − μ_c)ᵀ Σ⁻¹ (f − μ_c), the distance to the closest class: (N, layers)."""

    name = "mahalanobis"
    supervised = True
    settings_type: ClassVar[type] = MahalanobisSettings
    settings: MahalanobisSettings

    def __init__(self, settings: MahalanobisSettings | None = None) -> None:
        super().__init__(settings)
        self.gaussians: tuple[TiedGaussian, ...] = ()

    def fit(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> None:
        features = per_batch(model, images, self.settings.batch_size, partial(channel_means, model))
        labels_np = label_array(labels, len(images))
        self.gaussians = tuple(fit_tied_gaussian(layer, values, labels_np, self.settings.shrinkage)
                               for layer, values in features.items())

    def characteristics(self, model: nn.Module, images: torch.Tensor) -> np.ndarray:
        if not self.gaussians:
            raise not_fitted(self.name)
        if len(images) == 0:
            return np.zeros((0, len(self.gaussians)))
        device = model_device(model)
        fitted = [(g.layer, torch.from_numpy(g.means).to(device), torch.from_numpy(g.precision).to(device))
                  for g in self.gaussians]
        scores = per_batch(model, images, self.settings.batch_size, partial(self._batch_scores, model, fitted))
        return np.stack([scores[layer] for layer, _, _ in fitted], axis=1)

    def _batch_scores(self, model: nn.Module, fitted: list[tuple[str, torch.Tensor, torch.Tensor]],
                      x: torch.Tensor) -> dict[str, torch.Tensor]:
        def closest(features: dict[str, torch.Tensor], layer: str, means: torch.Tensor,
                    precision: torch.Tensor) -> Any:  # (values, indices), each (B,)
            return mahalanobis_distances(features[layer].double(), means, precision).min(dim=1)

        if not self.settings.noise:
            features = channel_means(model, x)
            return {layer: closest(features, layer, means, precision).values for layer, means, precision in fitted}
        scores = {}
        with torch.enable_grad():  # per_batch runs under no_grad; the step needs ∇x
            x = x.detach().requires_grad_(True)
            features = channel_means(model, x)
            for number, (layer, means, precision) in enumerate(fitted):
                # Lowering the distance to the closest class moves clean inputs more than adversarial ones.
                distance = closest(features, layer, means, precision).values.sum()
                gradient, = torch.autograd.grad(distance, x, retain_graph=number < len(fitted) - 1)
                stepped = x.detach() - self.settings.noise * gradient.sign()
                with torch.no_grad():
                    scores[layer] = closest(channel_means(model, stepped), layer, means, precision).values
        return scores


# ------------------------------------------------------------------------------------------------ LID


@dataclass(frozen=True)
class LIDSettings:
    k: int = 20  # nearest neighbours; the paper's for MNIST and CIFAR-10
    batch_size: int = 128

    def validate(self) -> None:
        check_batch_size(self.batch_size, "lid")
        if self.k < 2:
            raise ConfigError(f"lid detector: k must be at least 2 (one ratio is always 1), got {self.k}")


def lid_mle(queries: np.ndarray, reference: np.ndarray, k: int = 20, chunk: int = 1024) -> np.ndarray:
    """(Q,) maximum-likelihood LID = −(1/k Σ_i log(r_i / r_k))⁻¹ of each query (Q, D) from its k nearest
    neighbours in reference (R, D). A reference point at (numerically) zero distance is the query itself
    (or an exact duplicate) and is skipped: log(0) has no place in the estimate. k shrinks to R − 1."""
    k = min(k, len(reference) - 1)
    if k < 1:
        raise DeepwildError(f"LID needs at least 2 reference points, got {len(reference)}")
    estimates = []
    for start in range(0, len(queries), chunk):
        block = np.asarray(queries[start:start + chunk], np.float64)
        distances = cdist(block, reference)  # (q, R)
        # Tolerance, not == 0: the same input in another batch may differ in the last float32 bits.
        itself = distances <= 1e-5 * (1.0 + np.linalg.norm(block, axis=1, keepdims=True))
        distances[itself] = np.inf
        nearest = np.sort(np.partition(distances, k - 1, axis=1)[:, :k], axis=1)  # (q, k), r_k last
        mean_log = np.log(nearest / nearest[:, -1:]).mean(axis=1)  # ≤ 0; 0 only if all k are equidistant
        estimates.append(-1.0 / np.minimum(mean_log, -1e-12))
    return np.concatenate(estimates) if estimates else np.zeros(0)


class LIDDetector(BaselineDetector):
    """Per layer (each map's channel means, then the logits) the LID among the clean fit inputs: (N, layers).

    The paper estimates within random minibatches of 100 clean inputs; here the reference is every clean
    fit input, so that the estimate does not depend on how a benchmark happens to batch its inputs."""

    name = "lid"
    supervised = True
    settings_type: ClassVar[type] = LIDSettings
    settings: LIDSettings

    def __init__(self, settings: LIDSettings | None = None) -> None:
        super().__init__(settings)
        self.reference: dict[str, np.ndarray] = {}  # layer → (R, D)

    def _features(self, model: nn.Module, images: torch.Tensor) -> dict[str, np.ndarray]:
        def compute(x: torch.Tensor) -> dict[str, torch.Tensor]:
            means, logits = means_and_logits(model, x)
            return {**means, "logits": logits}

        return per_batch(model, images, self.settings.batch_size, compute)

    def fit(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> None:
        if len(images) < 2:
            raise DeepwildError(f"the lid detector needs at least 2 clean inputs to fit, got {len(images)}")
        self.reference = self._features(model, images)  # unsupervised: the labels are not needed

    def characteristics(self, model: nn.Module, images: torch.Tensor) -> np.ndarray:
        if not self.reference:
            raise not_fitted(self.name)
        if len(images) == 0:
            return np.zeros((0, len(self.reference)))
        features = self._features(model, images)
        return np.stack([lid_mle(features[layer], reference, self.settings.k)
                         for layer, reference in self.reference.items()], axis=1)


# ---------------------------------------------------------------------------------------------- KD + BU


@dataclass(frozen=True)
class DensityUncertaintySettings:
    # Gaussian kernel width on the last hidden features. None: chosen at fit time by leave-one-out
    # likelihood of the clean fit features, class by class — the paper's bandwidths (1.20 MNIST, 0.26
    # CIFAR-10, 1.00 SVHN) were cross-validation choices for its own networks' feature scales, and our
    # feature scale depends on the model (width, training), so a fixed number would be right for none.
    bandwidth: float | None = None
    mc_samples: int = 50  # stochastic passes for the uncertainty; the paper's
    seed: int = 0  # of the detector's own dropout generator
    batch_size: int = 128

    def validate(self) -> None:
        check_batch_size(self.batch_size, "kd+bu")
        if self.mc_samples < 2 or (self.bandwidth is not None and self.bandwidth <= 0):
            raise ConfigError("kd+bu detector: mc_samples must be at least 2 and bandwidth positive (or None)")


def gaussian_kde_log_density(queries: np.ndarray, points: np.ndarray, bandwidth: float) -> np.ndarray:
    """(Q,) log of the Gaussian KDE of points (n, D) at queries (Q, D), normalised as sklearn's
    KernelDensity(kernel="gaussian"): log(1/n Σ_i N(q; x_i, h² I)). Log, because in 100+ dimensions
    the density itself underflows to 0 for every input."""
    squared = cdist(np.asarray(queries, np.float64), points, "sqeuclidean")  # (Q, n)
    dimension = points.shape[1]
    return (logsumexp(-squared / (2 * bandwidth ** 2), axis=1) - np.log(len(points))
            - dimension / 2 * np.log(2 * np.pi * bandwidth ** 2))


def leave_one_out_bandwidth(features_by_class: list[np.ndarray], steps: int = 61) -> float:
    """The bandwidth, from a log grid around the typical nearest-neighbour distance, that maximises the
    leave-one-out log-likelihood of every class's features under its own KDE."""
    squared = []
    for features in (f for f in features_by_class if len(f) >= 2):
        pairwise = cdist(features, features, "sqeuclidean")
        pairwise[pairwise <= 1e-12] = np.inf  # itself and exact duplicates
        squared.append(pairwise)
    if not squared:
        raise DeepwildError("kd+bu detector: a bandwidth needs a class with at least 2 clean inputs")
    nearest = np.sqrt(np.concatenate([pairwise.min(axis=1) for pairwise in squared]))
    typical = float(np.median(nearest[np.isfinite(nearest)]))
    dimension = features_by_class[0].shape[1]

    def log_likelihood(h: float) -> float:
        return sum(float((logsumexp(-pairwise / (2 * h * h), axis=1) - np.log(len(pairwise) - 1)).sum())
                   for pairwise in squared) - sum(map(len, squared)) * dimension / 2 * np.log(2 * np.pi * h * h)

    # In D dimensions the optimum sits near r_nn / √D, so the grid spans that with room either side.
    grid = typical * np.geomspace(0.1 / np.sqrt(dimension), 10.0, steps)
    return float(grid[int(np.argmax([log_likelihood(h) for h in grid]))])


def bayesian_uncertainty(probabilities: torch.Tensor) -> torch.Tensor:
    """(B,) Feinman et al.'s U = 1/T Σ_t p_tᵀp_t − (1/T Σ_t p_t)ᵀ(1/T Σ_t p_t) for softmax outputs (T, B, C):
    the total variance of the predictive distribution over the T stochastic passes. Computed as the equal
    1/T Σ_t ||p_t − p̄||² in float64: never negative, and without the ±1e-8 cancellation noise of the
    difference of squares in float32 when the passes agree."""
    probabilities = probabilities.double()
    spread = probabilities - probabilities.mean(dim=0)  # (T, B, C)
    return (spread * spread).sum(dim=2).mean(dim=0)


_CHANNEL_DROPOUT = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


def _drop_with_generator(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor,
                         generator: torch.Generator, calls: list[int]) -> torch.Tensor:
    calls[0] += 1
    x, p = inputs[0], float(module.p)  # type: ignore[arg-type]
    if p >= 1.0:
        return torch.zeros_like(x)
    # Channel dropout zeroes whole maps; plain dropout single units.
    shape = (*x.shape[:2], *([1] * (x.ndim - 2))) if isinstance(module, _CHANNEL_DROPOUT) else x.shape
    keep = torch.rand(shape, generator=generator, device=x.device, dtype=x.dtype) >= p
    return x * keep / (1.0 - p)


@contextmanager
def mc_dropout(model: nn.Module, generator: torch.Generator) -> Iterator[list[int]]:
    """Every dropout module drops with masks from `generator` while the model stays in eval mode.

    The same as putting only the dropout modules in train mode (batch norm keeps its running statistics),
    but nn.Dropout would draw from the global RNG; a forward hook replaces its eval-mode identity output
    instead. Yields a one-element counter of dropout calls, so a caller can see where dropout happens."""
    calls, handles = [0], []
    for module in model.modules():
        if isinstance(module, (nn.AlphaDropout, nn.FeatureAlphaDropout)):
            raise DeepwildError(f"kd+bu detector: {type(module).__name__} is not supported for MC dropout")
        if isinstance(module, (nn.Dropout, *_CHANNEL_DROPOUT)) and module.p > 0:
            drop = partial(_drop_with_generator, generator=generator, calls=calls)
            handles.append(module.register_forward_hook(drop))
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def mc_dropout_probabilities(model: nn.Module, x: torch.Tensor, samples: int, calls: list[int]) -> torch.Tensor:
    """(T, B, C) softmax outputs of T passes under `mc_dropout`. Where the model has a head and no dropout
    fires in forward_features (SmallCNN: dropout only before the classifier), the maps are computed once
    and only the head runs T times. Either way the masks are drawn in the order whole passes draw them,
    so the numbers are those of T calls of model(x)."""
    if not hasattr(model, "forward_head"):
        return torch.stack([F.softmax(model(x), dim=1) for _ in range(samples)])
    before = calls[0]
    maps = feature_maps(model, x)
    if calls[0] == before:
        return torch.stack([F.softmax(model.forward_head(maps), dim=1) for _ in range(samples)])
    first = F.softmax(model.forward_head(maps), dim=1)  # dropout in the maps: this was pass 1
    return torch.stack([first, *(F.softmax(model(x), dim=1) for _ in range(samples - 1))])


class DensityUncertaintyDetector(BaselineDetector):
    """(−log KD, BU) per input: (N, 2). KD on the last map's channel means (what the classifier head sees)
    under the KDE of the clean fit inputs whose label is the input's predicted class; BU by MC dropout."""

    name = "kd+bu"
    supervised = True
    settings_type: ClassVar[type] = DensityUncertaintySettings
    settings: DensityUncertaintySettings

    def __init__(self, settings: DensityUncertaintySettings | None = None) -> None:
        super().__init__(settings)
        self.class_features: dict[int, np.ndarray] = {}  # class → (n_c, D) last hidden features
        self.bandwidth: float | None = self.settings.bandwidth  # after fit: the one in use

    def _last_features(self, model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        means, logits = means_and_logits(model, x)
        return {"features": list(means.values())[-1], "predicted": logits.argmax(dim=1)}

    def fit(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> None:
        computed = per_batch(model, images, self.settings.batch_size, partial(self._last_features, model))
        labels_np = label_array(labels, len(images))
        self.class_features = {int(c): computed["features"][labels_np == c] for c in np.unique(labels_np)}
        self.bandwidth = self.settings.bandwidth or leave_one_out_bandwidth(list(self.class_features.values()))

    def characteristics(self, model: nn.Module, images: torch.Tensor) -> np.ndarray:
        if not self.class_features or self.bandwidth is None:
            raise not_fitted(self.name)
        if len(images) == 0:
            return np.zeros((0, 2))
        computed = per_batch(model, images, self.settings.batch_size, partial(self._last_features, model))
        features, predicted = computed["features"], computed["predicted"].astype(np.int64)
        missing = sorted(set(predicted.tolist()) - set(self.class_features))
        if missing:
            raise DeepwildError(f"kd+bu detector: the model predicts classes {missing} that no fit input has",
                                hint="fit on clean inputs of every class")
        negative_log_density = np.empty(len(images))
        for label in np.unique(predicted):
            chosen = predicted == label
            negative_log_density[chosen] = -gaussian_kde_log_density(
                features[chosen], self.class_features[int(label)], self.bandwidth)
        return np.stack([negative_log_density, self.uncertainty(model, images)], axis=1)

    def uncertainty(self, model: nn.Module, images: torch.Tensor) -> np.ndarray:
        """(N,) BU over `mc_samples` dropout passes (0 for a model without dropout)."""
        generator = torch.Generator(device=model_device(model)).manual_seed(self.settings.seed)

        with mc_dropout(model, generator) as calls:
            def compute(x: torch.Tensor) -> dict[str, torch.Tensor]:
                return {"uncertainty": bayesian_uncertainty(
                    mc_dropout_probabilities(model, x, self.settings.mc_samples, calls))}

            return per_batch(model, images, self.settings.batch_size, compute)["uncertainty"]


# ------------------------------------------------------------------------------------- feature squeezing


@dataclass(frozen=True)
class SqueezeSettings:
    # The paper's 1 bit is for MNIST, whose strokes are nearly binary. Our digits are 8×8 images of 17 grey
    # levels upsampled bilinearly (two thirds of the pixels grey): binarising them cost a small digits CNN
    # 60 points of clean accuracy, against the method's premise that squeezing leaves legitimate inputs'
    # predictions alone. 5 bits, the paper's choice for grey-level natural images (CIFAR-10), cost that CNN
    # nothing. Set 1 for near-binary inputs such as MNIST. 0 = this squeezer off.
    bit_depth: int = 5
    median_size: int = 2  # the paper's 2×2 median for MNIST (and CIFAR-10); 0 = this squeezer off
    batch_size: int = 128

    def validate(self) -> None:
        check_batch_size(self.batch_size, "squeeze")
        if not 0 <= self.bit_depth <= 8 or not 0 <= self.median_size <= 8 or not (self.bit_depth or self.median_size):
            raise ConfigError("squeeze detector: bit_depth and median_size must lie in 0..8 (0 = off), "
                              "and at least one squeezer must be on")


def reduce_bit_depth(images: torch.Tensor, bits: int) -> torch.Tensor:
    """Images in [0, 1] quantised to 2^bits levels, rounding half to even like the authors' np.rint."""
    levels = 2 ** bits - 1
    return torch.round(images * levels) / levels


def _symmetric_index(length: int, before: int, after: int, device: torch.device) -> torch.Tensor:
    # scipy's "reflect": d c b a | a b c d | d c b a (the edge sample repeated), valid while a pad < length.
    index = torch.arange(-before, length + after, device=device)
    index = torch.where(index < 0, -index - 1, index)
    return torch.where(index >= length, 2 * length - index - 1, index)


def median_filter(images: torch.Tensor, size: int) -> torch.Tensor:
    """Per-channel size×size median of images (B, C, H, W), as the authors' scipy.ndimage.median_filter
    (mode "reflect"): for an even size the window of pixel i spans i − size//2 … i + size − size//2 − 1
    and the median of an even count is the upper of the two middle values."""
    before, after = size // 2, size - size // 2 - 1
    height, width = images.shape[-2:]
    padded = images.index_select(2, _symmetric_index(height, before, after, images.device))
    padded = padded.index_select(3, _symmetric_index(width, before, after, images.device))
    windows = padded.unfold(2, size, 1).unfold(3, size, 1).flatten(-2)  # (B, C, H, W, size²)
    return windows.kthvalue(size * size // 2 + 1, dim=-1).values


class FeatureSqueezingDetector(BaselineDetector):
    """max over squeezers of ||softmax(x) − softmax(squeeze(x))||₁: (N, 1), unsupervised."""

    name = "squeeze"
    supervised = False
    settings_type: ClassVar[type] = SqueezeSettings
    settings: SqueezeSettings

    def squeezers(self) -> list[Callable[[torch.Tensor], torch.Tensor]]:
        chosen: list[Callable[[torch.Tensor], torch.Tensor]] = []
        if self.settings.bit_depth:
            chosen.append(partial(reduce_bit_depth, bits=self.settings.bit_depth))
        if self.settings.median_size:
            chosen.append(partial(median_filter, size=self.settings.median_size))
        return chosen

    def fit(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Nothing to learn: the threshold is set on clean inputs by whoever calibrates the score."""

    def characteristics(self, model: nn.Module, images: torch.Tensor) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, 1))

        def compute(x: torch.Tensor) -> dict[str, torch.Tensor]:
            original = F.softmax(model(x), dim=1)
            distances = [(original - F.softmax(model(squeeze(x)), dim=1)).abs().sum(dim=1)
                         for squeeze in self.squeezers()]
            return {"score": torch.stack(distances).max(dim=0).values}

        return per_batch(model, images, self.settings.batch_size, compute)["score"][:, None]


# ------------------------------------------------------------------------------------------------ registry

BASELINES: dict[str, type[BaselineDetector]] = {
    MahalanobisDetector.name: MahalanobisDetector,
    LIDDetector.name: LIDDetector,
    DensityUncertaintyDetector.name: DensityUncertaintyDetector,
    FeatureSqueezingDetector.name: FeatureSqueezingDetector,
}


def make_baseline(name: str, **settings: Any) -> Detector:
    """A baseline detector by name, its settings overridden by keyword (unknown keys fail, naming the valid ones)."""
    if name not in BASELINES:
        raise ConfigError(unknown_name_message("baseline detector", name, list(BASELINES)))
    detector_class = BASELINES[name]
    return detector_class(config_from_dict(detector_class.settings_type, settings, where=name))
