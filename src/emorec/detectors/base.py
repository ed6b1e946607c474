"""The detector interface: :class:`Detections` (what a detector finds), :class:`Detector` (what
:class:`emorec.EmotionRecognizer` needs of one), :class:`BaseDetector` (the shared plumbing of emorec's
detectors) and :class:`ForeignDetector` (any object with ``detect(image)``). See :mod:`emorec.detectors`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol

import numpy as np

from ..crop import MARGIN


@dataclass
class Detections:
    """Faces found in one image: ``boxes`` int32 (N, 4) x, y, w, h; ``scores`` float32 (N,) or None;
    ``landmarks`` float32 (N, 5, 2) or None (right eye, left eye, nose, right / left mouth corner)."""

    boxes: np.ndarray
    scores: Optional[np.ndarray] = None
    landmarks: Optional[np.ndarray] = None

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, np.int32).reshape(-1, 4)
        n = len(self.boxes)
        if self.scores is not None:
            self.scores = np.asarray(self.scores, np.float32).reshape(n)
        if self.landmarks is not None:
            self.landmarks = np.asarray(self.landmarks, np.float32).reshape(n, 5, 2)

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.int32))

    def take(self, index) -> "Detections":
        """The detections at ``index`` (an index array or boolean mask), in that order."""
        return Detections(self.boxes[index], None if self.scores is None else self.scores[index],
                          None if self.landmarks is None else self.landmarks[index])

    def largest_first(self) -> "Detections":
        """Largest box first; equal sizes top to bottom, then left to right (the same order on every run)."""
        b = self.boxes.astype(np.int64)
        return self.take(np.lexsort((b[:, 0], b[:, 1], -(b[:, 2] * b[:, 3]))))

    def transformed(self, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> "Detections":
        """Coordinates divided by ``scale`` and then shifted by (dx, dy): from a resized region back to the image."""
        boxes = self.boxes.astype(np.float64) / scale
        boxes[:, :2] += (dx, dy)
        lm = None
        if self.landmarks is not None:
            lm = self.landmarks / np.float32(scale) + np.array([dx, dy], np.float32)
        return Detections(np.rint(boxes), self.scores, lm)


class Detector(Protocol):
    """What :class:`emorec.EmotionRecognizer` needs of a face detector."""

    name: str
    color: str  # "grey" or "bgr": the image it works on (it accepts both)
    margin: float  # crop margin around its boxes, a fraction of the box per side
    align: bool  # rotate faces upright from landmarks before cropping

    def detect(self, image: np.ndarray, roi=None, sizes=None) -> Detections: ...


class BaseDetector:
    """Shared plumbing: image checks, the ``roi`` / ``sizes`` search, sorting. Subclasses implement
    ``_detect(image, min_px, max_px) -> Detections`` on an image of their ``color``."""

    name = "base"
    color = "bgr"
    margin = 0.0
    align = False
    min_px = 1  # the smallest face this detector can find at all, in pixels

    def _detect(self, image: np.ndarray, min_px: int, max_px: Optional[int]) -> Detections:
        raise NotImplementedError

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """``image`` as this detector wants it (grey or BGR uint8); free when it already is."""
        from ..preprocess import to_bgr_uint8, to_grey_uint8

        return to_grey_uint8(image) if self.color == "grey" else to_bgr_uint8(image)

    def detect(self, image: np.ndarray, roi=None, sizes=None) -> Detections:
        """Faces in ``image`` (grey or BGR uint8), largest first; see the module docstring."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
            raise ValueError(f"{self.name} detector wants a grey (H, W) or BGR (H, W, 3) uint8 image, "
                             f"got {image.dtype} {image.shape}")
        image = self.prepare(image)
        min_px = max(1, int(sizes[0])) if sizes is not None else None
        max_px = max(int(sizes[1]), (min_px or 0) + 1) if sizes is not None else None
        dx = dy = 0
        if roi is not None:
            x, y, w, h = (int(v) for v in roi)
            x0, y0 = max(0, x), max(0, y)
            x1, y1 = min(image.shape[1], x + w), min(image.shape[0], y + h)
            if x1 - x0 < self.min_px or y1 - y0 < self.min_px:
                return Detections.empty()
            image, dx, dy = image[y0:y1, x0:x1], x0, y0
        found = self._detect(image, min_px, max_px)
        if dx or dy:
            found = found.transformed(1.0, dx, dy)
        return found.largest_first()


class ForeignDetector(BaseDetector):
    """Any object with ``detect(image)`` (or a callable) giving :class:`Detections` or boxes (N, 4)."""

    def __init__(self, obj, *, margin: float = MARGIN, align: bool = False):
        fn = getattr(obj, "detect", obj)
        if not callable(fn):
            raise TypeError(f"a detector needs a detect(image) method; got {type(obj).__name__}")
        self.obj, self._fn = obj, fn
        self.name = str(getattr(obj, "name", type(obj).__name__))
        self.color = getattr(obj, "color", "bgr")
        self.margin = float(getattr(obj, "margin", margin))
        self.align = bool(getattr(obj, "align", align))

    def __repr__(self) -> str:
        return f"ForeignDetector({self.obj!r})"

    def _detect(self, image, min_px, max_px):
        out = self._fn(image)
        found = out if isinstance(out, Detections) else Detections(np.asarray(out).reshape(-1, 4)[:, :4])
        side = np.maximum(found.boxes[:, 2], found.boxes[:, 3])
        keep = np.ones(len(found), bool)
        if min_px:
            keep &= side >= min_px / 1.1
        if max_px:
            keep &= side <= max_px * 1.1
        return found.take(keep)
