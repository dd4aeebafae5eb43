"""A self-contained HTML page for a run: every picture inlined as a data URI, no script, no external URL,
so it opens offline anywhere, from file:// too.

Built from the run directory alone: run.json, config.json, data.json, metrics.jsonl, model/model.json,
eval/<split>/, interpret/<key>/section.json (written by the interpretability hooks) and plots/. It is
cheap (milliseconds plus the size of its pictures), so `ReportHook` rebuilds it after every epoch, and
it tolerates a run in progress: whatever is not there yet is left out.
"""

from __future__ import annotations

import base64
import html
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from deepwild.core.io import atomic_write_text, read_json
from deepwild.engine.run import RunDir
from deepwild.interpret.sections import Figure, Section
from deepwild.core.charts import Series, line_chart, svg_data_uri

STYLE = """body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin-bottom:.3em}
table{border-collapse:collapse;font-size:13px;margin:.4em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:12px}.muted{color:#777}.charts{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:.6em 0}figcaption{font-size:13px;color:#555}nav{font-size:13px}nav a{margin-right:.9em}
details summary{cursor:pointer;color:#555}"""

MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
              ".svg": "image/svg+xml", ".webp": "image/webp"}
LEARNING_CURVES_PNG = "learning_curves.png"  # drawn by the engine; the report draws its own, always current


# -- small HTML pieces, shared with the comparison page ---------------------------------------------

def cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "–"
        return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.3e}"
    if isinstance(value, (list, tuple)):
        return html.escape(", ".join(str(v) for v in value)) if len(value) <= 8 else f"{len(value)} items"
    if isinstance(value, dict):
        return f"{len(value)} entries"
    return html.escape(str(value))


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if columns is None:  # every key of every row, in first-seen order
        columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def image_file(path: Path, caption: str = "") -> str:
    mime = MIME_TYPES.get(path.suffix.lower())
    if mime is None or not path.is_file():
        return f"<p class=muted>picture {html.escape(path.name)} is missing or not an image</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    image = f'<img alt="{html.escape(caption or path.name)}" src="data:{mime};base64,{data}">'
    return f"<figure>{image}<figcaption>{html.escape(caption)}</figcaption></figure>" if caption else f"<p>{image}</p>"


def svg_image(svg: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{svg_data_uri(svg)}">'


def paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(block.strip())}</p>" for block in text.split("\n\n") if block.strip())


def page(title: str, parts: Iterable[str]) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def metric_names(epoch_records: list[dict[str, Any]]) -> list[str]:
    """The metrics of train_*/val_* keys, loss first."""
    names = {key.split("_", 1)[1] for r in epoch_records for key in r if key.startswith(("train_", "val_"))}
    return sorted(names, key=lambda n: (n != "loss", n))


def log_scale(name: str, values: Iterable[float]) -> bool:
    values = [v for v in values if isinstance(v, (int, float))]
    return name == "loss" and bool(values) and all(v > 0 for v in values)


# -- the run report ---------------------------------------------------------------------------------

def learning_curves(epoch_records: list[dict[str, Any]]) -> str:
    charts = []
    for name in metric_names(epoch_records):
        series = [Series(split, tuple(r["epoch"] for r in epoch_records if f"{split}_{name}" in r),
                         tuple(r[f"{split}_{name}"] for r in epoch_records if f"{split}_{name}" in r),
                         dashed=split == "train")
                  for split in ("train", "val") if any(f"{split}_{name}" in r for r in epoch_records)]
        log = log_scale(name, [v for s in series for v in s.ys])
        charts.append(svg_image(line_chart(name, series, "epoch", log_y=log), f"learning curve: {name}"))
    return f"<div class=charts>{''.join(charts)}</div>"


def _evaluations(run: RunDir) -> list[str]:
    parts = []
    for metrics_file in sorted(run.eval_dir.glob("*/metrics.json")):
        evaluation = read_json(metrics_file)
        split = metrics_file.parent.name
        # Classifiers write {"metrics", "per_class"}; detectors their DetectionEvaluation (summary + classes).
        summary = evaluation.get("metrics") or {k: v for k, v in evaluation.items()
                                                if v is None or isinstance(v, (int, float, str))}
        parts += [f"<h2 id=eval-{html.escape(split)}>Evaluation: {html.escape(split)}</h2>",
                  table([{"metric": k, "value": v} for k, v in summary.items()], ["metric", "value"])]
        rows = evaluation.get("per_class", {})
        per_class = ([{"class": name, **row} for name, row in rows.items()] if isinstance(rows, dict) else
                     [{k: v for k, v in row.items() if not isinstance(v, (list, dict))}
                      for row in evaluation.get("classes", [])])
        if per_class:
            parts += ["<h3>Per class</h3>", table(per_class)]
        parts += [image_file(png) for png in sorted(metrics_file.parent.glob("*.png"))]
    return parts


def read_sections(run: RunDir) -> list[Section | tuple[str, str]]:
    """The interpretability sections in report order; an unreadable one becomes (key, reason)."""
    found: list[Section | tuple[str, str]] = []
    for file in sorted((run.path / "interpret").glob("*/section.json")):
        try:
            data = read_json(file)
            data["figures"] = tuple(Figure(**f) for f in data.get("figures", ()))
            data["tables"] = tuple(data.get("tables", ()))
            found.append(Section(**data))
        except (OSError, ValueError, TypeError) as error:  # one broken section must not hide the others
            found.append((file.parent.name, f"{type(error).__name__}: {error}"))
    return sorted(found, key=lambda s: (s.order, s.key) if isinstance(s, Section) else (10**9, s[0]))


