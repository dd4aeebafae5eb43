"""The slide "words as vectors": word2vec's skip-gram with negative sampling (Mikolov et al. 2013,
"Distributed Representations of Words and Phrases and their Compositionality"), written out in torch.

Each word w has an input vector v_w and an output vector u_w. For every (centre, context) pair within a
window — its radius drawn uniformly from 1..window per centre, so near words count more — the loss is
−log σ(u_c·v_w) − Σ_k log σ(−u_k·v_w) over `negatives` words k drawn from the unigram distribution to the
power 3/4. Frequent words are dropped from the text with probability 1 − sqrt(t / f(w)) before pairs are
made. Words that occur in the same contexts end up with similar v_w: nearest neighbours by cosine, and
analogies a : b :: c : ? answered by the word nearest to v_b − v_a + v_c.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from deepwild.core.config import config_to_dict
from deepwild.core.errors import ConfigError, InputError
from deepwild.core.figures import pyplot, save_figure
from deepwild.engine.records import mark_run
from deepwild.engine.run import RunDir
from deepwild.lecture.corpus import CORPORA, load_corpus
from deepwild.lecture.page import Section, write_lecture_page

DEFAULT_QUERIES = ("function", "class", "exception", "integer", "string")
DEFAULT_ANALOGY = ("list", "lists", "tuple")  # list : lists :: tuple : ? (tuples)


@dataclass(frozen=True)
class WordVectorsConfig:
    # 64 k words of Python's docs: Lady Susan's 23 k are too few for neighbours one can judge.
    corpus: str = "python-docs"
    dimensions: int = 64
    window: int = 4
    negatives: int = 5
    min_count: int = 3  # rarer words are left out of the vocabulary
    subsample: float = 1e-4  # t of the frequent-word subsampling (0 = keep every word)
    epochs: int = 30  # passes over the corpus' pairs
    batch_size: int = 512
    lr: float = 5e-3
    queries: tuple[str, ...] = DEFAULT_QUERIES
    analogy: tuple[str, ...] = DEFAULT_ANALOGY
    neighbours: int = 6
    plot_words: int = 60  # most frequent words (past the stop words) drawn in the projection
    threads: int = 1
    seed: int = 0

    def validate(self) -> None:
        if self.corpus not in CORPORA:
            raise ConfigError(f"unknown corpus {self.corpus!r}; valid: {', '.join(CORPORA)}")
        if min(self.dimensions, self.window, self.negatives, self.min_count, self.epochs, self.batch_size,
               self.neighbours) < 1 or self.lr <= 0:
            raise ConfigError("dimensions, window, negatives, min_count, epochs, batch_size, neighbours and lr "
                              "must be positive", hint="e.g. --epochs 30")
        if self.analogy and len(self.analogy) != 3:
            raise ConfigError(f"an analogy has three words a, b, c (a : b :: c : ?), got {len(self.analogy)}",
                              hint="e.g. --analogy list,lists,tuple")
        if self.subsample < 0 or self.plot_words < 0 or self.threads < 0:
            raise ConfigError("subsample, plot_words and threads must not be negative")


@dataclass(frozen=True)
class WordVectorsResult:
    vocabulary: tuple[str, ...]  # by falling frequency
    vectors: np.ndarray  # (V, D) input vectors, unit length
    neighbours: dict[str, list[tuple[str, float]]]  # query → (word, cosine), nearest first
    analogy: list[tuple[str, float]]  # candidates for the analogy's fourth word
    losses: np.ndarray  # (epochs,) mean loss per epoch
    pairs: int  # (centre, context) pairs per epoch, on average
    seconds: float
    figure: Path
    page: Path
    run: RunDir


def tokenise(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


def build_vocabulary(tokens: list[str], min_count: int) -> tuple[tuple[str, ...], np.ndarray]:
    counts = Counter(tokens)
    kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    return tuple(kept), np.array([counts[w] for w in kept], np.float64)


def skipgram_pairs(codes: np.ndarray, counts: np.ndarray, config: WordVectorsConfig, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's (centre, context) pairs: frequent words subsampled, each centre's window radius random."""
    if config.subsample > 0:
        frequency = counts / counts.sum()
        keep = np.minimum(1.0, np.sqrt(config.subsample / frequency))
        codes = codes[rng.random(len(codes)) < keep[codes]]
    radius = rng.integers(1, config.window + 1, len(codes))
    centres, contexts = [], []
    for offset in range(1, config.window + 1):  # vectorised by offset: each centre takes offsets ≤ its radius
        near = np.flatnonzero(radius[:len(codes) - offset] >= offset)
        centres += [codes[near], codes[near + offset]]
        contexts += [codes[near + offset], codes[near]]
    return np.concatenate(centres), np.concatenate(contexts)


