"""Reading a dataset folder written by `deepwild data scores` (or any folder of DeepScoresV2 JSON files)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from deepwild.core.errors import InputError
from deepwild.data.deepscores import read_deepscores_json
from deepwild.data.symbols import SymbolDataset


def load_symbol_dataset(folder: str | Path) -> SymbolDataset:
    """All pages of a folder's `deepscores_<split>.json` files (the split taken from the file name when a
    page does not name it), with the manifest as `info`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"dataset folder {folder} does not exist", hint="make one with `deepwild data scores --out DIR`")
    files = sorted(folder.glob("deepscores_*.json")) or sorted(folder.glob("*.json"))
    files = [f for f in files if f.name != "manifest.json"]
    if not files:
        raise InputError(f"{folder} holds no DeepScoresV2 annotation files (deepscores_<split>.json)")
    pages = []
    for path in files:
        split = path.stem.removeprefix("deepscores_") if path.stem.startswith("deepscores_") else ""
        dataset = read_deepscores_json(path, root=folder)
        pages += [page if page.split or not split else replace(page, split=split) for page in dataset.pages]
    info = {}
    if (folder / "manifest.json").is_file():
        try:
            info = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise InputError(f"{folder / 'manifest.json'} is not valid JSON") from None
    if not pages:
        raise InputError(f"dataset folder {folder} holds no pages")
    return SymbolDataset(pages=tuple(pages), root=folder, info=info)
