"""HTTP API and web page: ``POST /v1/analyze``, ``GET /v1/models``, ``GET /healthz``, ``GET /`` (FastAPI).

>>> from emorec.server import create_app, ServerConfig
>>> app = create_app(ServerConfig(max_upload_bytes=5 << 20))     # serve with uvicorn, or ``emorec serve``

Every request the server refuses gets a JSON ``{"error": code, "detail": reason}`` and a 4xx status
(503 only when the server itself is saturated or an analysis overran its time limit); never a 500 or a hang:

* the body is read in chunks and refused (413) as soon as it passes the upload limit;
* the image type comes from the file's own header (magic bytes), not the client's content-type (415);
* the pixel count is read from the header before anything is decoded (413), and checked again after;
* reading the body and analysing the image each run under a time limit (408, 503);
* analysis runs in a bounded thread pool; past ``max_pending`` queued requests the server answers 503.

Images are decoded exactly as ``emorec detect`` decodes files, so each face's JSON is the same.
One recogniser per model is shared by all threads: its ONNX Runtime session is thread-safe and its
Haar cascade is one per thread (OpenCV's ``detectMultiScale`` keeps per-call state in the object).
"""


import asyncio
import io
import ipaddress
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from . import __version__
from .errors import EmorecError, ImageError, ModelError
from .model_card import BUILTIN

STATIC_DIR = Path(__file__).parent / "static"
MULTIPART_SLACK = 64 * 1024  # boundaries, part headers and the small form fields around the file
ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "BMP": "image/bmp",
                   "TIFF": "image/tiff"}  # what `emorec detect` reads as images (GIF is a video there)


