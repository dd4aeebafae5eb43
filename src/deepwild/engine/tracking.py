"""Optional mirroring of a run to MLflow (`--track mlflow`, extra `deepwild[mlflow]`).

The tracking URI is always an explicit SQLite database (default: `<runs root>/mlflow.db`), so
nothing depends on a server or on MLflow's default file store.
"""

from __future__ import annotations

from typing import Any

from deepwild.core.errors import ConfigError
from deepwild.engine.hooks import HookBase
from deepwild.engine.loop import Trainer
from deepwild.engine.run import RunDir


def default_tracking_uri(run: RunDir) -> str:
    return f"sqlite:///{(run.path.parent / 'mlflow.db').resolve()}"


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_tracking(track: str | None, tracking_uri: str | None = None) -> None:
    """Fail before a run is created if the tracker asked for cannot work."""
    if track in (None, "", "none"):
        return
    if track != "mlflow":
        raise ConfigError(f"unknown tracker {track!r}; valid: mlflow")
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise ConfigError("--track mlflow needs MLflow", hint="pip install 'deepwild[mlflow]'") from None
    if tracking_uri is not None and not tracking_uri.startswith("sqlite:///"):
        raise ConfigError(f"MLflow tracking URI must be an explicit sqlite:/// URI, got {tracking_uri!r}")


class MLflowHook(HookBase):
    """Mirrors params, per-epoch metrics and, at the end, the model package to MLflow."""

    def __init__(self, run: RunDir, tracking_uri: str | None = None, experiment: str = "deepwild") -> None:
        check_tracking("mlflow", tracking_uri)
        import mlflow

        uri = tracking_uri or default_tracking_uri(run)
        self.mlflow, self.run, self.uri, self.experiment = mlflow, run, uri, experiment

    def before_train(self, trainer: Trainer) -> None:
        self.mlflow.set_tracking_uri(self.uri)
        self.mlflow.set_experiment(self.experiment)
        self.mlflow.start_run(run_name=self.run.name)
        self.mlflow.log_params(flatten(self.run.read_config()))

    def after_epoch(self, trainer: Trainer) -> None:
        metrics = {k: float(v) for k, v in trainer.last_epoch.items() if k.startswith(("train_", "val_"))}
        self.mlflow.log_metrics(metrics, step=trainer.state.epoch)

    def after_train(self, trainer: Trainer) -> None:
        # Runs after the task's export hook, so the model package is complete here.
        if self.run.model_dir.is_dir():
            self.mlflow.log_artifacts(str(self.run.model_dir), artifact_path="model")
        self.mlflow.end_run()
