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


@pytest.fixture(scope="module")
def tiny_run(folder, tmp_path_factory):
    return news.train(tiny(folder), root=tmp_path_factory.mktemp("runs"), name="tiny", log=lambda _: None)


def test_a_tiny_run_trains_scores_its_pages_and_exports_a_package(tiny_run):
    outcome = tiny_run
    records = [json.loads(line) for line in (outcome.run.path / "metrics.jsonl").read_text().splitlines()]
    epoch = [r for r in records if r["kind"] == "epoch"][-1]
    assert 0.0 <= epoch["val_der"] <= 1.0 + 1e-9 and "val_completeness" in epoch
    package = outcome.package
    assert package.task == "news" and package.input["size"] == 128 and package.input["layout"] == "image"
    assert (outcome.run.model_dir / "model.safetensors").is_file()


def test_segment_writes_json_page_xml_crops_and_overlay_and_eval_scores_the_split(folder, tiny_run, tmp_path):
    from deepwild.data.pagexml import read_page_xml
    from deepwild.tasks.news import evaluate
    from deepwild.tasks.news.segment import segment_pages

    page = load_newspaper_dataset(folder).split("val")[0]
    [done] = segment_pages(tiny_run.run.path, [page.image], tmp_path / "out")
    stem = page.image.stem
    written = json.loads((tmp_path / "out" / f"{stem}.json").read_text())
    assert set(written) == {"image", "width", "height", "model", "articles"} and written["model"] == "news-tiny"
    assert len(written["articles"]) == done.articles
    xml = read_page_xml(tmp_path / "out" / f"{stem}.xml")
    assert [a.id for a in xml.articles()] == [a["id"] for a in written["articles"]]
    assert len(list((tmp_path / "out" / f"{stem}_articles").glob("a*.png"))) == done.articles
    assert (tmp_path / "out" / f"{stem}_overlay.png").is_file()
    result = evaluate(tiny_run.run.path, "val")
    assert {"DER", "F1", "completeness", "text DER"} <= set(result.metrics) and page.name in result.per_class
    assert 0.0 <= result.metrics["DER"] <= 2.0


def test_the_layout_from_a_page_xml_file_matches_the_drawn_layout(folder):
    from PIL import Image

    from deepwild.tasks.news.ocr import layout_from_ocr

    page = load_newspaper_dataset(folder).pages[0]
    drawn = np.asarray(Image.open(page.layout).convert("L")) < 200
    with Image.open(page.image) as image:
        width, height = image.size
    from_ocr = layout_from_ocr(page.page_xml, width, height) < 0.8
    assert (drawn & from_ocr).sum() / (drawn | from_ocr).sum() > 0.6


def test_alto_blocks_become_boxes_scaled_to_the_image(tmp_path):
    from deepwild.tasks.news.layout import PICTURE, TEXT
    from deepwild.tasks.news.ocr import layout_from_ocr

    alto = tmp_path / "page.xml"
    alto.write_text('<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Layout><Page WIDTH="2000" HEIGHT="1000">'
                    '<PrintSpace><TextBlock HPOS="100" VPOS="100" WIDTH="400" HEIGHT="200"/>'
                    '<Illustration HPOS="1000" VPOS="500" WIDTH="200" HEIGHT="200"/></PrintSpace></Page></Layout></alto>')
    channel = layout_from_ocr(alto, 200, 100)  # the image is a tenth of the OCR's page
    assert channel[20, 30] == TEXT and channel[60, 110] == pytest.approx(PICTURE) and channel[90, 190] == 1.0


def test_segment_and_eval_refuse_bad_input_in_one_line(folder, tiny_run, tmp_path, monkeypatch, capsys):
    from PIL import Image

    from tests.helpers.cli import run_cli
    from tests.helpers.tiny import tiny_digits_package

    monkeypatch.delenv("DEEPWILD_DEBUG", raising=False)
    small = tmp_path / "small.png"
    Image.new("L", (40, 300), 255).save(small)
    page, other = (p.image for p in load_newspaper_dataset(folder).pages[:2])
    broken = tmp_path / "broken.xml"
    broken.write_text("<PcGts><Page")
    digits_model = tiny_digits_package(tmp_path / "digits")
    cases = [
        (["segment", str(tiny_run.run.path), str(small)], "too small"),
        (["segment", str(digits_model), str(page)], "not a newspaper segmentation model"),
        (["segment", str(tiny_run.run.path), str(page), "--ocr", str(broken)], "not well-formed"),
        (["segment", str(tiny_run.run.path), str(page), str(other), "--ocr", str(broken)], "exactly one page"),
        (["segment", str(tiny_run.run.path)], "no page images given"),
        (["train", "news", "--data", str(tmp_path)], "no newspaper pages"),
    ]
    for args, message in cases:
        code, out, err = run_cli(monkeypatch, capsys, *args)
        lines = [line for line in (out + err).splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and message in lines[0], (args, out + err)
