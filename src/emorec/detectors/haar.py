"""Face detection with OpenCV's Haar cascade (``haarcascade_frontalface_default.xml``): the seed's method.

The cascade runs on the plain grey image (no equalisation: on real photos CLAHE cost time and added
false faces on necks, chests and hair; bench/bench_detector.py). The smallest face to find is given in
pixels of the input image (``min_size``), so a small face in a large photo is found as readily as in a
small one, and the search runs on a copy downscaled so that this smallest face measures ``work_size``
pixels there: a 640x480 frame with faces of 40 px and more is searched at 384x288. Boxes come back in
pixels of the input. Every face is kept, not just the largest.

The search is permissive (``min_neighbors`` 1: a face turned 15-25 degrees often gathers only two
windows), so a box the cascade is not sure of (its stage-weight sum below ``strong``) must be confirmed.
The default check (``verify="tilt"``) cuts the box and a quarter of it around out of the searched copy,
turns it 15 degrees each way with the face at 32 px, and runs the face cascade there again at a fine
scale step: the box is kept when, in one of the two turned views, at least 7 windows of about its size
find a face centred near its centre. A turned face stands upright in one of the views and gathers many
windows; the ties, collars, chins and strands of hair Haar takes for faces in portraits gather few in
both. It costs a millisecond or two per doubtful box, on the quarter of frames that have one.
``verify="eye"`` (the previous default, with ``strong`` 4 and ``min_neighbors`` 2) asks instead for an
eye in the box's upper half (OpenCV's ``haarcascade_eye``): it also rejects faces turned more than
about 15 degrees, and with ``min_neighbors`` 1 it lets 9 false faces through on 336 portrait frames.
On bench/bench_detector.py (its docstring has the figures) the tilt check finds 107 of 120 turned faces
in the group pictures it was tuned on (the eye check: 99; the old CLAHE default: 103) and 202 of 240 on
two draws held out from the tuning (eye check: 197; CLAHE: 205, with 17% false portrait frames), false
faces on no portrait frame (eye check: 1 of 336) and 1 false box on the 24 photos (eye check: 3), at +1%
median and +3% mean time per 640x480 frame.

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
MIN_NEIGHBORS = 1
MIN_SIZE = 40  # smallest face, in pixels of the input image
WORK_SIZE = 24  # the search runs on a copy where the smallest face measures this many pixels
EQUALIZE = "none"
FINE_STEP = 1.05  # the scale step of a narrowed search (tracking)
STRONG = 5.0  # boxes whose cascade weight is below this must be confirmed (0: keep every box)
VERIFY = "tilt"  # how: "tilt" (the face cascade again, on the box turned each way) or "eye" (an eye in it)
MARGIN = 0.05  # crop margin around a Haar box (bench/bench_crop_geometry.py)

# the tilt check (tilted_hits; bench/bench_detector.py's docstring has the variants measured)
TILT_DEGREES = 15.0  # the box is looked at turned this much each way
TILT_PX = 32  # with the box's side at this many pixels
TILT_STEP = 1.05  # the scale step of the cascade there
TILT_HITS = 7  # windows that must find the face, in one of the two views, to keep the box
EYES = "haarcascade_eye.xml"  # the eye check's cascade

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
    ``strong``: a box whose cascade weight is below this is kept only if ``verify`` confirms it (0: keep
    every box); ``verify``: "tilt" (the cascade finds the face again in the box turned +-15 degrees) or
    "eye" (an eye is found in its upper half). ``margin``: the crop margin around its boxes.
    """

    name = "haar"
    color = "grey"
    align = False
    min_px = WINDOW

    def __init__(self, *, scale_factor: float = SCALE_FACTOR, min_neighbors: int = MIN_NEIGHBORS,
                 min_size: int = MIN_SIZE, work_size: int = WORK_SIZE, equalize: str = EQUALIZE,
                 strong: float = STRONG, verify: str = VERIFY, margin: float = MARGIN, cascade: str = CASCADE):
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
        if verify not in ("tilt", "eye"):
            raise ValueError(f"verify must be 'tilt' or 'eye', got {verify!r}")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = int(round(min_size))
        self.work_size = int(work_size)
        self.equalize = equalize
        self.margin = float(margin)
        self.strong = float(strong)
        self.verify = verify
        self.cascade = cascade
        if self.strong > 0 and verify == "eye":
            load_cascade(EYES)
        load_cascade(cascade)  # fail now, with the clear message, rather than on the first frame

    def __repr__(self) -> str:
        return (f"HaarDetector(scale_factor={self.scale_factor}, min_neighbors={self.min_neighbors}, "
                f"min_size={self.min_size}, work_size={self.work_size}, equalize={self.equalize!r}, "
                f"strong={self.strong}, verify={self.verify!r})")

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
        cascade = load_cascade(self.cascade)
        boxes, _, weights = cascade.detectMultiScale3(
            grey, scaleFactor=step, minNeighbors=self.min_neighbors, minSize=(m, m),
            outputRejectLevels=True, **kw)
        if len(boxes) == 0:
            return Detections.empty()
        boxes, weights = np.asarray(boxes).reshape(-1, 4), np.asarray(weights, np.float64).ravel()
        if self.strong > 0:
            boxes = boxes[[w >= self.strong or self._confirmed(grey, b, cascade) for b, w in zip(boxes, weights)]]
        found = Detections(boxes)  # (the weights are no probability: not reported as a score)
        return found.transformed(scale) if scale != 1.0 else found

    def _confirmed(self, grey: np.ndarray, box, cascade) -> bool:
        """Whether a box the cascade is not sure of is a face after all, by the ``verify`` check."""
        if self.verify == "eye":
            return has_eye(grey, box)
        return tilted_hits(grey, box, cascade) >= TILT_HITS


def tilted_hits(grey: np.ndarray, box, cascade) -> int:
    """How strongly ``cascade`` finds a face in ``box`` turned +-TILT_DEGREES: in the better of the two
    turned views (the box at TILT_PX, a quarter of it around), the number of windows of about its size,
    at steps of TILT_STEP, that accept a face centred within 0.3 of its side from the box's centre."""
    import cv2

    x, y, w, h = (float(v) for v in box)
    z = TILT_PX / w
    cx, cy = x + w / 2, y + h / 2
    side = int(round(1.5 * TILT_PX))
    lo, hi = int(TILT_PX / 1.35), int(TILT_PX * 1.35)
    best = 0
    for angle in (TILT_DEGREES, -TILT_DEGREES):
        m = cv2.getRotationMatrix2D((cx, cy), angle, z)  # turned and scaled about the box's centre ...
        m[:, 2] += (side / 2 - cx, side / 2 - cy)  # ... which lands in the middle of the view
        view = cv2.warpAffine(grey, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        found = np.asarray(cascade.detectMultiScale(view, TILT_STEP, 0, minSize=(lo, lo), maxSize=(hi, hi)))
        found = found.reshape(-1, 4).astype(np.float64)
        off = np.abs(found[:, :2] + found[:, 2:] / 2 - side / 2).max(axis=1)
        best = max(best, int((off < 0.3 * TILT_PX).sum()))
    return best


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
