"""Detect music symbols on page images of any size and resolution.

The page is brought to the scale the model was trained at (its staff space), processed in
overlapping tiles, decoded into symbols, and the boxes are mapped back to the page's pixels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepwild.core.errors import InputError, ModelPackageError
from deepwild.core.images import DEFAULT_MAX_PIXELS, load_grayscale
from deepwild.core.package import ModelPackage
from deepwild.core.results import PageDetections, Symbol
from deepwild.models.inference import fold_batchnorm
from deepwild.models.onnx_runtime import inference_network
from deepwild.tasks.omr.model_io import load_detector
from deepwild.tasks.omr.postprocess import (NetworkOutputs, PostprocessConfig, Staff, decode, estimate_staff_space,
                                            find_staves, network_outputs, outside_staves,
                                            rests_by_staff_line)

MIN_SIDE = 32  # px: anything smaller cannot hold a staff
BLANK_INK_SHARE = 0.0005  # a page with less ink than this is blank: no symbols, not an error
SCALE_TOLERANCE = 0.08  # pages within ±8 % of the model's scale are not resampled


@dataclass
class Detector:
    package: ModelPackage
    model: torch.nn.Module  # what detection runs: the torch network, or its ONNX export (`runtime`)
    postprocess: PostprocessConfig
    # The torch network, for what needs gradients (the adversarial flag's guided backpropagation, attacks);
    # the same object as `model` with runtime "torch".
    gradient_network: torch.nn.Module | None = None

    @classmethod
    def load(cls, model_dir: Path, min_score: float | None = None, runtime: str = "torch") -> Detector:
        """`runtime` "onnx" runs the network's ONNX export with onnxruntime (`models.onnx_runtime`); the
        adversarial flag, where the package has one, still runs on the torch network."""
        package, model = load_detector(model_dir)
        groups = package.input.get("class_groups")
        if groups is not None and (len(groups) != len(package.class_names)
                                   or not all(0 <= int(g) < getattr(model, "groups", 1) for g in groups)):
            raise ModelPackageError(f"model {model_dir}: its class groups do not fit its network")
        # The package carries the decoding chosen for the model; how a page is tiled is this machine's
        # memory plan, not the model's, so it stays at the current default.
        values = {k: v for k, v in package.config.get("postprocess", {}).items() if k != "tile"}
        if min_score is not None:
            values["min_score"] = min_score
        config = PostprocessConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
                                      if k in PostprocessConfig.__dataclass_fields__})
        # Detection only runs the network forward: batch norm folded into the convolutions saves time.
        folded = fold_batchnorm(model)
        return cls(package, inference_network(model_dir, folded, runtime, package), config, folded)

    def detect_file(self, path: Path, classes: set[str] | None = None, staff_space: float | None = None,
                    max_pixels: int = DEFAULT_MAX_PIXELS) -> PageDetections:
        gray = load_grayscale(path, max_pixels)
        return self.detect_gray(gray, str(path), classes, staff_space)

    @property
    def class_groups(self) -> np.ndarray:
        groups = self.package.input.get("class_groups")
        return np.array(groups if groups is not None else [0] * len(self.package.class_names), np.int64)

    def detect_gray(self, gray: np.ndarray, name: str, classes: set[str] | None = None,
                    staff_space: float | None = None) -> PageDetections:
        """gray: (H, W) float in [0, 1], 1 = paper. With a calibrated adversarial-input detector in the
        package, the page is also flagged (`suspicious`, `adversarial_score`; tasks.omr.adversarial)."""
        scaled = self.page_at_model_scale(gray, name, staff_space)  # once, for the network and for the flag
        result = self.decode_page(self.read_scaled(gray.shape, name, scaled), classes)
        if self.package.adversarial and scaled is not None:
            from deepwild.tasks.omr.adversarial import page_flag  # it builds on this module

            flag = page_flag(self, scaled[0])
            if flag is not None:
                result = dataclasses.replace(result, suspicious=flag[0], adversarial_score=flag[1])
        return result

    def read_page(self, gray: np.ndarray, name: str, staff_space: float | None = None,
                  lowest_threshold: float | None = None) -> PageReading:
        """The network's outputs for a page at the model's scale (the expensive half of detection; decode
        them with `decode_page`, as often as wanted, at thresholds ≥ `lowest_threshold`)."""
        return self.read_scaled(gray.shape, name, self.page_at_model_scale(gray, name, staff_space), lowest_threshold)

    def read_scaled(self, shape: tuple[int, ...], name: str, scaled: tuple[np.ndarray, float, float] | None,
                    lowest_threshold: float | None = None) -> PageReading:
        """`read_page` for a page of `shape` already brought to the model's scale (`page_at_model_scale`)."""
        height, width = shape
        if scaled is None:
            return PageReading(name, width, height, None, 1.0, None)
        work, found, scale = scaled
        groups = self.class_groups
        lowest = lowest_threshold if lowest_threshold is not None else float(self.postprocess.thresholds_of_classes(groups).min())
        outputs = network_outputs(self.model, (1.0 - work).astype(np.float32), self.postprocess, groups, lowest)
        return PageReading(name, width, height, found, scale, outputs, find_staves(work, found * scale))

    def page_at_model_scale(self, gray: np.ndarray, name: str,
                            staff_space: float | None = None) -> tuple[np.ndarray, float, float] | None:
        """(page resized to the model's staff space, its own staff space, the scale), or None for a blank page;
        a page too small or without staff lines is refused."""
        height, width = gray.shape
        if min(height, width) < MIN_SIDE:
            raise InputError(f"{name} is {width}×{height} pixels: too small to hold a line of music "
                             f"(at least {MIN_SIDE}×{MIN_SIDE})")
        if (gray < 0.5).mean() < BLANK_INK_SHARE:
            return None
        found = staff_space or estimate_staff_space(gray)
        if found is None:
            raise InputError(f"{name}: no staff lines found — it does not look like a page of music",
                             hint="if it is, give its staff-line distance with --staff-space PX")
        scale = float(self.package.input["staff_space"]) / found
        if abs(scale - 1.0) <= SCALE_TOLERANCE:
            scale = 1.0
        work = gray
        if scale != 1.0:
            size = (max(int(round(width * scale)), 1), max(int(round(height * scale)), 1))
            work = np.asarray(Image.fromarray(gray.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR))
        return work, found, scale

    def decode_page(self, reading: PageReading, classes: set[str] | None = None,
                    postprocess: PostprocessConfig | None = None) -> PageDetections:
        """Symbols in page pixels from a page's network outputs, with this detector's decoding settings
        (or `postprocess`)."""
        width, height, scale = reading.width, reading.height, reading.scale
        settings = postprocess or self.postprocess
        raw = decode(reading.outputs, settings, float(self.package.input.get("box_unit", 10.0))) \
            if reading.outputs is not None else []
        names = self.package.class_names
        if reading.staves and reading.staff_space:  # staff-aware decoding (see PostprocessConfig)
            space = reading.staff_space * scale
            if settings.ledger_lines_outside_staves:
                raw = outside_staves(raw, reading.staves, space, np.array([name == "legerLine" for name in names]))
            if settings.rests_by_staff_line and "restWhole" in names and "restHalf" in names:
                raw = rests_by_staff_line(raw, reading.staves, space, names.index("restWhole"), names.index("restHalf"))
        symbols = []
        for detection in sorted(raw, key=lambda d: -d.score):
            name_of_class = names[detection.class_index]
            if classes is not None and name_of_class not in classes:
                continue
            x0, y0, x1, y1 = (v / scale for v in detection.box)
            box = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
            if box[2] > box[0] and box[3] > box[1]:
                symbols.append(Symbol(name_of_class, box, detection.score))
        staff = round(reading.staff_space, 3) if reading.staff_space is not None else None
        return PageDetections(reading.name, width, height, self.package.name, tuple(symbols), staff)


@dataclass
class PageReading:
    """A page read by the network (see `Detector.read_page`); outputs is None for a blank page."""

    name: str
    width: int
    height: int
    staff_space: float | None
    scale: float
    outputs: NetworkOutputs | None
    staves: list[Staff] = field(default_factory=list)  # in the network's input pixels


def save_detections(result: PageDetections, gray: np.ndarray, out: Path, overlay: bool = True) -> Path:
    """`<page>.json` (and `<page>_overlay.png`) in `out`, each written atomically, the JSON last: its presence
    means the page is complete (batch runs skip such pages). Returns the JSON path."""
    from deepwild.core.io import atomic_path, atomic_write_json
    from deepwild.data.overlay import draw_boxes

    stem = Path(result.image).stem
    if overlay:
        picture = draw_boxes(gray, [(s.class_name, s.bbox) for s in result.symbols])
        with atomic_path(out / f"{stem}_overlay.png") as temp:
            picture.save(temp, format="PNG")
    target = out / f"{stem}.json"
    atomic_write_json(target, result.to_json())
    return target
