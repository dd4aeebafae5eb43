"""What each lesson buys: the DWD trained the same short way with and without imbalance handling
(weighted losses + rare-class oversampling) and with and without augmentation, scored on the same
pages; rare classes are those with fewer than --rare training symbols.

    .venv/bin/python benchmarks/omr_ablation.py [--data data/scores] [--epochs 4] [--crops 600]

Each variant trains for epochs × crops crops (the shipped model saw 16 × 1800); the figures compare
the variants with each other, not with the shipped model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "data" / "scores")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--crops", type=int, default=600)
    parser.add_argument("--pages", type=int, default=10, help="test pages scored per variant")
    parser.add_argument("--rare", type=int, default=300, help="a class with fewer training symbols is rare")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--energy-threshold", type=float, default=2.0, help="decoding threshold (the shipped model's)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from deepwild.data.dataset_folder import load_symbol_dataset
    from deepwild.data.symbols import SymbolDataset
    from deepwild.engine.config import TrainConfig
    from deepwild.tasks.omr import Config, train
    from deepwild.tasks.omr.detect import Detector
    from deepwild.tasks.omr.evaluate import run_evaluation

    base = Config(data=str(args.data))
    base = replace(base, crop=replace(base.crop, crops_per_epoch=args.crops),
                   postprocess=replace(base.postprocess, energy_threshold=args.energy_threshold),
                   train=replace(base.train, epochs=args.epochs, progress="off", threads=args.threads))
    variants = {
        "full (weighted losses + oversampling + augmentation)": base,
        "no imbalance handling (plain CE, uniform crops)": replace(base, imbalance="none",
                                                                   crop=replace(base.crop, oversample_rare=False)),
        "no augmentation": replace(base, crop=replace(base.crop, augment=False)),
    }
    dataset = load_symbol_dataset(args.data)
    counts = dataset.split("train").class_counts()
    test = dataset.split("test")
    test = SymbolDataset(test.pages[:args.pages], test.root)
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for name, config in variants.items():
            start = time.perf_counter()
            outcome = train(config, root=root, name=f"ablation{len(rows)}")
            minutes = (time.perf_counter() - start) / 60
            result = run_evaluation(Detector.load(outcome.run.model_dir), test).evaluation
            scored = [c for c in result.classes if c.ground_truth_count and c.ap50 is not None]
            rare = [c for c in scored if counts.get(c.class_name, 0) < args.rare]
            rare_map = sum(c.ap50 for c in rare) / len(rare) if rare else float("nan")
            rows.append((name, result.core_map50, result.map50, rare_map, len(rare), minutes))
            print(f"{name}: core mAP@0.5 {result.core_map50:.4f}, mAP@0.5 {result.map50:.4f}, "
                  f"rare-class mAP@0.5 {rare_map:.4f} ({len(rare)} classes), {minutes:.1f} min", flush=True)
    print(f"\n| variant ({args.epochs} epochs × {args.crops} crops) | core mAP@0.5 | mAP@0.5 | rare-class mAP@0.5 |"
          "\n|---|---|---|---|")
    for name, core, overall, rare_map, rare_count, _ in rows:
        print(f"| {name} | {core:.4f} | {overall:.4f} | {rare_map:.4f} ({rare_count} classes) |")


if __name__ == "__main__":
    main()
