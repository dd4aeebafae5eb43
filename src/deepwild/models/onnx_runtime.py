"""Exported networks run by onnxruntime behind the calls the tasks make on torch modules.

`inference_network(model_dir, network, runtime)` is the entry point for any code that runs a packaged
model (the tasks' `Detector`/`Segmenter`, the service): with runtime "torch" it returns the network as
it is; with "onnx" an `OnnxNetwork` that answers the same call — `net(x)` or `net.forward_maps(x)`,
torch tensors in and out, and the attributes inference reads (`groups`, …) — so post-processing is
shared and nothing about a task is duplicated.

The ONNX file comes from a cache keyed by the package's weights checksum (`$DEEPWILD_CACHE`, else
`$XDG_CACHE_HOME/deepwild`, else `~/.cache/deepwild`; subfolder `onnx/`), exported on first use: a
package folder may be read-only (the shipped detector lives inside the installation), and a checksum
key means a retrained package never meets a stale export. `load_onnx_network` loads an export made by
`deepwild export` directly.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deepwild.core.errors import ConfigError, DeepwildError, ModelPackageError
from deepwild.core.package import ModelPackage, read_model_package
from deepwild.models.onnx_export import description_path, export_package, read_description, require_onnx_module

RUNTIMES = ("torch", "onnx")


class OnnxNetwork:
    """An exported network with the torch module's inference surface: `net(x)` for an export of `forward`,
    `net.forward_maps(x)` (a dict of maps) for one of `forward_maps`; (B, C, H, W) float tensors in and out."""

    training = False

    def __init__(self, session: Any, description: dict[str, Any]) -> None:
        self.session = session
        self.package = str(description["package"])
        self.method = str(description["method"])
        self.input_name = str(description["input"]["name"])
        self.outputs = tuple(description["outputs"])
        for name, value in description.get("attributes", {}).items():
            setattr(self, name, value)

    def run(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        inputs = {self.input_name: np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)}
        outputs = self.session.run(self.outputs, inputs)
        return {name: torch.from_numpy(value) for name, value in zip(self.outputs, outputs)}

    def forward_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self._expect("forward_maps")
        return self.run(x)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self._expect("forward")
        return self.run(x)[self.outputs[0]]

    def eval(self) -> OnnxNetwork:
        return self

    def _expect(self, method: str) -> None:
        if self.method != method:
            raise TypeError(f"the ONNX export of {self.package} runs `{self.method}`, not `{method}`")


def check_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}; choose one of: {', '.join(RUNTIMES)}")
    return runtime


def inference_network(model_dir: Path, network: nn.Module, runtime: str,
                      package: ModelPackage | None = None) -> nn.Module | OnnxNetwork:
    """`network` itself for runtime "torch"; for "onnx" the package's export run by onnxruntime."""
    if check_runtime(runtime) == "torch":
        return network
    package = package or read_model_package(model_dir)
    return load_onnx_network(cached_export(model_dir, package), package.weights_sha256)


def cache_root() -> Path:
    if os.environ.get("DEEPWILD_CACHE"):
        return Path(os.environ["DEEPWILD_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "deepwild"


def cached_export(model_dir: Path, package: ModelPackage | None = None) -> Path:
    """The package's ONNX file in the cache, exported (and checked against PyTorch) on first use."""
    package = package or read_model_package(model_dir)
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", package.name)
    target = cache_root() / "onnx" / f"{safe_name}-{package.weights_sha256[:16]}.onnx"
    if description_path(target).is_file() and target.is_file():
        return target
    try:
        export_package(model_dir, target)
    except OSError as error:
        raise DeepwildError(f"cannot write the ONNX export cache {target.parent}: {error.strerror}",
                            hint="point $DEEPWILD_CACHE at a writable folder") from None
    return target


def load_onnx_network(onnx_path: Path, weights_sha256: str | None = None, threads: int | None = None) -> OnnxNetwork:
    """An export made by `deepwild export` (or the cache); `weights_sha256` refuses an export of other weights."""
    description = read_description(onnx_path)
    if weights_sha256 is not None and description.get("weights_sha256") != weights_sha256:
        raise ModelPackageError(f"{onnx_path} was exported from other weights than the model package's",
                                hint="export it again: deepwild export MODEL --onnx FILE.onnx")
    return OnnxNetwork(onnx_session(onnx_path, threads), description)


def onnx_session(onnx_path: Path, threads: int | None = None) -> Any:
    """A CPU inference session using as many threads as torch does (one per worker in batch mode)."""
    runtime = require_onnx_module("onnxruntime")
    options = runtime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers are noise to a user
    try:
        return runtime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for a broken file
        raise ModelPackageError(f"{onnx_path} is not a usable ONNX model: {str(error).splitlines()[0]}") from None
