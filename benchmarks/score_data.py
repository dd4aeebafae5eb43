"""Score data generation speed: pages/s at 1240 px page width, and where the time goes.

    .venv/bin/python benchmarks/score_data.py [--pages 40] [--workers 2] [--seed 0]

Target: ≥ 1 page/s with 2 workers. Stage times are summed over all pages (CPU seconds across workers).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep the dataset here (default: a temp folder)")
    args = parser.parse_args()
    from deepwild.core.io import read_json
    from deepwild.datagen.scores.generate import ScoreDataConfig, generate_scores

    with tempfile.TemporaryDirectory() as temp:
        out = args.out or Path(temp) / "scores"
        start = time.perf_counter()
        result = generate_scores(ScoreDataConfig(pages=args.pages, seed=args.seed), out, workers=args.workers)
        wall = time.perf_counter() - start
        manifest = read_json(out / "manifest.json")
    total = sum(result.seconds.values()) or 1.0
    print(f"score data: {result.pages} pages in {wall:.1f} s = {result.pages / wall:.2f} pages/s with "
          f"{args.workers} workers (load average {os.getloadavg()[0]:.2f}); target ≥ 1 page/s: "
          f"{'met' if result.pages / wall >= 1 else 'NOT met'}")
    print("where the time goes (summed over pages): " + ", ".join(
        f"{stage} {value:.1f} s ({100 * value / total:.0f}%)" for stage, value in
        sorted(result.seconds.items(), key=lambda item: -item[1])))
    coverage = manifest["ink_coverage"]
    print(f"ink covered by boxes: mean {coverage['mean']:.4f}, min {coverage['min']:.4f}; "
          f"{len(result.skipped)} scores skipped")


if __name__ == "__main__":
    main()
