"""How an interpretability hook hands its results to the run report: a section file in the run.

Each hook writes `interpret/<key>/section.json` (title, text, figures and tables, paths relative to
the run) next to its pictures; the report renders every section it finds, in `order`, without
importing the hooks. A section is rewritten atomically, so a report built mid-training never reads half.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deepwild.core.io import atomic_write_json, read_json


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the run directory
    caption: str = ""


@dataclass(frozen=True)
class Section:
    key: str  # folder name under interpret/
    title: str
    order: int  # report position among sections (smaller first)
    text: str = ""  # a paragraph of plain text: what the section shows and its known limits
    figures: tuple[Figure, ...] = ()
    tables: tuple[list[dict[str, Any]], ...] = ()  # each a list of rows with the same keys
    extra: dict[str, Any] = field(default_factory=dict)


def section_dir(run_path: str | Path, key: str) -> Path:
    path = Path(run_path) / "interpret" / key
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_section(run_path: str | Path, section: Section) -> Path:
    target = section_dir(run_path, section.key) / "section.json"
    atomic_write_json(target, asdict(section))
    return target


def read_sections(run_path: str | Path) -> list[Section]:
    sections = []
    for file in sorted((Path(run_path) / "interpret").glob("*/section.json")):
        data = read_json(file)
        data["figures"] = tuple(Figure(**f) for f in data.get("figures", ()))
        data["tables"] = tuple(data.get("tables", ()))
        sections.append(Section(**data))
    return sorted(sections, key=lambda s: (s.order, s.key))
