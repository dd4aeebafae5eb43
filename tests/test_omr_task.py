"""The OMR task end to end on a tiny generated dataset: train (a few steps), fine-tune, detect, refuse bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from deepwild.core.errors import InputError, ModelPackageError
from deepwild.core.results import PageDetections
from deepwild.datagen.scores.generate import ScoreDataConfig, generate_scores
from deepwild.engine.config import TrainConfig
from deepwild.interpret.config import InterpretConfig
from deepwild.tasks.omr import Config, train
from deepwild.tasks.omr.data import CropConfig
from deepwild.tasks.omr.detect import Detector

NO_INTERPRETATION = InterpretConfig(process=False, features=False, attribution=False, infoplane=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("omr")
    generate_scores(ScoreDataConfig(pages=4, seed=3, composers=("bach",), val_fraction=0.3, test_fraction=0.3),
                    root / "data")
    config = Config(data=str(root / "data"), widths=(4, 8, 8, 8), crop=CropConfig(crop_size=64, crops_per_epoch=8),
                    train=TrainConfig(epochs=1, batch_size=4, progress="off", threads=1))
    return root, train(config, root=root / "runs", name="tiny")


def test_training_exports_a_detector_package(tiny_run):
    root, outcome = tiny_run
    package = outcome.package
    assert package.task == "omr" and package.architecture == "dwd"
    assert "staff" not in package.class_names and "noteheadBlackOnLine" in package.class_names
    assert 8 < package.input["staff_space"] < 14
    records = outcome.run.epoch_records()
    assert {"train_energy_loss", "train_class_loss", "train_box_loss", "val_loss"} <= set(records[-1])
    curves = json.loads((outcome.run.path / "interpret/per_class/curves.json").read_text())
    assert curves["classes"] == list(package.class_names) and curves["epochs"] == [1]
    assert all(value is None or 0.0 <= value <= 1.0 for value in curves["recall"][0])


def test_fine_tuning_starts_from_a_package(tiny_run):
    root, outcome = tiny_run
    config = Config(data=str(root / "data"), init=str(outcome.run.model_dir), crop=CropConfig(crop_size=64, crops_per_epoch=4),
                    train=TrainConfig(epochs=1, batch_size=4, progress="off", threads=1), interpret=NO_INTERPRETATION)
    tuned = train(config, root=root / "runs", name="tuned")
    assert tuned.package.class_names == outcome.package.class_names
    assert tuned.package.model_args["widths"] == [4, 8, 8, 8]  # the package's network, not the default one
    assert tuned.package.input["class_groups"] == outcome.package.input["class_groups"]


def test_fine_tuning_keeps_the_packages_tuned_decoding(tiny_run, tmp_path):
    import dataclasses

    from deepwild.core.package import load_model_package, save_model_package

    root, outcome = tiny_run
    package, state = load_model_package(outcome.run.model_dir)
    postprocess = {**package.config["postprocess"], "group_thresholds": [2.5, 3.0, 1.5]}
    save_model_package(tmp_path / "tuned-model", dataclasses.replace(
        package, config={**package.config, "postprocess": postprocess}), state)
    config = Config(data=str(root / "data"), init=str(tmp_path / "tuned-model"),
                    crop=CropConfig(crop_size=64, crops_per_epoch=4),
                    train=TrainConfig(epochs=1, batch_size=4, progress="off", threads=1), interpret=NO_INTERPRETATION)
    tuned = train(config, root=root / "runs", name="tuned-decoding")
    assert Detector.load(tuned.run.model_dir).postprocess.group_thresholds == (2.5, 3.0, 1.5)


def test_decoding_is_tuned_per_energy_group_on_validation_pages(tiny_run):
    from deepwild.data.dataset_folder import load_symbol_dataset
    from deepwild.tasks.omr.evaluate import tune_decoding

    root, outcome = tiny_run
    groups = outcome.package.input["class_groups"]
    assert len(groups) == len(outcome.package.class_names)
    assert groups[outcome.package.class_names.index("stem")] == 1 and max(groups) == 2
    detector = Detector.load(outcome.run.model_dir)
    val = load_symbol_dataset(root / "data").split("val")
    lines: list[str] = []
    tuned = tune_decoding(detector, val, log=lines.append, thresholds=(2.0, 3.0), margins=(2.0,), min_class_count=1)
    assert len(tuned.group_thresholds) == 3 and set(tuned.group_thresholds) <= {2.0, 3.0}
    assert len(tuned.group_split_margins) == 3 and set(tuned.group_split_margins) <= {0.0, 2.0}
    assert len(tuned.class_thresholds) == len(groups) and set(tuned.class_thresholds) <= {2.0, 3.0}
    assert len(tuned.class_split_margins) == len(groups) and set(tuned.class_split_margins) <= {0.0, 2.0}
    # Classes absent from the validation pages follow their group.
    present = {s.class_name for page in val.pages for s in page.symbols}
    for name, group, threshold in zip(outcome.package.class_names, groups, tuned.class_thresholds):
        if name not in present:
            assert threshold == tuned.group_thresholds[group]
            assert tuned.class_split_margins[outcome.package.class_names.index(name)] == tuned.group_split_margins[group]
    assert len(lines) == 4 and lines[-1].startswith("chosen")
    assert detector.postprocess.group_thresholds == ()  # the detector is left as it was


def test_detect_answers_every_kind_of_page(tiny_run, tmp_path):
    root, outcome = tiny_run
    detector = Detector.load(outcome.run.model_dir)
    page = next((root / "data" / "images").glob("*.png"))
    result = detector.detect_file(page)
    assert (result.width, result.height) == Image.open(page).size and 8 < result.staff_space < 14
    for symbol in result.symbols:
        x0, y0, x1, y1 = symbol.bbox
        assert 0 <= x0 < x1 <= result.width and 0 <= y0 < y1 <= result.height
    assert PageDetections.from_json(json.loads(json.dumps(result.to_json()))).to_json() == result.to_json()
    blank = detector.detect_gray(np.ones((400, 300), np.float32), "blank.png")
    assert blank.symbols == ()  # a blank page is a valid answer: nothing on it
    with pytest.raises(InputError, match="too small"):
        detector.detect_gray(np.ones((1, 1), np.float32), "dot.png")
    noise = (np.random.default_rng(0).random((300, 300)) > 0.3).astype(np.float32)  # ink, but no staff
    with pytest.raises(InputError, match="no staff lines"):
        detector.detect_gray(noise, "photo.png")


def test_detect_refuses_a_model_of_another_task(tmp_path):
    from tests.helpers.tiny import tiny_config
    from deepwild.tasks import digits

    outcome = digits.train(tiny_config(epochs=1), root=tmp_path, name="digits")
    with pytest.raises(ModelPackageError, match="not a music symbol detector"):
        Detector.load(outcome.run.model_dir)


def test_detect_command_writes_json_and_overlay_and_reports_bad_pages(tiny_run, tmp_path, monkeypatch, capsys):
    import sys

    from deepwild.cli.main import main

    root, outcome = tiny_run
    page = next((root / "data" / "images").glob("*.png"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(page.read_bytes()[:500])
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["deepwild", "detect", str(outcome.run.model_dir), str(page), str(broken),
                                      "--out", str(out)])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 1  # one page of two failed
    saved = json.loads((out / f"{page.stem}.json").read_text())
    assert saved["model"] == outcome.package.name and saved["width"] == Image.open(page).size[0]
    assert (out / f"{page.stem}_overlay.png").is_file()
    assert not (out / "broken.json").exists()  # nothing half-written for the bad page
    assert "broken.png" in capsys.readouterr().out


def test_evaluation_writes_tables_curves_and_overlays(tiny_run):
    from deepwild.tasks.omr import evaluate

    root, outcome = tiny_run
    result = evaluate(outcome.run.path, "all", data=root / "data")
    folder = outcome.run.eval_dir / "all"
    for name in ("metrics.json", "per_class.csv", "timing.json"):
        assert (folder / name).is_file()
    assert len(list(folder.glob("*_detections.png"))) == 2
    assert result.metrics["pages"] == 4 and 0.0 <= result.metrics["mAP@0.5"] <= 1.0
    timing = json.loads((folder / "timing.json").read_text())
    assert "staff" in timing["ignored_ground_truth"]  # what the model does not detect is named, not hidden
    assert set(result.per_class) <= set(outcome.package.class_names)
