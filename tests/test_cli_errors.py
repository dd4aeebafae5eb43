"""The `deepwild` command's surface: version, help, and one-line errors (tracebacks only with --debug).

Every command here fails (or finishes) before any training, so they run in-process and fast.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import deepwild
from tests.helpers.cli import run_cli

COMMANDS = ("train", "eval", "predict", "runs", "lecture")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPWILD_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("DEEPWILD_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)  # a relative default (./runs) would land here, never in the repo




def assert_one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("deepwild: error: ")
    return lines[0]


# -- version and help ------------------------------------------------------------------------


def test_version_prints_name_and_version(monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "--version")
    assert code == 0
    assert out.strip() == f"deepwild {deepwild.__version__}"
    assert re.fullmatch(r"deepwild \d+\.\d+\.\d+\S*", out.strip())
    assert err == ""


def test_help_lists_every_command(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "--help")
    assert code == 0
    assert "Usage: deepwild" in out
    for command in COMMANDS:
        assert re.search(rf"^\W*{command}\s", out, re.MULTILINE), f"{command!r} not listed:\n{out}"


@pytest.mark.parametrize(
    ("args", "usage", "option"),
    [
        (("train", "digits"), "deepwild train digits", "--set"),
        (("eval",), "deepwild eval", "--split"),
        (("predict",), "deepwild predict", "--max-pixels"),
        (("runs",), "deepwild runs", "--runs-dir"),
        (("lecture", "descent"), "deepwild lecture descent", "--feature"),
    ],
)
def test_every_subcommand_has_help(monkeypatch, capsys, args, usage, option):
    code, out, err = run_cli(monkeypatch, capsys, *args, "--help")
    assert code == 0, err
    assert f"Usage: {usage}" in out
    assert option in out


# -- one-line user errors --------------------------------------------------------------------


def test_eval_of_missing_path_is_one_line(monkeypatch, capsys, tmp_path):
    missing = tmp_path / "missing"
    code, _, err = run_cli(monkeypatch, capsys, "eval", str(missing))
    line = assert_one_line_error(code, err)
    assert str(missing) in line
    assert "neither a model package nor a run" in line


def test_predict_with_missing_run_is_one_line(monkeypatch, capsys, tmp_path):
    image = tmp_path / "digit.png"
    image.write_bytes(b"")
    code, _, err = run_cli(monkeypatch, capsys, "predict", "no-such-run", str(image))
    line = assert_one_line_error(code, err)
    assert "no-such-run" in line


def test_train_with_unknown_set_key_is_one_line(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "train", "digits", "--set", "nosuchkey=1")
    line = assert_one_line_error(code, err)
    assert "unknown config key 'nosuchkey'" in line
    assert not (tmp_path / "runs").exists()  # failed before any run was created


def test_train_with_misspelt_nested_key_suggests_the_right_one(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "train", "digits", "--set", "train.lrr=0.1")
    line = assert_one_line_error(code, err)
    assert "'train.lrr'" in line
    assert "did you mean 'lr'" in line


def test_train_with_missing_config_file_is_one_line(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "train", "digits", "--config", "missing.yaml")
    line = assert_one_line_error(code, err)
    assert "missing.yaml" in line
    assert "does not exist" in line
    assert not (tmp_path / "runs").exists()


def test_lecture_descent_with_unknown_feature_is_one_line(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "lecture", "descent", "--feature", "nope")
    line = assert_one_line_error(code, err)
    assert "'nope'" in line
    assert "bmi" in line
    assert not (tmp_path / "runs").exists()


def test_runs_in_empty_folder_succeeds_and_says_no_runs(monkeypatch, capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run_cli(monkeypatch, capsys, "runs", "--runs-dir", str(empty))
    assert code == 0
    assert err == ""
    assert "no runs in" in out
    assert os.listdir(empty) == []


def test_runs_json_in_empty_folder_is_an_empty_list(monkeypatch, capsys, tmp_path):
    code, out, _ = run_cli(monkeypatch, capsys, "runs", "--json", "--runs-dir", str(tmp_path))
    assert code == 0
    assert out.strip() == "[]"


def test_unknown_command_is_a_usage_error_without_traceback(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "bogus")
    assert code == 2
    assert "No such command" in err
    assert "Traceback" not in err


# -- unexpected failures ---------------------------------------------------------------------


def test_os_error_is_one_line_with_exit_code_1(monkeypatch, capsys):
    from deepwild.engine import runindex

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/somewhere/index.sqlite")

    monkeypatch.setattr(runindex, "list_runs", denied)
    code, _, err = run_cli(monkeypatch, capsys, "runs")
    assert code == 1
    assert err.strip() == "deepwild: error: Permission denied: /somewhere/index.sqlite"


def test_bug_is_one_line_pointing_to_debug(monkeypatch, capsys):
    from deepwild.engine import runindex

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(runindex, "list_runs", broken)
    code, _, err = run_cli(monkeypatch, capsys, "runs")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("deepwild: error: unexpected RuntimeError: boom")
    assert "--debug" in lines[0]


# -- --debug ---------------------------------------------------------------------------------


def test_debug_flag_shows_traceback_in_process(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "--debug", "eval", str(tmp_path / "missing"))
    assert code == 2
    assert "Traceback" in err
    assert "RunNotFoundError" in err
    assert err.strip().splitlines()[-1].startswith("deepwild: error: ")


def test_debug_environment_variable_shows_traceback(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DEEPWILD_DEBUG", "1")
    code, _, err = run_cli(monkeypatch, capsys, "eval", str(tmp_path / "missing"))
    assert code == 2
    assert "Traceback" in err


def test_debug_flag_shows_traceback_from_python_m_deepwild(tmp_path):
    missing = Path(tmp_path) / "missing"
    env = {**os.environ, "DEEPWILD_RUNS": str(tmp_path / "runs")}
    env.pop("DEEPWILD_DEBUG", None)
    result = subprocess.run(
        [sys.executable, "-m", "deepwild", "--debug", "eval", str(missing)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("deepwild: error: ")
    assert str(missing) in result.stderr
