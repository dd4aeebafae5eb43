"""The training config every task embeds as its `train` section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from deepwild.core.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: Literal["adamw", "sgd"] = "adamw"
    momentum: float = 0.9  # sgd only (Nesterov)
    weight_decay: float = 0.0
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = 0
    grad_clip: float = 0.0  # max global grad norm; 0 = off
    seed: int = 0
    device: Literal["cpu", "cuda", "mps"] = "cpu"
    precision: Literal["32", "bf16", "16"] = "32"
    num_workers: int = 0
    threads: int = 0  # torch intra-op threads on CPU; 0 = torch's default
    log_every: int = 10  # steps between metrics.jsonl step records
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints; 0 = at epoch ends only
    plot_every_s: float = 30.0  # redraw learning curves at most this often (always at the end)
    progress: Literal["auto", "bar", "lines", "off"] = "auto"

    def validate(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be positive, got {self.lr}")
        for name in ("warmup_steps", "num_workers", "threads", "checkpoint_every", "grad_clip", "weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must not be negative, got {getattr(self, name)}")
        if self.log_every < 1:
            raise ConfigError(f"train.log_every must be at least 1, got {self.log_every}")
