"""The baseline detectors: each estimator against a hand or library computation on plain arrays, then each
detector through a hand-built model whose features are known, and all of them on a tiny SmallCNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from sklearn.neighbors import KernelDensity
from torch import nn

from deepwild.core.errors import DeepwildError
from deepwild.models.small_cnn import SmallCNN
from deepwild.robust import baselines as B

torch.set_num_threads(1)

CENTRES = np.array([[0.25, 0.25], [0.75, 0.75]])


class PixelMeansModel(nn.Module):
    """Two-channel images; the features are the pixels themselves (so a layer's channel means are the
    per-channel pixel means) and the logits say which of CENTRES those means are nearest to."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("centres", torch.tensor(CENTRES, dtype=torch.float32))

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pixels": x, "doubled": 2 * x + 1}

    def forward_head(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        means = features["pixels"].mean(dim=(2, 3))  # (B, 2)
        return -((means[:, None, :] - self.centres) ** 2).sum(dim=2)  # (B, 2): nearer centre, larger logit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def flat_images(values: np.ndarray) -> torch.Tensor:
    """(N, 2) channel values → (N, 2, 4, 4) images constant per channel."""
    return torch.tensor(values, dtype=torch.float32)[:, :, None, None].expand(-1, -1, 4, 4).contiguous()


def two_clusters(per_class: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    mixing = np.array([[0.05, 0.0], [0.03, 0.02]])  # correlated, unequal spread: Σ is not a multiple of I
    values = np.concatenate([centre + rng.normal(size=(per_class, 2)) @ mixing.T for centre in CENTRES])
    return values, np.repeat([0, 1], per_class)


def tiny_cnn(dropout: float = 0.5, seed: int = 0) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN(in_channels=1, num_classes=10, width=4, dropout=dropout)


def random_digits(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, 1, 16, 16, generator=generator), torch.arange(count) % 10


# ------------------------------------------------------------------------------------------------ LID


@pytest.mark.parametrize("dimension", [2, 6])
def test_lid_recovers_the_dimension_of_a_linear_subspace(dimension):
    rng = np.random.default_rng(dimension)
    basis = np.linalg.qr(rng.normal(size=(24, dimension)))[0]  # (24, d) orthonormal columns
    reference = rng.normal(size=(2000, dimension)) @ basis.T
    fresh = rng.normal(size=(200, dimension)) @ basis.T
    # The MLE with k = 20 runs ~5% high (k/(k−1)), and Gaussian tails (sparse neighbourhoods) pull the mean
    # further up, hence the median; far from the ambient 24 either way.
    assert abs(np.median(B.lid_mle(fresh, reference, k=20)) - dimension) < 0.15 * dimension
    assert abs(np.median(B.lid_mle(reference[:200], reference, k=20)) - dimension) < 0.15 * dimension


def test_lid_formula_and_an_input_in_the_reference_does_not_count_itself():
    reference = np.array([[0.0], [1.0], [2.0], [4.0], [9.0]])
    # From 0 the 3 nearest others lie at 1, 2, 4: LID = −1 / mean(log(1/4), log(2/4), log(4/4)).
    expected = -1.0 / np.mean(np.log([0.25, 0.5, 1.0]))
    assert B.lid_mle(reference[:1], reference, k=3)[0] == pytest.approx(expected)
    rng = np.random.default_rng(1)
    points = rng.normal(size=(300, 5))
    left_out = [B.lid_mle(points[i:i + 1], np.delete(points, i, axis=0), k=20)[0] for i in range(20)]
    np.testing.assert_allclose(B.lid_mle(points[:20], points, k=20), left_out)


# ------------------------------------------------------------------------------------------ Mahalanobis


def test_tied_covariance_is_the_pooled_within_class_covariance_and_singular_ones_are_inverted():
    values, labels = two_clusters()
    features = np.concatenate([values, np.full((len(values), 1), 3.0)], axis=1)  # a dead, constant unit
    fitted = B.fit_tied_gaussian("layer", features, labels)
    pooled = sum((labels == c).sum() * np.cov(features[labels == c].T, bias=True) for c in (0, 1)) / len(labels)
    np.testing.assert_allclose(fitted.covariance, pooled, atol=1e-12)
    np.testing.assert_allclose(fitted.means, [features[labels == c].mean(axis=0) for c in (0, 1)])
    # Singular Σ: the pseudo-inverse inverts the live block and ignores the dead unit.
    assert np.isfinite(fitted.precision).all()
    np.testing.assert_allclose(fitted.precision[:2, :2], np.linalg.inv(pooled[:2, :2]), rtol=1e-8)
    assert np.abs(fitted.precision[2]).max() < 1e-8


def hand_mahalanobis(values: np.ndarray, labels: np.ndarray, queries: np.ndarray) -> np.ndarray:
    means = np.stack([values[labels == c].mean(axis=0) for c in (0, 1)])
    centred = values - means[labels]
    inverse = np.linalg.inv(centred.T @ centred / len(values))
    return np.min([np.einsum("nd,de,ne->n", queries - mean, inverse, queries - mean) for mean in means], axis=0)


def test_mahalanobis_scores_an_input_at_a_class_mean_lower_than_a_far_one():
    values, labels = two_clusters()
    model = PixelMeansModel()
    detector = B.MahalanobisDetector(B.MahalanobisSettings(batch_size=16))
    detector.fit(model, flat_images(values), torch.from_numpy(labels))
    class_mean = values[labels == 0].mean(axis=0)
    queries = np.stack([class_mean, [0.5, 0.1], [0.3, 0.2]])
    scores = detector.characteristics(model, flat_images(queries))
    assert scores.shape == (3, 2)
    assert scores[0, 0] < 1e-6 < 100 < scores[1, 0]
    np.testing.assert_allclose(scores[:, 0], hand_mahalanobis(values, labels, queries), rtol=1e-4, atol=1e-6)
    # The distance is affine-invariant: the layer 2x + 1 scores as the pixels do.
    np.testing.assert_allclose(scores[:, 1], scores[:, 0], rtol=1e-3, atol=1e-4)


def test_mahalanobis_noise_steps_towards_the_closest_class():
    values, labels = two_clusters()
    model = PixelMeansModel()
    plain, stepped = B.MahalanobisDetector(), B.MahalanobisDetector(B.MahalanobisSettings(noise=0.01))
    for detector in (plain, stepped):
        detector.fit(model, flat_images(values), torch.from_numpy(labels))
    query = values[labels == 0].mean(axis=0) + np.array([0.1, -0.05])
    before = plain.characteristics(model, flat_images(query[None]))[0, 0]
    after = stepped.characteristics(model, flat_images(query[None]))[0, 0]
    # Each pixel moves 0.01 against the sign of ∇ distance = 2 Σ⁻¹ (f − μ) / pixels.
    gaussian = plain.gaussians[0]
    moved = query - 0.01 * np.sign(gaussian.precision @ (query - gaussian.means[0]))
    assert after < before
    assert after == pytest.approx(hand_mahalanobis(values, labels, moved[None])[0], rel=1e-4)


# ---------------------------------------------------------------------------------------------- KD + BU


def test_kde_log_density_matches_sklearn_and_the_bandwidth_maximises_the_leave_one_out_likelihood():
    rng = np.random.default_rng(2)
    points, queries = rng.normal(size=(40, 3)), rng.normal(size=(5, 3)) * 2
    expected = KernelDensity(kernel="gaussian", bandwidth=0.7).fit(points).score_samples(queries)
    np.testing.assert_allclose(B.gaussian_kde_log_density(queries, points, 0.7), expected, rtol=1e-10)

    def leave_one_out(h: float) -> float:
        return sum(B.gaussian_kde_log_density(points[i:i + 1], np.delete(points, i, axis=0), h)[0]
                   for i in range(len(points)))

    chosen = B.leave_one_out_bandwidth([points])
    assert leave_one_out(chosen) >= max(leave_one_out(chosen * 1.3), leave_one_out(chosen / 1.3))
    assert B.leave_one_out_bandwidth([10 * points]) == pytest.approx(10 * chosen)  # follows the feature scale


def test_kd_gives_features_near_their_predicted_class_a_higher_density():
    values, labels = two_clusters()
    model = PixelMeansModel()
    detector = B.DensityUncertaintyDetector(B.DensityUncertaintySettings(bandwidth=0.05, mc_samples=3))
    detector.fit(model, flat_images(values), torch.from_numpy(labels))
    # Both nearest to class 1's centre, one inside its cloud, one beyond it.
    queries = np.array([values[labels == 1].mean(axis=0), [0.95, 1.0]])
    characteristics = detector.characteristics(model, flat_images(queries))
    assert characteristics.shape == (2, 2)
    # KD reads the last map, "doubled" = 2x + 1.
    expected = -B.gaussian_kde_log_density(2 * queries + 1, 2 * values[labels == 1] + 1, 0.05)
    np.testing.assert_allclose(characteristics[:, 0], expected, rtol=1e-4)
    assert characteristics[0, 0] < characteristics[1, 0]
    assert np.abs(characteristics[:, 1]).max() < 1e-12  # no dropout: every pass is the same


def test_bayesian_uncertainty_is_the_papers_predictive_variance():
    disagreeing = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # (T=2, B=1, C=2)
    # mean ||p||² = 1, ||mean p||² = 0.5.
    assert B.bayesian_uncertainty(disagreeing).item() == pytest.approx(0.5)
    agreeing = torch.tensor([[[0.3, 0.7]], [[0.3, 0.7]]])
    assert B.bayesian_uncertainty(agreeing).item() == pytest.approx(0.0, abs=1e-7)


class WithoutHead(nn.Module):
    """A SmallCNN seen only through forward and forward_features: the detector must run whole passes."""

    def __init__(self, inner: SmallCNN) -> None:
        super().__init__()
        self.inner = inner

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.inner.forward_features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def test_bu_needs_dropout_leaves_batch_norm_alone_and_repeats_itself():
    images, _ = random_digits(6)
    settings = B.DensityUncertaintySettings(mc_samples=20, batch_size=4)
    with_dropout, without_dropout = tiny_cnn(dropout=0.5), tiny_cnn(dropout=0.0)
    with_dropout.train()
    statistics = {k: v.clone() for k, v in with_dropout.state_dict().items() if "running" in k}
    uncertainty = B.DensityUncertaintyDetector(settings).uncertainty(with_dropout, images)
    assert (uncertainty > 1e-6).all()
    assert all(torch.equal(with_dropout.state_dict()[k], v) for k, v in statistics.items())
    assert with_dropout.training and with_dropout.conv1[1].training and with_dropout.dropout.training
    assert np.abs(B.DensityUncertaintyDetector(settings).uncertainty(without_dropout, images)).max() < 1e-12
    # Same seed, same masks; the head-only shortcut gives what whole passes give.
    np.testing.assert_allclose(B.DensityUncertaintyDetector(settings).uncertainty(with_dropout, images), uncertainty)
    whole_passes = B.DensityUncertaintyDetector(settings).uncertainty(WithoutHead(with_dropout), images)
    np.testing.assert_allclose(whole_passes, uncertainty, rtol=1e-5)


class FeatureDropoutModel(nn.Module):
    """Channel dropout inside forward_features: the maps must be recomputed on every pass."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.drop, self.head = nn.Conv2d(1, 4, 3, padding=1), nn.Dropout2d(0.5), nn.Linear(4, 10)

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"conv": self.drop(torch.relu(self.conv(x)))}

    def forward_head(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(features["conv"].mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def test_bu_with_dropout_inside_the_features_reruns_them_and_drops_whole_channels():
    model, (images, _) = FeatureDropoutModel().eval(), random_digits(5)
    settings = B.DensityUncertaintySettings(mc_samples=10)
    uncertainty = B.DensityUncertaintyDetector(settings).uncertainty(model, images)
    assert (uncertainty > 1e-6).all()
    np.testing.assert_allclose(B.DensityUncertaintyDetector(settings).uncertainty(WithoutHead(model), images),
                               uncertainty, rtol=1e-5)
    clean = torch.relu(model.conv(images))
    with B.mc_dropout(model, torch.Generator().manual_seed(0)), torch.no_grad():
        dropped = model.forward_features(images)["conv"]
    kept = dropped.flatten(2).abs().amax(dim=2) > 0  # (B, C)
    np.testing.assert_allclose(dropped.numpy(), (clean * 2 * kept[:, :, None, None]).detach().numpy(), rtol=1e-6)
    assert 0 < kept.float().mean() < 1


# ------------------------------------------------------------------------------------- feature squeezing


@pytest.mark.parametrize("size", [2, 3])
def test_median_filter_matches_scipy(size):
    images = torch.rand(2, 3, 7, 6, generator=torch.Generator().manual_seed(size))
    expected = ndimage.median_filter(images.numpy(), size=(1, 1, size, size), mode="reflect")
    np.testing.assert_array_equal(B.median_filter(images, size).numpy(), expected)


def test_bit_depth_reduction_rounds_to_the_nearest_level():
    values = torch.tensor([0.0, 0.2, 0.4, 0.6, 1.0])
    np.testing.assert_array_equal(B.reduce_bit_depth(values, 1).numpy(), [0, 0, 0, 1, 1])
    np.testing.assert_allclose(B.reduce_bit_depth(values, 2).numpy(), [0, 1 / 3, 1 / 3, 2 / 3, 1])


@pytest.mark.parametrize("bit_depth", [1, 5])
def test_squeezing_scores_an_image_both_squeezers_keep_as_zero_and_a_noisy_one_above(bit_depth):
    # Ink below row 10 or right of column 11: a 2×2 upper median (window up-left) and any bit depth keep it.
    step = torch.zeros(1, 1, 16, 16)
    step[..., 10:, :] = 1.0
    step[..., :, 11:] = 1.0
    detector = B.FeatureSqueezingDetector(B.SqueezeSettings(bit_depth=bit_depth, median_size=2))
    assert all(torch.equal(squeeze(step), step) for squeeze in detector.squeezers())
    noisy = (step + 0.3 * torch.rand(step.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    scores = detector.characteristics(tiny_cnn(), torch.cat([step, noisy]))
    assert scores.shape == (2, 1)
    assert scores[0, 0] == 0.0 and scores[1, 0] > 1e-4


# ------------------------------------------------------------------------------------- every detector


@pytest.mark.parametrize(("name", "settings", "columns"), [
    ("mahalanobis", {}, 3), ("mahalanobis", {"noise": 0.01}, 3), ("lid", {"k": 5}, 4),
    ("kd+bu", {"mc_samples": 4}, 2), ("squeeze", {}, 1)])
def test_every_baseline_gives_its_columns_restores_the_model_and_leaves_the_global_rng(name, settings, columns):
    model = tiny_cnn()
    model.train()
    model.conv2.eval()  # a mixed model: each module must get its own mode back
    statistics = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    fit_images, fit_labels = random_digits(40)
    scored, _ = random_digits(7, seed=1)
    detector = B.make_baseline(name, batch_size=16, **settings)
    rng_state = torch.get_rng_state()
    detector.fit(model, fit_images, fit_labels)
    characteristics = detector.characteristics(model, scored)
    assert characteristics.shape == (7, columns) and np.isfinite(characteristics).all()
    assert detector.characteristics(model, scored[:0]).shape == (0, columns)
    assert detector.supervised == (name != "squeeze")
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert model.training and model.conv1.training and not model.conv2.training and not model.conv2[1].training
    assert all(torch.equal(model.state_dict()[k], v) for k, v in statistics.items())


@pytest.mark.parametrize("name", ["mahalanobis", "lid", "kd+bu"])
def test_a_supervised_baseline_must_be_fitted_first(name):
    with pytest.raises(DeepwildError, match="not fitted"):
        B.make_baseline(name).characteristics(tiny_cnn(), random_digits(2)[0])


def test_make_baseline_applies_settings_and_names_the_valid_choices():
    assert B.make_baseline("lid", k=7).settings.k == 7
    assert set(B.BASELINES) == {"mahalanobis", "lid", "kd+bu", "squeeze"}
    with pytest.raises(DeepwildError, match="mahalanobis.*squeeze.*did you mean 'lid'"):
        B.make_baseline("lidd")
    with pytest.raises(DeepwildError, match="valid keys.*k, batch_size"):
        B.make_baseline("lid", neighbours=5)
    with pytest.raises(DeepwildError, match="takes LIDSettings"):
        B.LIDDetector(B.SqueezeSettings())
    with pytest.raises(DeepwildError, match="at least one squeezer"):
        B.make_baseline("squeeze", bit_depth=0, median_size=0)
