"""`deepwild lecture classical-vs-deep | complete-image | finish-sentence | word-vectors`: the lecture's
demos of what depth buys, each a call of one `deepwild.lecture` module; `cli.main` registers them."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from deepwild.cli import options as opt
from deepwild.cli.robust import _names, _numbers  # the comma-separated option parsers `robust` uses

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 140)
Seed = Annotated[int, typer.Option(help="Seed of the data order, the weights and the sampling.")]
Threads = Annotated[int, typer.Option(help="CPU threads for torch (0 = torch's default; 1 is often fastest on a busy machine).")]


def _say(text: str) -> None:
    console.print(text, highlight=False)


def lecture_classical_vs_deep(
    dataset: Annotated[str, typer.Option(help="digits, symbols or both.")] = "both",
    data: Annotated[Optional[Path], typer.Option(help="Symbols: a score dataset folder (made by `deepwild data scores`); "
                                                      "default: a few pages engraved once into the runs' cache.")] = None,
    pages: Annotated[int, typer.Option(help="Pages engraved when there is no --data.")] = 8,
    sizes: Annotated[int, typer.Option(help="Training-set sizes of the learning curve.")] = 5,
    steps: Annotated[int, typer.Option(help="Adam steps of a CNN fit at most (about 30 epochs, at least 200).")] = 600,
    featvis: Annotated[bool, typer.Option(help="Also draw optimised inputs for the CNN's channels.")] = True,
    seed: Seed = 0, threads: Threads = 1, runs_dir: opt.RunsDir = None, name: opt.Name = None,
) -> None:
    """Hand-made features (HOG, LBP) + SVM against a small CNN that learns its features, on the same split."""
    from deepwild.core.config import config_from_dict
    from deepwild.core.errors import InputError
    from deepwild.lecture.classical_vs_deep import ClassicalVsDeepConfig, run_classical_vs_deep, score_table

    if data is not None and not data.is_dir():
        raise InputError(f"dataset folder {data} does not exist", hint="make one with `deepwild data scores --out DIR`")
    config = config_from_dict(ClassicalVsDeepConfig, {
        "dataset": dataset, "data": str(data) if data else None, "pages": pages, "sizes": sizes, "featvis": featvis,
        "threads": threads, "seed": seed, "cnn": {"steps": steps, "seed": seed}})
    result = run_classical_vs_deep(config, runs_dir, name)
    for comparison in result.comparisons:
        _say(f"{comparison.dataset}: {comparison.classes} classes, {comparison.train_size} training and "
             f"{comparison.test_size} test images")
        rows = score_table(comparison)
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            _say("  " + "  ".join(str(v).rjust(w) if i != 1 else str(v).ljust(w) for i, (v, w) in enumerate(zip(row, widths))))
    _say(f"curves   {result.curves}\npage     {result.page}\nrun      {result.run.path}")


def lecture_complete_image(
    steps: Annotated[int, typer.Option(help="GAN training steps.")] = 1500,
    search_steps: Annotated[int, typer.Option(help="Adam steps on z per completion.")] = 300,
    masks: Annotated[str, typer.Option(help="Comma-separated: centre, left, bottom, pixels.")] = "centre,left,bottom,pixels",
    images: Annotated[int, typer.Option(help="Test digits completed per mask.")] = 6,
    seed: Seed = 0, threads: Threads = 1, runs_dir: opt.RunsDir = None, name: opt.Name = None,
) -> None:
    """Image completion (Amos 2016): a DCGAN learns digits, then masked digits are completed by a search over its input."""
    from deepwild.core.config import config_from_dict
    from deepwild.lecture.complete_image import CompleteImageConfig, run_complete_image

    config = config_from_dict(CompleteImageConfig, {"steps": steps, "search_steps": search_steps, "images": images,
                                                    "masks": _names(masks), "seed": seed, "threads": threads})
    result = run_complete_image(config, runs_dir, name)
    losses = result.losses[-50:].mean(0)
    _say(f"DCGAN on digits: {config.steps} steps in {result.seconds:.0f} s; last 50 steps' losses: "
         f"discriminator {losses[0]:.3f}, generator {losses[1]:.3f}")
    _say("mean |completion − original| in the hole (grey levels 0..1), against filling it with the mean digit:")
    for completion in result.completions:
        _say(f"  {completion.mask:>7}  GAN {completion.hole_error:.3f}   mean digit {completion.mean_fill_error:.3f}")
    _say(f"grid     {result.grid}\nsamples  {result.samples}\npage     {result.page}")


def lecture_finish_sentence(
    prompt: Annotated[str, typer.Option(help="The start of a sentence to finish.")] = "My dear brother, I",
    corpus: Annotated[str, typer.Option(help="austen (Lady Susan, shipped with music21) or python-docs.")] = "austen",
    steps: Annotated[int, typer.Option(help="Training steps.")] = 800,
    temperatures: Annotated[str, typer.Option(help="Comma-separated sampling temperatures.")] = "0.2,0.5,0.8,1.2",
    length: Annotated[int, typer.Option(help="Characters generated after the prompt.")] = 200,
    seed: Seed = 0, threads: Threads = 1, runs_dir: opt.RunsDir = None, name: opt.Name = None,
) -> None:
    """A character-level GRU (Karpathy 2015) learns a bundled text and finishes a prompt at several temperatures."""
    from deepwild.core.config import config_from_dict
    from deepwild.lecture.finish_sentence import FinishSentenceConfig, run_finish_sentence

    config = config_from_dict(FinishSentenceConfig, {
        "prompt": prompt, "corpus": corpus, "steps": steps, "sample_length": length, "seed": seed, "threads": threads,
        "temperatures": _numbers(temperatures, "--temperatures")})
    result = run_finish_sentence(config, runs_dir, name)
    _say(f"character GRU on {config.corpus} ({len(result.alphabet)} characters), {config.steps} steps in "
         f"{result.seconds:.0f} s: validation loss {result.val_bits[0]:.2f} → {result.val_bits[-1]:.2f} bits/character "
         f"(a uniform guess: {math.log2(len(result.alphabet)):.2f})")
    for temperature, text in result.samples.items():
        _say(f"--- temperature {temperature:g}\n{text}")
    _say(f"---\nloss     {result.figure}\npage     {result.page}")


def lecture_word_vectors(
    corpus: Annotated[str, typer.Option(help="python-docs (Python's own docs) or austen (Lady Susan).")] = "python-docs",
    epochs: Annotated[int, typer.Option(help="Passes over the corpus.")] = 30,
    queries: Annotated[str, typer.Option(help="Comma-separated words whose neighbours are printed.")] =
        "function,class,exception,integer,string",
    analogy: Annotated[str, typer.Option(help="Three words a,b,c: a is to b as c is to ? (empty: none).")] =
        "list,lists,tuple",
    seed: Seed = 0, threads: Threads = 1, runs_dir: opt.RunsDir = None, name: opt.Name = None,
) -> None:
    """word2vec's skip-gram with negative sampling (Mikolov et al. 2013): neighbours, an analogy, a PCA plot."""
    from deepwild.core.config import config_from_dict
    from deepwild.lecture.word_vectors import WordVectorsConfig, describe, run_word_vectors

    config = config_from_dict(WordVectorsConfig, {"corpus": corpus, "epochs": epochs, "queries": _names(queries),
                                                  "analogy": _names(analogy), "seed": seed, "threads": threads})
    result = run_word_vectors(config, runs_dir, name)
    _say(f"skip-gram on {config.corpus}: {len(result.vocabulary)} words in the vocabulary, {result.pairs} pairs per "
         f"epoch, {config.epochs} epochs in {result.seconds:.0f} s; loss {result.losses[0]:.3f} → {result.losses[-1]:.3f}")
    _say(describe(result.neighbours, config.analogy, result.analogy))
    _say(f"plot     {result.figure}\npage     {result.page}")

