"""`train news`: prepared pages cached beside the data, shifts that move inputs and targets together,
the paper's border weight, and a tiny training run that exports a package."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepwild.data.newspapers import load_newspaper_dataset
from deepwild.datagen.newspapers.generate import NewspaperDataConfig, generate_newspapers
from deepwild.engine.config import TrainConfig
from deepwild.interpret.config import InterpretConfig
from deepwild.tasks.news import task as news
from deepwild.tasks.news.task import BorderLoss, Config, PageSet, prepared_pages, shift

torch.set_num_threads(1)
QUIET = InterpretConfig(process=False, features=False, attribution=False, infoplane=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("news") / "data"
    generate_newspapers(NewspaperDataConfig(pages=4, seed=3), out, workers=1)
    for index, record_path in enumerate(sorted((out / "pages").glob("page*.json"))):
        record = json.loads(record_path.read_text())
        record["split"] = "val" if index == 3 else "train"  # four pages: three to learn from, one to score
        record_path.write_text(json.dumps(record))
    return out


def tiny(folder, **changes) -> Config:
    return Config(data=str(folder), input_size=128, width=2, max_width=8, interpret=QUIET,
                  train=TrainConfig(epochs=1, batch_size=2, lr=0.01, optimizer="sgd", threads=1, progress="off"),
                  **changes)


def test_prepared_pages_are_cached_beside_the_data_per_setting(folder, monkeypatch):
    pages = load_newspaper_dataset(folder).split("train")
    first = prepared_pages(pages, tiny(folder), folder, log=lambda _: None)
    assert first.inputs.shape == (3, 2, 128, 128) and first.inputs.dtype == torch.uint8
    assert set(np.unique(first.targets.numpy())) <= {0, 1} and first.masks.max() > 0
    monkeypatch.setattr(news, "prepare_page", lambda *a, **k: pytest.fail("prepared again despite the cache"))
    again = prepared_pages(pages, tiny(folder), folder, log=lambda _: None)
    assert torch.equal(again.inputs, first.inputs) and again.names == first.names
    with pytest.raises(BaseException, match="prepared again"):
        prepared_pages(pages, tiny(folder, shrink=1), folder, log=lambda _: None)  # another setting, another cache


def test_a_shift_moves_page_and_target_together_and_fills_with_paper():
    picture = torch.arange(16.0).reshape(1, 4, 4)
    moved = shift(picture, 1, -2, fill=-1.0)
    assert moved[0, 1, 0] == picture[0, 0, 2] and (moved[0, 0] == -1).all() and (moved[0, :, 2:] == -1).all()
    prepared = news.PreparedSet(("p",), torch.full((1, 2, 8, 8), 255, dtype=torch.uint8),
                                torch.zeros((1, 1, 8, 8), dtype=torch.uint8), np.ones((1, 8, 8), np.int32))
    inputs, target = PageSet(prepared, max_shift=3, seed=0)[0]
    paper = inputs[0] == 0.0
    assert torch.equal(paper, target[0] == 1.0)  # the page's edge moved the same way in both


def test_border_pixels_weigh_as_the_paper_says():
    class Fixed(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(1, 1, 1, 2)  # p = 0.5 everywhere

    target = torch.tensor([[[[1.0, 0.0]]]])
    loss = BorderLoss(1.8)(Fixed(), (torch.zeros(1, 2, 1, 2), target)).loss
    expected = (1.8 * F.binary_cross_entropy(torch.tensor(0.5), torch.tensor(1.0)) + F.binary_cross_entropy(
        torch.tensor(0.5), torch.tensor(0.0))) / 2
    assert loss.item() == pytest.approx(expected.item())


def test_a_tiny_run_trains_scores_its_pages_and_exports_a_package(folder, tmp_path):
    outcome = news.train(tiny(folder), root=tmp_path, name="tiny", log=lambda _: None)
    records = [json.loads(line) for line in (outcome.run.path / "metrics.jsonl").read_text().splitlines()]
    epoch = [r for r in records if r["kind"] == "epoch"][-1]
    assert 0.0 <= epoch["val_der"] <= 1.0 + 1e-9 and "val_completeness" in epoch
    package = outcome.package
    assert package.task == "news" and package.input["size"] == 128 and package.input["layout"] == "image"
    assert (outcome.run.model_dir / "model.safetensors").is_file()
