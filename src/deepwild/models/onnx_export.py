"""Networks exported to ONNX: exactly the call each task's inference makes on the torch module.

- `dwd` (music symbol detector): `forward_maps` on one tile — energy at full resolution, classes and box
  at half resolution, as `tasks.omr.postprocess.network_outputs` reads them. Fully convolutional, so
  batch, height and width are dynamic (detection pads tiles to multiples of 8).
- `meier_fcn` (newspaper FCN): `forward`, the border logit of the letterboxed two-channel page at the
  package's `size` (fixed: its whole-page context block is sized for that grid); batch is dynamic.
- `small_cnn` (digits, symbol crops): `forward`, the class logits at the package's image or crop size.

The TorchScript-based exporter (`dynamo=False`) is used: it needs only the `onnx` package, exports these
plain convolutional networks in a fraction of a second (the torch.export-based exporter takes seconds
and needs `onnxscript` besides), and names dynamic axes directly. Batch norm is exported as it is;
onnxruntime folds it into the convolutions when it loads the graph.

An export is two files written atomically: `NAME.onnx` (metadata inside names the model package) and
`NAME.onnx.json` beside it, written last, so its presence means the export is complete. The JSON says
what the network is (architecture, input, outputs, the attributes inference reads such as `groups`),
which package it came from (name, task, weights checksum) and the parity check against PyTorch.
"""

from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deepwild import __version__
from deepwild.core.errors import DeepwildError, ModelPackageError
from deepwild.core.io import atomic_write_bytes, atomic_write_json, read_json
from deepwild.core.package import ModelPackage
from deepwild.models.packaged import load_packaged_model

OPSET = 17
PARITY_TOLERANCE = 1e-4  # float32 through two engines: differences are rounding, far below this
EXAMPLE_SIDE = 64  # the export traces a tile of this size; a dynamic network takes any multiple of 8
INSTALL_HINT = "install the ONNX extra: pip install 'deepwild[onnx]'"


@dataclass(frozen=True)
class OnnxSignature:
    """What an architecture's export runs: the torch method, its outputs in order, whether height and width
    may change, and the module attributes inference code reads (kept in the export's JSON)."""

    method: str
    input_name: str
    outputs: tuple[str, ...]
    dynamic_size: bool
    attributes: tuple[str, ...] = ()


SIGNATURES = {
    "dwd": OnnxSignature("forward_maps", "ink", ("energy", "classes", "box"), True,
                         ("groups", "num_classes", "energy_levels")),
    "meier_fcn": OnnxSignature("forward", "page", ("border",), False),
    "small_cnn": OnnxSignature("forward", "image", ("logits",), False),
}


@dataclass(frozen=True)
class OnnxExport:
    """An exported network: its files, where it came from, and how far onnxruntime is from PyTorch."""

    onnx: Path
    description: Path
    package: str
    task: str
    architecture: str
    input_shape: tuple[int | str, ...]
    parity: dict[str, float]  # input name → max abs difference over all outputs
    seconds: float

    @property
    def max_abs_diff(self) -> float:
        return max(self.parity.values())


def signature_of(architecture: str) -> OnnxSignature:
    if architecture not in SIGNATURES:
        raise ModelPackageError(f"architecture {architecture!r} has no ONNX export; exportable: "
                                f"{', '.join(sorted(SIGNATURES))}")
    return SIGNATURES[architecture]


class _ExportedCall(nn.Module):
    """The method inference calls, as a module returning a tuple (what the exporter traces)."""

    def __init__(self, network: nn.Module, signature: OnnxSignature) -> None:
        super().__init__()
        self.network, self.signature = network, signature

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.signature.method == "forward_maps":
            maps = self.network.forward_maps(x)
            return tuple(maps[name] for name in self.signature.outputs)
        return (self.network(x),)


def input_shape(package: ModelPackage, network: nn.Module) -> tuple[int, int, int]:
    """(C, H, W) of one input: channels from the first convolution, the side from the package."""
    channels = next(m.in_channels for m in network.modules() if isinstance(m, nn.Conv2d))
    if signature_of(package.architecture).dynamic_size:
        return channels, EXAMPLE_SIDE, EXAMPLE_SIDE
    side = next((package.input[key] for key in ("size", "image_size", "crop_size") if key in package.input), None)
    if side is None:
        raise ModelPackageError(f"model {package.name}: model.json's input gives no size to export at "
                                "(size, image_size or crop_size)")
    return channels, int(side), int(side)


def export_network(network: nn.Module, package: ModelPackage, target: Path) -> tuple[int | str, ...]:
    """Write `network` (the package's, in eval mode) to `target` atomically; returns the input shape with
    its dynamic axes named."""
    onnx = require_onnx_module("onnx")
    signature = signature_of(package.architecture)
    channels, height, width = input_shape(package, network)
    axes = {0: "batch", 2: "height", 3: "width"} if signature.dynamic_size else {0: "batch"}
    dynamic = {signature.input_name: axes, **{name: axes for name in signature.outputs}}
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter announces its successor on every call
        warnings.simplefilter("ignore")
        torch.onnx.export(_ExportedCall(network, signature).eval(), (torch.zeros(1, channels, height, width),),
                          buffer, dynamo=False, opset_version=OPSET, input_names=[signature.input_name],
                          output_names=list(signature.outputs), dynamic_axes=dynamic)
    graph = onnx.load_from_string(buffer.getvalue())
    for key, value in (("deepwild_package", package.name), ("deepwild_task", package.task),
                       ("deepwild_architecture", package.architecture),
                       ("deepwild_weights_sha256", package.weights_sha256), ("deepwild_version", __version__)):
        graph.metadata_props.add(key=key, value=value)
    atomic_write_bytes(target, graph.SerializeToString())
    return tuple(axes.get(i, size) for i, size in enumerate((1, channels, height, width)))


