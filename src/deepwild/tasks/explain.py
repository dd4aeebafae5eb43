"""`deepwild explain`: attribution maps for one input of a trained model.

A digits classifier explains a user's image, read as `deepwild predict` reads it. The detector explains
one detected symbol: the page is detected as `deepwild detect` does, a symbol is chosen (by index, by a
position on the page, or the highest-scoring), a crop centred on it is cut at the model's scale, and
its class logit at the crop's centre pixel is explained, as the training run's attribution hook does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepwild.core.errors import DeepwildError, InputError
from deepwild.core.images import DEFAULT_MAX_PIXELS, load_grayscale
from deepwild.core.io import atomic_write_json
from deepwild.core.package import ModelPackage, read_model_package
from deepwild.core.registry import unknown_name_message
from deepwild.interpret.attribution import (METHODS, AttributionConfig, Attributions, attribute, colour,
                                            plot_attributions, save_picture)
from deepwild.interpret.probe import Probe
from deepwild.tasks.model_probe import resolve_named_model

IG_STEPS = 64  # one input: an accurate path integral is cheap


@dataclass(frozen=True)
class Explanation:
    image: str
    model: str
    task: str
    target: str  # the class explained
    predicted: str  # the class the network scores highest on the explained input
    probability: float
    methods: tuple[str, ...]
    layer: str  # Grad-CAM's layer
    integrated_gradients: dict[str, float] | None  # sum of the maps, score(x) − score(baseline), their gap
    symbol: dict[str, Any] | None = None  # detector: the explained symbol and its crop
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "model": self.model, "task": self.task, "target": self.target,
                "predicted": self.predicted, "probability": round(self.probability, 4), "methods": list(self.methods),
                "gradcam_layer": self.layer, "integrated_gradients": self.integrated_gradients,
                "symbol": self.symbol, "files": self.files}


def explain(ref: str, image: str | Path, out: str | Path = "explanations", symbol: int | None = None,
            at: tuple[float, float] | None = None, target: str | None = None, methods: tuple[str, ...] = METHODS,
            layer: str | None = None, root: str | Path | None = None,
            max_pixels: int = DEFAULT_MAX_PIXELS) -> Explanation:
    """Explain one input of a digits classifier or a music symbol detector; writes a figure, one PNG per
    method and a JSON into `out`."""
    settings = AttributionConfig(methods=tuple(methods), layer=layer, ig_steps=IG_STEPS)
    settings.validate()
    if symbol is not None and at is not None:
        raise InputError("give either --symbol or --at, not both")
    model_dir = resolve_named_model(ref, root)[0]
    package = read_model_package(model_dir)
    image = Path(image)
    if package.task == "digits":
        if symbol is not None or at is not None:
            raise InputError("--symbol and --at choose a symbol on a page: they apply to detector models only")
        return _explain_digit(model_dir, image, Path(out), target, settings, max_pixels)
    if package.task == "omr":
        return _explain_symbol(model_dir, image, Path(out), symbol, at, target, settings, max_pixels)
    raise DeepwildError(f"`explain` takes digits classifiers and music symbol detectors, not {package.task!r} models")


def _target_index(package: ModelPackage, target: str | None, default: int) -> int:
    if target is None:
        return default
    if target not in package.class_names:
        raise InputError(unknown_name_message("class", target, list(package.class_names)))
    return package.class_names.index(target)


def _explain_digit(model_dir: Path, image: Path, out: Path, target: str | None, settings: AttributionConfig,
                   max_pixels: int) -> Explanation:
    from deepwild.data.digits import digit_from_grayscale
    from deepwild.tasks.classification import load_classifier

    package, model = load_classifier(model_dir, "digits")
    x = digit_from_grayscale(load_grayscale(image, max_pixels), int(package.input["image_size"]))[None]  # (1, 1, S, S)
    with torch.no_grad():
        predicted = int(model(x).argmax(dim=1))
        layers = tuple(model.forward_features(x))  # type: ignore[operator]  # early to late; Grad-CAM takes the last
    explained = _target_index(package, target, predicted)
    labels = torch.tensor([explained])
    probe = Probe(inputs=x, labels=labels, pool=x, pool_labels=labels, class_names=package.class_names,
                  layers=layers, kind="classifier")
    result = attribute(model, probe, settings)
    return _write(result, package, image, out, image.stem, None, None)


def _explain_symbol(model_dir: Path, image: Path, out: Path, index: int | None, at: tuple[float, float] | None,
                    target: str | None, settings: AttributionConfig, max_pixels: int) -> Explanation:
    from deepwild.tasks.omr.detect import Detector
    from deepwild.tasks.omr.task import PROBE_CROP, PROBE_LAYERS

    detector = Detector.load(model_dir)
    package = detector.package
    _target_index(package, target, 0)  # an unknown class fails before the page is read
    gray = load_grayscale(image, max_pixels)
    reading = detector.read_page(gray, str(image))
    symbols = detector.decode_page(reading).symbols  # highest score first, as `deepwild detect` lists them
    if not symbols:
        raise InputError(f"{image}: no symbols detected, nothing to explain")
    chosen = _choose_symbol(symbols, index, at)
    found = symbols[chosen]
    crop, centre = _crop(gray, reading.scale, found.bbox, PROBE_CROP)
    explained = _target_index(package, target, package.class_names.index(found.class_name))
    labels = torch.tensor([explained])
    probe = Probe(inputs=crop, labels=labels, pool=crop, pool_labels=labels, class_names=package.class_names,
                  layers=PROBE_LAYERS, kind="detector", class_groups=torch.from_numpy(detector.class_groups))
    result = attribute(detector.model, probe, settings)
    x0, y0, x1, y1 = found.bbox
    half = PROBE_CROP // 2
    box_in_crop = tuple((v * reading.scale - c + half) for v, c in zip((x0, y0, x1, y1), (*centre, *centre)))
    crop_box = [round((c - half) / reading.scale, 1) for c in centre] + [round((c + half) / reading.scale, 1) for c in centre]
    info = {"index": chosen, "of": len(symbols), "class": found.class_name, "bbox": [round(v, 2) for v in found.bbox],
            "score": round(found.score, 4), "crop_in_page": crop_box, "crop_size": PROBE_CROP,
            "scale": round(reading.scale, 4), "explained_at": "the class logit at the crop's centre pixel"}
    return _write(result, package, image, out, f"{image.stem}-symbol{chosen}", info, box_in_crop)  # type: ignore[arg-type]


def _choose_symbol(symbols: tuple[Any, ...], index: int | None, at: tuple[float, float] | None) -> int:
    if index is not None:
        if not 0 <= index < len(symbols):
            raise InputError(f"symbol index {index} is out of range: the page has {len(symbols)} detected symbols "
                             f"(0..{len(symbols) - 1}, highest score first)")
        return index
    if at is None:
        return 0
    x, y = at
    centres = np.array([((s.bbox[0] + s.bbox[2]) / 2, (s.bbox[1] + s.bbox[3]) / 2) for s in symbols])
    distance = np.hypot(centres[:, 0] - x, centres[:, 1] - y)
    inside = [i for i, s in enumerate(symbols) if s.bbox[0] <= x < s.bbox[2] and s.bbox[1] <= y < s.bbox[3]]
    if not inside:
        near = int(distance.argmin())
        raise InputError(f"no detected symbol contains the point {x:g},{y:g}; the nearest is #{near} "
                         f"{symbols[near].class_name} centred at {centres[near][0]:.0f},{centres[near][1]:.0f}",
                         hint=f"use --at {centres[near][0]:.0f},{centres[near][1]:.0f} or --symbol {near}")
    return min(inside, key=lambda i: distance[i])


def _crop(gray: np.ndarray, scale: float, bbox: tuple[float, ...], size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """A (1, 1, size, size) ink-bright crop of the page at the model's scale, centred on the box, and its
    centre in scaled-page pixels. The page is resampled as detection resamples it."""
    from PIL import Image

    if scale != 1.0:
        height, width = gray.shape
        target = (max(int(round(width * scale)), 1), max(int(round(height * scale)), 1))
        gray = np.asarray(Image.fromarray(gray.astype(np.float32), mode="F").resize(target, Image.Resampling.BILINEAR))
    cx, cy = int(round((bbox[0] + bbox[2]) / 2 * scale)), int(round((bbox[1] + bbox[3]) / 2 * scale))
    x0, y0 = cx - size // 2, cy - size // 2
    window = np.ones((size, size), np.float32)  # paper beyond the page
    sx0, sy0 = max(x0, 0), max(y0, 0)
    part = gray[sy0:y0 + size, sx0:x0 + size]
    window[sy0 - y0:sy0 - y0 + part.shape[0], sx0 - x0:sx0 - x0 + part.shape[1]] = part
    return torch.from_numpy(1.0 - window)[None, None], (cx, cy)


def _write(result: Attributions, package: ModelPackage, image: Path, out: Path, stem: str,
           symbol: dict[str, Any] | None, box: tuple[float, float, float, float] | None) -> Explanation:
    from PIL import Image

    names = package.class_names
    target, predicted = names[int(result.targets[0])], names[int(result.predicted[0])]
    what = (f"symbol #{symbol['index']} {symbol['class']} (score {symbol['score']:.2f})" if symbol else image.name)
    figure = plot_attributions(result, out / f"{stem}-explain.png", f"{package.name}: {what}",
                               [f"explained {target}\npredicted {predicted} ({result.probabilities[0]:.2f})"], box,
                               tile_size=256)
    files = {"figure": str(figure)}
    for method, value in result.maps.items():
        picture = (colour(method, result.inputs[0], value[0]) * 255).astype(np.uint8)
        zoom = max(1, 256 // picture.shape[0])  # small inputs are enlarged (nearest) to be seen
        files[method] = str(save_picture(Image.fromarray(np.kron(picture, np.ones((zoom, zoom, 1), np.uint8))),
                                         out / f"{stem}-{method}.png"))
    ig = None
    if result.ig_delta is not None and result.score_gap is not None:
        ig = {"steps": IG_STEPS, "sum": round(float(result.raw["ig"][0].sum()), 5),
              "score_gap": round(float(result.score_gap[0]), 5), "completeness_gap": round(float(result.ig_delta[0]), 5)}
    explanation = Explanation(image=str(image), model=package.name, task=package.task, target=target,
                              predicted=predicted, probability=float(result.probabilities[0]),
                              methods=tuple(result.maps), layer=result.layer, integrated_gradients=ig, symbol=symbol,
                              files={**files, "json": str(out / f"{stem}-explain.json")})
    atomic_write_json(out / f"{stem}-explain.json", explanation.to_json())
    return explanation
