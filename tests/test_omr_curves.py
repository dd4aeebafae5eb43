import json
from types import SimpleNamespace

import numpy as np
import torch

from deepwild.interpret.sections import read_sections
from deepwild.tasks.omr.curves import MarkerTally, PerClassCurves


def test_tally_counts_right_markers_per_class():
    tally = MarkerTally(3)
    tally.add(torch.tensor([0, 0, 1, 1, 1]), torch.tensor([True, False, True, True, False]))
    tally.add(torch.tensor([0]), torch.tensor([True]))
    recall = tally.recall()
    assert recall[0] == 2 / 3 and recall[1] == 2 / 3 and np.isnan(recall[2])  # class 2: no markers, no value
    tally.reset()
    assert not tally.seen.any()


def _trainer(path, epoch):
    return SimpleNamespace(run=SimpleNamespace(path=path), state=SimpleNamespace(epoch=epoch))


def test_curves_are_kept_per_epoch_and_trimmed_on_resume(tmp_path):
    tally = MarkerTally(2)
    hook = PerClassCurves(tally, ["dot", "clef"])
    for epoch, right in ((1, 1), (2, 3), (3, 4)):
        tally.reset()
        tally.add(torch.tensor([0, 0, 0, 0, 1]), torch.arange(5) < right)
        hook.after_epoch(_trainer(tmp_path, epoch))
    stored = json.loads((tmp_path / "interpret/per_class/curves.json").read_text())
    assert stored["epochs"] == [1, 2, 3] and [row[0] for row in stored["recall"]] == [0.25, 0.75, 1.0]
    section = read_sections(tmp_path)[0]
    assert section.title == "Per-class learning curves"
    assert [row["class"] for row in section.tables[0]] == ["clef", "dot"]  # weakest last value first
    assert (tmp_path / section.figures[0].path).read_text().startswith("<svg")

    resumed = PerClassCurves(tally, ["dot", "clef"])  # the run restarts from its epoch-2 checkpoint
    resumed.before_train(_trainer(tmp_path, 2))
    assert resumed.epochs == [1, 2]
    resumed.after_epoch(_trainer(tmp_path, 3))
    assert json.loads((tmp_path / "interpret/per_class/curves.json").read_text())["epochs"] == [1, 2, 3]
