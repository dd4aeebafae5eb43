"""Adversarial attacks: exact answers on linear classifiers, ordering and bounds on a tiny trained CNN."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepwild.core.errors import DeepwildError
from deepwild.data.digits import load_digits_arrays, upsample
from deepwild.models.small_cnn import SmallCNN
from deepwild.robust.attacks import ATTACKS, DEEPFOOL_MARGIN, run_attack

torch.set_num_threads(1)


class LinearClassifier(nn.Module):
    """logits = W·flatten(x) + b: every attack has a closed-form answer here."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(weight)
            self.linear.bias.copy_(bias)

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"input": x}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


def linear_problem(count: int = 40, classes: int = 5, seed: int = 0
                   ) -> tuple[LinearClassifier, torch.Tensor, torch.Tensor]:
    """A linear classifier on (1, 4, 4) inputs in [0.3, 0.7] with labels it gets right: boundaries lie
    close enough that no attack is clipped by [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(classes, 16, generator=generator)
    bias = torch.randn(classes, generator=generator) * 0.1
    model = LinearClassifier(weight, bias)
    images = 0.3 + 0.4 * torch.rand(count, 1, 4, 4, generator=generator)
    with torch.no_grad():
        labels = model(images).argmax(1)
    return model, images, labels


def boundary_distances(model: LinearClassifier, images: torch.Tensor, labels: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per input: the L2 distance to the nearest boundary f_k = f_y, and the norm of its normal w_k − w_y."""
    weight = model.linear.weight.detach()
    with torch.no_grad():
        logits = model(images)
    gaps = logits.gather(1, labels[:, None]) - logits  # (N, K) f_y − f_k ≥ 0
    normals = (weight[None] - weight[labels][:, None]).norm(dim=2)  # (N, K) ||w_k − w_y||
    distances = (gaps / normals).scatter(1, labels[:, None], float("inf"))
    nearest = distances.argmin(1)
    return distances.min(1).values, normals.gather(1, nearest[:, None]).squeeze(1)


def assert_near(actual: torch.Tensor, expected: torch.Tensor, tolerance: float, relative: float = 0.0) -> None:
    # Not torch.testing.assert_close: its first call imports torch.distributed.tensor (~1.5 s).
    allowed = tolerance + relative * expected.abs()
    assert actual.shape == expected.shape and bool(((actual - expected).abs() <= allowed).all()), \
        f"largest difference {float((actual - expected).abs().max())}"


