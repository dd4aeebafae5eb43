"""Put a trained newspaper run's model into the package as the shipped segmenter, with its evaluation.

    .venv/bin/python scripts/ship_news_model.py runs/news-fcn-v1 --data data/news

The decoding (border threshold, smallest article, regrowth) is chosen on the validation pages (never on
test) by the sum DER + (1 − completeness): the two figures a media-monitoring client feels, weighted
alike. The test and unseen-layout figures go into the package's metrics and model card.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8)
MIN_AREAS = (8, 16, 24, 48, 96, 160, 256)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", type=Path, default=REPO / "data" / "news")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the package here instead of the shipped model's folder (to compare candidates)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    from deepwild.core.io import read_json
    from deepwild.core.package import load_model_package, save_model_package, update_model_package
    from deepwild.engine.run import RunDir, training_wall_minutes
    from deepwild.tasks.news import evaluate
    from deepwild.tasks.news.shipped import SHIPPED_MODEL

    run = RunDir.open(args.run)
    package, state = load_model_package(run.model_dir)
    chosen, tuning = tune_decoding(run, args.data)
    figures: dict = {"decoding chosen on val (threshold, min_area, grow)": list(chosen), **tuning}
    target = args.out or SHIPPED_MODEL
    package = dataclasses.replace(package, name="news-fcn-shipped", input={
        **package.input, "threshold": chosen[0], "min_area": chosen[1], "grow": chosen[2]})
    save_model_package(target, package, state)  # evaluated as it ships
    for split in ("test", "test-unseen-layout"):
        start = time.perf_counter()
        metrics = evaluate(target, split, data=args.data).metrics
        for key in ("DER", "completeness", "F1", "precision", "recall", "text DER", "text completeness"):
            figures[f"{split} {key}"] = round(metrics[key], 4)
        print(f"{split}: DER {metrics['DER']:.4f}, completeness {metrics['completeness']:.4f}, F1 {metrics['F1']:.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    generation = read_json(args.data / "manifest.json").get("config", {})
    resumed = run.info().get("resumed", [])
    update_model_package(target, metrics={**package.metrics, **figures}, provenance={  # the weights stay
        **package.provenance,
        "data command": f"deepwild data newspapers --out {args.data} --pages {generation.get('pages', '?')} "
                        f"--seed {generation.get('seed', '?')}",
        **({"resumed with": "; ".join(r["command"] for r in resumed)} if resumed else {}),
        "training minutes (2 CPU cores, wall time while training ran)": round(training_wall_minutes(run), 1)})
    print(f"shipped → {target}")


def tune_decoding(run, data: Path) -> tuple[tuple[float, int, int], dict]:
    """The decoding setting with the lowest DER + (1 − completeness) on the validation pages, scored at the
    network's resolution (the maps are computed once; each setting only decodes)."""
    import numpy as np
    import torch

    from deepwild.data.newspapers import load_newspaper_dataset
    from deepwild.models.packaged import load_packaged_model
    from deepwild.tasks.news.metrics import score_page, score_pages
    from deepwild.tasks.news.postprocess import decode
    from deepwild.tasks.news.task import config_of_run, prepared_pages

    config = config_of_run(run)
    prepared = prepared_pages(load_newspaper_dataset(data).split("val"), dataclasses.replace(config, data=str(data)),
                              data, log=lambda *_: None)
    _, model = load_packaged_model(run.model_dir, "news", "a newspaper segmentation model")
    with torch.no_grad():
        maps = [torch.sigmoid(model.eval()(prepared.inputs[i:i + 8].float() / 255.0))[:, 0].numpy()
                for i in range(0, len(prepared.names), 8)]
    border = np.concatenate(maps)
    results = {}
    for threshold, min_area, grow in itertools.product(THRESHOLDS, MIN_AREAS, (config.shrink - 1, config.shrink,
                                                                              config.shrink + 1)):
        scores = score_pages([score_page(mask, decode(b, threshold, min_area, grow))
                              for mask, b in zip(prepared.masks, border)])
        results[(threshold, min_area, grow)] = (scores.der, scores.completeness)
    best = min(results, key=lambda k: results[k][0] + 1.0 - results[k][1])
    default = (config.threshold, config.min_area, config.shrink)
    print(f"val ({len(border)} pages): default {default} DER {results[default][0]:.4f} completeness "
          f"{results[default][1]:.4f}; chosen {best} DER {results[best][0]:.4f} completeness {results[best][1]:.4f}")
    return best, {"val DER (chosen decoding, network resolution)": round(results[best][0], 4),
                  "val completeness (chosen decoding, network resolution)": round(results[best][1], 4)}


if __name__ == "__main__":
    main()
