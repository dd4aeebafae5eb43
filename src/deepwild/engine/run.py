"""Run directories: everything a training run leaves behind, in one folder.

    runs/<name>/
      run.json          name, task, status, command, timestamps
      config.json       the resolved config
      data.json         what data the run used (dataset id, split)
      metrics.jsonl     one JSON object per logged step / finished epoch
      checkpoints/      last/ and best/: model + optimizer (safetensors) + state.json
      model/            the exported model package
      plots/            learning curves and other figures
      eval/             evaluation results
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepwild.core.errors import RunNotFoundError
from deepwild.core.io import atomic_write_json, atomic_write_text, read_json, read_jsonl

DEFAULT_RUNS_ROOT = "runs"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def command_line() -> str:
    """The command that started this process, as a user would type it."""
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


def runs_root(root: str | Path | None = None) -> Path:
    """The folder that holds runs: the argument, else $DEEPWILD_RUNS, else ./runs."""
    return Path(root or os.environ.get("DEEPWILD_RUNS") or DEFAULT_RUNS_ROOT)


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    @property
    def eval_dir(self) -> Path:
        return self.path / "eval"

    # -- creation and lookup -------------------------------------------------------------------

    @classmethod
    def create(cls, task: str, root: str | Path | None = None, name: str | None = None) -> RunDir:
        root = runs_root(root)
        if name is None:
            name = f"{task}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        elif not _NAME.match(name):
            raise RunNotFoundError(f"run name {name!r} is not allowed", hint="use letters, digits, '.', '_' and '-'")
        path = root / name
        if path.exists():
            raise RunNotFoundError(f"run {path} already exists", hint="choose another --name, or --resume it")
        path.mkdir(parents=True)
        run = cls(path)
        now = time.time()
        run.write_info({"name": name, "task": task, "status": "created", "created": now, "updated": now,
                        "command": command_line()})
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        path = Path(path)
        if not path.exists():
            raise RunNotFoundError(f"run directory {path} does not exist", hint="`deepwild runs` lists the runs")
        if not (path / "run.json").is_file() or not (path / "config.json").is_file():
            raise RunNotFoundError(f"{path} is not a deepwild run directory (no run.json/config.json)")
        return cls(path)

    # -- records -------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return read_json(self.path / "run.json")

    def write_info(self, info: dict[str, Any]) -> None:
        atomic_write_json(self.path / "run.json", info)

    def update_info(self, **changes: Any) -> dict[str, Any]:
        info = {**self.info(), **changes, "updated": time.time()}
        self.write_info(info)
        return info

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_json(self.config_path, config)

    def read_config(self) -> dict[str, Any]:
        return read_json(self.config_path)

    def append_metrics(self, record: dict[str, Any]) -> None:
        # One write call per line: a crash can only cut the last line, which read_metrics skips.
        with open(self.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics_path)

    def truncate_metrics(self, last_step: int) -> None:
        """Drop records logged after `last_step` (work lost with an interrupted process)."""
        kept = [r for r in self.read_metrics() if r.get("step", 0) <= last_step]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))

    def epoch_records(self) -> list[dict[str, Any]]:
        return [r for r in self.read_metrics() if r.get("kind") == "epoch"]


def resolve_run(ref: str | Path, root: str | Path | None = None) -> RunDir:
    """A run from a path or from a name under the runs root."""
    path = Path(ref)
    if not path.exists() and not path.is_absolute() and (runs_root(root) / path).exists():
        path = runs_root(root) / path
    return RunDir.open(path)


def resolve_model(ref: str | Path, root: str | Path | None = None) -> tuple[Path, RunDir | None]:
    """The model package a user means: a package folder, a run (its `model/`), or a run's name."""
    path = Path(ref)
    if (path / "model.json").is_file():
        parent = path.parent
        return path, RunDir(parent) if (parent / "run.json").is_file() else None
    if not path.exists() and not path.is_absolute() and (runs_root(root) / path).exists():
        path = runs_root(root) / path
    if not path.exists():
        raise RunNotFoundError(f"{ref} is neither a model package nor a run", hint="`deepwild runs` lists the runs")
    run = RunDir.open(path)
    if not (run.model_dir / "model.json").is_file():
        raise RunNotFoundError(f"run {run.path} has no exported model yet (status: {run.info().get('status')})",
                               hint=f"finish it with `deepwild train {run.info().get('task', '<task>')} --resume {run.path}`")
    return run.model_dir, run


def model_and_pages(items: list[str], default: Path, usage: str,
                    root: str | Path | None = None) -> tuple[Path, list[str]]:
    """`[MODEL] PAGE ...`: the first item is the model when it names a model package or a run, otherwise the
    `default` package (a task's shipped model) serves and every item is a page."""
    from deepwild.core.errors import InputError
    from deepwild.core.package import is_model_package

    if items:
        first = Path(items[0])
        is_run = (first / "run.json").is_file() or (not first.exists() and (runs_root(root) / first / "run.json").is_file())
        if is_model_package(first) or is_run:
            model_dir, _ = resolve_model(items[0], root)
            if len(items) < 2:
                raise InputError("no page images given", hint=usage)
            return model_dir, items[1:]
    if not items:
        raise InputError("no page images given", hint=usage)
    return shipped_package(default, f"the shipped model {default.name}", usage), items


def shipped_package(folder: Path, what: str, usage: str) -> Path:
    """`folder`, a model package that ships inside deepwild; a clear error when the installation lacks it."""
    from deepwild.core.errors import ModelPackageError
    from deepwild.core.package import is_model_package

    if not is_model_package(folder):
        raise ModelPackageError(f"{what} is missing from this installation",
                                hint=f"reinstall deepwild, or give a model: {usage}")
    return folder


def training_wall_minutes(run: RunDir) -> float:
    """Wall minutes a run's training processes ran: the time between consecutive records, without the
    pauses of an interrupted and resumed run (gaps over 15 minutes between two records)."""
    times = [run.info()["created"]] + [record["time"] for record in run.read_metrics() if "time" in record]
    return sum(gap for gap in (b - a for a, b in zip(times, times[1:])) if 0 < gap < 15 * 60) / 60
