"""The FastAPI application: routes, the JSON error handlers, and the published schema.

Every route's answers are described by :mod:`emorec.server.schemas`, errors included, so ``/openapi.json``
is the real contract (a schema-driven fuzzer runs against it in the tests). Request handling reads the
upload as it streams in (:mod:`.uploads`) and hands the analysis to the pool (:mod:`.workers`).
"""

import asyncio
import logging
import time
from pathlib import Path
from typing import Optional

from .. import __version__
from ..errors import DataError, EmorecError, ImageError, ModelError, VideoError
from ..model_card import public_card
from .config import ServerConfig
from .errors import Refused
from .hosts import HostCheck
from .uploads import ALLOWED_FORMATS, MULTIPART_SLACK, UploadForm, mb, sniff_image
from .workers import WorkerPool

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
log = logging.getLogger("emorec.server")
PAGE_PATHS = ("/static/", "/models/")  # with "/": the page and its files, sent cross-origin isolated


class IsolationHeaders:
    """The cross-origin isolation headers (:data:`emorec.web.ISOLATION_HEADERS`) on the page and its files, so
    that the page's in-browser mode may run ONNX Runtime Web with WebAssembly threads (a pure ASGI middleware:
    the bodies stream through untouched)."""

    def __init__(self, app):
        from ..web import ISOLATION_HEADERS

        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in ISOLATION_HEADERS.items()]

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/" or path.startswith(PAGE_PATHS)):
            return await self.app(scope, receive, send)

        async def send_isolated(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + self.headers}
            await send(message)

        await self.app(scope, receive, send_isolated)


# ---------------------------------------------------------------- the request's options
FLIP_VALUES = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False, "on": True,
               "off": False}


def parse_flip(value) -> bool:
    if value is None:
        return False
    if str(value) not in FLIP_VALUES:
        raise Refused(422, "invalid_option", f"flip must be one of {', '.join(FLIP_VALUES)}, not {str(value)[:50]!r}")
    return FLIP_VALUES[str(value)]


def parse_min_confidence(value) -> float:
    if value is None:
        return 0.0
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = float("nan")
    if not 0.0 <= p <= 1.0:
        raise Refused(422, "invalid_option", f"min_confidence must be a probability from 0 to 1, not "
                                             f"{str(value)[:50]!r}")
    return p


def choose(kind: str, value, allowed, default: str) -> str:
    value = default if value is None else value
    if value not in allowed:
        raise Refused(422, f"unknown_{kind}", f"unknown {kind} {str(value)[:100]!r}; use one of {', '.join(allowed)}")
    return value


def option(form: UploadForm, request, name: str, parse):
    """An option's value: a form field overrides the query parameter of the same name; each value given
    must be valid (``parse`` raises :class:`Refused` otherwise), the overridden one too."""
    values = [parse(v) for v in (request.query_params.get(name), form.fields.get(name)) if v is not None]
    return values[-1] if values else parse(None)


def analyze_openapi(cfg: ServerConfig, detectors) -> dict:
    """The OpenAPI of ``POST /v1/analyze``'s parameters and body (the route reads them itself, so that
    every bad value gets the JSON error shape): the same four options in the query and in the form."""
    options = {
        "model": ({"type": "string", "enum": list(cfg.models), "default": cfg.default_model}, "the emotion model"),
        "detector": ({"type": "string", "enum": list(detectors), "default": cfg.default_detector},
                     "the face detector"),
        "flip": ({"type": "string", "enum": list(FLIP_VALUES), "default": "false"},
                 "average each face with its mirror image"),
        "min_confidence": ({"type": "number", "minimum": 0, "maximum": 1, "default": 0},
                           "withhold the label (emotion null) of a face whose top probability is below this"),
    }
    types = ", ".join(ALLOWED_FORMATS.values())
    return {
        "parameters": [{"name": k, "in": "query", "required": False, "schema": s, "description": d}
                       for k, (s, d) in options.items()],
        "requestBody": {"required": True, "content": {"multipart/form-data": {
            "schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary", "minLength": 1,
                         "description": f"the image ({types}); at most {mb(cfg.max_upload_bytes)} and "
                                        f"{cfg.max_pixels:,} pixels"},
                **{k: {**s, "description": d + " (overrides the query)"} for k, (s, d) in options.items()}}},
            "encoding": {"file": {"contentType": types}}}}},
    }


