"""Run records, always on: the hooks that write a run's metrics, checkpoints, curves and index rows,
show progress, resume an interrupted run, and mirror it to MLflow when asked."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as torch_dist

from deepwild.core.errors import DeepwildError, TrainingDivergedError
from deepwild.engine import runindex
from deepwild.engine.checkpoint import load_checkpoint, save_checkpoint
from deepwild.engine.curves import plot_learning_curves
from deepwild.engine.distributed import DistInfo
from deepwild.engine.hooks import HookBase
from deepwild.engine.loop import Trainer, TrainingProblem, TrainResult
from deepwild.engine.run import RunDir, command_line
from deepwild.engine.tracking import MLflowHook, check_tracking


class ResumeHook(HookBase):
    """Loads the last checkpoint on every rank, and drops metrics logged after it."""

    all_ranks = True

    def __init__(self, run: RunDir) -> None:
        self.run = run

    def before_train(self, trainer: Trainer) -> None:
        state, extra = load_checkpoint(self.run.checkpoints / "last", trainer.model, trainer.optimizer)
        trainer.load_state_json(state)
        if "rng.torch" in extra:
            torch.set_rng_state(extra["rng.torch"])
        if trainer.dist.is_main:
            self.run.truncate_metrics(trainer.state.step)


class MetricsLogger(HookBase):
    def __init__(self, run: RunDir, log_every: int) -> None:
        self.run, self.log_every = run, log_every

    def after_step(self, trainer: Trainer) -> None:
        if trainer.state.step % self.log_every == 0:
            self.run.append_metrics({"kind": "step", "epoch": trainer.state.epoch + 1, "step": trainer.state.step,
                                     **trainer.last_step, "time": time.time()})

    def after_epoch(self, trainer: Trainer) -> None:
        self.run.append_metrics({"kind": "epoch", **trainer.last_epoch, "time": time.time()})


class Checkpointer(HookBase):
    """`last` after every epoch (and every `every` steps), `best` when the monitored metric improves."""

    def __init__(self, run: RunDir, every: int = 0) -> None:
        self.run, self.every = run, every

    def save(self, trainer: Trainer, name: str) -> None:
        save_checkpoint(self.run.checkpoints / name, trainer.model, trainer.optimizer, trainer.state_json(),
                        {"rng.torch": torch.get_rng_state()})

    def after_step(self, trainer: Trainer) -> None:
        if self.every and trainer.state.step % self.every == 0 and trainer.state.batch_in_epoch < trainer.steps_per_epoch:
            self.save(trainer, "last")

    def after_epoch(self, trainer: Trainer) -> None:
        self.save(trainer, "last")
        if trainer.state.best_epoch == trainer.state.epoch:
            self.save(trainer, "best")


class LearningCurves(HookBase):
    """Redraws plots/learning_curves.png at most every `every_s` seconds, and always at the end."""

    def __init__(self, run: RunDir, every_s: float) -> None:
        self.run, self.every_s, self.last_drawn = run, every_s, -float("inf")

    def draw(self) -> None:
        plot_learning_curves(self.run.epoch_records(), self.run.plots / "learning_curves.png", self.run.name)
        self.last_drawn = time.monotonic()

    def before_train(self, trainer: Trainer) -> None:
        self.last_drawn = time.monotonic()  # a short run draws once, at the end

    def after_epoch(self, trainer: Trainer) -> None:
        if time.monotonic() - self.last_drawn >= self.every_s:
            self.draw()

    def after_train(self, trainer: Trainer) -> None:
        self.draw()


class RunIndexHook(HookBase):
    def __init__(self, run: RunDir, task: str) -> None:
        self.run, self.task = run, task

    def before_train(self, trainer: Trainer) -> None:
        mark_run(self.run, self.task, "running", epochs=trainer.state.epoch)

    def after_epoch(self, trainer: Trainer) -> None:
        metrics = {k: v for k, v in trainer.last_epoch.items() if k.startswith(("train_", "val_"))}
        mark_run(self.run, self.task, "running", epochs=trainer.state.epoch, metrics=metrics)


class ProgressHook(HookBase):
    """A rich progress bar on a terminal; one line per epoch otherwise (CI logs stay short)."""

    def __init__(self, mode: str = "auto") -> None:
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() and not os.environ.get("CI") else "lines"
        self.mode = mode
        self.progress: Any = None

    def before_train(self, trainer: Trainer) -> None:
        if self.mode == "bar":
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                     TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=False)
            total = trainer.config.epochs * trainer.steps_per_epoch
            self.task = self.progress.add_task("train", total=total, completed=trainer.state.step,
                                               epoch=trainer.state.epoch + 1, info="")
            self.progress.start()

    def after_step(self, trainer: Trainer) -> None:
        if self.progress is not None and trainer.state.step % 5 == 0:
            info = " ".join(f"{k} {v:.4g}" for k, v in trainer.last_step.items() if k != "lr")
            self.progress.update(self.task, completed=trainer.state.step, epoch=trainer.state.epoch + 1, info=info)

    def after_epoch(self, trainer: Trainer) -> None:
        line = format_epoch(trainer.last_epoch, trainer.config.epochs)
        if self.progress is not None:
            self.progress.update(self.task, completed=trainer.state.step, info="")
            self.progress.console.print(line, highlight=False)
        elif self.mode == "lines":
            print(line, file=sys.stderr, flush=True)

    def after_train(self, trainer: Trainer) -> None:
        if self.progress is not None:
            self.progress.stop()


def format_epoch(record: dict[str, Any], epochs: int) -> str:
    values = " ".join(f"{k} {v:.4f}" for k, v in record.items() if k.startswith(("train_", "val_")))
    return f"epoch {record['epoch']}/{epochs}  {values}"


def mark_run(run: RunDir, task: str, status: str, epochs: int | None = None, metrics: dict[str, Any] | None = None) -> None:
    """Record a run's status in run.json and in the runs index of its parent folder."""
    run.update_info(status=status)
    runindex.upsert_run(run.path.parent, run.name, run.path, task, status, epochs, metrics)


