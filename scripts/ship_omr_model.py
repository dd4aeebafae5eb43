"""Put a trained OMR run's model into the package as the shipped detector, with its evaluation.

    .venv/bin/python scripts/ship_omr_model.py runs/omr-dwd-v2 --data data/scores [--energy-threshold T]

The decoding's energy threshold and split margin of each energy group are chosen on the validation
split (never on test) unless a threshold is given;
the test, unseen-font and DeepScoresV2-fixture figures go into the package's metrics and model card.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", type=Path, default=REPO / "data" / "scores")
    parser.add_argument("--energy-threshold", type=float, default=None)
    parser.add_argument("--val-pages", type=int, default=9)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    from deepwild.core.package import load_model_package, save_model_package
    from deepwild.data.dataset_folder import load_symbol_dataset
    from deepwild.data.symbols import SymbolDataset
    from deepwild.engine.run import RunDir
    from deepwild.tasks.omr.detect import Detector
    from deepwild.tasks.omr.evaluate import run_evaluation, tune_decoding
    from deepwild.tasks.omr.shipped import SHIPPED_MODEL

    run = RunDir.open(args.run)
    detector = Detector.load(run.model_dir)
    dataset = load_symbol_dataset(args.data)
    if args.energy_threshold is not None:
        detector.postprocess = dataclasses.replace(detector.postprocess, energy_threshold=args.energy_threshold)
    else:
        val = SymbolDataset(dataset.split("val").pages[:args.val_pages], dataset.root)
        detector.postprocess = tune_decoding(detector, val, log=print)
    chosen = detector.postprocess
    figures = {"energy thresholds per group (chosen on val)": list(chosen.group_thresholds) or chosen.energy_threshold,
               "split margins per group (chosen on val)": list(chosen.group_split_margins) or chosen.split_margin,
               "classes with a threshold and margin of their own (chosen on val)": {
                   name: [t, m] for name, t, m, g in zip(detector.package.class_names, chosen.class_thresholds,
                                                         chosen.class_split_margins, detector.class_groups.tolist())
                   if (t, m) != (chosen.group_thresholds[g], chosen.group_split_margins[g])}}
    fixture = REPO / "tests" / "fixtures" / "deepscores_v2_sample"
    for name, data in (("test", dataset.split("test")), ("test-unseen-font", dataset.split("test-unseen-font")),
                       ("deepscores-v2-fixture", load_symbol_dataset(fixture))):
        start = time.perf_counter()
        evaluation = run_evaluation(detector, data).evaluation
        figures[f"{name} core mAP@0.5"] = round(evaluation.core_map50, 4)
        figures[f"{name} core mAP@[.5:.95]"] = round(evaluation.core_map, 4)
        figures[f"{name} mAP@0.5"] = round(evaluation.map50, 4)
        print(f"{name}: core mAP@0.5 {evaluation.core_map50:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    package, state = load_model_package(run.model_dir)
    config = {**package.config, "postprocess": {**package.config["postprocess"],
                                                "group_thresholds": list(chosen.group_thresholds),
                                                "group_split_margins": list(chosen.group_split_margins),
                                                "class_thresholds": list(chosen.class_thresholds),
                                                "class_split_margins": list(chosen.class_split_margins)}}
    training_minutes = (run.epoch_records()[-1]["time"] - run.info()["created"]) / 60
    package = dataclasses.replace(
        package, name="omr-dwd-shipped", config=config, metrics={**package.metrics, **figures},
        provenance={**package.provenance, "data command": "deepwild data scores --out data/scores --pages 200 --seed 0 --workers 2",
                    "training minutes (2 CPU cores)": round(training_minutes, 1)})
    save_model_package(SHIPPED_MODEL, package, state)
    print(f"shipped → {SHIPPED_MODEL}")


if __name__ == "__main__":
    main()
