"""The newspaper segmentation model that ships in the package works right after install."""

from __future__ import annotations

import json

import torch

from deepwild.core.package import load_model_package
from deepwild.data.newspapers import load_newspaper_dataset
from deepwild.datagen.newspapers.generate import NewspaperDataConfig, generate_newspapers
from deepwild.tasks.news.data import read_gray, read_mask
from deepwild.tasks.news.metrics import score_page
from deepwild.tasks.news.segment import Segmenter
from deepwild.tasks.news.shipped import shipped_model
from tests.helpers.cli import run_cli

torch.set_num_threads(1)


def test_shipped_package_is_small_and_documents_itself():
    folder = shipped_model()
    assert sum(f.stat().st_size for f in folder.iterdir()) < 20 * 2**20
    package, _ = load_model_package(folder)
    assert package.task == "news" and package.provenance["command"].startswith("deepwild train news")
    card = (folder / "MODEL_CARD.md").read_text()
    assert "test DER" in card and "test-unseen-layout completeness" in card and package.provenance["command"] in card
    assert 0.0 < package.input["threshold"] < 1.0 and package.input["min_area"] > 0


def test_shipped_model_cuts_a_generated_page_into_its_articles(tmp_path, monkeypatch, capsys):
    # A seed the training data (seed 0) never used: its own pages and layouts.
    generate_newspapers(NewspaperDataConfig(pages=1, seed=11), tmp_path / "data", workers=1)
    [page] = load_newspaper_dataset(tmp_path / "data").pages
    truth = read_mask(page.mask)
    segmentation, mask = Segmenter.from_package(shipped_model()).segment(read_gray(page.image), page.image.name)
    scores = score_page(truth, mask)
    # The model card's figures are pooled over 120 pages; this floor catches a broken model or decoding.
    assert scores.der < 0.5 and scores.matched >= scores.true_articles // 2 and len(segmentation.articles) >= 2
    code, out, _ = run_cli(monkeypatch, capsys, "segment", str(page.image), "--out", str(tmp_path / "out"))
    assert code == 0 and "articles" in out
    written = json.loads((tmp_path / "out" / f"{page.image.stem}.json").read_text())
    assert written["model"] == "news-fcn-shipped" and len(written["articles"]) == len(segmentation.articles)