@pytest.fixture(scope="module")
def trained_cnn() -> tuple[SmallCNN, torch.Tensor, torch.Tensor]:
    """SmallCNN width 8 on 16×16 digits, 3 epochs (~1 s): 40 held-out digits it classifies correctly."""
    images, labels = load_digits_arrays()
    inputs, targets = upsample(images, 16), torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(targets), generator=generator)
    train, held_out = order[:1500], order[1500:]
    torch.manual_seed(0)
    model = SmallCNN(width=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        for batch in train[torch.randperm(len(train), generator=generator)].split(64):
            optimizer.zero_grad()
            F.cross_entropy(model(inputs[batch]), targets[batch]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        correct = held_out[model(inputs[held_out]).argmax(1) == targets[held_out]]
    assert len(correct) > 0.8 * len(held_out)
    return model, inputs[correct[:40]], targets[correct[:40]]


def test_registry_names_the_five_attacks() -> None:
    assert sorted(ATTACKS) == ["bim", "cw", "deepfool", "fgsm", "pgd"]


def test_fgsm_is_epsilon_times_the_gradient_sign_and_stays_in_the_unit_box() -> None:
    model, images, labels = linear_problem()
    weight = model.linear.weight.detach()
    for inputs, epsilon in ((images, 0.1), (torch.rand(images.shape, generator=torch.Generator().manual_seed(1)), 0.3)):
        # ∇x CE = Wᵀ(softmax(z) − onehot(y)) for a linear classifier.
        with torch.no_grad():
            probabilities = model(inputs).softmax(1)
        gradient = ((probabilities - F.one_hot(labels, 5)) @ weight).view_as(inputs)
        expected = (inputs + epsilon * gradient.sign()).clamp(0, 1)
        result = run_attack("fgsm", model, inputs, labels, epsilon=epsilon)
        assert_near(result.adversarial, expected, 1e-6)
        assert 0 <= float(result.adversarial.min()) and float(result.adversarial.max()) <= 1
    # The first inputs lie in [0.3, 0.7], so nothing was clipped: every pixel moved by exactly ε.
    unclipped = run_attack("fgsm", model, images, labels, epsilon=0.1)
    assert_near(unclipped.linf, torch.full((len(images),), 0.1), 1e-6)
    assert_near(unclipped.l2, torch.full((len(images),), 0.1 * 4), 1e-5)


def test_iterative_attacks_stay_in_the_ball_and_beat_fgsm(trained_cnn) -> None:
    model, images, labels = trained_cnn
    epsilon = 0.03
    one_step = run_attack("fgsm", model, images, labels, epsilon=epsilon)
    assert one_step.success_rate < 1  # otherwise nothing is left to beat
    for name in ("bim", "pgd"):
        result = run_attack(name, model, images, labels, epsilon=epsilon)
        assert float(result.linf.max()) <= epsilon + 1e-6
        assert 0 <= float(result.adversarial.min()) and float(result.adversarial.max()) <= 1
        assert result.success_rate >= one_step.success_rate > 0
        assert result.settings["step_size"] == pytest.approx(2.5 * epsilon / 10)
        with torch.no_grad():
            assert torch.equal(result.predicted, model(result.adversarial).argmax(1))
        assert torch.equal(result.success, result.predicted != labels)


def test_pgd_repeats_with_its_seed_and_leaves_the_global_rng_alone(trained_cnn) -> None:
    model, images, labels = trained_cnn
    rng_before = torch.get_rng_state()
    first = run_attack("pgd", model, images, labels, epsilon=0.03, seed=3)
    again = run_attack("pgd", model, images, labels, epsilon=0.03, seed=3)
    other = run_attack("pgd", model, images, labels, epsilon=0.03, seed=4)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.equal(first.adversarial, again.adversarial)
    assert not torch.equal(first.adversarial, other.adversarial)
    assert first.settings["seed"] == 3


def test_deepfool_on_a_linear_classifier_lands_just_past_the_nearest_boundary() -> None:
    model, images, labels = linear_problem()
    distance, normal_norm = boundary_distances(model, images, labels)
    result = run_attack("deepfool", model, images, labels)
    assert bool(result.success.all())
    # One linearisation is exact: the step is (|f_k − f_y| + margin)/||w_k − w_y|| to the nearest boundary.
    expected = (distance + DEEPFOOL_MARGIN / normal_norm) * 1.02
    assert_near(result.l2, expected, 1e-6, relative=1e-4)
    # A wrong label counts as already misclassified: nothing to do.
    wrong = run_attack("deepfool", model, images[:3], (labels[:3] + 1) % 5)
    assert bool(wrong.success.all()) and float(wrong.l2.max()) == 0


def test_deepfool_and_cw_find_minimal_perturbations_on_a_trained_cnn(trained_cnn) -> None:
    model, images, labels = trained_cnn
    results = {name: run_attack(name, model, images, labels) for name in ("deepfool", "cw")}
    for result in results.values():
        assert result.success_rate >= 0.95
        # Minimal: half of the perturbation leaves most inputs on the right side of the boundary.
        halfway = images + 0.5 * (result.adversarial - images)
        with torch.no_grad():
            still_correct = (model(halfway).argmax(1) == labels)[result.success]
        assert float(still_correct.float().mean()) >= 0.9
    deepfool, cw = results["deepfool"], results["cw"]
    both = deepfool.success & cw.success
    assert float((cw.l2[both] / deepfool.l2[both]).median()) <= 1.1  # as small as DeepFool's, typically
    pgd = run_attack("pgd", model, images, labels, epsilon=0.03)
    assert float(deepfool.l2[deepfool.success].median()) < 0.5 * float(pgd.l2[pgd.success].median())


def test_cw_on_a_linear_classifier_comes_close_to_the_exact_minimum() -> None:
    model, images, labels = linear_problem()
    distance, _ = boundary_distances(model, images, labels)
    result = run_attack("cw", model, images, labels)
    assert bool(result.success.all())
    assert bool((result.l2 >= distance * (1 - 1e-4)).all())  # nothing beats the exact minimum
    assert float((result.l2 / distance).median()) <= 1.05


def test_cw_keeps_the_smallest_perturbation_over_its_searches() -> None:
    model, images, labels = linear_problem()
    # The first three searches are the same computation in both runs: two more can only shrink the best.
    three = run_attack("cw", model, images, labels, search_steps=3, refine_steps=0)
    five = run_attack("cw", model, images, labels, search_steps=5, refine_steps=0)
    assert bool(three.success.all()) and bool(five.success.all())
    assert bool((five.l2 <= three.l2 + 1e-6).all()) and bool((five.l2 < three.l2 - 1e-4).any())


def test_cw_returns_the_input_where_it_fails() -> None:
    model, images, labels = linear_problem(count=8)
    result = run_attack("cw", model, images, labels, steps=1, search_steps=1, initial_c=1e-6)
    assert not bool(result.success.any())
    assert torch.equal(result.adversarial, images) and float(result.l2.max()) == 0


def test_batches_do_not_change_the_result(trained_cnn) -> None:
    model, images, labels = trained_cnn
    for name, epsilon in (("bim", 0.03), ("deepfool", None)):
        whole = run_attack(name, model, images, labels, epsilon=epsilon)
        in_chunks = run_attack(name, model, images, labels, epsilon=epsilon, batch_size=16)  # 16, 16, 8
        assert_near(in_chunks.adversarial, whole.adversarial, 1e-5)


def test_attacks_keep_modes_and_parameter_gradients(trained_cnn) -> None:
    model, images, labels = trained_cnn
    model.zero_grad(set_to_none=True)  # training left gradients behind
    model.train()
    model.conv2.eval()  # a mixed state must come back as it was, not all-train
    try:
        with torch.no_grad():  # the attack needs gradients even when the caller turned them off
            result = run_attack("bim", model, images[:8], labels[:8], epsilon=0.03)
        assert result.success_rate > 0
        assert model.training and model.conv1.training and not model.conv2.training
        assert model.conv2[1].training is False and model.conv3[1].training is True
        assert all(parameter.grad is None for parameter in model.parameters())
    finally:
        model.eval()


class NotAClassifier(nn.Module):
    """Has forward_features but gives maps, not logits."""

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"input": x}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


@pytest.mark.parametrize("call, message", [
    (lambda m, x, y: run_attack("fgsm", m, x, y, epsilon=1.5), "epsilon must lie in [0, 1]"),
    (lambda m, x, y: run_attack("pgd", m, x, y, epsilon=-0.1), "epsilon must lie in [0, 1]"),
    (lambda m, x, y: run_attack("bim", m, x, y), "bim needs epsilon"),
    (lambda m, x, y: run_attack("cw", m, x, y, epsilon=0.1), "cw takes no epsilon"),
    (lambda m, x, y: run_attack("pgx", m, x, y, epsilon=0.1),
     "valid: bim, cw, deepfool, fgsm, pgd — did you mean 'pgd'"),
    (lambda m, x, y: run_attack("deepfool", m, x, y, overshot=0.1), "valid keys of deepfool: candidates, overshoot"),
    (lambda m, x, y: run_attack("bim", m, x, y, epsilon=0.1, steps=0), "steps must be at least 1"),
    (lambda m, x, y: run_attack("fgsm", nn.Linear(16, 5), x, y, epsilon=0.1), "Linear is not a classifier"),
    (lambda m, x, y: run_attack("fgsm", NotAClassifier(), x, y, epsilon=0.1), "NotAClassifier is not a classifier"),
    (lambda m, x, y: run_attack("fgsm", m, x * 3, y, epsilon=0.1), "images must lie in [0, 1]"),
    (lambda m, x, y: run_attack("fgsm", m, x, y + 5, epsilon=0.1), "labels must be class indices in [0, 5)"),
])
def test_bad_requests_raise_clear_errors(call, message) -> None:
    model, images, labels = linear_problem(count=4)
    with pytest.raises(DeepwildError) as error:
        call(model, images, labels)
    assert message in str(error.value)
