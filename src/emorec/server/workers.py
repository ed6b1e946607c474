"""The analysis pool: a bounded number of threads sharing one recogniser per (model, detector), with
admission before an upload is read, a queue deadline and an analysis deadline."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from .config import ServerConfig
from .errors import Refused
from .uploads import decode_image

log = logging.getLogger("emorec.server")


class Slot:
    """One of the ``max_pending`` places a request takes before its body is read; freed exactly once."""

    def __init__(self, analyzer: "WorkerPool"):
        self._analyzer, self._freed = analyzer, False

    def free(self):
        with self._analyzer._lock:
            if not self._freed:
                self._freed = True
                self._analyzer._held -= 1


class WorkerPool:
    """A bounded pool of analysis threads sharing one recogniser per (model, detector).

    :class:`emorec.EmotionRecognizer` is safe to share: its ONNX Runtime session is thread-safe and
    its detector keeps one OpenCV object per thread.
    """

    def __init__(self, config: ServerConfig):
        self.config = config
        self.executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="emorec-analyze")
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
            from ..detectors import get_detector
            from ..errors import ModelError

            problem = None
            if name != "haar":
                try:
                    get_detector(name, model=self.config.detector_model,
                                 download=name == self.config.default_detector)
                except ModelError as e:
                    log.warning("face detector %s unavailable: %s", name, e)
                    problem = ("its model file is not installed on this server (the server log says where it was "
                               "looked for; its operator can give it with --detector-model or $EMOREC_YUNET)")
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
                from ..recognizer import EmotionRecognizer

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

    def _run(self, data, name: str, model: str, detector: Optional[str], flip: bool,
             min_confidence: float) -> dict:
        """Decode and analyse one upload through :func:`emorec.pipeline.run`, the loop of ``emorec detect``:
        its ``--json`` record of the image, with the image's size."""
        from ..pipeline import run
        from ..sources import FrameItem
        from ..writers import Records

        cfg = self.config
        img = decode_image(data, cfg.max_pixels, name, cfg.max_decoded_bytes)
        out = Records()
        run([FrameItem(name, image=img)], self.recognizer(model, detector), [out],
            options={"flip": flip, "min_confidence": min_confidence})
        return {**out.records[0], "width": int(img.shape[1]), "height": int(img.shape[0])}

    def _finished(self, slot: Slot, fut):
        with self._lock:
            if fut.cancelled():
                self.skipped += 1
            else:
                self.served += 1
        slot.free()

    async def analyze(self, slot: Slot, request, data, name: str = "upload", *, model: str,
                      detector: Optional[str] = None, flip: bool = False, min_confidence: float = 0.0) -> dict:
        """Run one analysis in the pool; ``slot`` is freed when it ends (or when it is dropped unrun).

        While queued: past ``queue_timeout_s``, or when the client of ``request`` leaves, the analysis is
        taken out of the queue (it never runs) and 503 busy is raised. Once started it has
        ``analysis_timeout_s``.
        """
        gone = asyncio.ensure_future(wait_for_disconnect(request.receive))
        try:
            return await self._analyze(slot, (data, name, model, detector, flip, min_confidence), gone)
        finally:
            gone.cancel()

    async def _analyze(self, slot: Slot, args: tuple, client_gone: asyncio.Future) -> dict:
        cfg = self.config
        loop = asyncio.get_running_loop()
        started = loop.create_future()
        began: list = []

        def job():
            began.append(time.monotonic())
            loop.call_soon_threadsafe(lambda: started.done() or started.set_result(None))
            return self._run(*args)

        try:
            fut = self.executor.submit(job)
        except BaseException:  # the pool is shut down (the server is stopping)
            slot.free()
            raise
        fut.add_done_callback(lambda f: self._finished(slot, f))
        result = asyncio.wrap_future(fut)
        waiting = {result, started, client_gone}
        queued_at = time.monotonic()
        await asyncio.wait(waiting, timeout=cfg.queue_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if not result.done() and not started.done() and fut.cancel():  # still queued: it will never run
            if client_gone.done():
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
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self._cv2_threads is not None:
            import cv2

            cv2.setNumThreads(self._cv2_threads)


async def wait_for_disconnect(receive):
    """Completes when the client closes the connection (after the body, uvicorn's receive blocks until then)."""
    while (await receive())["type"] != "http.disconnect":
        await asyncio.sleep(0.01)
