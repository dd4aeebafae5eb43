"""A page job without a model, for tests of the batch machinery: a "page" is a text file; its outputs are
`<stem>.txt` (the text upper-cased) and then `<stem>.json`; text starting "bad" is a user's bad page,
"crash" a bug, "die" kills a worker process (in the main process it is a bad page)."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepwild.core.errors import InputError


@dataclass(frozen=True)
class UpperCaseJob:
    out: Path

    def marker(self, page: Path) -> Path:
        return self.out / f"{page.stem}.json"

    def open(self) -> Callable[[Path], str]:
        def process(page: Path) -> str:
            text = page.read_text()
            if text.startswith("bad"):
                raise InputError(f"{page} is a bad page", hint="scan it again")
            if text.startswith("crash"):
                raise ZeroDivisionError("division by zero")
            if text.startswith("die"):
                if multiprocessing.parent_process() is not None:
                    os._exit(3)  # what the kernel's out-of-memory killer leaves behind: no exception, no cleanup
                raise InputError(f"{page} would kill its worker")
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / f"{page.stem}.txt").write_text(text.upper())
            (self.out / f"{page.stem}.json").write_text(json.dumps({"page": page.name, "length": len(text)}))
            (self.out / f"{page.stem}.pid").write_text(str(os.getpid()))
            return f"{len(text)} characters"

        return process

    def describe(self) -> dict[str, Any]:
        return {"command": "upper"}
