"""Newspaper segmentation bars: a trained model on generated test pages (seen layouts) and on the
unseen-layout split; end-to-end time per page (read, layout channel, network, decoding, outputs).

    .venv/bin/python benchmarks/news.py [--model RUN_OR_PACKAGE] [--data data/news] [--threads 2] [--timing-pages 10]

Bars: DER ≤ 0.15 and completeness ≥ 0.6 on pages from unseen seeds and layouts (Meier et al. report
0.138 / 0.544 on their real pages); ≤ 1 s per page end to end on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

DER_BAR, COMPLETENESS_BAR, SECONDS_BAR = 0.15, 0.6, 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a run or package (default: the shipped model)")
    parser.add_argument("--data", default="data/news")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timing-pages", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from deepwild.data.newspapers import load_newspaper_dataset
    from deepwild.tasks.news import evaluate
    from deepwild.engine.run import resolve_model
    from deepwild.tasks.news.segment import Segmenter, segment_page
    from deepwild.tasks.news.shipped import shipped_model

    model = resolve_model(args.model)[0] if args.model else shipped_model()

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs, {args.threads} threads", flush=True)
    for split in ("test", "test-unseen-layout"):
        result = evaluate(model, split, data=args.data)
        m = result.metrics
        met = m["DER"] <= DER_BAR and m["completeness"] >= COMPLETENESS_BAR
        print(f"{split} ({int(m['pages'])} pages): DER {m['DER']:.3f}, completeness {m['completeness']:.3f}, "
              f"F1 {m['F1']:.3f} (P {m['precision']:.3f}, R {m['recall']:.3f}); on text pixels DER {m['text DER']:.3f}, "
              f"completeness {m['text completeness']:.3f} (bar DER ≤ {DER_BAR}, completeness ≥ {COMPLETENESS_BAR}): "
              f"{'met' if met else 'NOT met'}", flush=True)
    pages = [p.image for p in load_newspaper_dataset(args.data).split("test")[:args.timing_pages]]
    segmenter = Segmenter.from_package(model)  # loaded once, as `segment` and the service do
    with tempfile.TemporaryDirectory() as out:
        segment_page(segmenter, pages[0], Path(out))  # warm-up: imports, first allocations
        times = []
        for page in pages:
            start = time.perf_counter()
            segment_page(segmenter, page, Path(out))
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"end to end per {len(times)} pages (read, layout, network, decoding, JSON, PAGE XML, crops, overlay): "
          f"median {median:.2f} s (min {min(times):.2f}, max {max(times):.2f}) (bar ≤ {SECONDS_BAR:.0f} s): "
          f"{'met' if median <= SECONDS_BAR else 'NOT met'}")


if __name__ == "__main__":
    main()
