"""The page of a lecture run: `index.html` with its pictures inlined, beside `result.json`.

A lecture run is opened in a browser during the lecture; the page needs nothing but itself (pictures
as data URIs, no script), and both files are written atomically, so a reader never sees half of one.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepwild.core.io import atomic_write_json, atomic_write_text
from deepwild.engine.run import RunDir

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "img{max-width:100%;border:1px solid #ddd}pre{background:#f6f6f6;padding:.8em;overflow-x:auto}"
         "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}")


@dataclass(frozen=True)
class Section:
    heading: str
    text: str = ""  # a paragraph (plain text, escaped)
    picture: Path | None = None  # a PNG, inlined
    preformatted: str = ""  # a table or samples, shown as printed
    table: Sequence[Sequence[Any]] = ()  # rows; the first is the header


def write_lecture_page(run: RunDir, title: str, intro: str, sections: Sequence[Section],
                       result: dict[str, Any]) -> Path:
    """Write `result.json` and `index.html` into the run folder; returns the page's path."""
    atomic_write_json(run.path / "result.json", {**result, "finished": time.time()})
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>"]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.heading)}</h2>")
        if section.text:
            parts.append(f"<p>{html.escape(section.text)}</p>")
        if section.table:
            parts.append(_table(section.table))
        if section.preformatted:
            parts.append(f"<pre>{html.escape(section.preformatted)}</pre>")
        if section.picture is not None:
            data = base64.b64encode(section.picture.read_bytes()).decode("ascii")
            parts.append(f"<p><img alt='{html.escape(section.heading)}' src='data:image/png;base64,{data}'></p>")
    parts.append(f"<p><small>run {html.escape(run.name)}; numbers in result.json</small></p></body></html>\n")
    page = run.path / "index.html"
    atomic_write_text(page, "".join(parts))
    return page


def _table(rows: Sequence[Sequence[Any]]) -> str:
    header, *body = rows
    cells = ["<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"]
    cells += ["<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in body]
    return "".join(cells) + "</table>"
