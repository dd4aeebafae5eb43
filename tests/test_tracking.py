"""MLflow mirroring: refused clearly when MLflow is missing, and complete when it is there."""

from __future__ import annotations

import sys
import types

import pytest

from deepwild.core.errors import ConfigError
from deepwild.tasks import digits
from tests.helpers.tiny import tiny_config


class FakeMLflow(types.ModuleType):
    """Records the calls deepwild makes, in order."""

    def __init__(self) -> None:
        super().__init__("mlflow")
        self.calls: list[tuple[str, tuple, dict]] = []
        for name in ("set_tracking_uri", "set_experiment", "start_run", "log_params", "log_metrics",
                     "log_artifacts", "end_run"):
            setattr(self, name, self._recorder(name))

    def _recorder(self, name):
        def record(*args, **kwargs):
            self.calls.append((name, args, kwargs))
        return record

    def named(self, name):
        return [call for call in self.calls if call[0] == name]


def test_missing_mlflow_fails_before_a_run_is_created(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # makes `import mlflow` raise ImportError
    with pytest.raises(ConfigError, match=r"deepwild\[mlflow\]"):
        digits.train(tiny_config(epochs=1), root=tmp_path, name="tracked", track="mlflow")
    assert not (tmp_path / "tracked").exists()


def test_unknown_tracker_and_non_sqlite_uri_are_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", FakeMLflow())
    with pytest.raises(ConfigError, match="unknown tracker"):
        digits.train(tiny_config(epochs=1), root=tmp_path, track="wandb")
    with pytest.raises(ConfigError, match="sqlite:///"):
        digits.train(tiny_config(epochs=1), root=tmp_path, track="mlflow", tracking_uri="http://localhost:5000")


def test_run_is_mirrored_with_params_metrics_and_model(tmp_path, monkeypatch):
    fake = FakeMLflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    outcome = digits.train(tiny_config(epochs=2), root=tmp_path, name="tracked", track="mlflow")
    [(_, (uri,), _)] = fake.named("set_tracking_uri")
    assert uri.startswith("sqlite:///") and uri.endswith("mlflow.db")
    [(_, _, start)] = fake.named("start_run")
    assert start["run_name"] == "tracked"
    [(_, (params,), _)] = fake.named("log_params")
    assert params["train.epochs"] == 2 and params["task"] == "digits"
    metrics = fake.named("log_metrics")
    assert [call[2]["step"] for call in metrics] == [1, 2] and "val_accuracy" in metrics[0][1][0]
    [(_, (artifacts,), _)] = fake.named("log_artifacts")
    assert artifacts == str(outcome.run.model_dir)
    assert fake.calls[-1][0] == "end_run"
