"""`deepwild`: the command line. Each command parses, calls the library once, and prints the result."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from deepwild import __version__
from deepwild.cli import batch
from deepwild.cli import options as opt
from deepwild.cli.data import data_app
from deepwild.cli.errors import run_guarded
from deepwild.cli.export import export
from deepwild.cli.lecture import (lecture_classical_vs_deep, lecture_complete_image, lecture_finish_sentence,
                                   lecture_word_vectors)
from deepwild.cli.robust import robust
from deepwild.cli.serve import serve

if TYPE_CHECKING:
    from deepwild.lecture.descent import DescentResult

app = typer.Typer(help="deepwild: deep learning in the wild — train, evaluate, explain and deploy.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
train_app = typer.Typer(help="Train a model for a task; every run writes records, checkpoints, curves and a model package.",
                        no_args_is_help=True)
lecture_app = typer.Typer(help="The lecture's 'how deep learning works' demos, one command each.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(lecture_app, name="lecture")
app.add_typer(data_app, name="data")
app.command("robust")(robust)
app.command("export")(export)
app.command("serve")(serve)
# Long paths stay on one line (copy-pasteable); tables keep their shape when piped to a file.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 140)


def _version(value: bool) -> None:
    if value:
        print(f"deepwild {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False,
) -> None:
    """deepwild: deep learning in the wild."""


@train_app.command("digits")
def train_digits(
    config_file: opt.ConfigFile = None, sets: opt.Sets = None, epochs: opt.Epochs = None, batch_size: opt.BatchSize = None,
    lr: opt.LearningRate = None, seed: opt.Seed = None, device: opt.Device = None, precision: opt.Precision = None,
    threads: opt.Threads = None, progress: opt.Progress = None, name: opt.Name = None, runs_dir: opt.RunsDir = None,
    resume: opt.Resume = None, track: opt.Track = None, tracking_uri: opt.TrackingUri = None, report: opt.Report = True,
) -> None:
    """Classify scikit-learn's handwritten digits with a small CNN (runs under torchrun too)."""
    from deepwild.tasks import digits

    _, outcome = _train(digits, None, config_file, sets, resume, runs_dir, name, track, tracking_uri, report, dict(
        epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device, precision=precision, threads=threads,
        progress=progress))
    if outcome.package is not None:
        metrics = outcome.package.metrics
        console.print(f"run      {outcome.run.path}\n"
                      f"model    {outcome.run.model_dir}\n"
                      f"curves   {outcome.run.plots / 'learning_curves.png'}\n"
                      f"best epoch {metrics['best_epoch']}: val accuracy {metrics['val_accuracy']:.4f}, "
                      f"test accuracy {metrics['test_accuracy']:.4f}", highlight=False)
        _final_report(outcome.run.path, report)


def _train(task: object, data: Path | None, config_file: Path | None, sets: list[str] | None, resume: Path | None,
           runs_dir: Path | None, name: str | None, track: str | None, tracking_uri: str | None, report: bool,
           train_flags: dict) -> tuple:
    """What every `train <task>` command does: the config from defaults, file, --data, --set and flags; then
    the task's training with the report hook. Returns (config, outcome)."""
    if data is not None:
        sets = [*(sets or []), f"data={data}"]
    config, resume_path = opt.training_config(task, config_file, sets, resume, runs_dir, train_flags)
    outcome = task.train(config, root=runs_dir, name=name, resume=resume_path, track=track,  # type: ignore[attr-defined]
                         tracking_uri=tracking_uri, extra_hooks=_report_hooks(report))
    return config, outcome


def _report_hooks(report: bool) -> tuple:
    """The hook that rebuilds the run's report after every epoch, unless --no-report."""
    if not report:
        return ()
    from deepwild.report.hook import ReportHook

    return (ReportHook(),)


def _final_report(run_path: Path, report: bool) -> None:
    # Once more after the model export (the hooks ran before it), so that the model's metrics are in.
    if report:
        from deepwild.report.html import build_report

        console.print(f"report   {build_report(run_path)}", highlight=False)


