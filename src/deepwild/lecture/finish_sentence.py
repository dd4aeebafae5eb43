"""The slide "finish a sentence": a character-level recurrent network (Karpathy 2015, "The Unreasonable
Effectiveness of Recurrent Neural Networks") that reads text one character at a time and predicts the next.

A GRU over embedded characters, trained with Adam on random windows of a bundled corpus (`lecture.corpus`;
by default Jane Austen's *Lady Susan*, which music21 ships) with truncated backpropagation through
`seq_len` characters; the last 10 % of the text is held out for a validation loss. Loss in bits per
character: a uniform guess over the alphabet costs log2(67) ≈ 6.1 bits, English letters ≈ 4.1, the trained
model ~2. To finish a prompt, the network reads it, then samples each next character from softmax(logits / T):
a low temperature T repeats the likeliest words, a high one invents new ones.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepwild.core.config import config_to_dict
from deepwild.core.errors import ConfigError, InputError
from deepwild.core.figures import pyplot, save_figure
from deepwild.engine.records import mark_run
from deepwild.engine.run import RunDir
from deepwild.lecture.corpus import CORPORA, load_corpus
from deepwild.lecture.page import Section, write_lecture_page


@dataclass(frozen=True)
class FinishSentenceConfig:
    prompt: str = "My dear brother, I"
    corpus: str = "austen"
    steps: int = 800
    hidden: int = 256
    embedding: int = 32
    seq_len: int = 100  # characters backpropagated through
    batch_size: int = 32
    lr: float = 3e-3
    temperatures: tuple[float, ...] = (0.2, 0.5, 0.8, 1.2)
    sample_length: int = 200  # characters generated after the prompt
    log_every: int = 50  # steps between validation losses
    val_fraction: float = 0.1
    threads: int = 1
    seed: int = 0

    def validate(self) -> None:
        if not self.prompt.strip():
            raise ConfigError("the prompt is empty", hint='give the start of a sentence, e.g. --prompt "She was"')
        if self.corpus not in CORPORA:
            raise ConfigError(f"unknown corpus {self.corpus!r}; valid: {', '.join(CORPORA)}")
        if min(self.steps, self.hidden, self.embedding, self.seq_len, self.batch_size, self.log_every) < 1:
            raise ConfigError("steps, hidden, embedding, seq_len, batch_size and log_every must be positive",
                              hint="e.g. --steps 800")
        if self.sample_length < 1 or not self.temperatures or min(self.temperatures) <= 0 or self.lr <= 0:
            raise ConfigError("sample_length, the temperatures and lr must be positive")
        if not 0 < self.val_fraction < 0.5 or self.threads < 0:
            raise ConfigError("val_fraction must lie in (0, 0.5) and threads must not be negative")


class CharModel(nn.Module):
    def __init__(self, vocabulary: int, embedding: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocabulary, embedding)
        self.rnn = nn.GRU(embedding, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocabulary)

    def forward(self, codes: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, state = self.rnn(self.embed(codes), state)  # (B, T, hidden)
        return self.head(outputs), state  # (B, T, vocabulary) logits of the next character


@dataclass(frozen=True)
class FinishSentenceResult:
    alphabet: str
    steps: np.ndarray  # (P,) steps at which losses were logged
    train_bits: np.ndarray  # (P,) mean training loss since the last log, bits per character
    val_bits: np.ndarray  # (P,) validation loss, bits per character
    samples: dict[float, str]  # temperature → prompt + continuation
    seconds: float
    figure: Path
    page: Path
    run: RunDir


def encode(text: str, alphabet: str) -> torch.Tensor:
    index = {char: code for code, char in enumerate(alphabet)}
    unknown = sorted({char for char in text if char not in index})
    if unknown:
        raise InputError(f"the prompt has characters the corpus never uses: {''.join(unknown)!r}",
                         hint="use plain English letters and punctuation")
    return torch.tensor([index[char] for char in text], dtype=torch.long)


def random_windows(codes: torch.Tensor, config: FinishSentenceConfig, generator: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) inputs and (B, T) next-character targets from random places of the text."""
    length = min(config.seq_len, len(codes) - 1)
    starts = torch.randint(len(codes) - length, (config.batch_size,), generator=generator)
    windows = torch.stack([codes[s:s + length + 1] for s in starts.tolist()])
    return windows[:, :-1], windows[:, 1:]