def train_vectors(codes: np.ndarray, counts: np.ndarray, config: WordVectorsConfig, run: RunDir | None = None
                  ) -> tuple[np.ndarray, list[float], int]:
    """Input vectors (V, D), the mean loss per epoch and the pairs per epoch."""
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    size = len(counts)
    vectors = torch.nn.Embedding(size, config.dimensions, sparse=True)
    outputs = torch.nn.Embedding(size, config.dimensions, sparse=True)
    torch.nn.init.uniform_(vectors.weight, -0.5 / config.dimensions, 0.5 / config.dimensions)
    torch.nn.init.zeros_(outputs.weight)  # as word2vec.c: contexts start at zero
    optimizer = torch.optim.SparseAdam([*vectors.parameters(), *outputs.parameters()], lr=config.lr)
    noise = torch.from_numpy(counts ** 0.75 / (counts ** 0.75).sum())
    generator = torch.Generator().manual_seed(config.seed)
    losses, pair_counts = [], []
    for epoch in range(config.epochs):
        centres, contexts = (torch.from_numpy(a) for a in skipgram_pairs(codes, counts, config, rng))
        order = torch.randperm(len(centres), generator=generator)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            centre = vectors(centres[batch])  # (B, D)
            positive = (outputs(contexts[batch]) * centre).sum(-1)  # (B,)
            drawn = torch.multinomial(noise, len(batch) * config.negatives, replacement=True, generator=generator)
            negative = torch.bmm(outputs(drawn.view(len(batch), config.negatives)), centre[:, :, None])[..., 0]
            loss = -(F.logsigmoid(positive).mean() + F.logsigmoid(-negative).sum(-1).mean())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        losses.append(total / max(len(order), 1))
        pair_counts.append(len(order))
        if run is not None:
            run.append_metrics({"kind": "epoch", "epoch": epoch + 1, "loss": losses[-1], "pairs": len(order)})
    weights = vectors.weight.detach().numpy()
    return weights / np.maximum(np.linalg.norm(weights, axis=1, keepdims=True), 1e-12), losses, int(np.mean(pair_counts))


def nearest(vectors: np.ndarray, vocabulary: tuple[str, ...], query: np.ndarray, count: int,
            exclude: tuple[str, ...] = ()) -> list[tuple[str, float]]:
    """The `count` words whose unit vectors have the largest cosine with `query`."""
    similarity = vectors @ (query / max(float(np.linalg.norm(query)), 1e-12))
    found = []
    for index in np.argsort(-similarity):
        if vocabulary[index] not in exclude:
            found.append((vocabulary[index], float(similarity[index])))
        if len(found) == count:
            break
    return found


def known_words(words: tuple[str, ...], index: dict[str, int], min_count: int) -> None:
    missing = [w for w in words if w not in index]
    if missing:
        raise InputError(f"not in the vocabulary: {', '.join(missing)} (words seen at least {min_count} times)",
                         hint="choose words of the corpus, e.g. --queries class,function")


