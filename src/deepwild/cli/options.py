"""Options every training command shares, and how they become a config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

ConfigFile = Annotated[Optional[Path], typer.Option("--config", help="YAML/JSON file of config values.")]
Sets = Annotated[Optional[list[str]], typer.Option("--set", help="Override any config key: --set train.lr=0.01 (repeatable).")]
Epochs = Annotated[Optional[int], typer.Option(help="Training epochs (train.epochs).")]
BatchSize = Annotated[Optional[int], typer.Option(help="Batch size per process (train.batch_size).")]
LearningRate = Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate (train.lr).")]
Seed = Annotated[Optional[int], typer.Option(help="Seed for weights, shuffling and augmentation (train.seed).")]
Device = Annotated[Optional[str], typer.Option(help="cpu, cuda or mps (train.device).")]
Precision = Annotated[Optional[str], typer.Option(help="32, bf16 or 16 (autocast; train.precision).")]
Threads = Annotated[Optional[int], typer.Option(help="CPU threads for torch (train.threads; 0 = default).")]
Name = Annotated[Optional[str], typer.Option(help="Run name (default: <task>-<date>-<time>-<id>).")]
RunsDir = Annotated[Optional[Path], typer.Option("--runs-dir", help="Where runs live (default: $DEEPWILD_RUNS or ./runs).")]
Resume = Annotated[Optional[Path], typer.Option(help="Continue an interrupted run from its last checkpoint.")]
Track = Annotated[Optional[str], typer.Option(help="Mirror the run to a tracker: mlflow (needs the extra deepwild\\[mlflow]).")]
TrackingUri = Annotated[Optional[str], typer.Option(help="MLflow tracking URI (sqlite:///...; default: <runs-dir>/mlflow.db).")]
Progress = Annotated[Optional[str], typer.Option(help="auto, bar, lines or off (train.progress).")]
Report = Annotated[bool, typer.Option("--report/--no-report",
                                      help="Rebuild report/index.html after every epoch and at the end.")]


def resolve_config(config_class: type, defaults: Any, config_file: Path | None, sets: list[str] | None,
                   train_flags: dict[str, Any]) -> Any:
    """Defaults ← config file ← --set overrides ← explicit flags; unknown keys fail loudly."""
    from deepwild.core.config import apply_overrides, load_config_file, parse_assignments

    config = defaults
    if config_file is not None:
        config = apply_overrides(config, load_config_file(config_file))
    if sets:
        config = apply_overrides(config, parse_assignments(sets))
    flags = {key: value for key, value in train_flags.items() if value is not None}
    if flags:
        config = apply_overrides(config, {"train": flags})
    return config


def training_config(task: Any, config_file: Path | None, sets: list[str] | None, resume: Path | None,
                    runs_dir: Path | None, train_flags: dict[str, Any]) -> tuple[Any, Path | None]:
    """A task module's config (from the resumed run's config when resuming) with the user's overrides,
    and the path of the run to resume."""
    from deepwild.engine.run import resolve_run

    run = resolve_run(resume, runs_dir) if resume else None
    defaults = task.config_of_run(run) if run else task.Config()
    return resolve_config(task.Config, defaults, config_file, sets, train_flags), run.path if run else None