def _score_data_training(task_name: str, summary: Callable[[Any, Any], str],
                         maker: str = "deepwild data scores") -> Callable[..., None]:
    """The `train <task>` command of a task that learns from a dataset folder (`--data DIR`, made by
    `maker`); `summary(config, outcome)` is what it prints about the finished run."""

    def command(
        data: Optional[Path] = typer.Option(None, help=f"Dataset folder made by `{maker}`."),
        config_file: opt.ConfigFile = None, sets: opt.Sets = None, epochs: opt.Epochs = None,
        batch_size: opt.BatchSize = None, lr: opt.LearningRate = None, seed: opt.Seed = None, device: opt.Device = None,
        precision: opt.Precision = None, threads: opt.Threads = None, progress: opt.Progress = None, name: opt.Name = None,
        runs_dir: opt.RunsDir = None, resume: opt.Resume = None, track: opt.Track = None,
        tracking_uri: opt.TrackingUri = None, report: opt.Report = True,
    ) -> None:
        from deepwild.tasks import load_task

        config, outcome = _train(load_task(task_name), data, config_file, sets, resume, runs_dir, name, track,
                                 tracking_uri, report, dict(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                                            device=device, precision=precision, threads=threads,
                                                            progress=progress))
        if outcome.package is not None:
            console.print(f"run      {outcome.run.path}\nmodel    {outcome.run.model_dir}\n"
                          f"curves   {outcome.run.plots / 'learning_curves.png'}\n{summary(config, outcome)}",
                          highlight=False)
            _final_report(outcome.run.path, report)

    return command


def _omr_summary(config: Any, outcome: Any) -> str:
    return (f"classes  {len(outcome.package.class_names)}; evaluate with "
            f"`deepwild eval {outcome.run.path} --data {config.data} --split test`")


def _symbols_summary(config: Any, outcome: Any) -> str:
    metrics, dropped = outcome.package.metrics, outcome.package.data.get("dropped_classes", {})
    test = f", test accuracy {metrics['test_accuracy']:.4f}" if "test_accuracy" in metrics else ""
    return (f"classes  {len(outcome.package.class_names)} ({len(dropped)} with fewer than {config.min_count} "
            f"training symbols dropped, listed in data.json)\n"
            f"best epoch {metrics['best_epoch']}: val accuracy {metrics['val_accuracy']:.4f}{test}; "
            f"evaluate with `deepwild eval {outcome.run.path} --split test-unseen-font`")


train_app.command("omr", help="Music symbol detection: train a Deep Watershed Detector on score pages (runs under "
                              "torchrun too).")(_score_data_training("omr", _omr_summary))
train_app.command("symbols", help="Music symbol classification (DeepScores): a small CNN on a crop around each "
                                  "symbol of score pages.")(_score_data_training("symbols", _symbols_summary))


def _news_summary(config: Any, outcome: Any) -> str:
    return (f"best epoch {outcome.package.metrics['best_epoch']}: val DER {outcome.package.metrics['val_der']:.4f}; "
            f"evaluate with `deepwild eval {outcome.run.path} --data {config.data} --split test`")


train_app.command("news", help="Newspaper article segmentation: Meier et al.'s FCN on page image + layout channel.")(
    _score_data_training("news", _news_summary, maker="deepwild data newspapers"))


@app.command("segment")
def segment(
    items: Annotated[list[str], typer.Argument(help="[MODEL] PAGE [PAGE ...]: an optional model (run or package), "
                                                    "then page images, folders or globs.", metavar="[MODEL] PAGE...")],
    out: Annotated[Path, typer.Option(help="Folder for <page>.json, <page>.xml, <page>_articles/ and <page>_overlay.png.")]
    = Path("articles"),
    ocr: Annotated[Optional[Path], typer.Option(help="PAGE XML or ALTO file of the (single) page: its regions make "
                                                     "the layout channel instead of the image.")] = None,
    runs_dir: opt.RunsDir = None,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels than this.")] = 120_000_000,
    workers: batch.Workers = 1,
    redo: batch.Redo = False,
    runtime: batch.Runtime = "torch",
) -> None:
    """Cut newspaper pages into articles: articles JSON, PAGE XML, one cropped PNG per article, an overlay; the
    shipped model unless MODEL is given. Pages whose outputs are complete are skipped; a summary ends the run
    (also in <out>/summary.json)."""
    from deepwild.core.images import expand_image_paths
    from deepwild.tasks.news.batch import SegmentJob, segment_pile
    from deepwild.tasks.news.shipped import resolve_segmenter_model

    model_dir, pages = resolve_segmenter_model(items, runs_dir)
    job = SegmentJob(model_dir, out, runtime, ocr, max_pixels)
    batch.finish(console, segment_pile(job, expand_image_paths(pages), workers, redo, batch.page_printer(console)))


