"""Engine overhead: the same small CNN, the same steps, a bare PyTorch loop versus deepwild's engine
with all hooks and run records on (metrics.jsonl, checkpoints, learning curves, run index, progress
lines), interleaved in one process so that machine load affects both alike.

    .venv/bin/python benchmarks/engine_overhead.py [--rounds 5] [--epochs 10] [--threads 1]

Both validate once per epoch. Target: engine steps/s ≥ 0.95 × bare loop.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader


def bare_loop(problem, epochs: int, batch_size: int, lr: float) -> int:
    model = problem.model
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    steps = 0
    for _ in range(epochs):
        model.train()
        for images, labels in DataLoader(problem.train_set, batch_size=batch_size, shuffle=True, generator=generator):
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
        model.eval()
        with torch.no_grad():
            for images, labels in DataLoader(problem.val_set, batch_size=batch_size):
                F.cross_entropy(model(images), labels)
    return steps


def engine_loop(problem, config, root: Path, name: str) -> int:
    from deepwild.engine.distributed import setup_distributed
    from deepwild.engine.records import prepare_run, run_training

    dist = setup_distributed("cpu")
    run = prepare_run("bench", dist, root, name)
    run.write_config({"task": "bench"})
    return run_training(problem, config, run, "bench", dist).state.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from deepwild.engine.config import TrainConfig
    from deepwild.tasks import digits

    base = digits.Config(max_shift=0)  # no augmentation: both loops see the same tensors
    split = digits.make_split(base)
    # The engine's defaults for records (curves redrawn every 30 s and at the end), progress as lines.
    config = TrainConfig(epochs=args.epochs, batch_size=64, lr=3e-3, schedule="constant", progress="lines")
    ratios = []
    with tempfile.TemporaryDirectory() as root:
        for round_index in range(args.rounds):
            timings = {}
            for kind in ("bare", "engine") if round_index % 2 == 0 else ("engine", "bare"):
                torch.manual_seed(round_index)
                problem = digits.build_problem(base, split)
                start = time.perf_counter()
                if kind == "bare":
                    steps = bare_loop(problem, args.epochs, config.batch_size, config.lr)
                else:
                    steps = engine_loop(problem, config, Path(root), f"round{round_index}")
                timings[kind] = steps / (time.perf_counter() - start)
            ratio = timings["engine"] / timings["bare"]
            ratios.append(ratio)
            print(f"round {round_index}: bare {timings['bare']:.1f} steps/s  engine {timings['engine']:.1f} steps/s"
                  f"  ratio {ratio:.3f}", flush=True)
    median = statistics.median(ratios)
    print(f"engine/bare steps-per-second ratio: median {median:.3f} over {args.rounds} rounds "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}); target ≥ 0.95: {'met' if median >= 0.95 else 'NOT met'}")


if __name__ == "__main__":
    main()
