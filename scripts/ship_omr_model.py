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
    parser.add_argument("--tune-data", type=Path, default=None,
                        help="choose the decoding on the pages of this dataset folder (e.g. `deepwild data scores --seed 1`) "
                             "whose pieces the training data has not got, in the training fonts; default: the validation split")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the package here instead of the shipped model's folder (to compare candidates)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    from deepwild.core.package import load_model_package, save_model_package
    from deepwild.data.dataset_folder import load_symbol_dataset
    from deepwild.data.symbols import SymbolDataset
    from deepwild.engine.run import RunDir, training_wall_minutes
    from deepwild.tasks.omr.detect import Detector
    from deepwild.tasks.omr.evaluate import own_settings, run_evaluation, tune_decoding
    from deepwild.tasks.omr.shipped import SHIPPED_MODEL

    run = RunDir.open(args.run)
    detector = Detector.load(run.model_dir)
    dataset = load_symbol_dataset(args.data)
    if args.energy_threshold is not None:
        detector.postprocess = dataclasses.replace(detector.postprocess, energy_threshold=args.energy_threshold)
    elif args.tune_data is not None:
        val = held_out_pages(load_symbol_dataset(args.tune_data), dataset)
        print(f"tuning on {len(val.pages)} pages of {args.tune_data} (pieces and fonts the test splits do not share)")
        detector.postprocess = tune_decoding(detector, val, log=print)
    else:
        val = SymbolDataset(dataset.split("val").pages[:args.val_pages], dataset.root)
        detector.postprocess = tune_decoding(detector, val, log=print)
    chosen = detector.postprocess
    where = "tuning pages" if args.tune_data is not None else "val"
    figures = {f"energy thresholds per group (chosen on {where})": list(chosen.group_thresholds) or chosen.energy_threshold,
               f"split margins per group (chosen on {where})": list(chosen.group_split_margins) or chosen.split_margin,
               f"classes with a threshold and margin of their own (chosen on {where})": {
                   name: list(setting) for name, setting in
                   own_settings(chosen, detector.package.class_names, detector.class_groups).items()}}
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
    config = {**package.config, "postprocess": dataclasses.asdict(chosen)}  # the decoding as evaluated above
    training_minutes = training_wall_minutes(run)
    package = dataclasses.replace(
        package, name="omr-dwd-shipped", config=config, metrics={**package.metrics, **figures},
        provenance={**package.provenance, "data command": "deepwild data scores --out data/scores --pages 200 --seed 0 --workers 2",
                    **({"decoding tuned on": f"{len(val.pages)} pages of {tuning_command(args.tune_data)} whose pieces "
                                             "data/scores has not got, in the training fonts"}
                       if args.tune_data is not None else {}),
                    "training minutes (2 CPU cores, wall time while training ran)": round(training_minutes, 1)})
    target = args.out or SHIPPED_MODEL
    save_model_package(target, package, state)
    print(f"shipped → {target}")


def tuning_command(folder: Path) -> str:
    """The command that made a generated dataset folder, from its manifest."""
    from deepwild.core.io import read_json

    config = read_json(folder / "manifest.json")["config"]
    return f"`deepwild data scores --out {folder} --pages {config['pages']} --seed {config['seed']}`"


def held_out_pages(tuning, dataset):
    """The pages of `tuning` whose piece appears nowhere in `dataset` (the model never saw it, and no test page
    shows it), engraved in a training font (the unseen font stays unseen)."""
    from deepwild.data.symbols import SymbolDataset

    known_pieces = {page.piece for page in dataset.pages}
    unseen_fonts = {page.font for page in dataset.split("test-unseen-font").pages}
    pages = [page for page in tuning.pages if page.piece not in known_pieces and page.font not in unseen_fonts]
    return SymbolDataset(pages, tuning.root)


if __name__ == "__main__":
    main()
