"""Feature visualisation: the parameterisation, the optimisation, top-activating inputs, the hook and
`deepwild lecture features`, mostly on planted models whose channels respond to known patterns."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from tests.helpers.cli import run_cli
from deepwild.core.config import config_to_dict
from deepwild.core.package import ModelPackage, save_model_package
from deepwild.engine.run import RunDir
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.featvis import (LOGITS, FeatureVisConfig, Target, fourier_image, fourier_scale,
                                        optimisation_window, optimise_inputs, receptive_field, target_values,
                                        visualise_features)
from deepwild.interpret.featvis_report import FeatureVisualisationHook
from deepwild.interpret.probe import Probe
from deepwild.interpret.schedule import CostBudget
from deepwild.interpret.sections import read_sections
from deepwild.models import build_model
from deepwild.tasks import digits
from deepwild.tasks.model_probe import SHIPPED, probe_of_model

torch.set_num_threads(1)
SIZE = 16
FAST = FeatureVisConfig(steps=40, pool_size=64)


class Planted(nn.Module):
    """One 3×3 conv layer "bars" with hand-set kernels: channel 0 answers vertical bright bars, channel 1
    horizontal ones; the class logits are the channels' means. `bias` can switch the units off for grey."""

    def __init__(self, bias: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        vertical = torch.tensor([[-1.0, 2.0, -1.0]] * 3)
        with torch.no_grad():
            self.conv.weight.copy_(torch.stack([vertical, vertical.T])[:, None])
            self.conv.bias.fill_(bias)
        self.relu = nn.ReLU()

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"bars": self.relu(self.conv(x))}

    def forward_head(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return features["bars"].mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def bar_image(vertical: bool, at: int = SIZE // 2) -> torch.Tensor:
    image = torch.zeros(1, SIZE, SIZE)
    if vertical:
        image[0, :, at] = 1.0
    else:
        image[0, at, :] = 1.0
    return image


def planted_probe(planted: dict[int, torch.Tensor] | None = None, size: int = 48) -> Probe:
    """A pool of faint noise, with the given images at the given places."""
    pool = torch.rand(size, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 0.3
    for index, image in (planted or {}).items():
        pool[index] = image
    labels = torch.zeros(size, dtype=torch.int64)
    return Probe(inputs=pool[:2], labels=labels[:2], pool=pool, pool_labels=labels,
                 class_names=("vertical", "horizontal"), layers=("bars",), kind="classifier")


def value(model: nn.Module, images: torch.Tensor, targets: list[Target]) -> list[float]:
    with torch.no_grad():
        return target_values(model, images, targets, "mean", "classifier").tolist()


def orientation(image: torch.Tensor) -> float:
    """> 1 for vertical structure (changes along x), < 1 for horizontal."""
    across = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    down = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    return float(across / down)


# -- the parameterisation ----------------------------------------------------------------------------


def test_fourier_image_is_real_in_range_and_the_right_shape_for_any_channels():
    spectrum = torch.randn(2, 3, 20, 24 // 2 + 1, 2) * 5  # large: the sigmoid must still keep the range
    basis = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.0, -0.05], [0.27, -0.09, 0.03]])
    image = fourier_image(spectrum, fourier_scale(20, 24), (20, 24), (-1.0, 2.0), basis)
    assert image.shape == (2, 3, 20, 24) and image.dtype == torch.float32 and not image.is_complex()
    assert float(image.min()) >= -1.0 and float(image.max()) <= 2.0
    assert float(image.std()) > 0.1  # not collapsed to one value


def test_spectrum_scale_falls_with_frequency_so_all_frequencies_learn_alike():
    scale = fourier_scale(16, 16)
    assert float(scale[0, 0]) == float(scale.max())  # the DC term is the largest (clamped, not infinite)
    assert float(scale[0, 1]) > float(scale[0, 4]) > float(scale[0, 8])
    assert torch.isclose(scale[0, 2] / scale[0, 4], torch.tensor(2.0))  # 1 / frequency


# -- the optimisation --------------------------------------------------------------------------------


def test_optimisation_drives_the_channel_far_above_random_inputs_and_finds_the_planted_pattern():
    model = Planted()
    targets = [Target("bars", 0), Target("bars", 1)]
    images = optimise_inputs(model, targets, (1, SIZE, SIZE), (0.0, 1.0), 0.0, "mean", "classifier", FAST)
    assert images.shape == (2, 1, SIZE, SIZE)
    reached = torch.tensor(value(model, images, targets))
    random = torch.rand(64, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        typical = model.forward_features(random)["bars"].mean(dim=(0, 2, 3))  # (2,)
    # Uniform noise is a strong stimulus for a bar detector (about a fifth of the best possible mean, 3.0
    # for alternating 1-px columns); the optimised images, made of robust low-frequency bars, beat it twice over.
    assert (reached > 2 * typical).all() and (reached > 0.35 * 3.0).all(), (reached, typical)
    assert orientation(images[0]) > 2.0  # channel 0's picture is made of vertical bars
    assert orientation(images[1]) < 0.5  # channel 1's of horizontal ones


def test_same_seed_same_picture_other_seed_other_picture():
    model, targets = Planted(), [Target("bars", 0)]
    first, again, other = (optimise_inputs(model, targets, (1, SIZE, SIZE), (0.0, 1.0), 0.0, "mean", "classifier",
                                           replace(FAST, steps=8, seed=seed)) for seed in (3, 3, 4))
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_redirected_gradient_wakes_a_unit_that_grey_leaves_switched_off():
    # bias -3: a grey input gives -3 everywhere (no gradient through the ReLU); a bright bar gives +3.
    model, targets = Planted(bias=-3.0), [Target("bars", 0)]
    plain = optimise_inputs(model, targets, (1, SIZE, SIZE), (0.0, 1.0), 0.0, "mean", "classifier",
                            replace(FAST, redirect_share=0.0))
    redirected = optimise_inputs(model, targets, (1, SIZE, SIZE), (0.0, 1.0), 0.0, "mean", "classifier", FAST)
    assert value(model, plain, targets)[0] == 0.0  # stuck for good: a blank picture
    assert value(model, redirected, targets)[0] > 0.05  # awake, and growing


def test_pictures_leave_the_model_and_the_random_numbers_as_the_trainer_had_them():
    model = Planted().train()
    rng = torch.get_rng_state()
    visualise_features(model, planted_probe(), channels=2, config=replace(FAST, steps=4))
    assert torch.equal(rng, torch.get_rng_state())  # a run with pictures draws the same augmentations as one without
    assert model.training
    assert all(p.grad is None for p in model.parameters())  # the optimizer's gradients are not touched
    assert not any(m._forward_hooks for m in model.modules())  # the redirect hooks are gone


def test_receptive_field_of_one_3x3_layer_is_3_and_of_two_is_5():
    inputs = torch.rand(4, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    assert receptive_field(Planted(), "bars", inputs) == 3
    two = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1))
    two.forward_features = lambda x: {"second": two(x)}  # type: ignore[method-assign]
    assert receptive_field(two, "second", inputs, mass=0.999) == 5


# -- top-activating inputs and the whole picture ---------------------------------------------------------


def test_top_activating_inputs_are_the_planted_ones():
    planted = {7: bar_image(True, 5), 19: bar_image(True, 11), 30: bar_image(False, 8)}
    result = visualise_features(Planted(), planted_probe(planted), channels=2,
                                config=replace(FAST, steps=4, top_k=2))
    vertical, horizontal = result.row("bars")
    assert set(vertical.top_indices) == {7, 19}
    assert horizontal.top_indices[0] == 30
    # The crop is the unit's field (at least a quarter of the input) around the strongest unit: a bar through it.
    crop = torch.from_numpy(vertical.top_inputs[0, 0])
    assert crop.shape == (5, 5) and int((crop > 0.9).sum(dim=0).max()) >= 4
    assert set(result.row(LOGITS)[0].top_indices) == {7, 19}
    assert [p.predicted for p in result.row(LOGITS)] == ["vertical", "horizontal"]  # each class picture is its class


def test_rows_run_early_to_late_with_fields_growing_on_a_small_cnn():
    torch.manual_seed(0)
    model = build_model("small_cnn", in_channels=1, num_classes=2, width=4)
    probe = replace(planted_probe(), layers=("conv1", "conv2", "conv3"))
    result = visualise_features(model, probe, channels=2, config=replace(FAST, steps=24))
    assert result.layers == ("conv1", "conv2", "conv3", LOGITS)
    assert [len(result.row(layer)) for layer in result.layers] == [2, 2, 2, 2]
    assert result.receptive_fields["conv1"] == 3 < result.receptive_fields["conv3"]
    assert all(p.image.shape == (1, SIZE, SIZE) and len(p.top_inputs) == FAST.top_k for p in result.pictures)
    assert result.row("conv1")[0].top_inputs.shape[-1] == 5  # the 3-px field, shown as a quarter of the input


class PlantedDetector(Planted):
    """The planted bars as a fully convolutional "detector": its class map is the bars map itself."""

    def forward_head(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return {"classes": features["bars"]}


def test_a_centre_unit_is_optimised_in_a_window_around_its_field_and_drawn_cut_to_it():
    assert optimisation_window(Target("bars", 0), "centre", {"bars": 3}, 64, 64) == (16, 16)
    assert optimisation_window(Target("bars", 0), "centre", {"bars": 61}, 64, 64) == (64, 64)
    assert optimisation_window(Target("bars", 0), "mean", {"bars": 3}, 64, 64) == (64, 64)
    pool = torch.rand(8, 1, 48, 48, generator=torch.Generator().manual_seed(6))
    probe = replace(planted_probe(), pool=pool, pool_labels=torch.zeros(8, dtype=torch.int64), kind="detector")
    result = visualise_features(PlantedDetector(), probe, channels=2, config=replace(FAST, top_k=2))
    vertical, horizontal = result.row("bars")
    assert result.objective == "centre" and result.receptive_fields["bars"] == 3
    assert vertical.image.shape == (1, 9, 9)  # the 3-px field, shown with a little context
    centre = torch.from_numpy(vertical.image)[:, 3:6, 3:6]
    assert float(centre[0, :, 1].mean()) > float(centre[0, :, 0].mean()) + 0.3  # a bright vertical bar, dark sides
    assert result.row(LOGITS)[0].image.shape == (1, 48, 48)


# -- the hook ------------------------------------------------------------------------------------------


def test_hook_draws_each_epoch_and_at_the_end_and_writes_its_section(tmp_path):
    model = Planted().train()
    config = InterpretConfig(features_every=1, features_channels=2, features_steps=4)
    hook = FeatureVisualisationHook(config, planted_probe({3: bar_image(True)}), CostBudget(None))
    trainer = SimpleNamespace(run=RunDir(tmp_path), model=model, state=SimpleNamespace(epoch=0),
                              config=SimpleNamespace(epochs=2, seed=0))
    hook.before_train(trainer)
    trainer.state.epoch = 1
    hook.after_epoch(trainer)
    trainer.state.epoch = 2
    hook.after_epoch(trainer)  # the last epoch: after_train draws the final picture instead
    hook.after_train(trainer)
    folder = tmp_path / "interpret" / "features"
    assert sorted(p.name for p in folder.iterdir()) == ["features-epoch001.png", "features.png", "section.json"]
    (section,) = read_sections(tmp_path)
    assert section.title == "Feature visualisation" and "Limits" in section.text
    assert [f.path for f in section.figures] == ["interpret/features/features.png",
                                                 "interpret/features/features-epoch001.png"]
    assert {row["channel"] for row in section.tables[0]} == {"#0", "#1", "vertical", "horizontal"}
    assert model.training and all(p.grad is None for p in model.parameters())


def test_hook_is_off_without_a_run_and_mid_training_pictures_wait_for_the_budget(tmp_path):
    config = InterpretConfig(features_every=1, features_steps=2)
    hook = FeatureVisualisationHook(config, planted_probe(), CostBudget(0.0))
    trainer = SimpleNamespace(run=None, model=Planted(), state=SimpleNamespace(epoch=1),
                              config=SimpleNamespace(epochs=3, seed=0))
    hook.after_train(trainer)  # nothing to write into, nothing written
    trainer.run = RunDir(tmp_path)
    hook.budget.spent_s = hook.budget.budget.spent_s = 1.0  # spent before: share 0 allows nothing more
    hook.after_epoch(trainer)
    assert not (tmp_path / "interpret").exists()


# -- deepwild lecture features -------------------------------------------------------------------------




def tiny_digits_package(folder: Path, task: str = "digits") -> Path:
    config = digits.Config(image_size=16, width=4)
    torch.manual_seed(0)
    model = build_model("small_cnn", in_channels=1, num_classes=10, width=4)
    save_model_package(folder, ModelPackage(
        name="digits-tiny", task=task, architecture="small_cnn",
        model_args={"in_channels": 1, "num_classes": 10, "width": 4, "dropout": 0.1},
        class_names=tuple(str(d) for d in range(10)), input={"kind": "digit", "image_size": 16},
        config=config_to_dict(config)), model.state_dict())
    return folder


@pytest.mark.parametrize("args, words", [
    (("lecture", "features", "no-such-run"), "neither a model package nor a run"),
    (("lecture", "features", "{model}", "--data", "{model}"), "drop --data"),
    (("lecture", "features", "{other}"), "'news' model"),
    (("lecture", "features", "{model}", "--layers", "conv1,fc9"), "no layer fc9; its layers, early to late: conv1"),
    (("lecture", "features", "{model}", "--channels", "0"), "--channels must lie between 1 and 64"),
])
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, monkeypatch, capsys, args, words):
    model = tiny_digits_package(tmp_path / "model")
    other = tiny_digits_package(tmp_path / "other", task="news")
    code, _, err = run_cli(monkeypatch, capsys, *(a.format(model=model, other=other) for a in args))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("deepwild: error: ") and "Traceback" not in err
    assert words in err


def test_detector_probe_crops_real_pages_at_the_models_staff_space():
    # The DeepScoresV2 page is engraved at about twice the training pages' staff space: crops are scaled.
    loaded = probe_of_model(SHIPPED, data=Path(__file__).parent / "fixtures" / "deepscores_v2_sample", pool_size=12)
    probe = loaded.probe
    assert probe.kind == "detector" and probe.pool.shape == (12, 1, 96, 96) and probe.layers[0] == "stem"
    assert "scaled ×0.46" in loaded.source
    assert 0.0 <= float(probe.pool.min()) and float(probe.pool.max()) <= 1.0
    assert float(probe.pool.mean()) < 0.5  # ink bright on dark paper, as the detector sees pages
    assert probe.class_groups is not None and len(probe.class_groups) == len(probe.class_names)


def test_lecture_draws_the_hierarchy_of_a_model_package(tmp_path, monkeypatch, capsys):
    model = tiny_digits_package(tmp_path / "model")
    code, out, err = run_cli(monkeypatch, capsys, "lecture", "features", str(model), "--channels", "2", "--steps", "4",
                             "--runs-dir", str(tmp_path / "runs"), "--name", "fv")
    assert code == 0, err
    assert "conv1" in out and "conv3" in out and "class pictures classified as their class:" in out
    run = tmp_path / "runs" / "fv"
    assert (run / "plots" / "features.png").is_file() and (run / "result.json").is_file()
    assert read_sections(run)[0].figures[0].path == "plots/features.png"