@app.command("eval")
def evaluate(
    model: Annotated[str, typer.Argument(help="A run (path or name) or a model package folder.")],
    split: Annotated[str, typer.Option(help="train, val, test (score data also test-unseen-font, or all).")] = "test",
    data: Annotated[Optional[Path], typer.Option(help="Dataset folder (score-data models; default: the training data).")] = None,
    runs_dir: opt.RunsDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Evaluate a model on a split of its task's data; writes eval/<split>/ into the run."""
    from deepwild.core.errors import DeepwildError
    from deepwild.core.package import read_model_package
    from deepwild.engine.run import resolve_model
    from deepwild.tasks import load_task

    model_dir, model_run = resolve_model(model, runs_dir)
    task_name = read_model_package(model_dir).task
    task = load_task(task_name)
    if data is not None and task_name == "digits":
        raise DeepwildError("digits models are evaluated on their own stored split; drop --data")
    extra = {"data": data} if data is not None else {}
    result = task.evaluate(model, split, root=runs_dir, **extra)
    if model_run is not None and (model_run.path / "report" / "index.html").is_file():
        from deepwild.report.html import build_report

        build_report(model_run.path)  # the run's report shows its evaluations too
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    table = Table(title=f"{result.model} — {result.split}")
    columns = list(next(iter(result.per_class.values())).keys()) if result.per_class else []
    table.add_column("class")
    for column in columns:
        table.add_column(column, justify="right")
    for name, row in result.per_class.items():
        table.add_row(name, *(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns))
    console.print(table)
    console.print("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.metrics.items()),
                  highlight=False)
    console.print(f"written: {Path(result.files[0]).parent}", highlight=False)


@app.command("predict")
def predict(
    model: Annotated[str, typer.Argument(help="A run (path or name) or a model package folder.")],
    images: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    runs_dir: opt.RunsDir = None,
    top_k: Annotated[int, typer.Option(help="How many classes to list per image (with --json).")] = 3,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels than this.")] = 120_000_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per image.")] = False,
    adversarial: Annotated[bool, typer.Option(
        "--adversarial", help="Require the model's calibrated adversarial-input detector (an error when it has "
                              "none); without this flag inputs are flagged whenever the model has one.")] = False,
) -> None:
    """Classify images with a classifier model: prints class and probability per image, and "suspicious" with the
    adversarial score when the model package holds a calibrated detector (`deepwild robust MODEL --calibrate`)."""
    from deepwild.core.images import expand_image_paths
    from deepwild.core.package import read_model_package
    from deepwild.engine.run import resolve_model
    from deepwild.tasks import load_task

    model_dir, _ = resolve_model(model, runs_dir)
    task = load_task(read_model_package(model_dir).task)
    if not hasattr(task, "predict"):
        from deepwild.core.errors import DeepwildError

        raise DeepwildError(f"{model} is not a classifier; `predict` takes classifier models")
    for result in task.predict(model, expand_image_paths(images), root=runs_dir, top_k=top_k, max_pixels=max_pixels,
                               require_detector=adversarial):
        if as_json:
            print(json.dumps(result.to_json()))
        else:
            flag = "" if result.suspicious is None else (
                f"\t{'SUSPICIOUS' if result.suspicious else 'ok'} (adversarial score {result.adversarial_score:.3f})")
            print(f"{result.image}\t{result.label}\t{result.probability:.4f}{flag}")


