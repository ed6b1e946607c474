"""Face detectors behind one small interface, and a registry of them by name.

A detector takes an image (2-D grey or 3-channel BGR, uint8) and gives :class:`Detections`: boxes
``(N, 4)`` x, y, w, h in pixels of that image, largest first, optionally with a score per box and five
landmarks per face (right eye, left eye, nose tip, right and left mouth corner, as YuNet gives them).
It also owns its crop geometry: ``margin`` (how much of the box, per side, the face crop adds) and
``align`` (whether faces are rotated upright from their landmarks before the crop), because a YuNet box
frames a face differently from a Haar box.

>>> from emorec.detectors import get_detector, available
>>> available()                                  # ['haar', 'yunet']
>>> det = get_detector("yunet")                  # or "haar", or any object with .detect(image)
>>> det.detect(bgr).boxes                        # int32 (N, 4)

``detect(image, roi=None, sizes=None)``: ``roi`` (x, y, w, h) restricts the search to a region (boxes
still in full-image pixels) and ``sizes`` (smallest, largest face side in pixels) narrows it to faces of
about a known size: that is how :class:`emorec.tracking.FaceTracker` follows a face with any detector.

A new detector: subclass :class:`BaseDetector`, implement ``_detect(image, min_px, max_px)`` and add it
to ``REGISTRY`` (or pass an instance straight to ``EmotionRecognizer(detector=...)``).
"""

from __future__ import annotations

from typing import Callable

from ..errors import ModelError
from .base import BaseDetector, Detections, Detector, ForeignDetector

__all__ = ["BaseDetector", "Detections", "Detector", "ForeignDetector", "REGISTRY", "DEFAULT", "DESCRIPTIONS",
           "available", "get_detector"]


def _haar(**options):
    from .haar import HaarDetector

    return HaarDetector(**options)


def _yunet(**options):
    from .yunet import YuNetDetector

    return YuNetDetector(**options)


# name -> factory(**options). The first is the default.
REGISTRY: dict[str, Callable[..., Detector]] = {"haar": _haar, "yunet": _yunet}
DEFAULT = "haar"

DESCRIPTIONS = {
    "haar": "OpenCV Haar cascade (ships with OpenCV; frontal faces)",
    "yunet": "OpenCV YuNet DNN (cv2.FaceDetectorYN; faster, finds small and rotated faces; "
             "a 232 kB model file fetched once)",
}


def available() -> list[str]:
    """Names of the registered detectors, the default first."""
    return list(REGISTRY)


def get_detector(spec=DEFAULT, **options) -> Detector:
    """A detector from a name (``"haar"``, ``"yunet"``) and its options, or an object with ``detect``.

    Raises :class:`emorec.errors.ModelError` for an unknown name, or when the detector's model file
    cannot be had (YuNet: see :mod:`emorec.detectors.model_file`).
    """
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key not in REGISTRY:
            raise ModelError(f"unknown detector {spec!r}; choose one of {', '.join(REGISTRY)}")
        return REGISTRY[key](**options)
    if options:
        raise ValueError(f"detector options {sorted(options)} apply only to a detector given by name")
    if isinstance(spec, BaseDetector):
        return spec
    return ForeignDetector(spec)
