"""A self-contained HTML page for a run: plots inlined as data URIs, so it opens offline anywhere.

Built from the run directory alone (config.json, metrics.jsonl, model/model.json, eval/, plots/).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from deepwild.core.io import atomic_write_text, read_json
from deepwild.engine.run import RunDir

_STYLE = """body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:12px}.muted{color:#777}"""


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c, ''))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}"></p>'


def build_report(run_path: str | Path) -> Path:
    """Write `report/index.html` for a run and return its path."""
    run = RunDir.open(run_path)
    info, config = run.info(), run.read_config()
    parts = [f"<h1>{html.escape(run.name)}</h1>",
             f"<p class=muted>task {html.escape(str(info.get('task')))} · status {html.escape(str(info.get('status')))}"
             f" · command <code>{html.escape(str(info.get('command', '')))}</code></p>"]
    model_meta = run.model_dir / "model.json"
    if model_meta.is_file():
        metrics = read_json(model_meta).get("metrics", {})
        parts += ["<h2>Model</h2>", _table([{"metric": k, "value": v} for k, v in metrics.items()], ["metric", "value"])]
    for metrics_file in sorted(run.eval_dir.glob("*/metrics.json")):
        evaluation = read_json(metrics_file)
        split = metrics_file.parent.name
        # Classifiers write {"metrics", "per_class"}; detectors their DetectionEvaluation (summary + classes).
        summary = evaluation.get("metrics") or {k: v for k, v in evaluation.items() if isinstance(v, (int, float))}
        parts += [f"<h2>Evaluation: {html.escape(split)}</h2>",
                  _table([{"metric": k, "value": v} for k, v in summary.items()], ["metric", "value"])]
        rows = evaluation.get("per_class", {})
        per_class = ([{"class": name, **row} for name, row in rows.items()] if isinstance(rows, dict) else
                     [{k: v for k, v in row.items() if not isinstance(v, (list, dict))}
                      for row in evaluation.get("classes", [])])
        if per_class:
            parts.append(_table(per_class, list(per_class[0])))
        for png in sorted(metrics_file.parent.glob("*.png")):
            parts.append(_image(png))
    plots = sorted(run.plots.glob("*.png")) if run.plots.is_dir() else []
    if plots:
        parts.append("<h2>Plots</h2>")
        parts += [_image(png) for png in plots]
    epochs = run.epoch_records()
    if epochs:
        columns = [c for c in epochs[-1] if c not in ("kind", "time")]
        parts += ["<h2>Epochs</h2>", _table(epochs, columns)]
    parts += ["<h2>Config</h2>", f"<pre>{html.escape(json.dumps(config, indent=2))}</pre>"]
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(run.name)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
    target = run.path / "report" / "index.html"
    atomic_write_text(target, page)
    return target
