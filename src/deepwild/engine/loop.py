"""The training loop: plain PyTorch, readable in one sitting, unchanged under torchrun/DDP.

A task describes its problem (`TrainingProblem`); `Trainer.fit()` runs epochs of optimizer steps,
validates on rank 0 after each epoch and calls the hooks. Everything else (records, checkpoints,
curves, progress, tracking) is a hook, see `engine.records`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from deepwild.core.errors import TrainingDivergedError
from deepwild.engine.config import TrainConfig
from deepwild.engine.distributed import DistInfo, all_reduce_sum, barrier, setup_distributed
from deepwild.engine.hooks import HookBase
from deepwild.engine.run import RunDir


@dataclass
class StepOutput:
    """What a task's step returns: the loss to minimise and detached scalar metrics to log."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class TrainingProblem:
    """Everything task-specific the loop needs."""

    model: torch.nn.Module
    train_set: Dataset
    val_set: Dataset | None
    step: Callable[[torch.nn.Module, Any], StepOutput]  # (model, batch on device) -> loss + metrics
    validate: Callable[[torch.nn.Module, DataLoader, torch.device], dict[str, float]] | None = None
    monitor: str = "val_loss"  # the metric that picks the best checkpoint
    monitor_mode: str = "min"
    collate_fn: Callable[[list[Any]], Any] | None = None


@dataclass
class TrainState:
    """Where training stands; saved in every checkpoint so that a resumed run continues exactly."""

    epoch: int = 0  # finished epochs
    step: int = 0  # optimizer steps so far
    batch_in_epoch: int = 0  # steps done in the current (unfinished) epoch
    epoch_sums: dict[str, float] = field(default_factory=dict)  # running sums of train metrics
    epoch_samples: int = 0
    best: float | None = None
    best_epoch: int | None = None


@dataclass(frozen=True)
class TrainResult:
    state: TrainState
    epoch_metrics: dict[str, float]