def create_app(config: Optional[ServerConfig] = None):
    """The FastAPI application. ``config`` sets the limits (defaults: :class:`ServerConfig`)."""
    from contextlib import asynccontextmanager

    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from fastapi_offline import FastAPIOffline  # /docs and /redoc with their assets served here, not a CDN
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from ..model_card import list_models
    from .schemas import AnalyzeResult, Health, ModelList, error_responses

    cfg = config or ServerConfig()
    pool = WorkerPool(cfg)
    started = time.time()

    @asynccontextmanager
    async def lifespan(app):
        await asyncio.get_running_loop().run_in_executor(pool.executor, pool.warm_up)
        yield
        pool.close()

    app = FastAPIOffline(title="emorec", version=__version__, lifespan=lifespan,
                         description="Find every face in an image and tell which emotion it shows. "
                                     "Errors are JSON: `{\"error\": code, \"detail\": reason}`.")
    app.state.config, app.state.analyzer = cfg, pool
    app.add_middleware(IsolationHeaders)
    app.add_middleware(HostCheck, allowed=cfg.allowed_hosts)

    def refuse(status: int, code: str, detail, headers=None):
        return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)

    @app.exception_handler(Refused)
    async def _refused(request, exc: Refused):
        return refuse(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(EmorecError)
    async def _emorec(request, exc: EmorecError):
        if isinstance(exc, ImageError):  # the client's image: its message names only the upload
            return refuse(422, "corrupt_image", str(exc))
        if isinstance(exc, ModelError):  # the server's files: the message (paths) stays in the log
            log.error("model or detector unavailable on %s: %s", request.url.path, exc)
            return refuse(500, "model_unavailable", "the model or face detector asked for cannot be loaded on "
                                                    "this server (the server log says why)")
        code = {DataError: "invalid_data", VideoError: "invalid_video"}.get(type(exc), "cannot_analyze")
        log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc)
        return refuse(422, code, f"the image cannot be analysed ({type(exc).__name__})")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        msgs = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return refuse(422, "invalid_request", msgs or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = {404: f"no such page or endpoint: {request.url.path} (the API is described at /docs)",
                  405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        return refuse(exc.status_code, code, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request, exc: Exception):
        # a bug: JSON without internals. Starlette re-raises the exception after this answer, and uvicorn
        # logs its traceback ("Exception in ASGI application"): the details stay in the server log.
        return refuse(500, "internal_error", "internal server error; the server log has the details")

    @app.post("/v1/analyze", summary="Faces and their emotions in an uploaded image", tags=["analysis"],
              response_model=None, openapi_extra=analyze_openapi(cfg, cfg.detectors),
              responses={200: {"model": AnalyzeResult, "description": "the faces found and their emotions"},
                         **error_responses(400, 408, 413, 415, 422, 500, 503)})
    async def analyze(request: Request):
        """Per face the same JSON as `emorec detect --json`. Options come as query parameters or form fields
        (a form field wins)."""
        t0 = time.perf_counter()
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise Refused(400, "bad_request", "invalid Content-Length header")
            if int(length) > cfg.max_upload_bytes + MULTIPART_SLACK:
                raise Refused(413, "too_large", f"upload of {mb(int(length))} is over the "
                                                f"{mb(cfg.max_upload_bytes)} limit")
        UploadForm.check(request.headers.get("content-type", ""))  # 415 / 400 before taking a slot
        slot = pool.admit()  # 503 now, before the body is read, when the server is full
        handed = False
        try:
            form = await UploadForm.receive(request, cfg.max_upload_bytes, cfg.upload_timeout_s)
            if form.file is None:
                raise Refused(400, "missing_file", "no file in the form field named 'file'")
            model = option(form, request, "model", lambda v: choose("model", v, cfg.models, cfg.default_model))
            detector = option(form, request, "detector",
                              lambda v: choose("detector", v, cfg.detectors, cfg.default_detector))
            problem = pool.detector_problem(detector)
            if problem:
                raise Refused(422, "detector_unavailable", f"the {detector} face detector is not available on "
                                                           f"this server: {problem}; use one of "
                                                           f"{', '.join(pool.usable_detectors())}")
            flip = option(form, request, "flip", parse_flip)
            least = option(form, request, "min_confidence", parse_min_confidence)
            name = form.filename
            data = form.take_file()
            del form
            fmt, _, _ = sniff_image(data, cfg.max_pixels, cfg.max_decoded_bytes)
            handed = True  # from here the pool frees the slot, when the analysis ends or is dropped
            result = await pool.analyze(slot, request, data, name, model=model, detector=detector, flip=flip,
                                        min_confidence=least)
        finally:
            if not handed:
                slot.free()
        return {"file": result.pop("file"), "format": ALLOWED_FORMATS[fmt], "model": model, "detector": detector,
                "flip": flip, "min_confidence": least, **result,
                "elapsed_ms": round((time.perf_counter() - t0) * 1000, 1)}

    @app.get("/v1/models", summary="Cards of the models and the face detectors a request may choose",
             tags=["models"], response_model=None,
             responses={200: {"model": ModelList, "description": "model cards and usable detectors"}})
    def models():
        from ..detectors import DESCRIPTIONS

        return {"default": cfg.default_model,
                "models": [public_card(c) for c in list_models() if c.get("name") in cfg.models],
                "default_detector": cfg.default_detector,
                "detectors": [{"name": d, "description": DESCRIPTIONS.get(d, "")} for d in pool.usable_detectors()]}

    @app.get("/healthz", summary="Liveness and limits", tags=["service"], response_model=None,
             responses={200: {"model": Health, "description": "counters, limits, models and detectors"}})
    def healthz():
        return {"status": "ok", "version": __version__, "uptime_s": round(time.time() - started, 1),
                "served": pool.served, "skipped": pool.skipped, "pending": pool.pending,
                "limits": {"max_upload_bytes": cfg.max_upload_bytes, "max_pixels": cfg.max_pixels,
                           "max_decoded_bytes": cfg.max_decoded_bytes, "header_timeout_s": cfg.header_timeout_s,
                           "upload_timeout_s": cfg.upload_timeout_s, "queue_timeout_s": cfg.queue_timeout_s,
                           "analysis_timeout_s": cfg.analysis_timeout_s, "workers": cfg.workers,
                           "max_pending": cfg.max_pending, "max_connections": cfg.max_connections},
                "models": list(cfg.models), "default_model": cfg.default_model,
                "detectors": pool.usable_detectors(), "default_detector": cfg.default_detector,
                "unavailable_detectors": {d: pool.detector_problem(d) for d in cfg.detectors
                                          if pool.detector_problem(d)}, **cfg.extra}

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    # ---- the page's in-browser mode: the files it runs on, as a static site built by emorec.web has them
    from .. import web
    from ..model_card import BUILTIN, MODELS_DIR

    site_models = [m for m in cfg.models if m in BUILTIN]

    def yunet_file():
        """YuNet's file as this server found it (never downloaded here), or None."""
        from ..detectors.model_file import resolve_yunet

        try:
            return resolve_yunet(cfg.detector_model, download_missing=False)
        except ModelError:
            return None

    @app.get("/models/{filename}", include_in_schema=False)
    def model_file(filename: str):
        """``index.json`` (the page's manifest), the built-in models and their public cards, and YuNet's file:
        what the page's in-browser mode downloads to analyse frames in the browser."""
        no_cache = {"Cache-Control": "no-cache"}
        if filename == "index.json":
            return JSONResponse(web.manifest(server=True, yunet=yunet_file() is not None, models=site_models,
                                             default=cfg.default_model), headers=no_cache)
        name, _, ext = filename.rpartition(".")
        if name in site_models and ext == "onnx":
            return FileResponse(MODELS_DIR / filename, media_type="application/octet-stream", headers=no_cache)
        if name in site_models and ext == "json":
            card = next((c for c in list_models() if c.get("name") == name), None)
            if card is not None:
                return JSONResponse(public_card(card), headers=no_cache)
        if filename == "yunet.onnx":
            path = yunet_file()
            if path is not None:
                return FileResponse(path, media_type="application/octet-stream", headers=no_cache)
            raise StarletteHTTPException(404, "no YuNet model file on this server")
        raise StarletteHTTPException(404)

    def openapi():
        """The schema, made on first request: the detector values are those usable on this server."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            fresh = analyze_openapi(cfg, pool.usable_detectors())
            op = schema["paths"]["/v1/analyze"]["post"]
            op["parameters"], op["requestBody"] = fresh["parameters"], fresh["requestBody"]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    import mimetypes  # the page's ES modules and WebAssembly need these types (some systems lack them)

    mimetypes.add_type("text/javascript", ".mjs")
    mimetypes.add_type("application/wasm", ".wasm")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
