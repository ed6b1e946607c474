"""HTTP API and web page: ``POST /v1/analyze``, ``GET /v1/models``, ``GET /healthz``, ``GET /`` (FastAPI).

>>> from emorec.server import create_app, ServerConfig
>>> app = create_app(ServerConfig(max_upload_bytes=5 << 20))     # serve with uvicorn, or ``emorec serve``

Every request the server refuses gets a JSON ``{"error": code, "detail": reason}`` and a 4xx status
(503 only when the server itself is saturated or an analysis overran its time limit; 500 only for a bug,
with a generic message: the traceback goes to the server log, never to the client):

* a connection must deliver its request line and headers within ``header_timeout_s`` (slow-loris), or it
  is closed; ``max_connections`` caps open connections (uvicorn answers 503 past it);
* the ``Host`` header must be one the server answers to (``allowed_hosts``; DNS rebinding), else 400;
* a request takes an analysis slot *before* its body is read: past ``max_pending`` slots it gets 503 at
  once, so at most ``max_pending`` uploads are ever held in memory, each held once;
* the body is parsed as it streams in and refused (413) as soon as the file passes the upload limit;
  408 if it arrives too slowly;
* the image type comes from the file's own header (magic bytes), not the client's content-type (415);
* the pixel count and the decoded size (width x height x channels x bytes per sample) are read from the
  header before anything is decoded (413), and checked again after;
* analysis runs in a bounded thread pool. A request that waits longer than ``queue_timeout_s`` for a
  thread gets 503 ``busy`` with Retry-After and its analysis never runs (nor does one whose client left);
  ``analysis_timeout_s`` counts from when its analysis starts (503 ``timeout``).

Images are decoded exactly as ``emorec detect`` decodes files, so each face's JSON is the same.
One recogniser per (model, detector) is shared by all threads: its ONNX Runtime session is thread-safe
and its detector keeps one OpenCV object per thread. ONNX Runtime's and OpenCV's own thread pools are
sized so that the analysis threads together use the CPUs once (no oversubscription).
"""


import asyncio
import io
import ipaddress
import json
import logging
import os
import socket
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from . import __version__
from .errors import DataError, EmorecError, ImageError, ModelError, VideoError
from .images import MAX_PIXELS
from .model_card import BUILTIN

STATIC_DIR = Path(__file__).parent / "static"
HEADER_BYTES = 1 << 20  # the part of an upload Pillow reads its header from
MULTIPART_SLACK = 64 * 1024  # boundaries, part headers and the small form fields around the file
ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "BMP": "image/bmp",
                   "TIFF": "image/tiff"}  # what `emorec detect` reads as images (GIF is a video there)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
log = logging.getLogger("emorec.server")


def _available_detectors() -> list:
    from .detectors import available

    return available()