def move_to(batch: Any, device: torch.device) -> Any:
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: move_to(value, device) for key, value in batch.items()}
    return batch


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, problem: TrainingProblem, config: TrainConfig, hooks: Sequence[HookBase] = (),
                 dist: DistInfo | None = None, run: RunDir | None = None) -> None:
        self.problem, self.config = problem, config
        self.run = run  # where hooks write (None for a bare loop, e.g. in tests)
        self.dist = dist or setup_distributed(config.device)
        self.hooks = [h for h in hooks if self.dist.is_main or h.all_ranks]
        self.model = problem.model.to(self.dist.device)
        self.optimizer = self._build_optimizer()
        self.scaler = torch.amp.GradScaler(self.dist.device.type, enabled=config.precision == "16")
        self.state = TrainState()
        self.sampler = DistributedSampler(problem.train_set, num_replicas=self.dist.world_size,
                                          rank=self.dist.rank, shuffle=True, seed=config.seed)
        self.steps_per_epoch = math.ceil(len(self.sampler) / config.batch_size)
        self.last_step: dict[str, float] = {}
        self.last_epoch: dict[str, float] = {}

    def fit(self) -> TrainResult:
        cfg, dist = self.config, self.dist
        for hook in self.hooks:
            hook.before_train(self)  # a resume hook loads weights and state here, on every rank
        net = DistributedDataParallel(self.model, device_ids=[dist.device] if dist.device.type == "cuda" else None) \
            if dist.is_distributed else self.model
        while self.state.epoch < cfg.epochs:
            self._train_epoch(net)
            self.last_epoch = self._finish_epoch()
            for hook in self.hooks:
                hook.after_epoch(self)
            barrier(dist)  # other ranks wait for rank 0's validation and checkpoint
        for hook in self.hooks:
            hook.after_train(self)
        return TrainResult(state=self.state, epoch_metrics=self.last_epoch)

    def _train_epoch(self, net: torch.nn.Module) -> None:
        cfg, state = self.config, self.state
        self.sampler.set_epoch(state.epoch)  # the epoch's order depends on (seed, epoch) only
        order = list(self.sampler)[state.batch_in_epoch * cfg.batch_size:]  # skip steps done before a resume
        # The loader draws its workers' base seed from its own generator, not from the global RNG that
        # augmentation and dropout use, so a resumed run consumes random numbers exactly as an uninterrupted one.
        loader_rng = torch.Generator().manual_seed(cfg.seed * 100_003 + state.epoch * 1_009 + state.batch_in_epoch)
        loader = DataLoader(self.problem.train_set, batch_size=cfg.batch_size, sampler=order,
                            num_workers=cfg.num_workers, collate_fn=self.problem.collate_fn, generator=loader_rng)
        net.train()
        for batch in loader:
            self._set_learning_rate()
            batch = move_to(batch, self.dist.device)
            with self._autocast():
                out = self.problem.step(net, batch)
            loss_value = out.loss.detach().float()
            if self.dist.is_distributed:  # every rank must agree to stop, or the others would hang
                loss_value = torch.tensor(all_reduce_sum([loss_value.item()], self.dist)[0] / self.dist.world_size)
            if not torch.isfinite(loss_value):
                raise TrainingDivergedError(
                    f"loss became {loss_value.item()} at step {state.step + 1} (epoch {state.epoch + 1}); "
                    "the last good checkpoint is kept", hint="lower train.lr, or set train.grad_clip")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(out.loss).backward()
            if cfg.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            n = _batch_size(batch)
            self.last_step = {"loss": loss_value.item(), **{k: float(v) for k, v in out.metrics.items()},
                              "lr": self.optimizer.param_groups[0]["lr"]}
            for key, value in self.last_step.items():
                if key != "lr":
                    state.epoch_sums[key] = state.epoch_sums.get(key, 0.0) + value * n
            state.epoch_samples += n
            state.step += 1
            state.batch_in_epoch += 1
            for hook in self.hooks:
                hook.after_step(self)

    def _finish_epoch(self) -> dict[str, float]:
        state = self.state
        keys = sorted(state.epoch_sums)
        sums = all_reduce_sum([state.epoch_sums[k] for k in keys] + [float(state.epoch_samples)], self.dist)
        record = {f"train_{k}": total / max(sums[-1], 1.0) for k, total in zip(keys, sums[:-1])}
        if self.dist.is_main and self.problem.validate is not None and self.problem.val_set is not None:
            loader = DataLoader(self.problem.val_set, batch_size=self.config.batch_size,
                                num_workers=self.config.num_workers, collate_fn=self.problem.collate_fn)
            self.model.eval()
            with torch.no_grad(), self._autocast():
                record.update({f"val_{k}": v for k, v in self.problem.validate(self.model, loader, self.dist.device).items()})
        state.epoch += 1
        state.batch_in_epoch, state.epoch_sums, state.epoch_samples = 0, {}, 0
        value = record.get(self.problem.monitor)
        if value is not None and (state.best is None or
                                  (value < state.best if self.problem.monitor_mode == "min" else value > state.best)):
            state.best, state.best_epoch = value, state.epoch
        return {"epoch": state.epoch, "step": state.step, "lr": self.optimizer.param_groups[0]["lr"], **record}

    def learning_rate(self, step: int) -> float:
        cfg = self.config
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        if cfg.schedule == "constant":
            return cfg.lr
        total = max(cfg.epochs * self.steps_per_epoch - cfg.warmup_steps, 1)
        progress = min((step - cfg.warmup_steps) / total, 1.0)
        return cfg.lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress)))

    def _set_learning_rate(self) -> None:
        lr = self.learning_rate(self.state.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _build_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                                   weight_decay=cfg.weight_decay)
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.config.precision == "32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.config.precision == "bf16" else torch.float16
        return torch.autocast(self.dist.device.type, dtype=dtype)

    def state_json(self) -> dict[str, Any]:
        return {"train_state": asdict(self.state), "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {}}

    def load_state_json(self, data: dict[str, Any]) -> None:
        self.state = TrainState(**data["train_state"])
        if data.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(data["scaler"])


def _batch_size(batch: Any) -> int:
    if torch.is_tensor(batch):
        return int(batch.shape[0])
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_size(batch[0])
    if isinstance(batch, dict) and batch:
        return _batch_size(next(iter(batch.values())))
    return 1
