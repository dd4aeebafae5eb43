"""torch.distributed set-up from the environment that `torchrun` provides.

Run alone, deepwild trains in one process. Under `torchrun --nproc_per_node K ...` each process
reads RANK/WORLD_SIZE/LOCAL_RANK, joins a process group (gloo on CPU, NCCL on CUDA) and the loop
wraps the model in DDP and the data in a DistributedSampler. Logging and checkpoints happen on rank 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from deepwild.core.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for, but this torch build sees no CUDA device", hint="use --device cpu")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError("--device mps was asked for, but MPS is not available here", hint="use --device cpu")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"unknown device {name!r}; valid: cpu, cuda, mps")


def setup_distributed(device_name: str) -> DistInfo:
    """Join the process group if launched by torchrun; otherwise a world of one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Sum a few floats over all ranks (identity in a world of one)."""
    if not info.is_distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=info.device if info.device.type == "cuda" else "cpu")
    dist.all_reduce(tensor)
    return tensor.tolist()


def barrier(info: DistInfo) -> None:
    if info.is_distributed:
        dist.barrier()
