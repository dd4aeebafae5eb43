"""`deepwild robust`: the attacks-versus-detectors table of a classifier, or the calibration of its
adversarial-input detector for deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from deepwild.cli import options as opt


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _numbers(text: str, what: str) -> tuple[float, ...]:
    from deepwild.core.errors import ConfigError

    try:
        return tuple(float(part) for part in _names(text))
    except ValueError:
        raise ConfigError(f"{what} must be comma-separated numbers, got {text!r}") from None


def robust(
    model: Annotated[str, typer.Argument(help="A classifier: run (path or name) or model package folder.")],
    attacks: Annotated[Optional[str], typer.Option(
        help="Comma-separated: fgsm, bim, pgd, deepfool, cw (default: fgsm,pgd,deepfool,cw; detectors fgsm,pgd).")] = None,
    epsilons: Annotated[Optional[str], typer.Option(
        help="L∞ budgets of fgsm/bim/pgd, comma-separated, inputs in [0, 1] (default: 0.1,0.2; detectors 0.03,0.1).")]
    = None,
    detectors: Annotated[str, typer.Option(help="Comma-separated: entropy, mahalanobis, lid, kd+bu, squeeze.")] =
    "entropy,mahalanobis,lid,kd+bu,squeeze",
    inputs: Annotated[int, typer.Option(help="Test inputs to score (the correctly classified ones are attacked).")] = 300,
    fit_inputs: Annotated[int, typer.Option(help="Training inputs the detectors learn clean data from.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the input choice and the random starts.")] = 0,
    calibrate: Annotated[Optional[float], typer.Option(
        help="Instead of the table: set the entropy detector's threshold to flag this share of clean validation "
             "inputs, and save it in the model package (predict and the service then flag suspicious inputs).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Music symbol detectors: the score dataset whose pages are "
                                                      "attacked or calibrated on (default: the training data).")] = None,
    split: Annotated[Optional[str], typer.Option(help="Music symbol detectors: the split of --data (default: test "
                                                      "to attack, val to calibrate; `all` for every page).")] = None,
    pages: Annotated[int, typer.Option(help="Music symbol detectors: pages to attack.")] = 10,
    runs_dir: opt.RunsDir = None,
) -> None:
    """Attack a classifier (FGSM, BIM/PGD, DeepFool, Carlini-Wagner) and score adversarial-input detectors:
    per attack and detector AUROC and detection rate at 1/5/10 % false positives (Amirian et al. 2018).
    A music symbol detector (a run, a package or `shipped`) is attacked on its pages' inkiest tiles instead
    (FGSM, PGD), scored by the entropy detector on tiles and pages."""
    import torch

    from deepwild.core.package import read_model_package
    from deepwild.tasks.model_probe import resolve_named_model
    from deepwild.tasks.robustness import RobustConfig, calibrate as calibrate_model, robustness

    console = Console(soft_wrap=True, highlight=False)
    if threads:
        torch.set_num_threads(threads)
    if read_model_package(resolve_named_model(model, runs_dir)[0]).task == "omr":
        _robust_detector(console, model, attacks or "fgsm,pgd", epsilons or "0.03,0.1", calibrate, data, split, pages,
                         seed, runs_dir)
        return
    attacks, epsilons = attacks or "fgsm,pgd,deepfool,cw", epsilons or "0.1,0.2"
    if data is not None or split is not None:
        from deepwild.core.errors import ConfigError

        raise ConfigError("--data and --split are for music symbol detectors; a classifier uses its own splits")
    if calibrate is not None:
        result = calibrate_model(model, calibrate, runs_dir)
        console.print(f"{result.model}: entropy detector threshold {result.threshold:.4f} flags "
                      f"{result.clean_flagged:.1%} of {result.inputs} clean {result.split} inputs "
                      f"(asked {result.false_positive_rate:.1%}); saved in the model package")
        return
    config = RobustConfig(attacks=_names(attacks), epsilons=_numbers(epsilons, "--epsilons"),
                          detectors=_names(detectors), inputs=inputs, fit_inputs=fit_inputs, seed=seed)
    outcome = robustness(model, config, runs_dir, log=lambda line: console.print(f"  {line}"))
    table = outcome.table
    console.print(f"{table.model}: {table.correct}/{table.inputs} test inputs classified correctly and attacked")
    console.print(table.markdown())
    seconds = ", ".join(f"{name} {s * 1000:.1f} ms" for name, s in table.detector_seconds.items())
    console.print(f"detector time per input: {seconds}")
    console.print(f"written: {outcome.folder}")
    if outcome.run is not None:
        from deepwild.report.html import build_report

        console.print(f"report   {build_report(outcome.run.path)}")


def _robust_detector(console: Console, model: str, attacks: str, epsilons: str, calibrate: Optional[float],
                     data: Optional[Path], split: Optional[str], pages: int, seed: int, runs_dir: Optional[Path]) -> None:
    from deepwild.tasks.robustness import calibrate_detector, detector_robustness

    if calibrate is not None:
        result = calibrate_detector(model, calibrate, runs_dir, data, split or "val")
        console.print(f"{result.model}: page threshold {result.threshold:.4f} (mean entropy of the {result.tiles} "
                      f"inkiest tiles) flags {result.clean_flagged:.1%} of {result.inputs} clean {result.split} pages "
                      f"(asked {result.false_positive_rate:.1%}); saved in the model package")
        return
    result, folder = detector_robustness(model, _names(attacks), _numbers(epsilons, "--epsilons"), pages, runs_dir,
                                         data, split or "test", seed, log=lambda line: console.print(f"  {line}"))
    console.print(f"{result.model}: {result.pages} pages, {result.tiles} tiles attacked")
    console.print(result.markdown())
    console.print(f"entropy score per page: {result.seconds_per_page:.2f} s")
    console.print(f"written: {folder}")
