"""`deepwild export MODEL --onnx FILE.onnx`: a model's network as ONNX, checked against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from deepwild.cli import options as opt


def export(
    model: Annotated[str, typer.Argument(help="A run (path or name), a model package folder, or `shipped` (the "
                                              "shipped music symbol detector).", metavar="RUN_OR_MODEL")],
    onnx: Annotated[Path, typer.Option("--onnx", help="The ONNX file to write (its description goes beside it, "
                                                      "as FILE.onnx.json).")],
    runs_dir: opt.RunsDir = None,
) -> None:
    """Export a model's network to ONNX — exactly what its task's inference runs (the detector's tile maps, the
    newspaper FCN's border logits, a classifier's logits) — and compare it with PyTorch on fixed inputs."""
    from deepwild.models.onnx_export import PARITY_TOLERANCE, export_package
    from deepwild.tasks.model_probe import resolve_named_model

    model_dir, _ = resolve_named_model(model, runs_dir)
    result = export_package(model_dir, onnx)
    console = Console(soft_wrap=True)
    shape = "×".join(str(v) for v in result.input_shape)
    console.print(f"exported {result.package} ({result.task}, {result.architecture}; input {shape}) in "
                  f"{result.seconds:.1f} s", highlight=False)
    for name, difference in result.parity.items():
        console.print(f"  parity on {name:<20} max |onnxruntime − torch| = {difference:.2e}", highlight=False)
    console.print(f"max abs diff {result.max_abs_diff:.2e} (tolerance {PARITY_TOLERANCE:g})\n"
                  f"onnx     {result.onnx}\ndescribed {result.description}", highlight=False)
