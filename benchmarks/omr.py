"""Music symbol detection quality bars: the shipped model (or --model) on generated test pages,
on the unseen-font split and on the real DeepScoresV2 fixture page; inference time and peak memory.

    .venv/bin/python benchmarks/omr.py [--model PATH] [--data data/scores] [--threads 2]

The data is the shipped model's: `deepwild data scores --out data/scores --pages 200 --seed 0
--workers 2` (made here if missing). Targets: core-class mAP@0.5 ≥ 0.80 on the test split;
≤ 3 s per 1240 × 1754 page on 2 CPU cores (median of 5).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "deepscores_v2_sample"


def ensure_data(folder: Path) -> None:
    if (folder / "manifest.json").is_file():
        return
    print(f"generating {folder} (200 pages, seed 0) ...", flush=True)
    subprocess.run([sys.executable, "-m", "deepwild", "data", "scores", "--out", str(folder), "--pages", "200",
                    "--seed", "0", "--workers", "2"], check=True)


def report(title: str, result) -> None:
    from deepwild.tasks.omr.evaluate import CORE_CLASSES

    e = result.evaluation
    print(f"\n## {title}: {len(result.pages)} pages")
    print(f"core mAP@0.5 {e.core_map50:.4f}  core mAP@[.5:.95] {e.core_map:.4f}  mAP@0.5 (all {len(e.classes)} "
          f"classes) {e.map50:.4f}  weighted mAP@0.5 {e.weighted_map50:.4f}  mAP@[.5:.95] {e.map:.4f}")
    print("| class | core | gt | det | AP@0.5 | AP@[.5:.95] |\n|---|---|---|---|---|---|")
    for c in sorted(e.classes, key=lambda c: -c.ground_truth_count):
        if c.ground_truth_count:
            print(f"| {c.class_name} | {'✓' if c.class_name in CORE_CLASSES else ''} | {c.ground_truth_count} | "
                  f"{c.detection_count} | {c.ap50:.3f} | {c.ap:.3f} |")
    if result.ignored_classes:
        print("not scored (classes the model does not detect):", json.dumps(result.ignored_classes))


def timing(model: Path, page: Path, threads: int) -> None:
    """Median of 5 timed runs (after one warm-up) in a fresh process, and its peak memory."""
    code = f"""
import resource, statistics, time, torch
torch.set_num_threads({threads})
from pathlib import Path
from deepwild.core.images import load_grayscale
from deepwild.tasks.omr.detect import Detector
detector = Detector.load(Path({str(model)!r}))
gray = load_grayscale({str(page)!r})
detector.detect_gray(gray, "warm-up")
times = []
for _ in range(5):
    start = time.perf_counter(); result = detector.detect_gray(gray, "page"); times.append(time.perf_counter() - start)
print(statistics.median(times), min(times), max(times), len(result.symbols),
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    median, low, high, count, peak = map(float, out[:5])
    print(f"\n## inference: {page.name} ({count:.0f} symbols), {threads} threads: median {median:.2f} s of 5 "
          f"(min {low:.2f}, max {high:.2f}); peak memory {peak:.0f} MB; target ≤ 3 s: {'met' if median <= 3 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="model package or run (default: the shipped model)")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "scores")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pages", type=int, default=0, help="evaluate only the first N pages of each split (0 = all)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from deepwild.data.dataset_folder import load_symbol_dataset
    from deepwild.data.symbols import SymbolDataset
    from deepwild.engine.run import resolve_model
    from deepwild.tasks.omr.detect import Detector
    from deepwild.tasks.omr.evaluate import run_evaluation
    from deepwild.tasks.omr.shipped import shipped_model

    model = resolve_model(args.model)[0] if args.model else shipped_model()
    ensure_data(args.data)
    detector = Detector.load(model)
    print(f"model {detector.package.name} ({model}), data {args.data}")
    dataset = load_symbol_dataset(args.data)
    for split in ("test", "test-unseen-font"):
        pages = dataset.split(split).pages[:args.pages or None]
        start = time.perf_counter()
        result = run_evaluation(detector, SymbolDataset(pages, dataset.root))
        report(f"{split} ({time.perf_counter() - start:.0f} s)", result)
    report("DeepScoresV2 fixture (LilyPond engraving, 2707 × 3828)", run_evaluation(detector, load_symbol_dataset(FIXTURE)))
    timing(model, args.data / "images" / sorted(p.image for p in dataset.split("test").pages)[0].split("/")[-1],
           args.threads)
    print(f"\nbenchmark process peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
