"""Face detection with OpenCV's Haar cascade (``haarcascade_frontalface_default.xml``): the seed's method.

The cascade runs on the plain grey image (no equalisation: on real photos CLAHE cost time and added
false faces on necks, chests and hair; bench/bench_detector.py). The smallest face to find is given in
pixels of the input image (``min_size``), so a small face in a large photo is found as readily as in a
small one, and the search runs on a copy downscaled so that this smallest face measures ``work_size``
pixels there: a 640x480 frame with faces of 40 px and more is searched at 384x288. Boxes come back in
pixels of the input. Every face is kept, not just the largest.

The search is permissive, so a box the cascade is not sure of must be confirmed. Its windows (at scale
steps of 1.3) are grouped here as OpenCV groups them, and every group is kept for now: a face turned 15-25
degrees often gathers only one or two windows, and OpenCV's grouping (``min_neighbors`` 1) drops a lone one.
A group of more windows whose cascade weight (the last stage's sum) is below ``strong`` must pass the
*tilt check* (``verify="tilt"``): the box and a quarter of it around are cut out of the searched copy, turned
15 degrees each way with the face at 32 px, and the face cascade runs there again at a fine scale step; the
box is kept when at least 7 windows of about its size find a face centred near its centre in one of the two
turned views, or 16 in the view not turned. A turned face stands upright in one of the views and gathers
many windows; the ties, collars, chins, fur and strands of hair Haar takes for faces gather few in all.
A lone window's box must gather 12 in a turned view (``lone_hits``). Last, of boxes that cover one another
(more than half the smaller one) only the one with the highest cascade weight stays: OpenCV's grouping
joins only windows of like size and place, and left a second, offset box on some faces. Each view costs
about 0.6 ms, on one or two boxes a frame.

On bench/bench_detector.py (its docstring has the figures and the variants measured), over five fresh draws
of portraits and group scenes held out from every choice above (seeds 20-24), the default finds 86.2% of 600
group faces (the old CLAHE default 84.3%, the previous default, without lone windows at step 1.2, 85.5%), with
false faces on 0.2% of 1,680 portrait frames (previous 0.6%, CLAHE 17.6%) and 1 false box on the 24 photos, in
11.6 ms a 640x480 frame (previous 13.1).
``verify="eye"`` (a default before the tilt check, with ``strong`` 4, ``min_neighbors`` 2 and no lone
windows) asks instead for an eye in the box's upper half (OpenCV's ``haarcascade_eye``): it also rejects
faces turned more than about 15 degrees.

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
SCALE_FACTOR = 1.3  # between the face sizes searched (1.2 before lone windows were kept: 1.3 is faster, and finds more)
MIN_NEIGHBORS = 1
MIN_SIZE = 40  # smallest face, in pixels of the input image
WORK_SIZE = 24  # the search runs on a copy where the smallest face measures this many pixels
EQUALIZE = "none"
FINE_STEP = 1.05  # the scale step of a narrowed search (tracking)
STRONG = 6.0  # boxes whose cascade weight is below this must be confirmed (0: keep every box)
VERIFY = "tilt"  # how: "tilt" (the face cascade again, on the box turned each way) or "eye" (an eye in it)
MARGIN = 0.05  # crop margin around a Haar box (bench/bench_crop_geometry.py)

# the tilt check (tilt_confirms; bench/bench_detector.py's docstring has the variants measured)
TILT_DEGREES = 15.0  # the box is looked at turned this much each way
TILT_PX = 32  # with the box's side at this many pixels
TILT_STEP = 1.05  # the scale step of the cascade there
TILT_HITS = 7  # windows that must find the face, in one of the two turned views, to keep the box
UPRIGHT_HITS = 16  # or in the view not turned (an upright face weak at +-15 degrees): more are asked there
LONE_HITS = 12  # a box of a lone window (OpenCV's grouping drops it) is kept when a turned view gathers this many
GROUP_EPS = 0.2  # OpenCV's grouping of the cascade's windows (detectMultiScale's GROUP_EPS)
OVERLAP = 0.5  # of two boxes covering more than this of the smaller one, the cascade's surer one is kept
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
    "eye" (an eye is found in its upper half). ``lone_hits``: a group of no more than ``min_neighbors``
    windows (OpenCV's grouping drops it) is kept when the cascade finds the face with this many windows in the
    box turned +-15 degrees; the windows are then grouped here, and of boxes that cover one another only the
    surest is kept (0: OpenCV's grouping, lone windows dropped). ``margin``: the crop margin around its boxes.
    """

    name = "haar"
    color = "grey"
    align = False
    min_px = WINDOW

    def __init__(self, *, scale_factor: float = SCALE_FACTOR, min_neighbors: int = MIN_NEIGHBORS,
                 min_size: int = MIN_SIZE, work_size: int = WORK_SIZE, equalize: str = EQUALIZE,
                 strong: float = STRONG, verify: str = VERIFY, lone_hits: int = LONE_HITS, margin: float = MARGIN,
                 cascade: str = CASCADE):
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
        if lone_hits < 0:
            raise ValueError(f"lone_hits must be >= 0 (0: drop lone windows, as OpenCV does), got {lone_hits}")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = int(round(min_size))
        self.work_size = int(work_size)
        self.equalize = equalize
        self.margin = float(margin)
        self.strong = float(strong)
        self.verify = verify
        self.lone_hits = int(lone_hits)
        self.cascade = cascade
        if self.strong > 0 and verify == "eye":
            load_cascade(EYES)
        load_cascade(cascade)  # fail now, with the clear message, rather than on the first frame

    def __repr__(self) -> str:
        return (f"HaarDetector(scale_factor={self.scale_factor}, min_neighbors={self.min_neighbors}, "
                f"min_size={self.min_size}, work_size={self.work_size}, equalize={self.equalize!r}, "
                f"strong={self.strong}, verify={self.verify!r}, lone_hits={self.lone_hits})")

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
        if not self.lone_hits:  # OpenCV's own grouping: boxes of more than min_neighbors windows
            boxes, _, weights = cascade.detectMultiScale3(
                grey, scaleFactor=step, minNeighbors=self.min_neighbors, minSize=(m, m), outputRejectLevels=True, **kw)
            boxes, weights = np.asarray(boxes).reshape(-1, 4), np.asarray(weights, np.float64).ravel()
            lone = np.zeros(len(boxes), bool)
        else:  # every window, grouped here: the lone ones too
            windows, _, levels = cascade.detectMultiScale3(
                grey, scaleFactor=step, minNeighbors=0, minSize=(m, m), outputRejectLevels=True, **kw)
            boxes, counts, weights = group_windows(windows, levels)
            lone = counts <= self.min_neighbors
        keep = np.array([tilt_confirms(grey, b, cascade, self.lone_hits, upright=0) if alone
                         else self.strong <= 0 or w >= self.strong or self._confirmed(grey, b, cascade)
                         for b, w, alone in zip(boxes, weights, lone)], bool)
        boxes, weights = boxes[keep], weights[keep]
        if self.lone_hits:
            boxes = boxes[one_box_a_face(boxes, weights)]
        found = Detections(boxes)  # (the weights are no probability: not reported as a score)
        return found.transformed(scale) if scale != 1.0 else found

    def _confirmed(self, grey: np.ndarray, box, cascade) -> bool:
        """Whether a box the cascade is not sure of is a face after all, by the ``verify`` check."""
        if self.verify == "eye":
            return has_eye(grey, box)
        return tilt_confirms(grey, box, cascade)