def cpus() -> int:
    """CPUs this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ServerConfig:
    """Limits and defaults of the server (``emorec serve`` options map onto these)."""

    max_upload_bytes: int = 10_000_000  # the image file itself (10 MB)
    max_pixels: int = MAX_PIXELS  # width x height (the limit of `emorec detect` and `batch` too)
    max_decoded_bytes: int = 160_000_000  # width x height x channels x bytes per sample: any 8-bit RGBA at 40 MP
    header_timeout_s: float = 5.0  # request line and headers (slow-loris); also idle keep-alive connections
    upload_timeout_s: float = 30.0  # reading the request body
    queue_timeout_s: float = 15.0  # waiting for an analysis thread; then 503 busy, and the analysis never runs
    analysis_timeout_s: float = 20.0  # decoding + detection + classification, from when it starts
    workers: int = field(default_factory=lambda: max(1, min(4, cpus())))  # analysis threads
    max_pending: int = 32  # requests holding an upload (receiving, queued or analysing); more -> 503 at once
    max_connections: int = 256  # open connections (stalled ones included); more -> 503 from uvicorn
    allowed_hosts: tuple = LOOPBACK_HOSTS  # Host headers answered (a port is ignored); "*" answers any
    models: tuple = BUILTIN  # names a request may choose
    default_model: str = "fer2013"
    detectors: tuple = field(default_factory=lambda: tuple(_available_detectors()))  # a request may choose
    default_detector: str = "haar"
    detector_model: Optional[str] = None  # the YuNet .onnx (else found as emorec.detectors.model_file says)
    preload: tuple = ("fer2013",)  # models loaded at start, with the default detector (others on first use)
    extra: dict = field(default_factory=dict)  # free-form, shown by /healthz

    def __post_init__(self):
        if self.default_model not in self.models:
            raise ValueError(f"default_model {self.default_model!r} is not among models {self.models}")
        if self.default_detector not in self.detectors:
            raise ValueError(f"default_detector {self.default_detector!r} is not among detectors {self.detectors}")
        for name in ("max_upload_bytes", "max_pixels", "max_decoded_bytes", "workers", "max_pending",
                     "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("header_timeout_s", "upload_timeout_s", "queue_timeout_s", "analysis_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if not self.allowed_hosts:
            raise ValueError("allowed_hosts is empty: no request could be answered (use ('*',) for any host)")

    @property
    def threads_per_worker(self) -> int:
        """ONNX Runtime intra-op and OpenCV threads for each analysis thread: the CPUs shared out once."""
        return max(1, cpus() // self.workers)


class Refused(Exception):
    """A request the server turns down: becomes ``{"error": code, "detail": detail}`` with ``status``."""

    def __init__(self, status: int, code: str, detail: str, headers: Optional[dict] = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """A host as a ``Host`` header carries it: IPv6 literals in brackets, lower case."""
    host = host.strip().lower()
    try:
        if ipaddress.ip_address(host.strip("[]")).version == 6:
            return f"[{host.strip('[]')}]"
    except ValueError:
        pass
    return host


def allowed_hosts_for(bind: str, extra=()) -> tuple:
    """The ``Host`` headers a server bound to ``bind`` answers: the loopback names, the bound address,
    and ``extra`` (``--allowed-hosts``). A wildcard bind (0.0.0.0, ::) without ``extra`` adds this
    machine's name and addresses. Any other name (a DNS name pointing here) must be listed in ``extra``;
    ``"*"`` there turns the check off."""
    names = list(LOOPBACK_HOSTS)
    wildcard = bind in ("0.0.0.0", "::", "")
    if not wildcard:
        names.append(bind)
    elif not extra:
        names.append(socket.gethostname())
        names.append(socket.getfqdn())
        try:
            names += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)]
        except OSError:
            pass
    names += list(extra)
    out = []
    for n in names:
        n = "*" if n.strip() == "*" else host_name(n)
        if n and n not in out:
            out.append(n)
    return tuple(out)


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


def sample_layout(im, data: bytes) -> tuple[int, int]:
    """(channels, bytes per sample) of an opened (lazy) Pillow image, from its file header: PNG's IHDR
    and TIFF's tags give the stored depth (Pillow's mode says 'RGB' for a 16-bit PNG)."""
    if im.format == "PNG" and len(data) >= 26:
        depth, color_type = data[24], data[25]
        return {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(color_type, 4), 2 if depth > 8 else 1
    if im.format == "TIFF":
        tags = getattr(im, "tag_v2", {})
        bits = tags.get(258, 8)
        bits = max(bits) if isinstance(bits, (tuple, list)) and bits else (bits or 8)
        channels = 3 if tags.get(262) == 3 else int(tags.get(277, len(im.getbands())) or 1)  # palette -> BGR
        return max(1, channels), max(1, (int(bits) + 7) // 8)
    return (3 if im.mode == "P" else len(im.getbands())), 1


def _open_header(data):
    """Pillow's lazy image of ``data`` (bytes or bytearray) without copying a whole upload: Pillow reads
    from a file object, and io.BytesIO copies a bytearray, so it gets the first MB (where headers are);
    only a file whose header lies further in (a TIFF directory at its end) is copied whole."""
    from PIL import Image

    if isinstance(data, bytes) or len(data) <= HEADER_BYTES:
        return Image.open(io.BytesIO(bytes(data)))
    try:
        return Image.open(io.BytesIO(bytes(data[:HEADER_BYTES])))
    except Image.DecompressionBombError:
        raise
    except Exception:
        return Image.open(io.BytesIO(bytes(data)))


def sniff_image(data: bytes, max_pixels: int, max_decoded_bytes: Optional[int] = None) -> tuple[str, int, int]:
    """Format, width and height from the file's header, without decoding the pixels.

    Raises :class:`Refused`: 415 for anything that is not a supported image type, 413 for too many pixels
    or (``max_decoded_bytes``) an image that would decode to more bytes than that.
    """
    from PIL import Image

    if not data:
        raise Refused(400, "empty_file", "the uploaded file is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: we apply our own limit below
        try:
            with _open_header(data) as im:  # lazy: reads the header only
                fmt, (w, h) = im.format, im.size
                channels, depth = sample_layout(im, data) if fmt in ALLOWED_FORMATS else (1, 1)
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
    decoded = w * h * channels * depth
    if max_decoded_bytes is not None and decoded > max_decoded_bytes:
        raise Refused(413, "too_large_decoded",
                      f"image is {w}x{h} with {channels} channel{'s' * (channels > 1)} of {8 * depth} bits: "
                      f"{_mb(decoded)} once decoded; the limit is {_mb(max_decoded_bytes)}")
    return fmt, w, h


def decode_image(data: bytes, max_pixels: int, name: str = "upload",
                 max_decoded_bytes: Optional[int] = None) -> np.ndarray:
    """Decode as ``emorec detect`` does (:func:`emorec.images.decode_image`: EXIF orientation applied,
    16-bit kept, truncated JPEG/PNG refused); 422 if the pixels are corrupt, 413 if the header lied."""
    from .images import decode_image as decode

    img = decode(data, name)  # ImageError -> 422 corrupt_image (see create_app)
    if img.shape[0] * img.shape[1] > max_pixels:
        raise Refused(413, "too_many_pixels", f"image decodes to {img.shape[1]}x{img.shape[0]} pixels; "
                                              f"the limit is {max_pixels:,}")
    if max_decoded_bytes is not None and img.nbytes > max_decoded_bytes:
        raise Refused(413, "too_large_decoded", f"image decodes to {_mb(img.nbytes)}; the limit is "
                                                f"{_mb(max_decoded_bytes)}")
    return img


# ---------------------------------------------------------------- the upload, parsed as it streams in
class UploadForm:
    """``multipart/form-data`` fed chunk by chunk (python-multipart's streaming parser): the part named
    ``file`` is kept once, in one buffer, and refused (413) as soon as it passes ``max_file`` bytes; other
    parts are small text fields (at most ``max_fields``, ``max_field`` bytes each) or ignored files."""

    def __init__(self, content_type: str, max_file: int, max_fields: int = 16, max_field: int = 1024):
        from python_multipart.multipart import MultipartParser, parse_options_header

        self._options = parse_options_header
        boundary = self.check(content_type)
        self.max_file, self.max_fields, self.max_field = max_file, max_fields, max_field
        self.fields: dict[str, str] = {}
        self.file: Optional[bytearray] = None
        self.filename = "upload"
        self._head = b""
        self._name, self._value, self._buf, self._keep = b"", b"", None, False
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done, "on_part_data": self._data, "on_part_end": self._end})

    @staticmethod
    def check(content_type: str) -> bytes:
        """The boundary of a multipart/form-data Content-Type; 415 for another type, 400 without one."""
        from python_multipart.multipart import parse_options_header

        ctype, params = parse_options_header(content_type or "")
        if ctype != b"multipart/form-data":
            raise Refused(415, "not_multipart", "send the image as multipart/form-data in a field named 'file' "
                                                f"(got Content-Type {content_type[:100] or 'none'!r})")
        if not params.get(b"boundary"):
            raise Refused(400, "bad_multipart", "the multipart Content-Type has no boundary")
        return params[b"boundary"]

    def _begin(self):
        self._disposition, self._name, self._value, self._buf, self._keep = b"", b"", b"", None, False

    def _header_field(self, data, start, end):
        self._name += data[start:end]

    def _header_value(self, data, start, end):
        self._value += data[start:end]
        if len(self._value) > 4096:
            raise Refused(400, "bad_multipart", "a multipart part header is over 4 kB")

    def _header_end(self):
        if self._name.lower() == b"content-disposition":
            self._disposition = self._value
        self._name, self._value = b"", b""

    def _headers_done(self):
        _, opts = self._options(self._disposition)
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in opts:
            if name != "file":
                return  # another file field: its data is ignored (it still counts towards the body limit)
            if self.file is not None:
                raise Refused(400, "bad_multipart", "more than one part named 'file'; send one image a request")
            self.file, self._buf, self._keep = bytearray(), None, True
            self.filename = opts[b"filename"].decode("utf-8", "replace") or "upload"
            self._field = None
            return
        if len(self.fields) >= self.max_fields:
            raise Refused(400, "bad_multipart", f"more than {self.max_fields} form fields")
        self._field, self._buf, self._keep = name, bytearray(), True

    def _data(self, data, start, end):
        if not self._keep:
            return
        if self._buf is None:  # the file
            if len(self.file) + (end - start) > self.max_file:
                raise Refused(413, "too_large", f"the file is over the {_mb(self.max_file)} limit")
            self.file += memoryview(data)[start:end]
        else:
            self._buf += memoryview(data)[start:end]
            if len(self._buf) > self.max_field:
                raise Refused(400, "bad_multipart", f"form field {self._field!r} is over {self.max_field} bytes")

    def _end(self):
        if self._keep and self._buf is not None:
            self.fields[self._field] = self._buf.decode("utf-8", "replace")
        self._keep, self._buf = False, None

    def feed(self, chunk: bytes):
        from python_multipart.exceptions import FormParserError

        try:
            self._parser.write(chunk)
        except FormParserError as e:
            raise Refused(400, "bad_multipart", f"cannot parse the multipart body: {e}") from None

    def finish(self):
        from python_multipart.exceptions import FormParserError

        try:
            self._parser.finalize()
        except FormParserError as e:
            raise Refused(400, "bad_multipart", f"cannot parse the multipart body: {e}") from None

    def take_file(self) -> bytearray:
        """The file's bytes (the one buffer they were received into: the upload is held once)."""
        data, self.file = self.file, None
        return data


# ---------------------------------------------------------------- analysis pool
class Slot:
    """One of the ``max_pending`` places a request takes before its body is read; freed exactly once."""

    def __init__(self, analyzer: "Analyzer"):
        self._analyzer, self._freed = analyzer, False

    def free(self):
        with self._analyzer._lock:
            if not self._freed:
                self._freed = True
                self._analyzer._held -= 1


class Analyzer:
    """A bounded pool of analysis threads sharing one recogniser per (model, detector).

    :class:`emorec.EmotionRecognizer` is safe to share: its ONNX Runtime session is thread-safe and
    its detector keeps one OpenCV object per thread.
    """

    def __init__(self, config: ServerConfig):
        self.config = config
        self._pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="emorec-analyze")
        self._recognizers: dict = {}
        self._loading: dict = {}
        self._held = 0
        self._lock = threading.Lock()
        self.served = 0
        self.skipped = 0  # analyses never run: their client left, or they waited too long for a thread
        self._cv2_threads = None
        self._problems: dict = {}  # detector -> why it cannot be used here (None: usable), checked once

    def detector_problem(self, name: str) -> Optional[str]:
        """Why the face detector ``name`` cannot be used on this server (its model file is missing or
        broken), in words without paths; None when it can. Checked once per detector (the file is never
        fetched because of a request: only the default detector may be, at start)."""
        if name not in self._problems:
            from .detectors import get_detector
            from .errors import ModelError

            problem = None
            if name != "haar":
                try:
                    get_detector(name, model=self.config.detector_model,
                                 download=name == self.config.default_detector)
                except ModelError as e:
                    log.warning("face detector %s unavailable: %s", name, e)
                    problem = (f"its model file is not installed on this server (the server log says where it was "
                               f"looked for; its operator can give it with --detector-model or $EMOREC_YUNET)")
            self._problems[name] = problem
        return self._problems[name]

    def usable_detectors(self) -> list:
        return [d for d in self.config.detectors if self.detector_problem(d) is None]

    def admit(self) -> Slot:
        """A slot for one request, before its body is read; 503 busy when all are taken."""
        with self._lock:
            if self._held >= self.config.max_pending:
                raise Refused(503, "busy", f"{self._held} requests are already being received or analysed "
                                           "(the limit); try again shortly", {"Retry-After": "1"})
            self._held += 1
        return Slot(self)

    def recognizer(self, model: str, detector: Optional[str] = None, download: bool = False):
        """The shared recogniser of (model, detector); built on first use (one builder per key)."""
        cfg = self.config
        key = (model, detector or cfg.default_detector)
        with self._lock:
            rec = self._recognizers.get(key)
            if rec is not None:
                return rec
            building = self._loading.setdefault(key, threading.Lock())
        with building:
            if key not in self._recognizers:
                from .recognizer import EmotionRecognizer

                options = {}
                if key[1] != "haar":  # a detector with a model file: never fetched because of a request
                    options = {"detector_model": cfg.detector_model, "download": download}
                # the classifier's ONNX Runtime pool sized for this server (see ServerConfig.threads_per_worker)
                rec = EmotionRecognizer(model=model, detector=key[1], threads=cfg.threads_per_worker, **options)
                _ = rec.classes  # loads the model now
                with self._lock:
                    self._recognizers[key] = rec
        return self._recognizers[key]

    def warm_up(self):
        """Size OpenCV's threads and load the preloaded models with the default detector now (which may
        fetch that detector's model file once) rather than on the first request."""
        import cv2

        if self._cv2_threads is None:
            self._cv2_threads = cv2.getNumThreads()
        cv2.setNumThreads(self.config.threads_per_worker)
        for m in self.config.preload:
            self.recognizer(m, self.config.default_detector, download=True)
        self.usable_detectors()  # log now which detectors this server cannot offer

    def _run(self, data: bytes, model: str, flip: bool, name: str, detector: Optional[str] = None,
             min_confidence: float = 0.0) -> dict:
        cfg = self.config
        img = decode_image(data, cfg.max_pixels, name, cfg.max_decoded_bytes)
        faces = self.recognizer(model, detector).analyze(img, flip=flip, min_confidence=min_confidence)
        return {"width": int(img.shape[1]), "height": int(img.shape[0]), "faces": [f.to_dict() for f in faces]}

    def _finished(self, slot: Slot, fut):
        with self._lock:
            if fut.cancelled():
                self.skipped += 1
            else:
                self.served += 1
        slot.free()

    async def analyze(self, slot: Slot, data: bytes, model: str, flip: bool, name: str = "upload",
                      detector: Optional[str] = None, client_gone: Optional[asyncio.Future] = None,
                      min_confidence: float = 0.0) -> dict:
        """Run one analysis in the pool; ``slot`` is freed when it ends (or when it is dropped unrun).

        While queued: past ``queue_timeout_s``, or when ``client_gone`` completes, the analysis is taken
        out of the queue (it never runs) and 503 busy is raised. Once started it has ``analysis_timeout_s``.
        """
        cfg = self.config
        loop = asyncio.get_running_loop()
        started = loop.create_future()
        began: list = []

        def job():
            began.append(time.monotonic())
            loop.call_soon_threadsafe(lambda: started.done() or started.set_result(None))
            return self._run(data, model, flip, name, detector, min_confidence)

        try:
            fut = self._pool.submit(job)
        except BaseException:  # the pool is shut down (the server is stopping)
            slot.free()
            raise
        fut.add_done_callback(lambda f: self._finished(slot, f))
        result = asyncio.wrap_future(fut)
        waiting = {result, started} | ({client_gone} if client_gone is not None else set())
        queued_at = time.monotonic()
        await asyncio.wait(waiting, timeout=cfg.queue_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if not result.done() and not started.done() and fut.cancel():  # still queued: it will never run
            if client_gone is not None and client_gone.done():
                raise Refused(400, "client_disconnected", "the client left before its analysis started")
            raise Refused(503, "busy", f"no analysis thread was free within {cfg.queue_timeout_s:g} s "
                                       f"(waited {time.monotonic() - queued_at:.1f} s); try again shortly",
                          {"Retry-After": str(max(1, round(cfg.queue_timeout_s / 3)))})
        t0 = began[0] if began else time.monotonic()
        left = cfg.analysis_timeout_s - (time.monotonic() - t0)
        try:
            return await asyncio.wait_for(asyncio.shield(result), max(left, 0.0))
        except asyncio.TimeoutError:
            raise Refused(503, "timeout", f"the analysis took longer than the {cfg.analysis_timeout_s:g} s limit",
                          {"Retry-After": "5"}) from None

    @property
    def pending(self) -> int:
        """Requests holding a slot: being received, queued or analysed."""
        return self._held

    def close(self):
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._cv2_threads is not None:
            import cv2

            cv2.setNumThreads(self._cv2_threads)


def public_card(card: dict) -> dict:
    """What ``GET /v1/models`` shows of a model card: public facts only (architecture, classes, input,
    accuracy figures, licence, training recipe without its local paths), never a path of the machine
    that made it."""
    keys = ("name", "format", "arch", "arch_kwargs", "parameters", "labels", "classes", "input_size", "input",
            "scaling", "output", "epochs_trained", "sha256", "exported", "license", "licence", "description",
            "citation", "selection", "preprocess")
    out = {k: card[k] for k in keys if k in card}
    recipe = card.get("recipe") or {}
    hyper = ("arch", "image_size", "epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "schedule",
             "warmup_epochs", "train_split", "val_split", "val_fraction", "val_seed", "seed", "bf16", "precision",
             "augment", "train_rows", "val_rows")
    if recipe:
        out["training"] = {k: recipe[k] for k in hyper if k in recipe}
    figures = ("rows", "accuracy", "accuracy_flip_tta", "macro_f1", "per_class", "confusion_matrix", "labels")
    evaluation = card.get("evaluation") or {}
    if isinstance(evaluation, dict) and evaluation:
        out["evaluation"] = {split: {k: v[k] for k in figures if k in v}
                             for split, v in evaluation.items() if isinstance(v, dict)}
    return out


# ---------------------------------------------------------------- the app
class HostCheck:
    """ASGI middleware: answer only requests whose ``Host`` header names this server (DNS rebinding:
    a web page's own name pointing at 127.0.0.1 must not reach a loopback server). 400 for others."""

    def __init__(self, app, allowed):
        self.app, self.allowed = app, {host_name(h) if h != "*" else "*" for h in allowed}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or "*" in self.allowed:
            return await self.app(scope, receive, send)
        raw = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1").strip().lower()
        host = raw[: raw.index("]") + 1] if raw.startswith("[") and "]" in raw else raw.rsplit(":", 1)[0]
        if host in self.allowed:
            return await self.app(scope, receive, send)
        body = json.dumps({"error": "bad_host", "detail": (
            f"this server does not answer to the host name {host[:100]!r}; use one of "
            f"{', '.join(sorted(self.allowed))} (start it with --allowed-hosts NAME for another)")}).encode()
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def create_app(config: Optional[ServerConfig] = None):
    """The FastAPI application. ``config`` sets the limits (defaults: :class:`ServerConfig`)."""
    from contextlib import asynccontextmanager

    from fastapi import Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from fastapi_offline import FastAPIOffline  # /docs and /redoc with their assets served here, not a CDN
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

    app = FastAPIOffline(title="emorec", version=__version__, lifespan=lifespan,
                         description="Find every face in an image and tell which emotion it shows. "
                                     "Errors are JSON: `{\"error\": code, \"detail\": reason}`.")
    app.state.config, app.state.analyzer = cfg, analyzer
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

    async def receive_form(request: Request) -> UploadForm:
        """The multipart body, parsed as it streams in: 413 as soon as it passes the limit, 408 if it
        arrives too slowly, 400 if the client leaves."""
        limit = cfg.max_upload_bytes + MULTIPART_SLACK
        form = UploadForm(request.headers.get("content-type", ""), cfg.max_upload_bytes)
        received = 0

        async def collect():
            nonlocal received
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise Refused(413, "too_large", f"upload is over the {_mb(cfg.max_upload_bytes)} limit")
                form.feed(chunk)
            form.finish()

        try:
            await asyncio.wait_for(collect(), cfg.upload_timeout_s)
        except asyncio.TimeoutError:
            raise Refused(408, "upload_timeout", f"the upload did not arrive within {cfg.upload_timeout_s:g} s") \
                from None
        except ClientDisconnect:
            raise Refused(400, "client_disconnected", "the client closed the connection during the upload") \
                from None
        return form

    async def wait_for_disconnect(receive):
        """Completes when the client closes the connection (after the body, uvicorn's receive blocks until
        then)."""
        while (await receive())["type"] != "http.disconnect":
            await asyncio.sleep(0.01)

    upload_schema = {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": f"the image: {', '.join(sorted(ALLOWED_FORMATS))}; at most "
                                        f"{_mb(cfg.max_upload_bytes)} and {cfg.max_pixels:,} pixels"},
                "model": {"type": "string", "enum": list(cfg.models), "description": "overrides the query"},
                "detector": {"type": "string", "enum": list(cfg.detectors), "description": "overrides the query"},
                "flip": {"type": "boolean", "description": "overrides the query"},
                "min_confidence": {"type": "number", "minimum": 0, "maximum": 1,
                                   "description": "overrides the query: below it a face's emotion is null"},
            }}}}},
        "responses": {str(s): {"description": d, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}}}}}
            for s, d in [(400, "bad request, or a Host this server does not answer to"),
                         (408, "upload too slow"), (413, "file, pixel count or decoded size too large"),
                         (415, "not a supported image type"), (422, "corrupt image or bad option"),
                         (500, "a bug (details in the server log only)"),
                         (503, "busy (Retry-After), or the analysis overran its time limit")]},
    }

    def parse_flip(value) -> bool:
        if isinstance(value, bool):
            return value
        v = str(value).strip().lower()
        if v in ("1", "true", "yes", "on"):
            return True
        if v in ("0", "false", "no", "off", ""):
            return False
        raise Refused(422, "invalid_option", f"flip must be true or false, not {str(value)[:50]!r}")

    def parse_min_confidence(value) -> float:
        if value is None or value == "":
            return 0.0
        try:
            p = float(value)
        except (TypeError, ValueError):
            p = float("nan")
        if not 0.0 <= p <= 1.0:
            raise Refused(422, "invalid_option", f"min_confidence must be a probability from 0 to 1, not "
                                                 f"{str(value)[:50]!r}")
        return p

    def choose(kind: str, value, allowed: tuple, default: str) -> str:
        value = value or default
        if value not in allowed:
            raise Refused(422, f"unknown_{kind}", f"unknown {kind} {str(value)[:100]!r}; use one of "
                                                  f"{', '.join(allowed)}")
        return value

    @app.post("/v1/analyze", summary="Faces and their emotions in an uploaded image", openapi_extra=upload_schema,
              tags=["analysis"])
    async def analyze(request: Request,
                      model: Optional[str] = Query(None, description=f"one of {', '.join(cfg.models)} "
                                                                     f"(default {cfg.default_model})"),
                      detector: Optional[str] = Query(None, description=f"one of {', '.join(cfg.detectors)} "
                                                                        f"(default {cfg.default_detector})"),
                      flip: Optional[str] = Query(None, description="average with the mirrored face (true/false)"),
                      min_confidence: Optional[str] = Query(None, description="withhold the label (emotion null) of a "
                                                                              "face whose top probability is below "
                                                                              "this (0-1; default 0)")):
        """Returns `{"file", "model", "detector", "flip", "width", "height", "faces": [{"box": [x, y, w, h],
        "emotion", "scores"}]}`: per face the same JSON as `emorec detect --json`."""
        t0 = time.perf_counter()
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise Refused(400, "bad_request", "invalid Content-Length header")
            if int(length) > cfg.max_upload_bytes + MULTIPART_SLACK:
                raise Refused(413, "too_large", f"upload of {_mb(int(length))} is over the "
                                                f"{_mb(cfg.max_upload_bytes)} limit")
        UploadForm.check(request.headers.get("content-type", ""))  # 415 / 400 before taking a slot
        slot = analyzer.admit()  # 503 now, before the body is read, when the server is full
        gone, handed = None, False
        try:
            form = await receive_form(request)
            if form.file is None:
                raise Refused(400, "missing_file", "no file in the form field named 'file'")
            model_name = choose("model", form.fields.get("model") or model, cfg.models, cfg.default_model)
            detector_name = choose("detector", form.fields.get("detector") or detector, cfg.detectors,
                                   cfg.default_detector)
            problem = analyzer.detector_problem(detector_name)
            if problem:
                raise Refused(422, "detector_unavailable", f"the {detector_name} face detector is not available on "
                                                           f"this server: {problem}; use one of "
                                                           f"{', '.join(analyzer.usable_detectors())}")
            do_flip = parse_flip(form.fields["flip"] if "flip" in form.fields else (flip or False))
            least = parse_min_confidence(form.fields.get("min_confidence", min_confidence))
            name = form.filename
            data = form.take_file()
            del form
            fmt, _, _ = sniff_image(data, cfg.max_pixels, cfg.max_decoded_bytes)
            gone = asyncio.ensure_future(wait_for_disconnect(request.receive))
            handed = True  # from here the analyzer frees the slot, when the analysis ends or is dropped
            result = await analyzer.analyze(slot, data, model_name, do_flip, name, detector_name, gone, least)
        finally:
            if gone is not None:
                gone.cancel()
            if not handed:
                slot.free()
        return {"file": name, "format": ALLOWED_FORMATS[fmt], "model": model_name, "detector": detector_name,
                "flip": do_flip, "min_confidence": least, **result, "elapsed_ms": round((time.perf_counter() - t0) * 1000, 1)}

    @app.get("/v1/models", summary="Cards of the models and the face detectors a request may choose",
             tags=["models"])
    def models():
        from .detectors import DESCRIPTIONS

        return {"default": cfg.default_model,
                "models": [public_card(c) for c in list_models() if c.get("name") in cfg.models],
                "default_detector": cfg.default_detector,
                "detectors": [{"name": d, "description": DESCRIPTIONS.get(d, "")} for d in analyzer.usable_detectors()]}

    @app.get("/healthz", summary="Liveness and limits", tags=["service"])
    def healthz():
        return {"status": "ok", "version": __version__, "uptime_s": round(time.time() - started, 1),
                "served": analyzer.served, "skipped": analyzer.skipped, "pending": analyzer.pending,
                "limits": {"max_upload_bytes": cfg.max_upload_bytes, "max_pixels": cfg.max_pixels,
                           "max_decoded_bytes": cfg.max_decoded_bytes, "header_timeout_s": cfg.header_timeout_s,
                           "upload_timeout_s": cfg.upload_timeout_s, "queue_timeout_s": cfg.queue_timeout_s,
                           "analysis_timeout_s": cfg.analysis_timeout_s, "workers": cfg.workers,
                           "max_pending": cfg.max_pending, "max_connections": cfg.max_connections},
                "models": list(cfg.models), "default_model": cfg.default_model,
                "detectors": analyzer.usable_detectors(), "default_detector": cfg.default_detector,
                "unavailable_detectors": {d: analyzer.detector_problem(d) for d in cfg.detectors
                                          if analyzer.detector_problem(d)}, **cfg.extra}

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


