"""The FastAPI application: one route per task, the model list, health, metrics and the web page.

Every answer for an input names the model that made it (`model`, `model_version` in JSON; the headers
`X-Deepwild-Model` and `X-Deepwild-Model-Version` on every answer, PAGE XML included). Errors are JSON
`{"error": ..., "hint": ..., "status": ...}`: a `DeepwildError` (bad input) is 400, a full queue 503 with
Retry-After, a request over its time 504, and anything unexpected 500 without a traceback (the server's
log has it). See `serve.limits` for how each request's work is bounded.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, Optional

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from deepwild import __version__
from deepwild.core.errors import DeepwildError, InputError
from deepwild.core.images import load_grayscale_bytes
from deepwild.serve.limits import (BodyLimit, Busy, Limits, QueueGuard, TimedOut, WorkGate, busy_body,
                                   busy_headers)
from deepwild.serve.metrics import Metrics, MetricsMiddleware, resident_memory_bytes
from deepwild.serve.models import ROUTE_PATHS as MODEL_ROUTES
from deepwild.serve.models import ServedModel, check_unique

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("deepwild.serve")

ImageField = File(description="The image: PNG, JPEG, TIFF or BMP, as multipart/form-data field `image`.")
ModelChoice = Query(None, description="Which model of the task (a name from GET /v1/models; default: the first).")


def error_response(status: int, message: str, hint: str | None = None, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    body = {"error": message, "status": status, **({"hint": hint} if hint else {}), **extra}
    return JSONResponse(body, status_code=status, headers=headers)


class Service:
    """The loaded models, the limits, the work gate and the metrics one application shares."""

    def __init__(self, models: Sequence[ServedModel], limits: Limits) -> None:
        limits.validate()
        self.models, self.limits = check_unique(models), limits
        self.gate, self.metrics = WorkGate(limits), Metrics()

    def pick(self, route: str, name: str | None) -> ServedModel:
        candidates = [m for m in self.models if m.route == route]
        if not candidates:
            raise HTTPException(404, f"no model of this service answers {MODEL_ROUTES[route]}; "
                                     f"GET /v1/models lists what it serves")
        if name is None:
            return candidates[0]
        for model in candidates:
            if model.name == name:
                return model
        raise InputError(f"no model {name!r} answers {MODEL_ROUTES[route]}",
                         hint=f"choose one of {', '.join(m.name for m in candidates)}")

    async def predict(self, route: str, model_name: str | None, upload: UploadFile, **options: Any) -> tuple[ServedModel, Any]:
        model = self.pick(route, model_name)
        data = await upload.read()  # bounded by the body limit
        name = Path(upload.filename or "upload").name or "upload"
        if not data:
            raise InputError(f"the uploaded file {name} is empty")
        max_pixels = self.limits.max_pixels
        return model, await self.gate.run(lambda: model.predict(decode(data, name, max_pixels), name, **options))

    def gauges(self) -> dict[str, tuple[str, float]]:
        gauges = {"deepwild_queue_depth": ("Requests waiting for a worker.", float(self.gate.queued)),
                  "deepwild_inference_in_progress": ("Inputs being processed (incl. timed-out ones).",
                                                     float(self.gate.running)),
                  "deepwild_models_loaded": ("Models this service answers with.", float(len(self.models)))}
        memory = resident_memory_bytes()
        if memory is not None:
            gauges["process_resident_memory_bytes"] = ("Resident memory of the server process.", float(memory))
        return gauges


def decode(data: bytes, name: str, max_pixels: int) -> Any:
    """(H, W) float32 gray in [0, 1] from uploaded bytes; the pixel limit is checked from the header first."""
    try:
        return load_grayscale_bytes(data, name, max_pixels)
    except (ValueError, TypeError, OSError) as error:  # a mode that cannot become gray
        raise InputError(f"{name}: unsupported image ({error})",
                         hint="send an 8- or 16-bit grey, RGB(A) or palette image") from None


def answer(model: ServedModel, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse({**body, "model": model.name, "model_version": model.version}, headers=model_headers(model))


def model_headers(model: ServedModel) -> dict[str, str]:
    return {"X-Deepwild-Model": model.name, "X-Deepwild-Model-Version": model.version}


def create_app(models: Sequence[ServedModel], limits: Limits | None = None) -> FastAPI:
    """The application serving `models` (loaded by `serve.models.load_models`, or fakes in tests)."""
    service = Service(models, limits or Limits())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.gate.close()

    app = FastAPI(title="deepwild", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Music symbol detection, newspaper article segmentation and image classification "
                              "with deepwild model packages. Upload an image as multipart/form-data field `image`.")
    app.state.service = service
    _add_docs(app)
    _add_errors(app)
    _add_model_routes(app, service)
    _add_info_routes(app, service)
    # Outermost last: metrics see every answer, the queue guard answers before the body is read.
    app.add_middleware(BodyLimit, max_bytes=service.limits.max_body_bytes)
    app.add_middleware(QueueGuard, gate=service.gate, paths=MODEL_ROUTES.values())
    known = {getattr(r, "path", "") for r in app.routes}
    app.add_middleware(MetricsMiddleware, metrics=service.metrics, known_paths=lambda: known)
    return app


def _add_model_routes(app: FastAPI, service: Service) -> None:
    @app.post(MODEL_ROUTES["detect"], summary="Music symbols on a page of music")
    async def detect(image: UploadFile = ImageField, model: Optional[str] = ModelChoice,
                     classes: Optional[str] = Query(None, description="Only these classes (comma-separated)."),
                     min_score: Optional[float] = Query(None, ge=0, le=1, description="Drop symbols scored below."),
                     staff_space: Optional[float] = Query(None, gt=0, description="Staff-line distance in px "
                                                                                  "(default: measured).")) -> Response:
        wanted = {c.strip() for c in classes.split(",") if c.strip()} if classes else None
        served, result = await service.predict("detect", model, image, classes=wanted, min_score=min_score,
                                               staff_space=staff_space)
        return answer(served, result.to_json())

    @app.post(MODEL_ROUTES["segment"], summary="Articles of a newspaper page")
    async def segment(image: UploadFile = ImageField, model: Optional[str] = ModelChoice,
                      format: Literal["json", "pagexml"] = Query("json", description="json or pagexml (PAGE XML "
                                                                                     "2019).")) -> Response:
        served, result = await service.predict("segment", model, image)
        if format == "pagexml":
            from deepwild.data.pagexml import page_xml_bytes
            from deepwild.tasks.news.segment import page_xml_of

            return Response(page_xml_bytes(page_xml_of(result)), media_type="application/xml",
                            headers=model_headers(served))
        return answer(served, result.to_json())

    @app.post(MODEL_ROUTES["classify"], summary="The class of an image (digits, symbol crops)")
    async def classify(image: UploadFile = ImageField, model: Optional[str] = ModelChoice,
                       top_k: int = Query(3, ge=1, le=100, description="How many classes to list.")) -> Response:
        served, result = await service.predict("classify", model, image, top_k=top_k)
        return answer(served, result.to_json())


def _add_info_routes(app: FastAPI, service: Service) -> None:
    @app.get("/health", summary="Liveness: the models are loaded and the event loop answers")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "models": len(service.models),
                "queue_depth": service.gate.queued, "in_progress": service.gate.running}

    @app.get("/v1/models", summary="The models served: name, task, classes, metrics from the model card")
    async def models() -> dict[str, Any]:
        return {"models": [m.describe() for m in service.models]}

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(service.metrics.render(service.gauges()),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the files of the swagger-ui-bundle package, so that the docs work without
    internet; its Swagger UI 4 reads OpenAPI 3.0, which FastAPI's schema is compatible with."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.openapi_version = "3.0.3"
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="deepwild API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css", swagger_favicon_url="data:,")


def _add_errors(app: FastAPI) -> None:
    @app.exception_handler(DeepwildError)
    async def bad_input(request: Request, error: DeepwildError) -> JSONResponse:
        return error_response(400, error.message, error.hint)

    @app.exception_handler(Busy)
    async def busy(request: Request, error: Busy) -> JSONResponse:
        limits = request.app.state.service.limits
        return JSONResponse(busy_body(), status_code=503, headers=dict(busy_headers(limits)))

    @app.exception_handler(TimedOut)
    async def timed_out(request: Request, error: TimedOut) -> JSONResponse:
        limit = request.app.state.service.limits.timeout_s
        return error_response(504, f"the request took longer than the limit of {limit:g} s",
                              hint="send a smaller image, or try again when the service is less busy")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_validation_problem(e) for e in error.errors()]
        return error_response(422, "; ".join(problems), hint="upload the image as multipart/form-data field "
                                                             "`image`, e.g. curl -F image=@page.png URL")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
        return error_response(500, "internal error; the server's log has the details")


def _validation_problem(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query"))
    if error.get("type") == "missing":
        return f"the field `{where}` is missing"
    return f"`{where}`: {error.get('msg', 'invalid')}"