@dataclass(frozen=True)
class ServerConfig:
    """Limits and defaults of the server (``emorec serve`` options map onto these)."""

    max_upload_bytes: int = 10_000_000  # the image file itself (10 MB)
    max_pixels: int = 40_000_000  # width x height
    upload_timeout_s: float = 30.0  # reading the request body
    analysis_timeout_s: float = 20.0  # decoding + detection + classification
    workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))  # analysis threads
    max_pending: int = 64  # analyses queued or running; more -> 503
    models: tuple = BUILTIN  # names a request may choose
    default_model: str = "fer2013"
    preload: tuple = ("fer2013",)  # models loaded at start (others on first use)
    extra: dict = field(default_factory=dict)  # free-form, shown by /healthz

    def __post_init__(self):
        if self.default_model not in self.models:
            raise ValueError(f"default_model {self.default_model!r} is not among models {self.models}")
        for name in ("max_upload_bytes", "max_pixels", "workers", "max_pending"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("upload_timeout_s", "analysis_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")


class Refused(Exception):
    """A request the server turns down: becomes ``{"error": code, "detail": detail}`` with ``status``."""

    def __init__(self, status: int, code: str, detail: str, headers: Optional[dict] = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


# ---------------------------------------------------------------- image checks (no FastAPI needed)
def image_magic(data: bytes) -> Optional[str]:
    """The accepted format a file's first bytes announce, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM":
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def sniff_image(data: bytes, max_pixels: int) -> tuple[str, int, int]:
    """Format, width and height from the file's header, without decoding the pixels.

    Raises :class:`Refused`: 415 for anything that is not a supported image type, 413 for too many pixels.
    """
    from PIL import Image

    if not data:
        raise Refused(400, "empty_file", "the uploaded file is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: we apply our own limit below
        try:
            with Image.open(io.BytesIO(data)) as im:  # lazy: reads the header only
                fmt, (w, h) = im.format, im.size
        except Image.DecompressionBombError as e:
            raise Refused(413, "too_many_pixels", f"image has too many pixels ({e}); limit {max_pixels:,}")
        except Exception:  # UnidentifiedImageError, or a header too broken to parse
            from .images import describe_bytes

            fmt = image_magic(data)
            if fmt:
                raise Refused(422, "corrupt_image", f"the file starts like a {fmt} image but its header is corrupt")
            raise Refused(415, "unsupported_type", f"not an image of a supported type: {describe_bytes(data)}; "
                                                   f"send one of {', '.join(sorted(ALLOWED_FORMATS))}")
    if fmt not in ALLOWED_FORMATS:
        raise Refused(415, "unsupported_type",
                      f"{fmt} images are not accepted; send one of {', '.join(sorted(ALLOWED_FORMATS))}")
    if w * h > max_pixels:
        raise Refused(413, "too_many_pixels", f"image is {w}x{h} = {w * h:,} pixels; the limit is {max_pixels:,}")
    if w < 1 or h < 1:
        raise Refused(422, "corrupt_image", f"image header gives an empty size {w}x{h}")
    return fmt, w, h


def decode_image(data: bytes, max_pixels: int, name: str = "upload") -> np.ndarray:
    """Decode as ``emorec detect`` does (:func:`emorec.images.decode_image`: EXIF orientation applied,
    16-bit kept, truncated JPEG/PNG refused); 422 if the pixels are corrupt."""
    from .images import decode_image as decode

    try:
        img = decode(data, name)
    except ImageError as e:
        raise Refused(422, "corrupt_image", str(e)) from None
    if img.shape[0] * img.shape[1] > max_pixels:  # a header that lied
        raise Refused(413, "too_many_pixels", f"image decodes to {img.shape[1]}x{img.shape[0]} pixels; "
                                              f"the limit is {max_pixels:,}")
    return img


# ---------------------------------------------------------------- analysis pool
class Analyzer:
    """A bounded pool of analysis threads sharing one recogniser per model.

    :class:`emorec.EmotionRecognizer` is safe to share: its ONNX Runtime session is thread-safe and
    its Haar cascade is one per thread (``detectMultiScale`` keeps per-call state in the object).
    """

    def __init__(self, config: ServerConfig):
        self.config = config
        self._pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="emorec-analyze")
        self._recognizers: dict = {}
        self._pending = 0
        self._lock = threading.Lock()
        self.served = 0

    def recognizer(self, model: str):
        with self._lock:
            if model not in self._recognizers:
                from .recognizer import EmotionRecognizer

                self._recognizers[model] = EmotionRecognizer(model=model)
            return self._recognizers[model]

    def warm_up(self):
        """Load the preloaded models now rather than on the first request."""
        for m in self.config.preload:
            _ = self.recognizer(m).classes

    def _run(self, data: bytes, model: str, flip: bool, name: str) -> dict:
        img = decode_image(data, self.config.max_pixels, name)
        faces = self.recognizer(model).analyze(img, flip=flip)
        return {"width": int(img.shape[1]), "height": int(img.shape[0]), "faces": [f.to_dict() for f in faces]}

    def _done(self, _fut):
        with self._lock:
            self._pending -= 1
            self.served += 1

    async def analyze(self, data: bytes, model: str, flip: bool, name: str = "upload") -> dict:
        with self._lock:
            if self._pending >= self.config.max_pending:
                raise Refused(503, "busy", f"{self._pending} analyses are already queued; try again shortly",
                              {"Retry-After": "1"})
            self._pending += 1
        try:
            fut = self._pool.submit(self._run, data, model, flip, name)
        except BaseException:
            with self._lock:
                self._pending -= 1
            raise
        fut.add_done_callback(self._done)  # the slot frees when the work really ends, even after a timeout
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), self.config.analysis_timeout_s)
        except asyncio.TimeoutError:
            raise Refused(503, "timeout", f"analysis took longer than the {self.config.analysis_timeout_s:g} s "
                                          "limit", {"Retry-After": "5"}) from None

    @property
    def pending(self) -> int:
        return self._pending

    def close(self):
        self._pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------- the app
def create_app(config: Optional[ServerConfig] = None):
    """The FastAPI application. ``config`` sets the limits (defaults: :class:`ServerConfig`)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.requests import ClientDisconnect

    from .model_card import list_models

    cfg = config or ServerConfig()
    analyzer = Analyzer(cfg)
    started = time.time()

    @asynccontextmanager
    async def lifespan(app):
        await asyncio.get_running_loop().run_in_executor(analyzer._pool, analyzer.warm_up)
        yield
        analyzer.close()

    app = FastAPI(title="emorec", version=__version__, lifespan=lifespan,
                  description="Find every face in an image and tell which emotion it shows. "
                              "Errors are JSON: `{\"error\": code, \"detail\": reason}`.")
    app.state.config, app.state.analyzer = cfg, analyzer

    def refuse(status: int, code: str, detail, headers=None):
        return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)

    @app.exception_handler(Refused)
    async def _refused(request, exc: Refused):
        return refuse(exc.status, exc.code, exc.detail, exc.headers)

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
    async def _bug(request, exc: Exception):  # a bug: still JSON, and the traceback goes to the log
        import logging

        logging.getLogger("emorec.server").exception("unexpected error on %s", request.url.path)
        return refuse(500, "internal_error", f"{type(exc).__name__}: {exc}")

    async def read_body(request: Request) -> bytes:
        """The whole body, refused with 413 as soon as it passes the limit and 408 if it arrives too slowly."""
        limit = cfg.max_upload_bytes + MULTIPART_SLACK
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise Refused(400, "bad_request", "invalid Content-Length header")
            if int(length) > limit:
                raise Refused(413, "too_large", f"upload of {_mb(int(length))} is over the "
                                                f"{_mb(cfg.max_upload_bytes)} limit")
        buf = bytearray()

        async def collect():
            async for chunk in request.stream():
                buf.extend(chunk)
                if len(buf) > limit:
                    raise Refused(413, "too_large", f"upload is over the {_mb(cfg.max_upload_bytes)} limit")

        try:
            await asyncio.wait_for(collect(), cfg.upload_timeout_s)
        except asyncio.TimeoutError:
            raise Refused(408, "upload_timeout", f"the upload did not arrive within {cfg.upload_timeout_s:g} s") \
                from None
        except ClientDisconnect:
            raise Refused(400, "client_disconnected", "the client closed the connection during the upload") \
                from None
        return bytes(buf)

    async def parse_form(request: Request, body: bytes):
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise Refused(415, "not_multipart", "send the image as multipart/form-data in a field named 'file' "
                                                f"(got Content-Type {ctype or 'none'!r})")
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return {"type": "http.request", "body": b"", "more_body": False}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            return await Request(request.scope, replay).form(max_files=1, max_fields=16)
        except Exception as e:  # python-multipart / Starlette: malformed body, too many parts
            raise Refused(400, "bad_multipart", f"cannot parse the multipart body: {getattr(e, 'detail', e)}")

    upload_schema = {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": f"the image: {', '.join(sorted(ALLOWED_FORMATS))}; at most "
                                        f"{_mb(cfg.max_upload_bytes)} and {cfg.max_pixels:,} pixels"},
                "model": {"type": "string", "enum": list(cfg.models), "description": "overrides the query"},
                "flip": {"type": "boolean", "description": "overrides the query"},
            }}}}},
        "responses": {str(s): {"description": d, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}}}}}
            for s, d in [(400, "bad request"), (408, "upload too slow"), (413, "file or pixel count too large"),
                         (415, "not a supported image type"), (422, "corrupt image or bad option"),
                         (503, "busy, or analysis over its time limit")]},
    }

    def parse_flip(value) -> bool:
        if isinstance(value, bool):
            return value
        v = str(value).strip().lower()
        if v in ("1", "true", "yes", "on"):
            return True
        if v in ("0", "false", "no", "off", ""):
            return False
        raise Refused(422, "invalid_option", f"flip must be true or false, not {value!r}")

    @app.post("/v1/analyze", summary="Faces and their emotions in an uploaded image", openapi_extra=upload_schema,
              tags=["analysis"])
    async def analyze(request: Request,
                      model: Optional[str] = Query(None, description=f"one of {', '.join(cfg.models)} "
                                                                     f"(default {cfg.default_model})"),
                      flip: Optional[str] = Query(None, description="average with the mirrored face (true/false)")):
        """Returns `{"file", "model", "flip", "width", "height", "faces": [{"box": [x, y, w, h], "emotion",
        "scores"}]}`: per face the same JSON as `emorec detect --json`."""
        t0 = time.perf_counter()
        body = await read_body(request)
        form = await parse_form(request, body)
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise Refused(400, "missing_file", "no file in the form field named 'file'")
            model_name = form.get("model") or model or cfg.default_model
            if model_name not in cfg.models:
                raise Refused(422, "unknown_model", f"unknown model {str(model_name)!r}; use one of "
                                                    f"{', '.join(cfg.models)}")
            do_flip = parse_flip(form.get("flip") if form.get("flip") is not None else (flip or False))
            data = await upload.read()
            name = upload.filename or "upload"
        finally:
            await form.close()
        if len(data) > cfg.max_upload_bytes:
            raise Refused(413, "too_large", f"file of {_mb(len(data))} is over the {_mb(cfg.max_upload_bytes)} limit")
        fmt, _, _ = sniff_image(data, cfg.max_pixels)
        try:
            result = await analyzer.analyze(data, model_name, do_flip, name)
        except (ImageError, ValueError) as e:
            raise Refused(422, "corrupt_image", str(e)) from None
        except ModelError as e:
            raise Refused(503, "model_unavailable", str(e)) from None
        except EmorecError as e:
            raise Refused(422, "cannot_analyze", str(e)) from None
        return {"file": name, "format": ALLOWED_FORMATS[fmt], "model": model_name, "flip": do_flip, **result,
                "elapsed_ms": round((time.perf_counter() - t0) * 1000, 1)}

    @app.get("/v1/models", summary="Cards of the models a request may choose", tags=["models"])
    def models():
        return {"default": cfg.default_model,
                "models": [c for c in list_models() if c.get("name") in cfg.models]}

    @app.get("/healthz", summary="Liveness and limits", tags=["service"])
    def healthz():
        return {"status": "ok", "version": __version__, "uptime_s": round(time.time() - started, 1),
                "served": analyzer.served, "pending": analyzer.pending,
                "limits": {"max_upload_bytes": cfg.max_upload_bytes, "max_pixels": cfg.max_pixels,
                           "upload_timeout_s": cfg.upload_timeout_s, "analysis_timeout_s": cfg.analysis_timeout_s,
                           "workers": cfg.workers, "max_pending": cfg.max_pending},
                "models": list(cfg.models), "default_model": cfg.default_model, **cfg.extra}

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, config: Optional[ServerConfig] = None,
          log_level: str = "info"):
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level, timeout_keep_alive=5)


class BackgroundServer:
    """A real uvicorn server in a daemon thread, on loopback and a free port (tests, notebooks).

    >>> with BackgroundServer() as srv:
    ...     httpx.get(srv.url + "/healthz")
    """

    def __init__(self, config: Optional[ServerConfig] = None, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning"):
        import socket

        import uvicorn

        self.host = host
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        self.app = create_app(config)
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level=log_level, timeout_keep_alive=5))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="emorec-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{'[' + self.host + ']' if ':' in self.host else self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> "BackgroundServer":
        self._thread.start()
        t0 = time.monotonic()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server stopped while starting (see its log)")
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"the server did not start within {timeout:g} s")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10.0):
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc):
        self.stop()