# ---------------------------------------------------------------- running it
def header_deadline_protocol(timeout_s: float):
    """uvicorn's HTTP protocol class with a deadline for each request's line and headers (uvicorn has
    none: ``timeout_keep_alive`` stops at the first byte). The deadline starts when the connection opens
    and again when a response is complete; it is cleared when a request's headers are in. A connection
    past it gets a 408 (when it sent part of a request) and is closed."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    body = json.dumps({"error": "header_timeout",
                       "detail": f"the request headers did not arrive within {timeout_s:g} s"}).encode()
    timeout_response = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    class HeaderDeadlineProtocol(AutoHTTPProtocol):
        _deadline = None
        _seen_cycle = None
        _partial = False

        def _arm(self):
            self._disarm()
            self._partial = False
            self._deadline = self.loop.call_later(timeout_s, self._expired)

        def _disarm(self):
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _headers_in(self):
            if self.cycle is not None and self.cycle is not self._seen_cycle:  # a new request started
                self._seen_cycle = self.cycle
                self._disarm()

        def _expired(self):
            self._deadline = None
            if not self.transport.is_closing():
                if self._partial:
                    self.transport.write(timeout_response)
                self.transport.close()

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def data_received(self, data):
            if self._deadline is not None:
                self._partial = True
            super().data_received(data)
            self._headers_in()

        def on_response_complete(self):
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()
                self._headers_in()  # a pipelined request may have started already

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

    return HeaderDeadlineProtocol


def uvicorn_config(app, config: ServerConfig, log_level: str = "info"):
    """uvicorn settings for the app: the header deadline, the connection cap, short keep-alive."""
    import uvicorn

    return uvicorn.Config(app, log_level=log_level, timeout_keep_alive=5, limit_concurrency=config.max_connections,
                          http=header_deadline_protocol(config.header_timeout_s))


def bind(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """A listening socket on host:port, or :class:`EmorecError` naming the port (before anything is
    announced or loaded)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise EmorecError(f"cannot listen on {host}:{port}: unknown host ({e.strerror})") from None
    family, _, _, _, address = sorted(infos, key=lambda i: i[0] != socket.AF_INET)[0]  # IPv4 first (localhost)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host in ("::", ""):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        import errno

        why = {errno.EADDRINUSE: f"port {port} is already in use (another server?); choose another with --port",
               errno.EACCES: f"no permission to use port {port} (ports below 1024 need privileges); "
                             "choose another with --port",
               errno.EADDRNOTAVAIL: f"{host} is not an address of this machine"}.get(e.errno, e.strerror or str(e))
        raise EmorecError(f"cannot listen on {host}:{port}: {why}") from None
    sock.set_inheritable(True)
    return sock


def serve(host: str = "127.0.0.1", port: int = 8000, config: Optional[ServerConfig] = None,
          log_level: str = "info", sock: Optional[socket.socket] = None):
    """Run the app with uvicorn until interrupted (``sock``: a socket from :func:`bind`; else bound here)."""
    import uvicorn

    cfg = config or ServerConfig(allowed_hosts=allowed_hosts_for(host))
    sock = sock or bind(host, port)
    try:
        uvicorn.Server(uvicorn_config(create_app(cfg), cfg, log_level)).run(sockets=[sock])
    finally:
        sock.close()


class BackgroundServer:
    """A real uvicorn server in a daemon thread, on loopback and a free port (tests, notebooks).

    >>> with BackgroundServer() as srv:
    ...     httpx.get(srv.url + "/healthz")
    """

    def __init__(self, config: Optional[ServerConfig] = None, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning"):
        import uvicorn

        self.host = host
        self._sock = bind(host, port)
        self.port = self._sock.getsockname()[1]
        self.config = config or ServerConfig(allowed_hosts=allowed_hosts_for(host))
        self.app = create_app(self.config)
        self._server = uvicorn.Server(uvicorn_config(self.app, self.config, log_level))
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
