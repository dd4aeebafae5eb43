"""What each lesson buys: the DWD trained with and without imbalance handling (weighted losses +
rare-class oversampling) and with and without augmentation, on the same data and schedule, each with
its decoding tuned on validation pages, scored on the same test pages; rare classes are those with
fewer than --rare training symbols.

    .venv/bin/python benchmarks/omr_ablation.py --base omr-dwd-v2 --variant full             # score the base run
    .venv/bin/python benchmarks/omr_ablation.py --base omr-dwd-v2 --variant no-imbalance     # train (resumable) + score
    .venv/bin/python benchmarks/omr_ablation.py --base omr-dwd-v2 --variant no-augmentation
    .venv/bin/python benchmarks/omr_ablation.py --table                                      # the table so far

The base run (the shipped model's) is the "full" variant; the others train as run
`ablation-<variant>` in the runs folder with the base run's configuration, data and schedule, less
one lesson (about an hour each on 2 CPU cores); an interrupted variant resumes where it stopped.
Results land in <runs>/ablation/<variant>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("full", "no-imbalance", "no-augmentation")
DESCRIPTIONS = {"full": "full (weighted losses + oversampling + augmentation)",
                "no-imbalance": "no imbalance handling (plain CE, uniform crops)",
                "no-augmentation": "no augmentation"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=VARIANTS)
    parser.add_argument("--base", help="the run whose configuration every variant shares (it is the full variant)")
    parser.add_argument("--table", action="store_true", help="print the table of the variants scored so far")
    parser.add_argument("--runs-dir", type=Path, default=REPO / "runs")
    parser.add_argument("--rare", type=int, default=300, help="a class with fewer training symbols is rare")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    results = args.runs_dir / "ablation"
    if args.variant:
        if not args.base:
            parser.error("--variant needs --base RUN (the run whose configuration the variants share)")
        score_variant(args, results)
    if args.table or not args.variant:
        print_table(results)


def score_variant(args: argparse.Namespace, results: Path) -> None:
    import torch

    torch.set_num_threads(args.threads)
    from deepwild.core.io import atomic_write_json
    from deepwild.data.dataset_folder import load_symbol_dataset
    from deepwild.engine.run import resolve_run
    from deepwild.tasks.omr import train
    from deepwild.tasks.omr.task import config_of_run
    from deepwild.tasks.omr.detect import Detector
    from deepwild.tasks.omr.evaluate import run_evaluation, tune_decoding

    base_run = resolve_run(args.base, args.runs_dir)
    base = config_of_run(base_run)
    dataset = load_symbol_dataset(base.data)
    counts = dataset.split("train").class_counts()
    start = time.perf_counter()
    if args.variant == "full":
        run = base_run
    else:
        config = {"no-imbalance": replace(base, imbalance="none", crop=replace(base.crop, oversample_rare=False)),
                  "no-augmentation": replace(base, crop=replace(base.crop, augment=False))}[args.variant]
        config = replace(config, train=replace(config.train, progress="lines", threads=args.threads))
        name = f"ablation-{args.variant}"
        existing = args.runs_dir / name
        if not (existing / "model" / "model.json").exists():
            resume = existing if (existing / "checkpoints" / "last").exists() else None
            train(config, root=args.runs_dir, name=name, resume=resume)
        run = resolve_run(name, args.runs_dir)
    train_minutes = (run.epoch_records()[-1]["time"] - run.info()["created"]) / 60
    detector = Detector.load(run.model_dir)
    detector.postprocess = tune_decoding(detector, dataset.split("val"), log=print)
    evaluation = run_evaluation(detector, dataset.split("test")).evaluation
    scored = [c for c in evaluation.classes if c.ground_truth_count and c.ap50 is not None]
    rare = [c for c in scored if counts.get(c.class_name, 0) < args.rare]
    result = {"variant": args.variant, "run": run.name, "config": run.read_config(),
              "core mAP@0.5": evaluation.core_map50, "mAP@0.5": evaluation.map50,
              "rare-class mAP@0.5": sum(c.ap50 for c in rare) / len(rare) if rare else None,
              "rare classes": [c.class_name for c in rare], "rare threshold": args.rare,
              "per class AP@0.5": {c.class_name: c.ap50 for c in scored},
              "training minutes": round(train_minutes, 1)}
    if dataset.split("test-unseen-font").pages:  # what augmentation is for: a font the training never saw
        unseen = run_evaluation(detector, dataset.split("test-unseen-font")).evaluation
        result.update({"unseen-font core mAP@0.5": unseen.core_map50, "unseen-font mAP@0.5": unseen.map50})
    result["scoring minutes"] = round((time.perf_counter() - start) / 60, 1)
    atomic_write_json(results / f"{args.variant}.json", result)
    print(f"{args.variant}: core mAP@0.5 {evaluation.core_map50:.4f}, mAP@0.5 {evaluation.map50:.4f}, "
          f"rare-class mAP@0.5 {result['rare-class mAP@0.5']} ({len(rare)} classes); unseen font core mAP@0.5 "
          f"{result.get('unseen-font core mAP@0.5')}")


def print_table(results: Path) -> None:
    rows = [json.loads((results / f"{v}.json").read_text()) for v in VARIANTS if (results / f"{v}.json").exists()]
    if not rows:
        print(f"no variant scored yet in {results}")
        return
    print("| variant | run | schedule | core mAP@0.5 | mAP@0.5 | rare-class mAP@0.5 | unseen font core mAP@0.5 |\n"
          "|---|---|---|---|---|---|---|")
    for row in rows:
        crop, train_config = row["config"]["crop"], row["config"]["train"]
        rare = row["rare-class mAP@0.5"]
        print(f"| {DESCRIPTIONS[row['variant']]} | {row['run']} | {train_config['epochs']} × {crop['crops_per_epoch']} crops | "
              f"{row['core mAP@0.5']:.4f} | {row['mAP@0.5']:.4f} | "
              f"{'—' if rare is None else f'{rare:.4f}'} ({len(row['rare classes'])} classes) | "
              f"{row.get('unseen-font core mAP@0.5', float('nan')):.4f} |")


if __name__ == "__main__":
    main()
