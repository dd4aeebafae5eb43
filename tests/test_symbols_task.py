"""The symbol classifier (DeepScores' classification task): crops, class choice, imbalance, a tiny training run
with evaluate and predict, and the command line's errors."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from deepwild.core.errors import InputError
from deepwild.data.dataset_folder import load_symbol_dataset
from deepwild.data.imbalance import oversampled_indices
from deepwild.data.symbol_crops import (CropSettings, choose_classes, crop_from_image, crop_windows, extract_crops,
                                        select_symbols, window_image)
from deepwild.engine.config import TrainConfig
from deepwild.tasks import symbols
from deepwild.tasks.classification import predict_probabilities
from tests.helpers.cli import run_cli
from tests.helpers.symbol_pages import SHAPES, write_shape_dataset

torch.set_num_threads(1)
CLASSES = tuple(sorted(SHAPES))


@pytest.fixture(scope="module")
def shape_data(tmp_path_factory):
    return write_shape_dataset(tmp_path_factory.mktemp("shapes") / "data")


def ink_extent(crop: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(crop.max(axis=1) > threshold), np.flatnonzero(crop.max(axis=0) > threshold)
    return cols[0], rows[0], cols[-1] + 1, rows[-1] + 1  # x0, y0, x1, y1 in crop pixels


# -- crops ------------------------------------------------------------------------------------------


def test_crops_are_centred_on_their_symbols_and_show_their_class(shape_data):
    dataset = load_symbol_dataset(shape_data).split("train")
    settings = CropSettings(crop_size=32, context_staff_spaces=4.0, box_scale=1.2)
    crops = extract_crops(dataset, CLASSES, settings)
    annotations = [symbol for page in dataset.pages for symbol in page.symbols]
    assert len(crops) == len(annotations) == 80 and crops.images.shape == (80, 1, 32, 32)
    assert crops.images.dtype == torch.float32 and 0.0 <= float(crops.images.min()) and float(crops.images.max()) <= 1.0
    for index, symbol in enumerate(annotations):
        name = crops.class_names[crops.labels[index]]
        assert name == symbol.class_name  # the label is the annotation's class, in page order
        width, height, _ = SHAPES[name]
        side = max(4.0 * 10.0, 1.2 * max(width, height))  # staff space 10 px recorded on the pages
        assert crops.windows[index].tolist() == pytest.approx([*symbol.center, side])
        x0, y0, x1, y1 = ink_extent(crops.images[index, 0].numpy())
        # Centred: equal paper on both sides (to a pixel); the ink as large as the box at this scale.
        assert abs(x0 - (32 - x1)) <= 1 and abs(y0 - (32 - y1)) <= 1, (name, x0, y0, x1, y1)
        assert x1 - x0 == pytest.approx(width * 32 / side, abs=1.5), name
        assert y1 - y0 == pytest.approx(height * 32 / side, abs=1.5), name


def test_pages_without_staff_space_use_the_pixel_context(tmp_path):
    folder = write_shape_dataset(tmp_path / "data", {"train": 1}, staff_space=None)
    crops = extract_crops(load_symbol_dataset(folder), CLASSES, CropSettings(context_px=60.0, box_scale=2.0))
    longer = np.array([max(SHAPES[crops.class_names[label]][:2]) for label in crops.labels])
    assert np.allclose(crops.windows[:, 2], np.maximum(60.0, 2.0 * longer))


def test_windows_outside_the_page_are_paper_and_thin_lines_survive_large_windows():
    ink = torch.zeros(100, 400)
    ink[2:12, 3:15] = 1.0  # a notehead in the top-left corner
    ink[:, 101] = 1.0  # a one-pixel line
    corner = crop_windows(ink, np.array([[9.0, 7.0, 40.0]]), 32)[0, 0].numpy()  # window from -11 to 29
    assert corner[:8].max() == 0.0 and corner[:, :8].max() == 0.0  # above and left of the page: paper
    x0, y0, x1, y1 = ink_extent(corner)
    assert abs(x0 - (32 - x1)) <= 1 and abs(y0 - (32 - y1)) <= 1
    # A window 8× the crop: the line is averaged down, not missed between bilinear samples.
    large = crop_windows(ink, np.array([[200.0, 50.0, 256.0]]), 32)[0, 0].numpy()
    assert large.max() > 0.05
    mass = ink[:, 72:328].sum().item()  # the ink inside the window: the line's 100 pixels
    assert large.sum() * (256 / 32) ** 2 == pytest.approx(mass, rel=0.15)


def test_a_user_crop_is_prepared_like_a_training_crop(shape_data):
    from deepwild.core.images import load_grayscale

    dataset = load_symbol_dataset(shape_data).split("test")
    crops = extract_crops(dataset, CLASSES, CropSettings())
    gray = load_grayscale(dataset.image_path(dataset.pages[0]))
    ink = torch.from_numpy(1.0 - gray)
    for index in range(8):
        centre_x, centre_y, side = crops.windows[index]
        window = window_image(gray, centre_x, centre_y, side)  # as a user would cut it: whole page pixels
        n = window.shape[0]
        x0, y0 = np.floor(centre_x - n / 2 + 0.5), np.floor(centre_y - n / 2 + 0.5)
        # The training recipe on exactly the window the user cut (its centre moved by up to half a pixel).
        same_window = crop_windows(ink, np.array([[x0 + n / 2, y0 + n / 2, n]]), 32)[0, 0].numpy()
        for variant in (window, 1.0 - window, 0.85 * window):  # as is, light on dark, grey paper
            prepared = crop_from_image(variant, 32)[0].numpy()
            assert np.abs(prepared - same_window).max() < 1e-4
        assert n == round(side) and np.corrcoef(same_window.ravel(), crops.images[index, 0].numpy().ravel())[0, 1] > 0.8


def test_classes_below_min_count_are_dropped_and_classes_capped_by_a_seeded_choice(shape_data):
    assert choose_classes({"stem": 30, "clefG": 5, "beam": 20}, 20) == (("beam", "stem"), {"clefG": 5})
    dataset = load_symbol_dataset(shape_data).split("train")
    index = {name: i for i, name in enumerate(CLASSES)}
    pages, _, labels, skipped = select_symbols(dataset, index, max_per_class=5, seed=1)
    counts = Counter(symbol.class_name for page in dataset.pages for symbol in page.symbols)
    assert skipped == 0 and np.all(np.diff(pages) >= 0)  # page order: each page is read once
    assert np.bincount(labels, minlength=4).tolist() == [min(counts[name], 5) for name in CLASSES]
    again = select_symbols(dataset, index, max_per_class=5, seed=1)
    other = select_symbols(dataset, index, max_per_class=5, seed=2)
    assert np.array_equal(again[0], pages) and np.array_equal(again[2], labels)  # the same seed, the same choice
    assert not (np.array_equal(again[0], other[0]) and np.array_equal(again[1], other[1]))
    only_stems = select_symbols(dataset, {"stem": 0}, 0, 0)
    assert only_stems[3] == sum(counts.values()) - counts["stem"] and len(only_stems[2]) == counts["stem"]


def test_oversampling_repeats_rare_classes_towards_the_largest():
    labels = np.array([0] * 100 + [1] * 25 + [2] * 4)
    indices = oversampled_indices(labels, power=0.5, seed=0)
    assert set(range(len(labels))) <= set(indices.tolist())  # every item at least once
    assert np.bincount(labels[indices]).tolist() == [100, 50, 20]  # n · (100 / n) ** 0.5
    assert np.bincount(labels[oversampled_indices(labels, power=1.0)]).tolist() == [100, 100, 100]
    assert np.array_equal(oversampled_indices(labels, power=0.0), np.arange(len(labels)))


def test_imbalance_setting_chooses_weights_oversampling_or_nothing(shape_data):
    config = symbols.Config(data=str(shape_data), min_count=2, max_per_class=0)
    data = symbols.load_data(config)
    weighted = symbols.build_problem(config, data)
    counts = np.bincount(data.train.labels, minlength=len(data.classes))
    weights = weighted.step.weights.numpy()
    assert weights.mean() == pytest.approx(1.0) and weights[counts.argmin()] > weights[counts.argmax()]
    oversampled = symbols.build_problem(symbols.Config(data=str(shape_data), min_count=2, max_per_class=0,
                                                       imbalance="oversample"), data)
    assert oversampled.step.weights is None and len(oversampled.train_set) > len(data.train)
    plain = symbols.build_problem(symbols.Config(data=str(shape_data), min_count=2, imbalance="none"), data)
    assert plain.step.weights is None and len(plain.train_set) == len(data.train)


# -- training, evaluation, prediction ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(shape_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("symbol-runs")
    config = symbols.Config(data=str(shape_data), min_count=2, max_per_class=12, width=4, crop=CropSettings(crop_size=16),
                            train=TrainConfig(epochs=2, batch_size=16, warmup_steps=2, progress="off", threads=1,
                                              plot_every_s=1e9))
    return root, symbols.train(config, root=root, name="tiny")


def test_training_writes_a_model_package_with_the_crop_recipe(tiny_run, shape_data):
    root, outcome = tiny_run
    package = outcome.package
    assert package.task == "symbols" and package.architecture == "small_cnn" and package.class_names == CLASSES
    defaults = CropSettings()
    assert package.input["crop_size"] == 16 and package.input["context_staff_spaces"] == defaults.context_staff_spaces
    assert package.input["box_scale"] == defaults.box_scale and package.input["ink"] == "bright"
    assert {"best_epoch", "val_accuracy", "val_macro_accuracy", "test_accuracy"} <= set(package.metrics)
    record = json.loads((outcome.run.path / "data.json").read_text())
    assert record["folder"] == str(shape_data.resolve()) and record["dropped_classes"] == {}
    assert all(0 < n <= 12 for n in record["class_counts"]["train"].values())  # capped per class
    assert record["crops"]["train"] == sum(record["class_counts"]["train"].values())
    epochs = outcome.run.epoch_records()
    assert len(epochs) == 2 and {"train_loss", "val_accuracy", "val_macro_accuracy"} <= set(epochs[-1])
    assert {"attribution", "features", "infoplane", "process"} <= {p.name for p in (outcome.run.path / "interpret").iterdir()}


def test_evaluate_scores_every_symbol_of_a_split_with_a_per_class_table(tiny_run, shape_data):
    root, outcome = tiny_run
    for split in ("test", "test-unseen-font"):
        result = symbols.evaluate(outcome.run.path, split, root=root)
        page_symbols = Counter(s.class_name for p in load_symbol_dataset(shape_data).split(split).pages for s in p.symbols)
        assert result.metrics["samples"] == sum(page_symbols.values())  # not capped
        assert {name: row["support"] for name, row in result.per_class.items()} == \
            {name: page_symbols.get(name, 0) for name in CLASSES}
        recalls = [row["recall"] for row in result.per_class.values() if row["support"]]
        assert result.metrics["macro_accuracy"] == pytest.approx(np.mean(recalls))
        folder = outcome.run.eval_dir / split
        assert (folder / "per_class.csv").read_text().splitlines()[0] == "class,precision,recall,f1,support"
        assert all((folder / name).is_file() for name in ("metrics.json", "confusion.csv", "confusion.png"))
    test = symbols.evaluate(outcome.run.path, "test", root=root)
    assert test.metrics["accuracy"] == pytest.approx(outcome.package.metrics["test_accuracy"])
    with pytest.raises(InputError, match="unknown split 'nope'"):
        symbols.evaluate(outcome.run.path, "nope", root=root)


def test_predict_on_cut_out_crops_agrees_with_the_model_on_training_crops(tiny_run, tmp_path):
    root, outcome = tiny_run
    paths = symbols.write_example_crops(outcome.run.path, tmp_path / "crops", count=4, root=root)
    assert len(paths) == 4 and all(Image.open(p).size[0] >= 30 for p in paths)  # page resolution, not 16 px
    predictions = symbols.predict(outcome.run.path, paths, root=root, top_k=2)
    from deepwild.models.packaged import load_packaged_model

    _, model = load_packaged_model(outcome.run.model_dir, "symbols", "a symbol classifier")
    dataset = load_symbol_dataset(outcome.package.data["folder"]).split("test")
    crops = extract_crops(dataset, outcome.package.class_names, CropSettings(crop_size=16), max_per_class=1)
    expected = predict_probabilities(model, crops.images[:4])
    assert [p.label for p in predictions] == [CLASSES[i] for i in expected.argmax(dim=1).tolist()]
    for prediction, row in zip(predictions, expected):
        assert prediction.probability == pytest.approx(float(row.max()), abs=0.05) and len(prediction.top) == 2


def test_eval_and_predict_commands_take_a_symbols_run(tiny_run, tmp_path, monkeypatch, capsys):
    root, outcome = tiny_run
    code, out, err = run_cli(monkeypatch, capsys, "eval", str(outcome.run.path), "--split", "test-unseen-font")
    assert code == 0, err
    assert "macro_accuracy" in out and "noteheadBlackOnLine" in out
    assert (outcome.run.eval_dir / "test-unseen-font" / "metrics.json").is_file()
    paths = symbols.write_example_crops(outcome.run.path, tmp_path / "crops", count=2, root=root)
    code, out, err = run_cli(monkeypatch, capsys, "predict", str(outcome.run.path), *map(str, paths))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and all(line.split("\t")[1] in CLASSES for line in lines)


# -- command-line errors ---------------------------------------------------------------------------------


def one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("deepwild: error: ")
    return err.strip()


def test_train_symbols_refuses_bad_data_folders_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    not_a_dataset = tmp_path / "photos"
    not_a_dataset.mkdir()
    (not_a_dataset / "cat.png").write_bytes(b"")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "deepscores_train.json").write_text(json.dumps({"categories": {"1": {"name": "stem"}}, "images": [],
                                                              "annotations": {}}))
    blank = write_shape_dataset(tmp_path / "blank", {"train": 1})
    data = json.loads((blank / "deepscores_train.json").read_text())
    (blank / "deepscores_train.json").write_text(json.dumps({**data, "annotations": {}}))
    cases = [((), "no training data given"),
             (("--data", str(tmp_path / "missing")), "does not exist"),
             (("--data", str(not_a_dataset)), "holds no DeepScoresV2 annotation files"),
             (("--data", str(empty)), "holds no pages"),
             (("--data", str(blank)), "hold no annotated symbols")]
    for args, message in cases:
        code, _, err = run_cli(monkeypatch, capsys, "train", "symbols", "--runs-dir", str(runs), *args)
        assert message in one_line_error(code, err)
    assert not runs.exists()  # refused before any run was created


def test_train_symbols_refuses_too_few_classes_and_bad_settings(shape_data, tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    code, _, err = run_cli(monkeypatch, capsys, "train", "symbols", "--data", str(shape_data), "--runs-dir", str(runs),
                           "--set", "min_count=1000")
    assert "min_count=1000" in one_line_error(code, err)
    code, _, err = run_cli(monkeypatch, capsys, "train", "symbols", "--data", str(shape_data), "--runs-dir", str(runs),
                           "--set", "crop.box_scale=0.5")
    assert "box_scale" in one_line_error(code, err)
    assert not runs.exists()