def tilt_confirms(grey: np.ndarray, box, cascade, turned: Optional[int] = None, upright: Optional[int] = None) -> bool:
    """Whether ``cascade`` finds a face in ``box`` again: with at least ``turned`` windows (default TILT_HITS) in
    the box turned TILT_DEGREES one way or the other, or ``upright`` (default UPRIGHT_HITS; 0: that view is not
    looked at) in the box as it is. The views are looked at in that order and the first that finds enough decides."""
    turned = TILT_HITS if turned is None else turned
    upright = UPRIGHT_HITS if upright is None else upright
    views = ((TILT_DEGREES, turned), (-TILT_DEGREES, turned)) + (((0.0, upright),) if upright else ())
    return any(view_hits(grey, box, cascade, angle) >= need for angle, need in views)


def view_hits(grey: np.ndarray, box, cascade, angle: float) -> int:
    """In a view of ``box`` turned by ``angle`` degrees (the box at TILT_PX, a quarter of it around), the number
    of windows of about its size, at steps of TILT_STEP, that accept a face centred within 0.3 of its side from
    the box's centre."""
    import cv2

    x, y, w, h = (float(v) for v in box)
    z = TILT_PX / w
    cx, cy = x + w / 2, y + h / 2
    side = int(round(1.5 * TILT_PX))
    lo, hi = int(TILT_PX / 1.35), int(TILT_PX * 1.35)
    m = cv2.getRotationMatrix2D((cx, cy), angle, z)  # turned and scaled about the box's centre ...
    m[:, 2] += (side / 2 - cx, side / 2 - cy)  # ... which lands in the middle of the view
    view = cv2.warpAffine(grey, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    found = np.asarray(cascade.detectMultiScale(view, TILT_STEP, 0, minSize=(lo, lo), maxSize=(hi, hi)))
    found = found.reshape(-1, 4).astype(np.float64)
    off = np.abs(found[:, :2] + found[:, 2:] / 2 - side / 2).max(axis=1)
    return int((off < 0.3 * TILT_PX).sum())


def group_windows(windows, levels, eps: float = GROUP_EPS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cascade's windows grouped as OpenCV's ``groupRectangles`` groups them (two windows are alike when
    every side lies within ``eps`` of their mean size of the other's; alike windows, directly or through
    others, form a group), every group kept: (boxes (k, 4), the mean of each group's windows; windows per
    group; the highest cascade weight in each group)."""
    b = np.asarray(windows, np.float64).reshape(-1, 4)
    levels = np.asarray(levels, np.float64).ravel()
    if len(b) == 0:
        return np.zeros((0, 4), np.int32), np.zeros(0, np.int64), np.zeros(0)
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    d = eps * (np.minimum(b[:, 2, None], b[:, 2]) + np.minimum(b[:, 3, None], b[:, 3])) / 2
    alike = ((np.abs(x0[:, None] - x0) <= d) & (np.abs(y0[:, None] - y0) <= d)
             & (np.abs(x1[:, None] - x1) <= d) & (np.abs(y1[:, None] - y1) <= d))
    label = np.arange(len(b))
    while True:  # each window takes the smallest label among those alike, until nothing changes
        new = np.where(alike, label, len(b)).min(axis=1)
        new = new[new]
        if (new == label).all():
            break
        label = new
    _, group = np.unique(label, return_inverse=True)
    counts = np.bincount(group)
    boxes = np.rint(np.stack([np.bincount(group, b[:, k]) for k in range(4)], axis=1) / counts[:, None])
    weights = np.full(len(counts), -np.inf)
    np.maximum.at(weights, group, levels)
    return boxes.astype(np.int32), counts, weights


def one_box_a_face(boxes: np.ndarray, weights: np.ndarray, overlap: float = OVERLAP) -> np.ndarray:
    """Indices (in their order) of the boxes to keep: where boxes cover one another (their intersection is more
    than ``overlap`` of the smaller one's area: OpenCV's grouping joins only boxes of like size and place, and
    leaves a second, offset box on a face), only the one with the highest cascade weight stays."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(x1[:, None], x1) - np.maximum(x0[:, None], x0), 0, None)
    ih = np.clip(np.minimum(y1[:, None], y1) - np.maximum(y0[:, None], y0), 0, None)
    area = b[:, 2] * b[:, 3]
    covers = iw * ih > overlap * np.minimum(area[:, None], area)
    kept: list[int] = []
    for i in np.argsort(-np.asarray(weights, np.float64), kind="stable"):
        if not covers[i, kept].any():
            kept.append(int(i))
    return np.array(sorted(kept), np.int64)


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