@app.command("detect")
def detect(
    items: Annotated[list[str], typer.Argument(help="[MODEL] PAGE [PAGE ...]: an optional model (run or package), "
                                                    "then page images, folders or globs.", metavar="[MODEL] PAGE...")],
    out: Annotated[Path, typer.Option(help="Folder for <page>.json and <page>_overlay.png.")] = Path("detections"),
    classes: Annotated[Optional[str], typer.Option(help="Only these classes (comma-separated DeepScoresV2 names).")] = None,
    min_score: Annotated[Optional[float], typer.Option(help="Drop detections scored below this.")] = None,
    staff_space: Annotated[Optional[float], typer.Option(help="Staff-line distance of the pages in px (default: measured).")] = None,
    overlay: Annotated[bool, typer.Option(help="Write an overlay PNG per page.")] = True,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels than this.")] = 120_000_000,
    runs_dir: opt.RunsDir = None,
    workers: batch.Workers = 1,
    redo: batch.Redo = False,
    runtime: batch.Runtime = "torch",
) -> None:
    """Find music symbols on page images (PNG/JPEG/TIFF, any size); the shipped model unless MODEL is given.
    Pages whose outputs are complete are skipped; a summary ends the run (also in <out>/summary.json)."""
    from deepwild.core.images import expand_image_paths
    from deepwild.tasks.batch import run_batch
    from deepwild.tasks.omr.batch import DetectJob
    from deepwild.tasks.omr.shipped import resolve_detector_model

    model_dir, pages = resolve_detector_model(items, runs_dir)
    job = DetectJob(model_dir, out, runtime, frozenset(_split_csv(classes)) if classes else None, min_score,
                    staff_space, overlay, max_pixels)
    batch.finish(console, run_batch(job, expand_image_paths(pages), workers, redo, batch.page_printer(console)))


# The model argument of explain and the lecture commands that take a trained model.
RunOrModel = Annotated[str, typer.Argument(help="A run (path or name), a model package folder, or `shipped` (the "
                                                "shipped music symbol detector).", metavar="RUN_OR_MODEL")]


def _split_csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@app.command("explain")
def explain(
    model: RunOrModel,
    image: Annotated[Path, typer.Argument(help="A digit image (classifier) or a page of music (detector).",
                                          metavar="INPUT")],
    out: Annotated[Path, typer.Option(help="Folder for the figure, one PNG per method and the JSON.")] = Path("explanations"),
    symbol: Annotated[Optional[int], typer.Option(help="Detector: the symbol to explain, by its index in the page's "
                                                       "detections (0 = highest score, as `deepwild detect` lists them).")] = None,
    at: Annotated[Optional[str], typer.Option(help="Detector: explain the detected symbol at page pixel X,Y.")] = None,
    target: Annotated[Optional[str], typer.Option(help="Explain this class (default: the predicted or detected one).")] = None,
    methods: Annotated[str, typer.Option(help="Comma-separated: gradcam, guided, ig.")] = "gradcam,guided,ig",
    layer: Annotated[Optional[str], typer.Option(help="Grad-CAM layer (a feature map name; default: the last one).")] = None,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels than this.")] = 120_000_000,
    runs_dir: opt.RunsDir = None,
) -> None:
    """Attribution maps (Grad-CAM, guided backprop, integrated gradients) for one input of a model."""
    from deepwild.core.errors import InputError
    from deepwild.tasks.explain import explain as explain_input

    position = None
    if at is not None:
        try:
            x, y = (float(v) for v in at.split(","))
        except ValueError:
            raise InputError(f"--at takes a page position X,Y in pixels, e.g. --at 640,212; got {at!r}") from None
        position = (x, y)
    result = explain_input(model, image, out, symbol=symbol, at=position, target=target,
                           methods=tuple(_split_csv(methods)), layer=layer, root=runs_dir, max_pixels=max_pixels)
    if result.symbol is not None:
        s = result.symbol
        console.print(f"symbol   #{s['index']} of {s['of']}: {s['class']} (score {s['score']:.2f}) at "
                      f"{', '.join(f'{v:.0f}' for v in s['bbox'])}; crop of {s['crop_size']} px at the model's scale",
                      highlight=False)
    console.print(f"explained {result.target}; the network predicts {result.predicted} ({result.probability:.2f})",
                  highlight=False)
    if result.integrated_gradients:
        ig = result.integrated_gradients
        console.print(f"integrated gradients add up to {ig['sum']:.4f}; score(input) − score(no ink) = "
                      f"{ig['score_gap']:.4f} (completeness gap {ig['completeness_gap']:+.4f})", highlight=False)
    console.print(f"figure   {result.files['figure']}\njson     {result.files['json']}", highlight=False)