@torch.no_grad()
def validation_bits(model: CharModel, codes: torch.Tensor, seq_len: int) -> float:
    """Bits per character over the whole held-out text, read in consecutive windows with the state carried."""
    model.eval()
    state, total, count = None, 0.0, 0
    for start in range(0, len(codes) - 1, seq_len):
        chunk = codes[start:start + seq_len + 1]
        logits, state = model(chunk[None, :-1], state)
        total += F.cross_entropy(logits[0], chunk[1:], reduction="sum").item()
        count += len(chunk) - 1
    model.train()
    return total / max(count, 1) / math.log(2)


@torch.no_grad()
def finish(model: CharModel, prompt: str, alphabet: str, temperature: float, length: int, seed: int) -> str:
    """The prompt and `length` sampled characters after it."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    logits, state = model(encode(prompt, alphabet)[None])
    last, produced = logits[0, -1], []
    for _ in range(length):
        code = torch.multinomial(F.softmax(last / temperature, dim=-1), 1, generator=generator)
        produced.append(alphabet[int(code)])
        logits, state = model(code[None], state)
        last = logits[0, -1]
    return prompt + "".join(produced)


def train_char_model(text: str, config: FinishSentenceConfig, run: RunDir | None = None
                     ) -> tuple[CharModel, str, list[tuple[int, float, float]]]:
    """The trained model, its alphabet, and (step, train bits, validation bits) every `log_every` steps."""
    alphabet = "".join(sorted(set(text)))
    codes = encode(text, alphabet)
    cut = int(len(codes) * (1 - config.val_fraction))
    train_codes, val_codes = codes[:cut], codes[cut:]
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model = CharModel(len(alphabet), config.embedding, config.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    log, running = [], []
    for step in range(1, config.steps + 1):
        inputs, targets = random_windows(train_codes, config, generator)
        logits, _ = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, len(alphabet)), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)  # a recurrent net's gradients can explode
        optimizer.step()
        running.append(loss.item() / math.log(2))
        if step % config.log_every == 0 or step == config.steps:
            log.append((step, float(np.mean(running)), validation_bits(model, val_codes, config.seq_len)))
            running = []
            if run is not None:
                run.append_metrics({"kind": "step", "step": step, "train_bits": log[-1][1], "val_bits": log[-1][2]})
    return model, alphabet, log


def run_finish_sentence(config: FinishSentenceConfig, root: str | Path | None = None,
                        name: str | None = None, text: str | None = None) -> FinishSentenceResult:
    """Train on the corpus (or on `text`), then finish the prompt at every temperature."""
    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    text = text if text is not None else load_corpus(config.corpus)
    encode(config.prompt, "".join(sorted(set(text))))  # an unusable prompt fails before training
    run = RunDir.create("lecture-finish-sentence", root, name)
    run.write_config({"task": "lecture-finish-sentence", **config_to_dict(config)})
    started = time.perf_counter()
    model, alphabet, log = train_char_model(text, config, run)
    seconds = time.perf_counter() - started
    samples = {t: finish(model, config.prompt, alphabet, t, config.sample_length, config.seed) for t in config.temperatures}
    steps, train_bits, val_bits = (np.array(column) for column in zip(*log))
    figure = plot_losses(steps, train_bits, val_bits, len(alphabet), run.plots / "loss.png")
    summary: dict[str, Any] = {"alphabet": len(alphabet), "characters": len(text), "seconds": seconds,
                               "losses": [{"step": s, "train_bits": t, "val_bits": v} for s, t, v in log],
                               "samples": {str(t): s for t, s in samples.items()}}
    shown = "\n\n".join(f"T = {t:g}:\n{s}" for t, s in samples.items())
    page = write_lecture_page(run, "Finish a sentence", f"A character-level GRU trained on the {config.corpus} corpus "
                              f"for {config.steps} steps ({seconds:.0f} s).",
                              [Section("Loss", picture=figure), Section("The prompt finished", preformatted=shown)], summary)
    mark_run(run, "lecture-finish-sentence", "finished", metrics={"val_bits": float(val_bits[-1])})
    return FinishSentenceResult(alphabet, steps, train_bits, val_bits, samples, seconds, figure, page, run)


def plot_losses(steps: np.ndarray, train_bits: np.ndarray, val_bits: np.ndarray, alphabet: int, target: Path) -> Path:
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(7, 4))
    axis.plot(steps, train_bits, "-o", markersize=3, label="training (mean since the last point)")
    axis.plot(steps, val_bits, "-s", markersize=3, label="validation (held-out last 10 %)")
    axis.axhline(math.log2(alphabet), color="grey", linestyle=":", label=f"uniform guess, log2({alphabet})")
    axis.set_xlabel("step")
    axis.set_ylabel("bits per character")
    axis.set_title("character-level GRU: loss")
    axis.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, target, dpi=100)
