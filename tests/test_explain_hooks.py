"""The attribution and information-plane hooks in a real (tiny) digits run: sections, per-epoch records,
resumption without duplicated epochs; the budget turned off so that nothing depends on timing."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from deepwild.core.io import atomic_write_json, read_json
from deepwild.interpret.attribution_hook import epoch_ranges, load_epochs
from deepwild.interpret.config import InterpretConfig
from deepwild.interpret.infoplane_hook import saturated_from
from deepwild.interpret.sections import read_sections
from deepwild.tasks import digits
from tests.helpers.tiny import tiny_config

ONLY_MINE = InterpretConfig(process=False, features=False, budget_share=0.0, attribution_inputs=2,
                            infoplane_samples=48)


def config(epochs: int) -> digits.Config:
    return dataclasses.replace(tiny_config(epochs), interpret=ONLY_MINE)


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return digits.train(config(2), root=root, name="explained").run


def test_hooks_write_sections_with_pictures_for_every_epoch(two_epochs):
    sections = {s.key: s for s in read_sections(two_epochs.path)}
    assert {"attribution", "infoplane"} <= set(sections)
    for section in (sections["attribution"], sections["infoplane"]):
        assert section.figures and all((two_epochs.path / f.path).is_file() for f in section.figures)
    assert sections["attribution"].extra["epochs"] == [1, 2]
    maps = load_epochs(two_epochs.path / "interpret" / "attribution" / "epochs")
    assert sorted(maps) == [1, 2] and maps[2]["gradcam"].shape == (2, 16, 16)
    assert 0.0 <= maps[2]["gradcam"].min() and maps[2]["gradcam"].max() <= 1.0 and maps[2]["ig"].min() < 0
    records = read_json(two_epochs.path / "interpret" / "infoplane" / "records.json")
    assert [r["epoch"] for r in records["records"]] == [1, 2]
    assert records["samples"] == 48 and len(records["records"][0]["binning"]) == 3  # conv1..conv3
    for record in records["records"]:
        for i_xt, i_ty in record["binning"] + record["kde"]:
            assert 0.0 <= i_ty <= records["h_y"] + 1e-9 and i_xt <= records["log2_n"] + 1e-9
    assert "log2 N" in sections["infoplane"].text and "noise" in sections["infoplane"].text


def test_a_resumed_run_continues_the_records_without_duplicates(two_epochs, tmp_path):
    run = tmp_path / "resumed"
    shutil.copytree(two_epochs.path, run)
    # An interruption after the epoch-2 checkpoint may leave records of epochs that will be redone.
    infoplane = run / "interpret" / "infoplane" / "records.json"
    data = read_json(infoplane)
    fake = {**data["records"][-1], "epoch": 3, "seconds": -1.0}
    atomic_write_json(infoplane, {**data, "records": data["records"] + [fake, {**fake, "epoch": 4}]})
    epochs = run / "interpret" / "attribution" / "epochs"
    shutil.copy(epochs / "epoch-0002.npz", epochs / "epoch-0004.npz")
    digits.train(config(3), resume=run)
    records = read_json(infoplane)["records"]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert records[-1]["seconds"] >= 0  # measured again, not the stale record
    assert sorted(load_epochs(epochs)) == [1, 2, 3]
    section = {s.key: s for s in read_sections(run)}["attribution"]
    assert section.extra["epochs"] == [1, 2, 3]


def test_saturation_is_reported_from_the_epoch_it_lasted():
    header = {"layers": ["a", "b"], "log2_n": 6.0}
    records = [{"epoch": e, "binning": [[x, 1.0], [5.0, 1.0]]} for e, x in ((1, 6.0), (2, 5.0), (3, 6.0), (4, 6.0))]
    assert saturated_from(header, records) == {"a": 3}


def test_epoch_ranges_read_as_ranges():
    assert epoch_ranges([1, 2, 3, 5, 7, 8]) == "1–3, 5, 7–8"
    assert epoch_ranges([]) == ""


def test_switching_the_hooks_off_writes_nothing(tmp_path):
    off = dataclasses.replace(tiny_config(1), interpret=dataclasses.replace(ONLY_MINE, attribution=False,
                                                                            infoplane=False))
    run = digits.train(off, root=tmp_path, name="quiet").run
    assert not (run.path / "interpret" / "attribution").exists()
    assert not (run.path / "interpret" / "infoplane").exists()
    assert np.isfinite(run.epoch_records()[-1]["val_loss"])


def test_a_budget_share_cannot_starve_the_analyses_after_it(monkeypatch):
    from deepwild.interpret import schedule

    clock = [0.0]
    monkeypatch.setattr(schedule.time, "monotonic", lambda: clock[0])
    budget = schedule.CostBudget(0.1)
    first, second = schedule.BudgetShare(budget, 0.5), schedule.BudgetShare(budget, 0.5)
    with first.spend():
        clock[0] += 1.5  # the first analysis takes 1.5 s in epoch 1 ...
    assert second.allows()  # ... and the second still gets its first turn
    with second.spend():
        clock[0] += 0.2
    clock[0] += 20.0  # 20 s of training: the whole budget (2 s) has room again for 0.3 s
    assert budget.allows()
    assert not first.allows()  # 1.5 s > half of 2 s: its turn is over
    assert second.allows()  # 0.2 s ≤ 1 s
    clock[0] += 100.0
    assert first.allows()


def test_t_is_the_centre_pixel_for_the_detector_and_the_channel_means_for_a_classifier():
    import torch

    from deepwild.interpret.infoplane_hook import layer_representations, measure
    from deepwild.interpret.probe import Probe
    from deepwild.models import build_model

    torch.manual_seed(0)
    crops = torch.rand(70, 1, 32, 32)  # more than one batch of 64
    labels = torch.arange(70) % 3
    for kind, model in (("detector", build_model("dwd", num_classes=3, widths=(4, 4, 4, 4), head_width=4)),
                        ("classifier", build_model("small_cnn", num_classes=3, width=4))):
        model.eval()
        layers = ("down1", "up1") if kind == "detector" else ("conv1", "conv3")
        probe = Probe(inputs=crops[:2], labels=labels[:2], pool=crops, pool_labels=labels, class_names=("a", "b", "c"),
                      layers=layers, kind=kind)
        found = layer_representations(model, probe)
        with torch.no_grad():
            maps = model.forward_features(crops)
        for name in layers:
            value = maps[name]
            expected = (value[:, :, value.shape[2] // 2, value.shape[3] // 2] if kind == "detector"
                        else value.mean(dim=(2, 3)))
            np.testing.assert_allclose(found[name], expected.double().numpy(), rtol=1e-5, atol=1e-6)
        point = measure(model, probe)
        assert len(point["binning"]) == len(point["kde"]) == 2
