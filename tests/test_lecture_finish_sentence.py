"""`deepwild lecture finish-sentence`: a character-level GRU learns a text and finishes a prompt."""

from __future__ import annotations

import json
import math

import pytest
import torch

from deepwild.core.config import config_from_dict
from deepwild.core.errors import ConfigError, InputError
from deepwild.lecture.corpus import load_corpus
from deepwild.lecture.finish_sentence import FinishSentenceConfig, encode, run_finish_sentence
from tests.helpers.cli import run_cli

torch.set_num_threads(1)
TEXT = "the cat sat on the mat. " * 60  # a text a tiny model learns in a few dozen steps


def test_the_bundled_corpora_are_plain_text_without_their_licence_lines():
    austen = load_corpus("austen")
    assert austen.startswith("LADY SUSAN") and "Gutenberg" not in austen and len(austen) > 100_000
    assert "Reginald" in austen and "\n\n\n" not in austen
    assert "lambda" in load_corpus("python-docs")
    with pytest.raises(ConfigError, match="austen, python-docs"):
        load_corpus("shakespeare")


def test_the_loss_falls_and_the_prompt_is_finished_at_every_temperature(tmp_path):
    config = FinishSentenceConfig(prompt="the c", steps=60, hidden=32, embedding=8, seq_len=24, batch_size=8,
                                  lr=1e-2, log_every=20, temperatures=(0.2, 1.0), sample_length=12)
    result = run_finish_sentence(config, tmp_path, text=TEXT)
    assert result.alphabet == " .acehmnost" and result.steps.tolist() == [20, 40, 60]
    assert result.val_bits[-1] < 0.6 * result.val_bits[0] and result.val_bits[0] < math.log2(11) + 0.5
    assert result.train_bits[-1] < result.train_bits[0]
    for temperature, sample in result.samples.items():
        assert sample.startswith("the c") and len(sample) == 5 + 12 and set(sample) <= set(result.alphabet)
    assert result.samples[0.2].startswith("the cat")  # the likeliest continuation, once learnt
    saved = json.loads((result.run.path / "result.json").read_text())
    assert len(saved["losses"]) == 3 and set(saved["samples"]) == {"0.2", "1.0"}
    assert result.figure.is_file() and "the cat" in result.page.read_text()


def test_same_seed_same_samples(tmp_path):
    config = FinishSentenceConfig(prompt="the", steps=3, hidden=8, embedding=4, seq_len=8, batch_size=2,
                                  log_every=3, temperatures=(1.0,), sample_length=20)
    first = run_finish_sentence(config, tmp_path, text=TEXT).samples
    assert run_finish_sentence(config, tmp_path, text=TEXT).samples == first


def test_a_prompt_the_model_cannot_read_is_refused():
    with pytest.raises(InputError, match="'Z'"):
        encode("Zoo", " .acehmnost")
    with pytest.raises(ConfigError, match="empty"):
        config_from_dict(FinishSentenceConfig, {"prompt": "  "}).validate()


def test_bad_input_is_a_one_line_error_before_training(monkeypatch, capsys, tmp_path):
    for args, expected in ((["--prompt", ""], "empty"), (["--steps", "0"], "positive"),
                           (["--prompt", "日本"], "never uses"), (["--corpus", "nope"], "austen")):
        code, _, err = run_cli(monkeypatch, capsys, "lecture", "finish-sentence", *args)
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()
