"""Digits benchmark: test accuracy and wall time of `deepwild train digits` with its defaults.

    .venv/bin/python benchmarks/digits.py [--seeds 0 1 2] [--threads 2]

Target: test accuracy ≥ 0.97 in ≤ 60 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from deepwild.engine.config import TrainConfig
    from deepwild.tasks import digits

    rows = []
    with tempfile.TemporaryDirectory() as root:
        for seed in args.seeds:
            defaults = digits.Config()
            train = TrainConfig(**{**defaults.train.__dict__, "seed": seed, "progress": "off"})
            config = digits.Config(**{**defaults.__dict__, "train": train})
            start = time.perf_counter()
            outcome = digits.train(config, root=root, name=f"bench-{seed}")
            seconds = time.perf_counter() - start
            accuracy = outcome.package.metrics["test_accuracy"]
            rows.append((seed, accuracy, seconds))
            print(f"seed {seed}: test accuracy {accuracy:.4f}  wall {seconds:.1f} s", flush=True)
    accuracies, times = [r[1] for r in rows], [r[2] for r in rows]
    print(f"digits: test accuracy median {statistics.median(accuracies):.4f} (min {min(accuracies):.4f}), "
          f"wall median {statistics.median(times):.1f} s (max {max(times):.1f} s) on {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.2f}")
    ok = min(accuracies) >= 0.97 and max(times) <= 60
    print("target (≥ 0.97 in ≤ 60 s):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
