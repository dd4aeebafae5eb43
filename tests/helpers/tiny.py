"""A tiny, fast digits configuration and a few hooks for engine tests (also run as a script)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch

from deepwild.engine.config import TrainConfig
from deepwild.engine.hooks import HookBase
from deepwild.tasks import digits


def tiny_digits_package(folder: Path) -> Path:
    """An untrained digits model package (16×16 inputs, width 4) in `folder`: enough for commands that load one."""
    from deepwild.core.config import config_to_dict
    from deepwild.core.package import ModelPackage, save_model_package
    from deepwild.models import build_model

    torch.manual_seed(0)
    model = build_model("small_cnn", in_channels=1, num_classes=10, width=4, dropout=0.1)
    save_model_package(folder, ModelPackage(
        name="digits-tiny", task="digits", architecture="small_cnn",
        model_args={"in_channels": 1, "num_classes": 10, "width": 4, "dropout": 0.1},
        class_names=tuple(str(d) for d in range(10)), input={"kind": "digit", "image_size": 16},
        config=config_to_dict(digits.Config(image_size=16, width=4))), model.state_dict())
    return folder


def tiny_config(epochs: int = 3, checkpoint_every: int = 0, seed: int = 0) -> digits.Config:
    # 16×16 inputs and width 8: ~20 steps an epoch in well under a second on one thread.
    return digits.Config(image_size=16, width=8, train=TrainConfig(
        epochs=epochs, batch_size=64, lr=3e-3, warmup_steps=5, seed=seed, checkpoint_every=checkpoint_every,
        progress="off", plot_every_s=1e9, threads=1))


class KillAtStep(HookBase):
    """SIGKILLs its own process after a given optimizer step: an interruption nobody can clean up after."""

    def __init__(self, step: int) -> None:
        self.step = step

    def after_step(self, trainer) -> None:
        if trainer.state.step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class SaveWeightsPerRank(HookBase):
    """Every rank writes its final parameters, so a test can compare them."""

    all_ranks = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def after_train(self, trainer) -> None:
        from safetensors.torch import save_file

        params = {name: p.detach().cpu().contiguous() for name, p in trainer.model.named_parameters()}
        save_file(params, str(self.folder / f"rank{trainer.dist.rank}.safetensors"))


if __name__ == "__main__":
    # python tiny.py kill ROOT NAME EPOCHS CHECKPOINT_EVERY KILL_STEP   |   python tiny.py ddp ROOT OUT EPOCHS
    torch.set_num_threads(1)
    mode, root = sys.argv[1], sys.argv[2]
    if mode == "kill":
        name, epochs, every, kill_step = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
        digits.train(tiny_config(epochs, every), root=root, name=name, extra_hooks=(KillAtStep(kill_step),))
    elif mode == "ddp":
        out, epochs = Path(sys.argv[3]), int(sys.argv[4])
        digits.train(tiny_config(epochs), root=root, name="ddp", extra_hooks=(SaveWeightsPerRank(out),))
