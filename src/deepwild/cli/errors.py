"""How the CLI ends: one clear line and a non-zero exit for every error; `--debug` shows the traceback."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable

from deepwild.core.errors import DeepwildError


def debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("DEEPWILD_DEBUG", "") not in ("", "0")


def fail(message: str, code: int) -> None:
    print(f"deepwild: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def run_guarded(entry: Callable[[], object], argv: list[str]) -> None:
    """Run the typer app (which handles usage errors, --help and Ctrl-C itself) and turn every
    exception that escapes it into one line."""
    debug = debug_requested(argv)
    try:
        entry()
    except DeepwildError as error:
        if debug:
            traceback.print_exc()
        message = error.message + (f" — {error.hint}" if error.hint else "")
        fail(message, error.exit_code)
    except OSError as error:  # disk full, permission denied, ...: the user's environment, not a bug
        if debug:
            traceback.print_exc()
        fail(f"{error.strerror or error}{': ' + str(error.filename) if error.filename else ''}", 1)
    except Exception as error:  # a bug: still one line, with the way to the traceback
        if debug:
            traceback.print_exc()
            sys.exit(1)
        fail(f"unexpected {type(error).__name__}: {error} (run again with --debug for the traceback)", 1)