def prepare_run(task: str, dist: DistInfo, root: str | Path | None = None, name: str | None = None,
                resume: str | Path | None = None) -> RunDir:
    """Open the run to resume, or create a new one on rank 0 and tell the other ranks its path."""
    if resume is not None:
        run = RunDir.open(resume)
        if not (run.checkpoints / "last").exists() and not (run.checkpoints / "last.old").exists():
            raise DeepwildError(f"run {run.path} has no checkpoint to resume from", hint="start a new run instead")
        if dist.is_main:  # a model card names every command that shaped the run, resumes included
            resumed = [*run.info().get("resumed", []), {"time": time.time(), "command": command_line()}]
            run.update_info(resumed=resumed)
        return run
    path = [str(RunDir.create(task, root, name).path) if dist.is_main else ""]
    if dist.is_distributed:
        torch_dist.broadcast_object_list(path, src=0)
    return RunDir(Path(path[0]))


def run_training(problem: TrainingProblem, trainer_config: Any, run: RunDir, task: str, dist: DistInfo,
                 resume: bool = False, extra_hooks: Sequence[HookBase] = (), track: str | None = None,
                 tracking_uri: str | None = None) -> TrainResult:
    """Train with the standard hooks on (plus the task's), and record how the run ended."""
    hooks: list[HookBase] = [ResumeHook(run)] if resume else []
    hooks += [MetricsLogger(run, trainer_config.log_every), Checkpointer(run, trainer_config.checkpoint_every),
              LearningCurves(run, trainer_config.plot_every_s), RunIndexHook(run, task),
              ProgressHook(trainer_config.progress), *extra_hooks]
    check_tracking(track, tracking_uri)
    if track == "mlflow" and dist.is_main:
        hooks.append(MLflowHook(run, tracking_uri))
    trainer = Trainer(problem, trainer_config, hooks, dist, run)
    status = "failed"
    try:
        result = trainer.fit()
        status = "finished"
        return result
    except TrainingDivergedError:
        status = "diverged"
        raise
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if dist.is_main:
            mark_run(run, task, status, epochs=trainer.state.epoch)
