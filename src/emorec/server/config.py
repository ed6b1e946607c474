"""The server's limits and defaults: :class:`ServerConfig` (``emorec serve``'s options map onto it)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from ..images import MAX_PIXELS
from ..model_card import BUILTIN
from ..options import RecognizerOptions
from .hosts import LOOPBACK_HOSTS


def _available_detectors() -> list:
    from ..detectors import available

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
    default_model: str = RecognizerOptions.model  # the recogniser's own defaults
    detectors: tuple = field(default_factory=lambda: tuple(_available_detectors()))  # a request may choose
    default_detector: str = RecognizerOptions.detector
    detector_model: Optional[str] = None  # the YuNet .onnx (else found as emorec.detectors.model_file says)
    preload: tuple = (RecognizerOptions.model,)  # models loaded at start, with the default detector (others on first use)
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
