"""Runs side by side, in one self-contained HTML page: learning curves overlaid, final metrics in columns,
and the config keys in which the runs differ.

`deepwild report RUN1 RUN2 [...]` writes it to `--out`, by default to
`<folder of the first run>/compare/<run names>.html` (beside the runs, never inside one of them).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deepwild.core.errors import DeepwildError
from deepwild.core.io import atomic_write_text, read_json
from deepwild.engine.run import RunDir
from deepwild.core.charts import PALETTE, Series, line_chart
from deepwild.report.html import log_scale, metric_names, page, svg_image, table

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_NAME = 100


def default_comparison_path(runs: Sequence[RunDir]) -> Path:
    names = [_UNSAFE.sub("_", run.name) for run in runs]
    stem = "--".join(names)
    if len(stem) > _MAX_NAME:  # many runs: the first name, how many more, and a hash that tells the sets apart
        digest = hashlib.sha256("\n".join(str(run.path.resolve()) for run in runs).encode()).hexdigest()[:8]
        stem = f"{names[0][:60]}-and-{len(names) - 1}-more-{digest}"
    return runs[0].path.parent / "compare" / f"{stem}.html"


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 0.1}} → {"train.lr": 0.1}."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def final_metrics(run: RunDir, epochs: list[dict[str, Any]]) -> dict[str, Any]:
    """What a run ended with: its last epoch's metrics, its model's and its evaluations', by name."""
    metrics: dict[str, Any] = {"epochs": epochs[-1]["epoch"] if epochs else 0}
    if epochs:
        metrics.update({k: v for k, v in epochs[-1].items() if k.startswith(("train_", "val_"))})
    model_meta = run.model_dir / "model.json"
    if model_meta.is_file():
        metrics.update({f"model: {k}": v for k, v in read_json(model_meta).get("metrics", {}).items()})
    for file in sorted(run.eval_dir.glob("*/metrics.json")):
        evaluation = read_json(file)
        values = evaluation.get("metrics") or {k: v for k, v in evaluation.items()
                                               if isinstance(v, (int, float)) and not isinstance(v, bool)}
        metrics.update({f"eval {file.parent.name}: {k}": v for k, v in values.items()})
    return metrics


def _overlaid_curves(labels: Sequence[str], records: Sequence[list[dict[str, Any]]]) -> str:
    charts = []
    for name in metric_names([r for epochs in records for r in epochs]):
        series = []
        for index, (label, epochs) in enumerate(zip(labels, records)):
            color = PALETTE[index % len(PALETTE)]
            for split in ("val", "train"):
                key = f"{split}_{name}"
                points = [(r["epoch"], r[key]) for r in epochs if key in r]
                if points:
                    xs, ys = zip(*points)
                    series.append(Series(f"{label} {split}", xs, ys, color=color, dashed=split == "train"))
        log = log_scale(name, [v for s in series for v in s.ys])
        charts.append(svg_image(line_chart(name, series, "epoch", log_y=log, width=520), f"learning curves: {name}"))
    return f"<div class=charts>{''.join(charts)}</div>"


def _link(target: Path, page_folder: Path) -> str:
    relative = os.path.relpath(target.resolve(), page_folder.resolve())
    return urllib.parse.quote(Path(relative).as_posix())


def build_comparison(run_paths: Sequence[str | Path], out: str | Path | None = None) -> Path:
    """Write the comparison page of two or more runs and return its path."""
    runs = [RunDir.open(path) for path in run_paths]
    if len(runs) < 2:
        raise DeepwildError("a comparison needs at least two runs", hint="`deepwild report RUN` builds one run's report")
    seen: dict[Path, str] = {}
    for run, given in zip(runs, run_paths):
        resolved = run.path.resolve()
        if resolved in seen:
            raise DeepwildError(f"run {given} is given twice (also as {seen[resolved]})")
        seen[resolved] = str(given)
    target = Path(out) if out is not None else default_comparison_path(runs)
    if target.suffix.lower() not in (".html", ".htm"):
        raise DeepwildError(f"--out {target} must name an .html file")
    records = [run.epoch_records() for run in runs]
    names = [run.name for run in runs]
    # Runs of the same name from different folders get their folder in front, so columns stay apart.
    names = [f"{run.path.parent.name}/{name}" if names.count(name) > 1 else name for run, name in zip(runs, names)]
    overview = []
    for run, label, epochs in zip(runs, names, records):
        info, report = run.info(), run.path / "report" / "index.html"
        link = (f'<a href="{_link(report, target.parent)}">report</a>' if report.is_file() else "–")
        overview.append(f"<tr><td>{html.escape(label)}</td><td>{html.escape(str(info.get('task')))}</td>"
                        f"<td>{html.escape(str(info.get('status')))}</td><td>{epochs[-1]['epoch'] if epochs else 0}</td>"
                        f"<td>{time.strftime('%Y-%m-%d %H:%M', time.localtime(info.get('created', 0)))}</td>"
                        f"<td>{link}</td></tr>")
    finals = [final_metrics(run, epochs) for run, epochs in zip(runs, records)]
    metric_rows = [{"metric": key, **{name: final.get(key) for name, final in zip(names, finals)}}
                   for key in dict.fromkeys(k for final in finals for k in final)]
    configs = [flatten(run.read_config()) for run in runs]
    keys = sorted(set().union(*configs))
    missing = object()
    differing = [key for key in keys if len({repr(c.get(key, missing)) for c in configs}) > 1]
    config_rows = [{"key": key, **{name: c.get(key) for name, c in zip(names, configs)}} for key in differing]
    parts = [f"<h1>Comparison of {len(runs)} runs</h1>",
             f"<p class=muted>built {time.strftime('%Y-%m-%d %H:%M')} from {', '.join(html.escape(n) for n in names)}</p>",
             "<table><tr><th>run</th><th>task</th><th>status</th><th>epochs</th><th>created</th><th>report</th></tr>",
             *overview, "</table>",
             "<h2>Learning curves</h2><p class=muted>one colour per run; validation solid, training dashed</p>",
             _overlaid_curves(names, records),
             "<h2>Final metrics</h2>", table(metric_rows, ["metric", *names]),
             f"<h2>Config differences</h2><p>{len(differing)} of {len(keys)} config keys differ"
             f"{'' if differing else ' (the runs share one config)'}.</p>"]
    if config_rows:
        parts.append(table(config_rows, ["key", *names]))
    atomic_write_text(target, page(f"compare: {' vs '.join(names)}", parts))
    return target

