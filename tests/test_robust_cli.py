"""`deepwild robust`: the table in the run and its report, calibration into the package, flags at predict
time, and one clear line for every bad request."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from deepwild.core.package import read_model_package
from deepwild.interpret.config import InterpretConfig
from deepwild.tasks import digits
from deepwild.tasks.robustness import RobustConfig, calibrate, robustness
from tests.helpers.cli import run_cli
from tests.helpers.tiny import tiny_config, tiny_digits_package

torch.set_num_threads(1)
QUIET = InterpretConfig(process=False, features=False, attribution=False, infoplane=False)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A tiny digits run trained well enough that most test digits are right."""
    root = tmp_path_factory.mktemp("runs")
    config = dataclasses.replace(tiny_config(epochs=6), interpret=QUIET)
    return digits.train(config, root=root, name="tiny").run


def test_table_counts_only_successful_attacks_on_correct_inputs_and_lands_in_the_report(digits_run):
    config = RobustConfig(attacks=("fgsm", "pgd"), epsilons=(0.2,), detectors=("entropy", "squeeze", "lid"),
                          inputs=60, fit_inputs=120)
    outcome = robustness(digits_run.path, config)
    table = outcome.table
    assert table.inputs == 60 and 30 < table.correct <= 60
    assert [a.label for a in table.attacks] == ["fgsm ε=0.2", "pgd ε=0.2"]
    for attack in table.attacks:
        assert attack.attacked == table.correct and 0 < attack.succeeded <= attack.attacked
        assert attack.mean_linf <= 0.2 + 1e-6
        for detector in ("entropy", "squeeze", "lid"):
            score = table.score(detector, attack.label)
            assert score.adversarial == attack.succeeded == score.clean  # paired: the same inputs before the attack
            assert 0.0 <= score.auroc <= 1.0
            rates = [score.detection_rate[r] for r in (0.01, 0.05, 0.10)]
            assert rates == sorted(rates)  # a looser threshold flags at least as many
    assert table.score("lid", "pgd ε=0.2").supervised and not table.score("entropy", "pgd ε=0.2").supervised
    written = json.loads((outcome.folder / "table.json").read_text())
    assert len(written["scores"]) == 6 and written["config"]["inputs"] == 60
    assert "| pgd ε=0.2 |" in (outcome.folder / "table.md").read_text()
    section = json.loads((outcome.folder / "section.json").read_text())
    assert section["figures"][0]["path"] == "interpret/robust/roc.svg" and (outcome.folder / "roc.svg").is_file()


def test_calibration_flags_the_asked_share_of_clean_inputs_and_predict_reports_it(digits_run, tmp_path, monkeypatch,
                                                                                   capsys):
    result = calibrate(digits_run.path, 0.1)
    assert result.inputs > 50 and abs(result.clean_flagged - 0.1) <= 1.0 / result.inputs + 1e-9
    stored = read_model_package(digits_run.model_dir).adversarial
    assert stored["threshold"] == result.threshold and stored["settings"]["bins"] == 16
    assert "Adversarial-input detector" in (digits_run.model_dir / "MODEL_CARD.md").read_text()
    images = digits.write_example_images(digits_run, tmp_path / "digits", count=3)
    predictions = digits.predict(digits_run.path, images, require_detector=True)
    assert all(p.suspicious is not None and p.adversarial_score is not None for p in predictions)
    assert all(p.suspicious == (p.adversarial_score > result.threshold) for p in predictions)
    code, out, _ = run_cli(monkeypatch, capsys, "predict", str(digits_run.path), str(images[0]), "--json")
    line = json.loads(out.splitlines()[0])
    assert code == 0
    assert set(line) >= {"suspicious", "adversarial_score"}


def test_bad_requests_get_one_line_and_exit_2(digits_run, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DEEPWILD_DEBUG", raising=False)
    package = tiny_digits_package(tmp_path / "uncalibrated")
    cases = [
        (["robust", str(digits_run.path), "--epsilons", "1.5"], "epsilon must lie in [0, 1]"),
        (["robust", str(digits_run.path), "--epsilons", "a"], "comma-separated numbers"),
        (["robust", str(digits_run.path), "--attacks", "fgsm,jsma"], "unknown attack jsma"),
        (["robust", str(digits_run.path), "--detectors", "magic"], "unknown detector magic"),
        (["robust", "shipped", "--attacks", "deepfool"], "a detector is attacked with fgsm, pgd; not with deepfool"),
        (["robust", "shipped", "--epsilons", "2"], "epsilon must lie in [0, 1]"),
        (["robust", str(digits_run.path), "--data", str(tmp_path)], "--data and --split are for music symbol detectors"),
        (["robust", str(digits_run.path), "--calibrate", "1.5"], "between 0 and 1"),
        (["predict", str(package), str(package / "model.json"), "--adversarial"], "not an image"),
    ]
    for args, message in cases:
        code, out, err = run_cli(monkeypatch, capsys, *args)
        output = out + err
        lines = [line for line in output.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and message in lines[0] and "Traceback" not in output, (args, output)
    image = digits.write_example_images(digits_run, tmp_path / "one", count=1)[0]
    code, out, err = run_cli(monkeypatch, capsys, "predict", str(package), str(image), "--adversarial")
    output = out + err
    assert code == 2 and "no calibrated adversarial-input detector" in output and len(output.strip().splitlines()) == 1


def test_robust_command_prints_the_papers_table(digits_run, monkeypatch, capsys):
    code, output, _ = run_cli(monkeypatch, capsys, "robust", str(digits_run.path), "--attacks", "fgsm", "--epsilons",
                              "0.1", "--detectors", "entropy,mahalanobis", "--inputs", "40", "--fit-inputs", "80")
    assert code == 0
    assert "| attack | success | detector | AUROC | DR@1% FPR | DR@5% FPR | DR@10% FPR |" in output
    assert "mahalanobis (supervised)" in output and "report" in output
    assert np.isfinite(float(output.split("| entropy | ")[1].split(" |")[0]))


def test_the_detectors_fit_sample_holds_every_class():
    from deepwild.tasks.robustness import sample

    labels = np.r_[np.zeros(500, int), np.ones(3, int), np.full(40, 2)]  # one class rare
    images = torch.arange(len(labels)).float()[:, None]
    chosen, chosen_labels = sample(images, labels, 30, seed=0, every_class=True)
    assert len(chosen) == 30 and set(chosen_labels.tolist()) == {0, 1, 2}
    assert (chosen_labels == 1).sum() == 3 and len(set(chosen[:, 0].tolist())) == 30  # all of the rare class, no repeats
    again, _ = sample(images, labels, 30, seed=0, every_class=True)
    assert torch.equal(again, chosen)