@app.command("runs")
def runs(
    runs_dir: opt.RunsDir = None,
    task: Annotated[Optional[str], typer.Option(help="Only runs of this task.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List past runs with their status and key metrics (from the runs index)."""
    import dataclasses
    import time

    from deepwild.engine.run import runs_root
    from deepwild.engine.runindex import list_runs

    records = list_runs(runs_root(runs_dir), task, limit)
    if as_json:
        print(json.dumps([dataclasses.asdict(r) for r in records], indent=2))
        return
    if not records:
        console.print(f"no runs in {runs_root(runs_dir)}", highlight=False)
        return
    table = Table(title=f"runs in {runs_root(runs_dir)}")
    for column in ("name", "task", "status", "epochs", "key metrics", "started"):
        table.add_column(column)
    for record in records:
        keys = sorted((k for k in record.metrics if k.startswith("val_")), key=lambda k: "loss" in k) or list(record.metrics)
        shown = " ".join(f"{k} {record.metrics[k]:.4g}" for k in keys[:2])
        table.add_row(record.name, record.task, record.status, str(record.epochs), shown,
                      time.strftime("%m-%d %H:%M", time.localtime(record.created)))
    console.print(table)


@lecture_app.command("descent")
def lecture_descent(
    lr: Annotated[float, typer.Option("--lr", help="Learning rate (stable below 2/λ_max, printed).")] = 0.7,
    steps: Annotated[int, typer.Option(help="Gradient descent steps.")] = 400,
    seed: Annotated[int, typer.Option(help="Seed of the random start.")] = 0,
    feature: Annotated[str, typer.Option(help="Diabetes feature: age, sex, bmi, bp, s1..s6.")] = "bmi",
    runs_dir: opt.RunsDir = None,
    name: opt.Name = None,
) -> None:
    """Gradient descent on a two-parameter model: the error landscape and the path down it."""
    from deepwild.core.config import config_from_dict
    from deepwild.lecture.descent import DescentConfig, run_descent

    config = config_from_dict(DescentConfig, {"lr": lr, "steps": steps, "seed": seed, "feature": feature})
    result = run_descent(config, runs_dir, name)
    print_descent(result)


def print_descent(result: DescentResult) -> None:
    r = result
    console.print(f"f_W(x) = w1·x + w2 fitted by gradient descent, {len(r.path) - 1} steps, final loss {r.losses[-1]:.6g}",
                  highlight=False)
    if r.diverged:
        console.print(f"[bold red]diverged[/]: the loss grew from {r.losses[0]:.4g} to {r.losses[-1]:.4g}; "
                      f"this learning rate is above the stable limit 2/λ_max = {r.stable_lr_limit:.4g}", highlight=False)
    verdict = "agree" if r.agrees else ("no: descent diverged" if r.diverged else "not yet: take more steps")
    console.print(f"  gradient descent  W  = ({r.fitted[0]:+.6f}, {r.fitted[1]:+.6f})\n"
                  f"  least squares     W* = ({r.optimum[0]:+.6f}, {r.optimum[1]:+.6f})  loss {r.optimum_loss:.6g}\n"
                  f"  |W − W*| = {r.distance:.2e}  → {verdict}", highlight=False)
    if not r.diverged:
        units = r.original_units
        console.print(f"  in the data's units: progression ≈ {units['slope']:.3f} × feature {units['intercept']:+.2f}",
                      highlight=False)
    console.print(f"figure   {r.figure}", highlight=False)


@lecture_app.command("infoplane")
def lecture_infoplane(
    activation: Annotated[str, typer.Option(help="tanh (Shwartz-Ziv & Tishby) or relu (Saxe et al.'s contrast).")] = "tanh",
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 3000,
    points: Annotated[int, typer.Option(help="Log-spaced epochs at which the plane is measured.")] = 60,
    estimator: Annotated[str, typer.Option(help="binning, kde or both (KDE takes seconds per point).")] = "binning",
    bins: Annotated[int, typer.Option(help="Bins per unit for the binning estimator.")] = 30,
    seed: Annotated[int, typer.Option(help="Seed of the split, the weights and the batches.")] = 0,
    runs_dir: opt.RunsDir = None,
    name: opt.Name = None,
) -> None:
    """The information plane of the 12-10-7-5-4-3-2 network on 12-bit patterns: I(X;T) and I(T;Y) per layer over training."""
    from deepwild.core.config import config_from_dict
    from deepwild.lecture.infoplane import InfoPlaneConfig, run_infoplane

    config = config_from_dict(InfoPlaneConfig, {"activation": activation, "epochs": epochs, "points": points,
                                                "estimator": estimator, "bins": bins, "seed": seed})
    result = run_infoplane(config, runs_dir, name)
    console.print(f"{config.activation} network 12-10-7-5-4-3-2, {config.epochs} epochs: train accuracy "
                  f"{result.train_accuracy[-1]:.3f}, test accuracy {result.test_accuracy[-1]:.3f}", highlight=False)
    for label, values in (("binning", result.binning), ("KDE", result.kde)):
        if values is None:
            continue
        layers = "  ".join(f"T{i + 1} ({x:.2f}, {y:.2f})" for i, (x, y) in enumerate(values[-1]))
        console.print(f"{label} (I(X;T), I(T;Y)) in bits at the last epoch: {layers}", highlight=False)
    if result.binning is not None:
        console.print(f"binning estimate: {result.seconds_per_binning * 1000:.0f} ms per epoch (all layers)", highlight=False)
    console.print(f"figure   {result.figure}\nrun      {result.run.path}", highlight=False)


@lecture_app.command("landscape")
def lecture_landscape(
    model: RunOrModel,
    steps: Annotated[Optional[int], typer.Option(help="Grid points per direction, odd: the centre is the trained model "
                                                      "(default: 21 for digits, 11 for detectors).")] = None,
    span: Annotated[float, typer.Option(help="The grid covers [-span, span] along each direction (1 = each filter's own norm).")] = 1.0,
    samples: Annotated[Optional[int], typer.Option(help="Validation inputs in the fixed batch (default: 64 digits, "
                                                        "8 detector crops).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the two random directions.")] = 0,
    threads: Annotated[int, typer.Option(help="CPU threads for torch (0 = torch's default).")] = 1,
    data: Annotated[Optional[Path], typer.Option(help="Detectors: a dataset folder (made by `deepwild data scores`) "
                                                      "whose validation pages give the batch.")] = None,
    runs_dir: opt.RunsDir = None,
    name: opt.Name = None,
) -> None:
    """The loss landscape around a trained model along two filter-normalised random directions (Li et al. 2018)."""
    from deepwild.core.config import config_from_dict
    from deepwild.lecture.landscape import LandscapeConfig, LossProblem, landscape, problem_for

    from deepwild.tasks.model_probe import SHIPPED, resolve_named_model

    if model == SHIPPED:  # a run or package is resolved by the problem itself (a digits run brings its split)
        model = str(resolve_named_model(model)[0])
    detector = data is not None  # a detector's forward pass costs ~50 digits': a coarser grid, fewer inputs
    config = config_from_dict(LandscapeConfig, {"steps": steps or (11 if detector else 21), "span": span, "seed": seed,
                                                "threads": threads, "samples": samples or (8 if detector else 64)})
    config.validate()
    if detector:  # the detector's loss comes from its task (lecture code does not import tasks)
        from deepwild.tasks.omr.landscape import detector_loss

        fixed = detector_loss(model, data, config.samples, runs_dir)
        problem = LossProblem(model=fixed.model, loss=fixed.loss, name=fixed.name, data=fixed.data)
    else:
        problem = problem_for(model, config.samples, runs_dir)
    result = landscape(problem, config, runs_dir, name)
    losses, middle = result.losses, len(result.alphas) // 2
    console.print(f"{problem.name} on {problem.data}: {config.steps}×{config.steps} grid over α, β in "
                  f"[{-config.span:g}, {config.span:g}] in {result.seconds:.1f} s", highlight=False)
    console.print(f"  loss of the trained model {result.centre_loss:.4f} (grid centre {losses[middle, middle]:.4f}); "
                  f"grid min {losses.min():.4f}, max {losses.max():.4g}", highlight=False)
    if result.accuracies is not None:
        console.print(f"  accuracy at the centre {result.accuracies[middle, middle]:.3f}, at the corners "
                      f"{', '.join(f'{result.accuracies[j, i]:.3f}' for j in (0, -1) for i in (0, -1))}", highlight=False)
    console.print(f"figure   {result.figure}\nrun      {result.run.path}", highlight=False)


@lecture_app.command("features")
def lecture_features(
    model: RunOrModel,
    layers: Annotated[Optional[str], typer.Option(help="Comma-separated feature maps, early to late "
                                                       "(default: the task's probe layers).")] = None,
    channels: Annotated[int, typer.Option(help="Channels drawn per layer (the ones real inputs excite most).")] = 4,
    steps: Annotated[int, typer.Option(help="Optimisation steps per picture.")] = 48,
    seed: Annotated[int, typer.Option(help="Seed of the optimisation (same seed, same pictures).")] = 0,
    data: Annotated[Optional[Path], typer.Option(help="Detectors: a score dataset folder whose pages give the "
                                                      "top-activating crops (default: two freshly engraved pages).")] = None,
    threads: Annotated[int, typer.Option(help="CPU threads for torch (0 = torch's default; 1 is often fastest "
                                              "on a busy machine).")] = 0,
    runs_dir: opt.RunsDir = None,
    name: opt.Name = None,
) -> None:
    """The hierarchy of learned features: inputs optimised to excite channels of each layer, beside the real inputs that do."""
    from deepwild.core.config import config_from_dict
    from deepwild.lecture.features import FeatureLectureConfig, run_feature_lecture
    from deepwild.tasks.model_probe import probe_of_model

    config = config_from_dict(FeatureLectureConfig, {"layers": _split_csv(layers) if layers else [],
                                                     "channels": channels, "steps": steps, "seed": seed,
                                                     "threads": threads})
    config.validate()  # before the model and its data are loaded
    loaded = probe_of_model(model, runs_dir, data)
    result = run_feature_lecture(loaded.model, loaded.probe, loaded.package.name, loaded.source, config, runs_dir, name)
    features = result.features
    console.print(f"{result.model} ({loaded.package.task}): {features.objective} objective, {config.steps} steps, "
                  f"{features.seconds:.1f} s; inputs: {result.source}", highlight=False)
    for layer in features.layers:
        row = features.row(layer)
        if layer == features.layers[-1] and row and row[0].predicted is not None:
            recognised, total = result.classes_recognised
            console.print(f"  class pictures classified as their class: {recognised}/{total}", highlight=False)
            continue
        ratios = [p.activation / p.best_pool_activation for p in row if p.best_pool_activation > 0]
        console.print(f"  {layer:<8} field {features.receptive_fields[layer]:>3} px  channels "
                      f"{' '.join(p.target.name for p in row)}  optimised / best validation input "
                      f"{min(ratios, default=0):.1f}-{max(ratios, default=0):.1f}x", highlight=False)
    console.print(f"figure   {result.figure}\nrun      {result.run.path}", highlight=False)


@app.command("report")
def report(
    runs: Annotated[list[str], typer.Argument(help="One run (path or name) to rebuild its report; several to compare them.",
                                              metavar="RUN...")],
    out: Annotated[Optional[Path], typer.Option(help="Where a comparison page goes "
                                                     "(default: <first run's folder>/compare/<run names>.html).")] = None,
    runs_dir: opt.RunsDir = None,
) -> None:
    """Rebuild a run's self-contained HTML report (report/index.html), or compare runs on one page:
    learning curves overlaid, final metrics side by side, config differences."""
    from deepwild.core.errors import DeepwildError
    from deepwild.engine.run import resolve_run

    paths = [resolve_run(ref, runs_dir).path for ref in runs]
    if len(paths) == 1:
        if out is not None:
            raise DeepwildError("--out is for comparisons of two or more runs",
                                hint="one run's report is always <run>/report/index.html")
        from deepwild.report.html import build_report

        console.print(f"report   {build_report(paths[0])}", highlight=False)
        return
    from deepwild.report.compare import build_comparison

    console.print(f"comparison {build_comparison(paths, out)}", highlight=False)


@app.command("demo")
def demo(runs_dir: opt.RunsDir = None) -> None:
    """The end-to-end demo on built-in data: make score pages, find their symbols with the shipped
    detector, cut newspaper pages into articles with the shipped segmenter, evaluate the detector,
    fine-tune it briefly, and the descent lecture; prints where everything is."""
    from deepwild.core.config import config_from_dict
    from deepwild.datagen.scores.generate import ScoreDataConfig, generate_scores
    from deepwild.engine.run import runs_root
    from deepwild.lecture.descent import DescentConfig, run_descent
    from deepwild.report.html import build_report
    from deepwild.tasks import omr
    from deepwild.core.images import load_grayscale
    from deepwild.tasks.omr.detect import Detector, save_detections
    from deepwild.tasks.omr.evaluate import evaluate as evaluate_omr
    from deepwild.tasks.omr.shipped import shipped_model

    root = runs_root(runs_dir)
    data = root / "demo-scores"
    console.rule("1/6  engrave 6 score pages from the music21 corpus (deepwild data scores)")
    generate_scores(config_from_dict(ScoreDataConfig, {"pages": 6, "seed": 1}), data, workers=2)
    console.print(f"dataset  {data}", highlight=False)
    console.rule("2/6  find their symbols with the shipped detector (deepwild detect PAGE ...)")
    model = shipped_model()
    detector = Detector.load(model)
    overlays = root / "demo-detections"
    for page in sorted((data / "images").glob("*.png"))[:2]:
        gray = load_grayscale(page)
        result = detector.detect_gray(gray, str(page))
        save_detections(result, gray, overlays)
        console.print(f"{page.name}: {len(result.symbols)} symbols → {overlays / (page.stem + '_overlay.png')}",
                      highlight=False)
    console.rule("3/6  make 2 newspaper pages and cut them into articles (deepwild segment PAGE ...)")
    from deepwild.datagen.newspapers.generate import NewspaperDataConfig, generate_newspapers
    from deepwild.tasks.news.segment import Segmenter, segment_page
    from deepwild.tasks.news.shipped import shipped_model as shipped_segmenter

    papers, articles = root / "demo-newspapers", root / "demo-articles"
    generate_newspapers(NewspaperDataConfig(pages=2, seed=5), papers, workers=1)
    segmenter = Segmenter.from_package(shipped_segmenter())
    for page in sorted((papers / "images").glob("*.png")):
        done = segment_page(segmenter, page, articles)
        console.print(f"{page.name}: {done.articles} articles → {articles / (page.stem + '_overlay.png')}",
                      highlight=False)
    console.rule("4/6  evaluate it on all six pages (deepwild eval MODEL --data DIR --split all)")
    shipped_eval = evaluate_omr(model, "all", root=runs_dir, data=data, out=root / "demo-eval-shipped")
    _print_detection_metrics(shipped_eval)
    console.rule("5/6  fine-tune it for a few steps (deepwild train omr --data DIR --set init=MODEL)")
    config = config_from_dict(omr.Config, {"data": str(data), "init": str(model),
                                           "crop": {"crops_per_epoch": 48},
                                           "train": {"epochs": 1, "batch_size": 12, "progress": "lines"}})
    tuned = omr.train(config, root=runs_dir)
    tuned_eval = evaluate_omr(tuned.run.path, "all", root=runs_dir, data=data)
    _print_detection_metrics(tuned_eval)
    console.rule("6/6  the lecture: gradient descent on an error landscape (deepwild lecture descent)")
    descent = run_descent(DescentConfig(), runs_dir)
    print_descent(descent)
    reports = [build_report(tuned.run.path), build_report(descent.run.path)]
    console.rule("done")
    console.print(f"score pages        {data / 'images'}\n"
                  f"detections         {overlays}\n"
                  f"articles           {articles}  (JSON, PAGE XML, one PNG per article, overlays)\n"
                  f"evaluation         {Path(shipped_eval.files[0]).parent}  (per_class.csv, pr_curves.png, overlays)\n"
                  f"fine-tuned run     {tuned.run.path}\n"
                  f"descent figure     {descent.figure}\n"
                  f"reports (open in a browser):\n" + "\n".join(f"  {r}" for r in reports), highlight=False)


def _print_detection_metrics(result: object) -> None:
    metrics = result.metrics  # type: ignore[attr-defined]
    console.print("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
                            if v is not None), highlight=False)


# The lecture demos of what depth buys (cli/lecture.py), listed after the ones above.
lecture_app.command("classical-vs-deep")(lecture_classical_vs_deep)
lecture_app.command("complete-image")(lecture_complete_image)
lecture_app.command("finish-sentence")(lecture_finish_sentence)
lecture_app.command("word-vectors")(lecture_word_vectors)


def main() -> None:
    run_guarded(lambda: app(prog_name="deepwild"), sys.argv)


if __name__ == "__main__":
    main()
