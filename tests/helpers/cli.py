"""Running the command line in-process, as a user would, for tests of its output and exit codes."""

from __future__ import annotations

import sys

from deepwild.cli import main as cli


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run `deepwild ARGS` in-process; the exit code, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["deepwild", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