def probe_inputs(shape: tuple[int, int, int], seed: int = 0) -> dict[str, torch.Tensor]:
    """Inputs for the parity check: uniform noise, and a page-like picture (ink bright: ruled lines, text-like
    dashes, filled blocks and blobs) that drives the network into its usual ranges."""
    channels, height, width = shape
    rng = np.random.default_rng(seed)
    page = np.zeros((height, width), np.float32)
    page[rng.integers(2, 10)::10, :] = 1.0  # ruled lines, ten pixels apart (staff lines, text lines)
    for _ in range(max(height * width // 400, 3)):
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        h, w = int(rng.integers(2, 9)), int(rng.integers(2, 12))
        page[y:y + h, x:x + w] = rng.uniform(0.6, 1.0)
    blocks = np.zeros_like(page)
    blocks[height // 8:height // 2, width // 10:width // 2] = 1.0
    picture = np.stack([page, blocks] + [page] * (channels - 2))[:channels]
    noise = rng.random((channels, height, width), dtype=np.float32)
    return {"random": torch.from_numpy(noise)[None], "page-like": torch.from_numpy(picture)[None]}


def parity(network: nn.Module, package: ModelPackage, onnx_path: Path, seed: int = 0) -> dict[str, float]:
    """Max abs difference between PyTorch and onnxruntime per probe input (over all outputs); a dynamic
    network is probed at a second, non-square size too."""
    from deepwild.models.onnx_runtime import onnx_session

    signature = signature_of(package.architecture)
    session = onnx_session(onnx_path)
    call = _ExportedCall(network, signature).eval()
    shape = input_shape(package, network)
    inputs = probe_inputs(shape, seed)
    if signature.dynamic_size:
        inputs |= {f"{name} {shape[1] + 40}×{shape[2] + 96}": value
                   for name, value in probe_inputs((shape[0], shape[1] + 40, shape[2] + 96), seed + 1).items()}
    result = {}
    with torch.no_grad():
        for name, value in inputs.items():
            expected = call(value)
            found = session.run(None, {signature.input_name: value.numpy()})
            result[name] = max(float(np.abs(f - e.numpy()).max()) for f, e in zip(found, expected))
    return result


def export_package(model_dir: Path, target: Path) -> OnnxExport:
    """Export a model package's network to `target` (+ `target.json`), check it against PyTorch (an export
    further than `PARITY_TOLERANCE` is removed and refused), and describe it; the description is written last."""
    if target.suffix != ".onnx":
        raise DeepwildError(f"{target}: the ONNX file's name should end in .onnx")
    started = time.perf_counter()
    package, network = load_packaged_model(model_dir, None, "")
    description_path(target).unlink(missing_ok=True)  # an old description must never sit beside a new file
    shape = export_network(network, package, target)
    differences = parity(network, package, target)
    if max(differences.values()) > PARITY_TOLERANCE:  # a file that computes something else is not an export
        target.unlink()
        raise ModelPackageError(f"the ONNX export of {package.name} differs from PyTorch by up to "
                                f"{max(differences.values()):.2g} (more than {PARITY_TOLERANCE:g}); not written")
    signature = signature_of(package.architecture)
    description = description_path(target)
    atomic_write_json(description, {
        "package": package.name, "task": package.task, "architecture": package.architecture,
        "model_args": package.model_args, "weights_sha256": package.weights_sha256, "source": str(model_dir),
        "method": signature.method, "input": {"name": signature.input_name, "shape": list(shape)},
        "outputs": list(signature.outputs),
        "attributes": {name: getattr(network, name) for name in signature.attributes if hasattr(network, name)},
        "parity": {"max_abs_diff": max(differences.values()), "per_input": differences},
        "opset": OPSET, "deepwild_version": __version__})
    return OnnxExport(target, description, package.name, package.task, package.architecture, shape, differences,
                      time.perf_counter() - started)


def description_path(onnx_path: Path) -> Path:
    return onnx_path.with_name(onnx_path.name + ".json")


def read_description(onnx_path: Path) -> dict[str, Any]:
    description = description_path(onnx_path)
    if not onnx_path.is_file() or not description.is_file():
        raise DeepwildError(f"{onnx_path}: no complete ONNX export here (the file and {description.name} beside it)",
                            hint="make one with: deepwild export MODEL --onnx FILE.onnx")
    return read_json(description)


def require_onnx_module(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DeepwildError(f"the ONNX runtime needs the Python package {module!r}", hint=INSTALL_HINT) from None
