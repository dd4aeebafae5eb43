"""onnxruntime against PyTorch for each task's network, on the same inputs, in one run.

    .venv/bin/python benchmarks/onnx.py [--threads 1] [--repeats 5] [--news-model RUN_OR_PACKAGE]

Rows: the shipped music symbol detector (without its adversarial-input flag, which runs on PyTorch under
either runtime and would add the same time to both) on a
real DeepScoresV2 page (the network's tiled pass alone, and detection end to end: staff space,
resampling, network, decoding), the newspaper FCN on a 256 × 256
two-channel page (the shipped or given model, else an untrained one of the default size: the time does
not depend on the weights) and on a whole page end to end, and the small classifier CNN on 32 × 32 crops
one at a time and in batches of 64. Both runtimes get the same number of threads; the median of
`--repeats` runs after one warm-up. Max abs diff: the largest difference of the raw network outputs
(detector: over its energy, class and box maps) on the row's inputs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

# Run as a script, this file's folder comes first on the path, and this file would shadow the `onnx` package.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "tests" / "fixtures" / "deepscores_v2_sample" / "lg-5230237-aug-emmentaler--page-2.png"


def median_ms(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up: first allocations, onnxruntime's graph preparation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def row(name: str, unit: str, torch_ms: float, onnx_ms: float, diff: float | None) -> None:
    shown = f"{diff:.1e}" if diff is not None else "-"
    print(f"| {name:<46} | {unit:<5} | {torch_ms:9.2f} | {onnx_ms:9.2f} | {torch_ms / onnx_ms:7.2f}× | {shown:>8} |",
          flush=True)


def detector_rows(repeats: int, folder: Path) -> None:
    import shutil

    from deepwild.core.images import load_grayscale
    from deepwild.core.package import update_model_package
    from deepwild.tasks.omr.detect import Detector
    from deepwild.tasks.omr.shipped import shipped_model

    # Its adversarial-input flag runs on PyTorch under either runtime: left out, so that the rows compare the
    # networks; both sides run the same copy.
    shutil.copytree(shipped_model(), folder)
    update_model_package(folder, adversarial={})
    gray = load_grayscale(PAGE)
    by_torch, by_onnx = Detector.load(folder), Detector.load(folder, runtime="onnx")
    tile = torch.from_numpy(1.0 - gray[:512, :512].astype(np.float32))[None, None]
    with torch.no_grad():
        expected = by_torch.model.forward_maps(tile)
    found = by_onnx.model.forward_maps(tile)
    diff = max(float((found[k] - expected[k]).abs().max()) for k in expected)
    row("detector: network over the page's tiles", "page", median_ms(lambda: by_torch.read_page(gray, "page"), repeats),
        median_ms(lambda: by_onnx.read_page(gray, "page"), repeats), diff)
    row("detector: detection end to end", "page", median_ms(lambda: by_torch.detect_gray(gray, "page"), repeats),
        median_ms(lambda: by_onnx.detect_gray(gray, "page"), repeats), None)


def news_model(ref: str | None, folder: Path) -> Path:
    from deepwild.core.package import ModelPackage, is_model_package, save_model_package
    from deepwild.engine.run import resolve_model
    from deepwild.models import build_model
    from deepwild.tasks.news.postprocess import MIN_AREA, SHRINK, THRESHOLD
    from deepwild.tasks.news.shipped import SHIPPED_MODEL

    if ref is not None:
        return resolve_model(ref)[0]
    if is_model_package(SHIPPED_MODEL):
        return SHIPPED_MODEL
    print("(newspaper FCN: no shipped model here; an untrained one of the default size)")
    torch.manual_seed(0)
    model = build_model("meier_fcn")
    save_model_package(folder, ModelPackage(
        name="news-untrained", task="news", architecture="meier_fcn", model_args={}, class_names=("article", "border"),
        input={"kind": "newspaper-page", "size": 256, "layout": "image", "ink": "bright", "threshold": THRESHOLD,
               "min_area": MIN_AREA, "shrink": SHRINK}), model.state_dict())
    return folder


def news_rows(ref: str | None, repeats: int, folder: Path) -> None:
    from deepwild.tasks.news.segment import Segmenter

    model_dir = news_model(ref, folder)
    by_torch, by_onnx = Segmenter.from_package(model_dir), Segmenter.from_package(model_dir, runtime="onnx")
    rng = np.random.default_rng(0)
    inputs = torch.from_numpy(rng.random((1, 2, 256, 256), dtype=np.float32))
    with torch.no_grad():
        diff = float((by_onnx.model(inputs) - by_torch.model(inputs)).abs().max())
    with torch.no_grad():
        torch_ms = median_ms(lambda: by_torch.model(inputs), repeats)
    onnx_ms = median_ms(lambda: by_onnx.model(inputs), repeats)
    row("newspaper FCN: network, 2×256×256", "page", torch_ms, onnx_ms, diff)
    page = np.full((1754, 1240), 255, np.uint8)
    for y in range(200, 1700, 14):  # text-like lines in four columns
        for x in range(60, 1180, 290):
            page[y:y + 6, x:x + 260 - int(rng.integers(0, 60))] = 0
    row("newspaper: segmentation end to end, 1240×1754", "page",
        median_ms(lambda: by_torch.segment(page, "page"), repeats),
        median_ms(lambda: by_onnx.segment(page, "page"), repeats), None)


def classifier_rows(repeats: int, folder: Path) -> None:
    from deepwild.core.package import ModelPackage, save_model_package
    from deepwild.models import build_model
    from deepwild.models.onnx_runtime import inference_network

    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=79).eval()  # a symbols classifier's size: width 32, 32×32 crops
    save_model_package(folder, ModelPackage(
        name="symbols-untrained", task="symbols", architecture="small_cnn", model_args={"num_classes": 79},
        class_names=tuple(f"c{i}" for i in range(79)), input={"kind": "symbol-crop", "crop_size": 32}),
        model.state_dict())
    network = inference_network(folder, model, "onnx")
    for batch in (1, 64):
        crops = torch.rand(batch, 1, 32, 32)
        with torch.no_grad():
            diff = float((network(crops) - model(crops)).abs().max())
            torch_ms = median_ms(lambda: model(crops), repeats) / batch
        row(f"classifier CNN: 32×32 crops, batch {batch}", "crop", torch_ms,
            median_ms(lambda: network(crops), repeats) / batch, diff)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--news-model", default=None)
    args = parser.parse_args()
    import onnxruntime

    torch.set_num_threads(args.threads)  # onnxruntime sessions take torch's thread count
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.setdefault("DEEPWILD_CACHE", str(Path(scratch) / "cache"))
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.threads} thread(s) per runtime; "
              f"median of {args.repeats}; torch {torch.__version__}, onnxruntime "
              f"{onnxruntime.__version__}, python {sys.version.split()[0]}")
        print("| task                                           | per   |  torch ms |   onnx ms | speed-up | max diff |")
        print("|------------------------------------------------|-------|-----------|-----------|----------|----------|")
        detector_rows(args.repeats, Path(scratch) / "omr")
        news_rows(args.news_model, args.repeats, Path(scratch) / "news")
        classifier_rows(args.repeats, Path(scratch) / "symbols")
        print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