def section_html(run: RunDir, section: Section | tuple[str, str]) -> str:
    if not isinstance(section, Section):
        key, reason = section
        return f"<h2 id=section-{html.escape(key)}>{html.escape(key)}</h2><p class=muted>unreadable section: {html.escape(reason)}</p>"
    parts = [f"<h2 id=section-{html.escape(section.key)}>{html.escape(section.title)}</h2>", paragraphs(section.text)]
    root = run.path.resolve()
    for figure in section.figures:
        path = (run.path / figure.path).resolve()
        if not path.is_relative_to(root):  # a section names files of its own run only
            parts.append(f"<p class=muted>picture outside the run left out: {html.escape(figure.path)}</p>")
            continue
        parts.append(image_file(path, figure.caption or path.name))
    parts += [table(rows) for rows in section.tables if rows]
    return "".join(parts)


def data_summary(data: dict[str, Any]) -> str:
    """data.json as a table: values as they are, long lists and mappings as their size (expandable)."""
    rows = []
    for key, value in data.items():
        if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
            shown = ", ".join(f"{k}: {len(v)}" for k, v in value.items())  # e.g. split indices
        elif isinstance(value, dict) and len(value) > 8:
            inner = table([{"key": k, "value": v} for k, v in value.items()], ["key", "value"])
            shown = f"<details><summary>{len(value)} entries</summary>{inner}</details>"
            rows.append(f"<tr><td>{html.escape(key)}</td><td>{shown}</td></tr>")
            continue
        elif isinstance(value, dict):
            shown = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            shown = f"{len(value)} items" if len(value) > 8 else ", ".join(str(v) for v in value)
        else:
            shown = value
        rows.append(f"<tr><td>{html.escape(key)}</td><td>{cell(shown)}</td></tr>")
    return f"<table><tr><th>key</th><th>value</th></tr>{''.join(rows)}</table>"


def build_report(run_path: str | Path) -> Path:
    """Write `report/index.html` for a run and return its path."""
    run = RunDir.open(run_path)
    info, config = run.info(), run.read_config()
    epochs = run.epoch_records()
    planned = config.get("train", {}).get("epochs") if isinstance(config.get("train"), dict) else None
    updated = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.get("updated", time.time())))
    parts = [f"<h1>{html.escape(run.name)}</h1>",
             f"<p class=muted>task {html.escape(str(info.get('task')))} · status {html.escape(str(info.get('status')))}"
             f" · epoch {epochs[-1]['epoch'] if epochs else 0} of {planned if planned is not None else '?'}"
             f" · updated {updated} · command <code>{html.escape(str(info.get('command', '')))}</code></p>"]
    body: list[tuple[str, str, list[str]]] = []  # (anchor, navigation label, html parts)
    if epochs:
        last = {k: v for k, v in epochs[-1].items() if k.startswith(("train_", "val_"))}
        body.append(("curves", "Learning curves", [
            "<h2 id=curves>Learning curves</h2>", learning_curves(epochs),
            f"<p>Last epoch ({epochs[-1]['epoch']}): " + ", ".join(f"{html.escape(k)} {cell(v)}" for k, v in last.items())
            + "</p>"]))
    model_meta = run.model_dir / "model.json"
    if model_meta.is_file():
        metrics = read_json(model_meta).get("metrics", {})
        body.append(("model", "Model", ["<h2 id=model>Model</h2>",
                                        table([{"metric": k, "value": v} for k, v in metrics.items()], ["metric", "value"])]))
    evaluations = _evaluations(run)
    if evaluations:
        body.append(("eval", "Evaluation", ["<span id=eval></span>", *evaluations]))
    for section in read_sections(run):
        key = section.key if isinstance(section, Section) else section[0]
        label = section.title if isinstance(section, Section) else key
        body.append((f"section-{key}", label, [section_html(run, section)]))
    plots = [p for p in sorted(run.plots.glob("*.png")) if p.name != LEARNING_CURVES_PNG] if run.plots.is_dir() else []
    if plots:
        body.append(("plots", "Plots", ["<h2 id=plots>Plots</h2>", *(image_file(p) for p in plots)]))
    data_file = run.path / "data.json"
    if data_file.is_file():
        body.append(("data", "Data", ["<h2 id=data>Data</h2>", data_summary(read_json(data_file))]))
    if epochs:
        columns = [c for c in epochs[-1] if c not in ("kind", "time")]
        body.append(("epochs", "Epochs", ["<h2 id=epochs>Epochs</h2>",
                                          f"<details><summary>{len(epochs)} epochs</summary>{table(epochs, columns)}</details>"]))
    body.append(("config", "Config", ["<h2 id=config>Config</h2>", f"<pre>{html.escape(json.dumps(config, indent=2))}</pre>"]))
    parts.append("<nav>" + "".join(f'<a href="#{html.escape(anchor)}">{html.escape(label)}</a>'
                                   for anchor, label, _ in body) + "</nav>")
    parts += [piece for _, _, pieces in body for piece in pieces]
    target = run.path / "report" / "index.html"
    atomic_write_text(target, page(run.name, parts))
    return target
