"""Imports run one way: cli → serve, report → tasks, lecture → interpret, robust → engine, datagen →
models, data → core (datagen writes data's formats; engine and datagen never import each other). Nothing imports cli; engine knows no task; sibling tasks never
import each other."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "deepwild"
LEVEL = {"core": 0, "models": 1, "data": 1, "datagen": 2, "engine": 2, "interpret": 3, "robust": 3,
         "tasks": 4, "lecture": 4, "serve": 5, "report": 5, "cli": 6}
# Task packages that must stay independent of each other.
INDEPENDENT_TASKS = {"omr", "news"}


def deepwild_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every deepwild import in a file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package_parts = ["deepwild", *path.relative_to(PACKAGE).with_suffix("").parts[:-1]]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("deepwild")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[:len(package_parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("deepwild"):
                found.append((node.lineno, module))
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LEVEL else None


def violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        source_layer = relative.parts[0] if len(relative.parts) > 1 else None
        for line, module in deepwild_imports(path):
            target_layer = layer_of(module)
            where = f"{relative}:{line} imports {module}"
            if source_layer is None or target_layer is None:
                if source_layer is not None and module not in ("deepwild",):
                    problems.append(f"{where}: only `from deepwild import __version__` may skip the layers")
                continue
            if target_layer == source_layer:
                if source_layer == "tasks":
                    own, other = relative.parts[1].removesuffix(".py"), module.split(".")[2] if module.count(".") >= 2 else ""
                    if own in INDEPENDENT_TASKS and other in INDEPENDENT_TASKS and own != other:
                        problems.append(f"{where}: task {own} must not import task {other}")
                continue
            if LEVEL[target_layer] >= LEVEL[source_layer]:
                problems.append(f"{where}: {source_layer} may not import {target_layer}")
    return problems


def test_imports_run_one_way():
    assert violations() == []


def test_the_checker_catches_a_wrong_import(tmp_path, monkeypatch):
    fake = tmp_path / "deepwild"
    (fake / "engine").mkdir(parents=True)
    (fake / "engine" / "bad.py").write_text("from deepwild.tasks import digits\nfrom ..cli import main\n")
    (fake / "core").mkdir()
    (fake / "core" / "ok.py").write_text("from deepwild.core.errors import DeepwildError\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    found = violations()
    assert len(found) == 2 and "engine may not import tasks" in found[0] and "engine may not import cli" in found[1]


def test_help_does_not_import_torch():
    """`deepwild --help` must start fast: no torch, matplotlib or sklearn behind it."""
    code = ("import sys; sys.argv = ['deepwild', '--help']\n"
            "from deepwild.cli.main import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'matplotlib', 'sklearn') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in done.stdout, done.stdout[-500:] + done.stderr[-500:]