def run_word_vectors(config: WordVectorsConfig, root: str | Path | None = None, name: str | None = None,
                     text: str | None = None) -> WordVectorsResult:
    """Train on the corpus (or on `text`), then answer the queries and the analogy."""
    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    tokens = tokenise(text if text is not None else load_corpus(config.corpus))
    vocabulary, counts = build_vocabulary(tokens, config.min_count)
    index = {word: i for i, word in enumerate(vocabulary)}
    known_words((*config.queries, *config.analogy), index, config.min_count)  # before any training
    run = RunDir.create("lecture-word-vectors", root, name)
    run.write_config({"task": "lecture-word-vectors", **config_to_dict(config)})
    codes = np.array([index[t] for t in tokens if t in index], np.int64)
    started = time.perf_counter()
    vectors, losses, pairs = train_vectors(codes, counts, config, run)
    seconds = time.perf_counter() - started
    neighbours = {q: nearest(vectors, vocabulary, vectors[index[q]], config.neighbours, (q,)) for q in config.queries}
    analogy = []
    if config.analogy:
        a, b, c = (vectors[index[w]] for w in config.analogy)
        analogy = nearest(vectors, vocabulary, b - a + c, config.neighbours, tuple(config.analogy))
    figure = plot_projection(vectors, vocabulary, counts, config, run.plots / "projection.png")
    summary: dict[str, Any] = {"tokens": len(tokens), "vocabulary": len(vocabulary), "pairs_per_epoch": pairs,
                               "losses": losses, "seconds": seconds, "neighbours": neighbours,
                               "analogy": {"query": list(config.analogy), "answers": analogy}}
    page = write_lecture_page(run, "Words as vectors", f"Skip-gram with negative sampling on the {config.corpus} corpus: "
                              f"{len(tokens)} words, {len(vocabulary)} in the vocabulary, {config.epochs} epochs.",
                              [Section("Nearest neighbours", preformatted=describe(neighbours, config.analogy, analogy)),
                               Section("A 2-D projection (PCA)", picture=figure)], summary)
    mark_run(run, "lecture-word-vectors", "finished", epochs=config.epochs, metrics={"loss": losses[-1]})
    return WordVectorsResult(vocabulary, vectors, neighbours, analogy, np.array(losses), pairs, seconds, figure, page, run)


def describe(neighbours: dict[str, list[tuple[str, float]]], query: tuple[str, ...],
             answers: list[tuple[str, float]]) -> str:
    lines = [f"{word:>10} → " + ", ".join(f"{w} {s:.2f}" for w, s in found) for word, found in neighbours.items()]
    if query:
        lines.append(f"{query[0]} : {query[1]} :: {query[2]} : ? → " + ", ".join(f"{w} {s:.2f}" for w, s in answers))
    return "\n".join(lines)


def plot_projection(vectors: np.ndarray, vocabulary: tuple[str, ...], counts: np.ndarray, config: WordVectorsConfig,
                    target: Path) -> Path:
    """The most frequent words past the first 30 (mostly function words), and the queried words, on the
    plane of the vectors' first two principal components."""
    shown = sorted(set(range(30, min(30 + config.plot_words, len(vocabulary))))
                   | {vocabulary.index(w) for w in (*config.queries, *config.analogy)})
    centred = vectors - vectors.mean(axis=0)
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    points = centred[shown] @ directions[:2].T  # (words, 2)
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(9, 7))
    highlighted = set(config.queries) | set(config.analogy)
    for (x, y), i in zip(points, shown):
        word = vocabulary[i]
        axis.scatter(x, y, s=8, color="tab:red" if word in highlighted else "tab:blue")
        axis.annotate(word, (x, y), fontsize=8, color="tab:red" if word in highlighted else "black",
                      xytext=(2, 2), textcoords="offset points")
    axis.set_xlabel("principal component 1")
    axis.set_ylabel("principal component 2")
    axis.set_title(f"word vectors ({config.dimensions} dimensions) projected by PCA; queried words in red")
    fig.tight_layout()
    return save_figure(fig, target, dpi=100)
