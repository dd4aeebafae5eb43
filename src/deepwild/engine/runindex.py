"""A small SQLite index of runs (standard library only), so `deepwild runs` lists them quickly."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INDEX_FILE = "index.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    epochs INTEGER NOT NULL DEFAULT 0,
    metrics TEXT NOT NULL DEFAULT '{}'
)
"""


@dataclass(frozen=True)
class RunRecord:
    name: str
    path: str
    task: str
    status: str
    created: float
    updated: float
    epochs: int
    metrics: dict[str, Any]


def _connect(root: Path) -> sqlite3.Connection:
    root.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(root / INDEX_FILE, timeout=30)
    connection.execute(_SCHEMA)
    return connection


def upsert_run(root: Path, name: str, path: Path, task: str, status: str,
               epochs: int | None = None, metrics: dict[str, Any] | None = None) -> None:
    now = time.time()
    with _connect(root) as connection:
        connection.execute(
            "INSERT INTO runs (name, path, task, status, created, updated) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET status = excluded.status, updated = excluded.updated, path = excluded.path",
            (name, str(path.resolve()), task, status, now, now),
        )
        if epochs is not None:
            connection.execute("UPDATE runs SET epochs = ? WHERE name = ?", (epochs, name))
        if metrics is not None:
            old = json.loads(connection.execute("SELECT metrics FROM runs WHERE name = ?", (name,)).fetchone()[0])
            connection.execute("UPDATE runs SET metrics = ? WHERE name = ?", (json.dumps({**old, **metrics}), name))
    connection.close()


def list_runs(root: Path, task: str | None = None, limit: int = 50) -> list[RunRecord]:
    if not (root / INDEX_FILE).exists():
        return []
    with _connect(root) as connection:
        query = "SELECT name, path, task, status, created, updated, epochs, metrics FROM runs"
        params: tuple[Any, ...] = ()
        if task:
            query += " WHERE task = ?"
            params = (task,)
        rows = connection.execute(query + " ORDER BY created DESC LIMIT ?", (*params, limit)).fetchall()
    connection.close()
    return [RunRecord(*row[:7], metrics=json.loads(row[7])) for row in rows]
