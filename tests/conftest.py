"""Shared test set-up: one torch thread (two threads on a busy 2-core machine are ~10× slower),
and runs written to a temp folder, never into the repo."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _runs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPWILD_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CI", "1")  # progress as lines, never a live bar
    yield
