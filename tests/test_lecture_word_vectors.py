"""`deepwild lecture word-vectors`: skip-gram with negative sampling, neighbours, analogy, projection."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deepwild.core.config import config_from_dict
from deepwild.core.errors import ConfigError, InputError
from deepwild.lecture.word_vectors import (WordVectorsConfig, build_vocabulary, nearest, run_word_vectors,
                                           skipgram_pairs, tokenise)
from tests.helpers.cli import run_cli

torch.set_num_threads(1)


def planted_text(seed: int = 0) -> str:
    """Random filler words, and two planted words that always stand in the same company: 'king' and
    'queen' each between 'golden' and 'crown', never next to each other."""
    rng = np.random.default_rng(seed)
    fillers = [a + b + c for a in "bdfg" for b in "aeiou" for c in "klmn"]  # 80 words
    words = []
    for _ in range(3000):
        words += list(rng.choice(fillers, 3))
        if rng.random() < 0.3:
            words += ["golden", "king" if rng.random() < 0.5 else "queen", "crown"]
    return " ".join(words)


def test_words_are_lower_case_and_keep_their_apostrophes():
    assert tokenise("Lady Susan's letter, 2 Dec.") == ["lady", "susan's", "letter", "dec"]
    vocabulary, counts = build_vocabulary(["b", "a", "b", "c", "b", "a"], min_count=2)
    assert vocabulary == ("b", "a") and counts.tolist() == [3, 2]


def test_pairs_are_symmetric_and_stay_inside_the_window():
    codes = np.arange(50)
    config = WordVectorsConfig(window=3, subsample=0)
    centres, contexts = skipgram_pairs(codes, np.ones(50), config, np.random.default_rng(0))
    distance = np.abs(centres - contexts)
    assert distance.min() >= 1 and distance.max() <= 3
    assert sorted(zip(centres, contexts)) == sorted(zip(contexts, centres))  # every pair both ways
    assert (distance == 1).sum() == 2 * 49  # the nearest neighbours are always inside a window


def test_planted_words_sharing_their_contexts_become_neighbours(tmp_path):
    config = WordVectorsConfig(dimensions=16, window=1, negatives=3, min_count=1, subsample=0, epochs=3,
                               batch_size=256, lr=2e-2, queries=("king",), analogy=(), neighbours=2, plot_words=10)
    result = run_word_vectors(config, tmp_path, text=planted_text())
    assert result.neighbours["king"][0][0] == "queen"
    assert result.losses[-1] < result.losses[0]
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)
    saved = json.loads((result.run.path / "result.json").read_text())
    assert saved["neighbours"]["king"][0][0] == "queen" and result.figure.is_file()
    assert "queen" in result.page.read_text()


def test_nearest_skips_the_excluded_words():
    vectors = np.eye(3)[[0, 0, 1]] + np.array([[0, 0, 0], [0.1, 0.1, 0], [0, 0, 0]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    found = nearest(vectors, ("a", "b", "c"), vectors[0], 2, exclude=("a",))
    assert [word for word, _ in found] == ["b", "c"] and found[0][1] > 0.9


def test_unknown_words_and_bad_settings_fail_before_training(monkeypatch, capsys, tmp_path):
    with pytest.raises(InputError, match="zebra"):
        run_word_vectors(WordVectorsConfig(queries=("zebra",), analogy=(), min_count=1), tmp_path, text="a b c")
    with pytest.raises(ConfigError, match="three words"):
        config_from_dict(WordVectorsConfig, {"analogy": ["a", "b"]}).validate()
    for args, expected in ((["--epochs", "0"], "positive"), (["--queries", "qwertz"], "qwertz"),
                           (["--corpus", "nope"], "python-docs")):
        code, _, err = run_cli(monkeypatch, capsys, "lecture", "word-vectors", *args)
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()
