"""`deepwild serve`: the models behind a local HTTP API and web page (FastAPI on uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def serve(
    models: Annotated[Optional[list[Path]], typer.Option(
        "--models", help="A model package, or a folder of them (repeatable); default: every model shipped with "
                         "deepwild.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 opens it to the network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 = any free one, printed).")] = 8000,
    workers: Annotated[int, typer.Option(help="Inputs processed at once (threads of this one process).")] = 1,
    queue: Annotated[int, typer.Option(help="Requests that may wait for a worker; more are answered 503.")] = 8,
    timeout: Annotated[float, typer.Option(help="Seconds a request may take, queue included; then 504.")] = 60.0,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body in MiB; larger ones are answered 413.")] = 32.0,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels than this.")] = 60_000_000,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch (default: torch's own).")] = None,
    runtime: Annotated[str, typer.Option(help="torch, or onnx: the networks' ONNX exports run by onnxruntime "
                                              "(deepwild[onnx]).")] = "torch",
) -> None:
    """Serve models over HTTP: POST /v1/omr/detect, /v1/news/segment, /v1/classify; GET /v1/models, /health,
    /metrics; API docs at /docs and a web page at /. Models are loaded once, before the port is opened."""
    from deepwild.serve.app import create_app
    from deepwild.serve.limits import Limits
    from deepwild.serve.models import load_models
    from deepwild.serve.run import bind, run_server

    limits = Limits(max_body_bytes=int(max_body_mb * 1024 * 1024), max_pixels=max_pixels, timeout_s=timeout,
                    workers=workers, queue=queue)
    limits.validate()
    if threads:
        import torch

        torch.set_num_threads(threads)
    served = load_models(models, runtime)
    app = create_app(served, limits)
    sock = bind(host, port)
    address = sock.getsockname()
    shown = f"[{address[0]}]" if ":" in address[0] else address[0]
    for model in served:
        print(f"model    {model.name} ({model.task}, version {model.version}) → {model.describe()['route']}", flush=True)
    print(f"serving  http://{shown}:{address[1]}/  (API docs /docs, metrics /metrics); Ctrl-C stops", flush=True)
    try:
        run_server(app, limits, sock)
    except KeyboardInterrupt:  # uvicorn has shut down cleanly and passes Ctrl-C on: a normal end
        print("stopped", flush=True)
