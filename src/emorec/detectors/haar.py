"""Face detection with OpenCV's Haar cascade (``haarcascade_frontalface_default.xml``): the seed's method.

The cascade runs on the plain grey image (no equalisation: on real photos CLAHE cost time and added
false faces on necks, chests and hair; bench/bench_detector.py). A box the cascade is not sure of (its
stage-weight sum below ``strong``) is kept only when an eye is found in its upper half (OpenCV's
``haarcascade_eye``): that removes the ties, chins and strands of hair Haar takes for faces in portraits,
at a cost of a millisecond or so per doubtful box. The smallest face to find is given in
pixels of the input image (``min_size``), so a small face in a large photo is found as readily as in a
small one, and the search runs on a copy downscaled so that this smallest face measures ``work_size``
pixels there: a 640x480 frame with faces of 48 px and more is searched at 320x240. Boxes come back in
pixels of the input. Every face is kept, not just the largest.

OpenCV 5.0 wheels dropped ``cv2.CascadeClassifier`` and the cascade files from the main build, so
emorec depends on ``opencv-python-headless<5``; :func:`cascade_path` says so clearly if it meets one.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ModelError
from . import BaseDetector, Detections

CASCADE = "haarcascade_frontalface_default.xml"
WINDOW = 24  # the cascade's own window: no face smaller than this can be found

# Defaults measured on real photographs with bench/bench_detector.py (its docstring has the figures).
SCALE_FACTOR = 1.2
MIN_NEIGHBORS = 2
MIN_SIZE = 40  # smallest face, in pixels of the input image
WORK_SIZE = 24  # the search runs on a copy where the smallest face measures this many pixels
EQUALIZE = "none"
FINE_STEP = 1.05  # the scale step of a narrowed search (tracking)
STRONG = 4.0  # boxes whose cascade weight is below this must show an eye (0: keep every box)
EYES = "haarcascade_eye.xml"
MARGIN = 0.05  # crop margin around a Haar box (bench/bench_crop_geometry.py)

_OPENCV_HINT = ('emorec needs OpenCV 4.x with the Haar cascades (OpenCV 5 wheels dropped them): '
                'pip install "opencv-python-headless>=4.8,<5"')


def cascade_path(name: str = CASCADE) -> Path:
    """The cascade XML shipped inside the installed OpenCV wheel."""
    import cv2

    if not hasattr(cv2, "CascadeClassifier"):
        raise ModelError(f"this OpenCV ({cv2.__version__}) has no cv2.CascadeClassifier. {_OPENCV_HINT}")
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = Path(folder or "") / name
    if not folder or not path.is_file():
        raise ModelError(f"the Haar cascade {name} is missing from OpenCV {cv2.__version__} "
                         f"(looked in {folder}). {_OPENCV_HINT}")
    return path


_LOCAL = threading.local()  # one loaded cascade per thread: detectMultiScale is not safe to share


def load_cascade(name: str = CASCADE):
    cache = _LOCAL.__dict__.setdefault("cascades", {})
    if name not in cache:
        import cv2

        path = cascade_path(name) if not Path(name).is_file() else Path(name)
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise ModelError(f"{path}: OpenCV could not load this Haar cascade. {_OPENCV_HINT}")
        cache[name] = cascade
    return cache[name]


class HaarDetector(BaseDetector):
    """Haar-cascade face detector.

    ``min_size``: the smallest face, in pixels of the input image. ``work_size``: the search runs on a
    copy downscaled so that a face of ``min_size`` measures this many pixels (>= 24, the cascade's
    window; 0 = search at full size). ``equalize``: "none" (default), "clahe" (local histogram
    equalisation) or "hist" (global). ``scale_factor`` / ``min_neighbors``: the cascade's own settings.
    ``strong``: a box whose cascade weight is below this is kept only if an eye is found in it (0: off).
    ``margin``: the crop margin around its boxes.
    """

    name = "haar"
    color = "grey"
    align = False
    min_px = WINDOW

    def __init__(self, *, scale_factor: float = SCALE_FACTOR, min_neighbors: int = MIN_NEIGHBORS,
                 min_size: int = MIN_SIZE, work_size: int = WORK_SIZE, equalize: str = EQUALIZE,
                 strong: float = STRONG, margin: float = MARGIN, cascade: str = CASCADE):
        if not scale_factor > 1.0:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
        if min_neighbors < 0:
            raise ValueError(f"min_neighbors must be >= 0, got {min_neighbors}")
        if not min_size >= 1:
            raise ValueError(f"min_size is the smallest face in pixels (>= 1), got {min_size}")
        if work_size and work_size < WINDOW:
            raise ValueError(f"work_size must be 0 (full size) or >= {WINDOW} (the cascade's window), got {work_size}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        equalize = {True: "hist", False: "none", None: "none"}.get(equalize, equalize)
        if equalize not in ("hist", "clahe", "none"):
            raise ValueError(f"equalize must be 'none', 'clahe' or 'hist', got {equalize!r}")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = int(round(min_size))
        self.work_size = int(work_size)
        self.equalize = equalize
        self.margin = float(margin)
        self.strong = float(strong)
        self.cascade = cascade
        if self.strong > 0:
            load_cascade(EYES)
        load_cascade(cascade)  # fail now, with the clear message, rather than on the first frame

    def __repr__(self) -> str:
        return (f"HaarDetector(scale_factor={self.scale_factor}, min_neighbors={self.min_neighbors}, "
                f"min_size={self.min_size}, work_size={self.work_size}, equalize={self.equalize!r}, strong={self.strong})")

    def _detect(self, grey: np.ndarray, min_px: Optional[int], max_px: Optional[int]) -> Detections:
        import cv2

        min_px = max(WINDOW, min_px or self.min_size)
        h, w = grey.shape
        scale = min(1.0, self.work_size / min_px) if self.work_size else 1.0
        if scale < 1.0:
            grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))),
                              interpolation=cv2.INTER_AREA)
        if self.equalize == "hist":
            grey = cv2.equalizeHist(grey)
        elif self.equalize == "clahe":
            grey = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey)
        m = max(WINDOW, int(round(min_px * scale)))
        if min(grey.shape) < m:
            return Detections.empty()
        kw = {} if max_px is None else {"maxSize": (int(max_px * scale) + 1,) * 2}
        # a narrowed search (a tracker following a face: a small region, sizes near the face's) is cheap: it
        # steps through sizes finely, so a face between two of the full search's sizes is not lost
        step = self.scale_factor if max_px is None else min(self.scale_factor, FINE_STEP)
        boxes, _, weights = load_cascade(self.cascade).detectMultiScale3(
            grey, scaleFactor=step, minNeighbors=self.min_neighbors, minSize=(m, m),
            outputRejectLevels=True, **kw)
        if len(boxes) == 0:
            return Detections.empty()
        boxes, weights = np.asarray(boxes).reshape(-1, 4), np.asarray(weights, np.float64).ravel()
        if self.strong > 0:
            keep = [w >= self.strong or has_eye(grey, b) for b, w in zip(boxes, weights)]
            boxes, weights = boxes[keep], weights[keep]
        found = Detections(boxes)  # (the weights are no probability: not reported as a score)
        return found.transformed(scale) if scale != 1.0 else found


def has_eye(grey: np.ndarray, box) -> bool:
    """Whether OpenCV's eye cascade finds an eye in the upper half of a face box (seen at 100 px wide)."""
    import cv2

    x, y, w, h = (int(v) for v in box)
    roi = grey[max(0, y + int(0.15 * h)):max(0, y + int(0.6 * h)), max(0, x):max(0, x + w)]
    if roi.size == 0:
        return False
    z = 100.0 / w
    roi = cv2.resize(roi, None, fx=z, fy=z, interpolation=cv2.INTER_AREA if z < 1 else cv2.INTER_LINEAR)
    return len(load_cascade(EYES).detectMultiScale(roi, 1.1, 2, minSize=(12, 12), maxSize=(50, 50))) > 0
