"""Face detection with OpenCV's Haar cascade (``haarcascade_frontalface_default.xml``): the classic method of the Keras mini-XCEPTION demo.

The cascade runs on the plain grey image. The smallest face to find is given in pixels of the input image
(``min_size``; by default 40 px, or 1/25 of the shorter side of a large image), and the search runs on a copy
downscaled so that this smallest face measures ``work_size`` (24) pixels there: a 640x480 frame is searched at
384x288. Boxes come back in pixels of the input. Every face is kept, not just the largest.

The search is permissive: every window the cascade accepts is kept and the windows are grouped as OpenCV
groups them (:func:`group_windows`), a lone window too (a face turned 15-25 degrees often gathers only one).
Windows of 0.7 of the picture's shorter side and more are searched on a copy with a border (the edge pixels
repeated, a quarter of the shorter side): a face that fills the picture, as in a face crop or a close-up, reaches
past its edges with the cascade's window. Each group of fewer than SURE (12) windows then takes a second look
(:func:`confirmed`): OpenCV's other frontal cascade (``haarcascade_frontalface_alt.xml``, trained apart) must
find the face with AGREE (6) windows in the box alone (at 32 px, a fine scale step), as it is or turned 15
degrees one way or the other. A face, upright or turned, stands upright enough in one of the three views to
gather many windows; the ties, buttons, fabric, hair and fur the search's cascade takes for faces seldom fool a
cascade trained apart. On the photos the default was chosen on, no false face gathered SURE windows, and most
faces of 640x480 frames do (the look costs about 1.5 ms a face). Last, of boxes that cover one another only the one
the cascade is surer of stays (:func:`one_box_a_face`). Where the search finds no face at all, it runs again on the
picture turned TILT_DEGREES (15) one way and the other (:func:`turned`), with the same checks: a head tilted 20-35
degrees, as in a selfie or a laugh, stands upright enough in one of them (the sample is found from -32 to 36 degrees
instead of -16 to 24), and a face's box comes back upright around it. A tracker's search around a face it follows
does the same, so a tilted head is followed between full searches. It costs nothing where a face is found, and three
times the search where none is (39 ms against 13 a face-free 640x480 frame: bench_detector.py). With
``min_neighbors`` given, the detector is OpenCV's ``detectMultiScale`` as it is.

OpenCV 5.0 wheels dropped ``cv2.CascadeClassifier`` and the cascade files from the main build, so
emorec depends on ``opencv-python-headless<5``; :func:`cascade_path` says so clearly if it meets one.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

import numpy as np

from ..crop import MARGIN  # crop margin around a Haar box, per side
from ..errors import ModelError
from .base import BaseDetector, Detections

CASCADE = "haarcascade_frontalface_default.xml"
WINDOW = 24  # the cascade's own window: no face smaller than this can be found

# Defaults chosen on real photographs (bench/bench_scales.py; bench/RESULTS.md has the figures and the variants)
SCALE_FACTOR = 1.3  # between the face sizes searched
MIN_SIZE = 40  # smallest face, in pixels of the input image ...
MIN_FACE_FRACTION = 1 / 25  # ... or this part of its shorter side where that is larger (and min_size is not given)
WORK_SIZE = 24  # the search runs on a copy where the smallest face measures this many pixels
FINE_STEP = 1.05  # the scale step of a narrowed search (tracking)
ALIGN = False  # a Haar box has no landmarks to turn the face upright by

# the second look every box takes (confirmed): OpenCV's other frontal cascade, trained apart, must find it
SURE = 12  # ... unless the search itself gave it this many windows (no false face of the first tune photos had 8)
SECOND = "haarcascade_frontalface_alt.xml"
AGREE = 6  # with this many windows of about the box's size, centred near its centre, in one view of the box:
TILT_DEGREES = 15.0  # the box as it is, or turned this much one way or the other,
TILT_PX = 32  # with the box's side at this many pixels,
TILT_STEP = 1.05  # at this scale step
PAD = 0.25  # the border searched around the picture for faces that fill it, a part of its shorter side ...
LARGE = 0.7  # ... for windows of this part of the shorter side and more (cost: 0.5 found more cut faces, +12% time)
GROUP_EPS = 0.2  # OpenCV's grouping of the cascade's windows (detectMultiScale's GROUP_EPS)
OVERLAP = 0.5  # of two boxes covering more than this of the smaller one, the cascade's surer one is kept

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


def load_cascade(name: str = CASCADE, use: str = "search"):
    """The cascade ``name``, loaded once per thread and ``use``: the search and the second look (:func:`confirmed`)
    each have their own, because a cascade keeps buffers sized for the images and sizes it last ran on, and
    rebuilds them when they change: a 48 px view after a 384 px frame, and the frame after the views."""
    cache = _LOCAL.__dict__.setdefault("cascades", {})
    if (name, use) not in cache:
        import cv2

        path = cascade_path(name) if not Path(name).is_file() else Path(name)
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise ModelError(f"{path}: OpenCV could not load this Haar cascade. {_OPENCV_HINT}")
        cache[name, use] = cascade
    return cache[name, use]


class HaarDetector(BaseDetector):
    """Haar-cascade face detector.

    ``min_size``: the smallest face, in pixels of the input image (default: 40, or 1/25 of a large image's
    shorter side: :func:`smallest_face`). ``work_size``: the search runs on a copy downscaled so
    that a face of ``min_size`` measures this many pixels (>= 24, the cascade's window; 0 = search at full size).
    ``scale_factor``: the step between face sizes searched. By default every window of the cascade is kept,
    grouped as OpenCV groups them, and a group is a face when it passes :func:`confirmed`; given
    ``min_neighbors``, the detector is OpenCV's ``detectMultiScale`` as it is: groups of more than that many
    windows, unchecked (the Keras demo's and ``fer``'s way: ``scale_factor=1.1, min_neighbors=5``). ``turned``:
    where the search finds no face, search the picture turned TILT_DEGREES one way and the other too (False: three
    times faster on a picture without a face, and tilted heads are missed). ``margin``: the crop margin around its
    boxes.
    """

    name = "haar"
    color = "grey"
    align = ALIGN
    min_px = WINDOW
    sure = SURE  # a group of this many windows is a face without the second look
    agree = AGREE  # the windows the second cascade must find in one view of a box it confirms
    pad = PAD  # the border searched for faces that fill the picture (0: none) ...
    large = LARGE  # ... for windows of this part of the picture's shorter side and more

    def __init__(self, *, scale_factor: float = SCALE_FACTOR, min_size: Optional[int] = None,
                 work_size: int = WORK_SIZE, min_neighbors: Optional[int] = None, margin: float = MARGIN,
                 cascade: str = CASCADE, turned: bool = True):
        if not scale_factor > 1.0:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
        if min_neighbors is not None and min_neighbors < 0:
            raise ValueError(f"min_neighbors must be >= 0, got {min_neighbors}")
        if min_size is not None and not min_size >= 1:
            raise ValueError(f"min_size is the smallest face in pixels (>= 1), got {min_size}")
        if work_size and work_size < WINDOW:
            raise ValueError(f"work_size must be 0 (full size) or >= {WINDOW} (the cascade's window), got {work_size}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.scale_factor = float(scale_factor)
        self.min_size = None if min_size is None else int(round(min_size))
        self.work_size = int(work_size)
        self.min_neighbors = None if min_neighbors is None else int(min_neighbors)
        self.margin = float(margin)
        self.cascade = cascade
        self.turned = bool(turned)
        load_cascade(cascade)  # fail now, with the clear message, rather than on the first frame
        load_cascade(SECOND, "views")

    def __repr__(self) -> str:
        return (f"HaarDetector(scale_factor={self.scale_factor}, min_size={self.min_size}, "
                f"work_size={self.work_size}, min_neighbors={self.min_neighbors}, turned={self.turned})")

    def search_copy(self, grey: np.ndarray, min_px: Optional[int]) -> tuple[np.ndarray, float, int]:
        """(the copy searched, its scale, the smallest window there) for a face of ``min_px`` and more."""
        import cv2

        min_px = max(WINDOW, min_px or smallest_face(grey.shape, self.min_size))
        h, w = grey.shape
        scale = min(1.0, self.work_size / min_px) if self.work_size else 1.0
        if scale < 1.0:
            grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))),
                              interpolation=cv2.INTER_AREA)
        return grey, scale, max(WINDOW, int(round(min_px * scale)))

    def _detect(self, grey: np.ndarray, min_px: Optional[int], max_px: Optional[int]) -> Detections:
        grey, scale, m = self.search_copy(grey, min_px)
        if min(grey.shape) < m:
            return Detections.empty()
        kw = {} if max_px is None else {"maxSize": (int(max_px * scale) + 1,) * 2}
        # a narrowed search (a tracker following a face: a small region, sizes near the face's) is cheap: it
        # steps through sizes finely, so a face between two of the full search's sizes is not lost
        step = self.scale_factor if max_px is None else min(self.scale_factor, FINE_STEP)
        if self.min_neighbors is not None:  # OpenCV's own grouping: boxes of more than min_neighbors windows
            boxes = load_cascade(self.cascade).detectMultiScale(
                grey, scaleFactor=step, minNeighbors=self.min_neighbors, minSize=(m, m), **kw)
            found = Detections(np.asarray(boxes).reshape(-1, 4))
        else:  # every window, grouped here (a lone one too), each group checked
            narrowed = max_px is not None
            boxes, weights = self.search(grey, m, step, kw, narrowed=narrowed)
            if not len(boxes) and self.turned and TILT_DEGREES:  # no face upright: the picture turned both ways
                found = [turned_back(self.search(view, m, step, kw, narrowed=narrowed), back)
                         for view, back in (turned(grey, a) for a in (TILT_DEGREES, -TILT_DEGREES))]
                boxes, weights = (np.concatenate(v) for v in zip(*found))
                boxes = boxes[one_box_a_face(boxes, weights)]
            found = Detections(boxes)
        return found.transformed(scale) if scale != 1.0 else found

    def search(self, grey: np.ndarray, m: int, step: float, kw: dict, narrowed: bool = False):
        """The faces in ``grey`` from ``m`` px up: every window, grouped here (a lone one too), each group checked;
        one box a face, of the boxes confirmed: (boxes (k, 4), their cascade weights (k,); weights are no
        probability, so they are not reported). A narrowed search follows a face a full search confirmed, so its
        surest group is kept without the second look, and so is a group of ``sure`` windows or more."""
        windows, levels = self.windows(grey, m, step, kw)
        boxes, counts, weights = group_windows(windows, levels)
        accept = None if narrowed else (lambda i: counts[i] >= self.sure or self.is_face(grey, boxes[i]))
        keep = one_box_a_face(boxes, weights, accept=accept)
        return boxes[keep], weights[keep]

    def is_face(self, grey: np.ndarray, box) -> bool:
        """The second look at a group of fewer than ``sure`` windows: :func:`confirmed`."""
        return confirmed(grey, box, agree=self.agree)

    def windows(self, grey: np.ndarray, m: int, step: float, kw: dict) -> tuple[np.ndarray, np.ndarray]:
        """Every window the cascade accepts in ``grey`` (its boxes (N, 4) and weights (N,)), from ``m`` px up. In a
        full search (no maxSize in ``kw``), windows of ``large`` (LARGE) of the shorter side and more run on a
        copy with a border of ``pad`` (PAD) of the shorter side (the edge pixels repeated): a face that fills the
        picture (a face crop, a close-up) reaches past its edges with the cascade's window, which the plain search
        never tries. (Boxes may then reach past the picture's edges, as YuNet's do; the crop pads what is outside.)"""
        import cv2

        cascade = load_cascade(self.cascade)

        def search(img, lo, **size):
            found, _, levels = cascade.detectMultiScale3(img, scaleFactor=step, minNeighbors=0, minSize=(lo, lo),
                                                         outputRejectLevels=True, **size)
            return np.asarray(found, np.int64).reshape(-1, 4), np.asarray(levels, np.float64).ravel()

        if kw or not self.pad:
            return search(grey, m, **kw)
        short = min(grey.shape)
        big = max(m, int(self.large * short))
        p = int(round(self.pad * short))
        outer, outer_levels = search(cv2.copyMakeBorder(grey, p, p, p, p, cv2.BORDER_REPLICATE), big)
        outer -= (p, p, 0, 0)
        if big == m:
            return outer, outer_levels
        inner, inner_levels = search(grey, m, maxSize=(big - 1, big - 1))
        return np.concatenate([inner, outer]), np.concatenate([inner_levels, outer_levels])


def turned(grey: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """``grey`` turned ``angle`` degrees about its centre on a canvas that holds all of it (the edge pixels
    repeated in the corners), and the affine map from the turned picture back to ``grey``."""
    import cv2

    h, w = grey.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    tw, th = int(round(w * cos + h * sin)), int(round(w * sin + h * cos))
    m[:, 2] += (tw / 2 - w / 2, th / 2 - h / 2)
    view = cv2.warpAffine(grey, m, (tw, th), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return view, cv2.invertAffineTransform(m)


def turned_back(found: tuple[np.ndarray, np.ndarray], back: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(boxes, weights) found in a turned picture (:func:`turned`), each box's centre carried back by ``back``,
    its size kept: the upright box around the face."""
    boxes, weights = found
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    centres = np.c_[b[:, :2] + b[:, 2:] / 2, np.ones(len(b))] @ np.asarray(back, np.float64).T
    return np.rint(np.c_[centres - b[:, 2:] / 2, b[:, 2:]]).astype(np.int32), np.asarray(weights, np.float64)


def smallest_face(shape, min_size: Optional[int] = None) -> int:
    """The smallest face to search for in an image of ``shape``: ``min_size`` where given, else MIN_SIZE or
    MIN_FACE_FRACTION of the image's shorter side, whichever is larger. A 640x480 frame is searched down to
    40 px (a 1280x960 one too), a 4000x3000 photo to 120 px: in large photos the smallest windows are where the cascade's
    false faces are (buttons, fabric, armour) and where the time goes (bench/bench_scales.py)."""
    if min_size:
        return int(min_size)
    return max(MIN_SIZE, int(round(min(shape[:2]) * MIN_FACE_FRACTION)))


def confirmed(grey: np.ndarray, box, cascade=None, agree: int = AGREE) -> bool:
    """Whether a group of the search's windows is a face: OpenCV's other frontal cascade (``cascade``, by default
    SECOND), trained apart from the search's, finds the face with ``agree`` windows in one view of the box (as it
    is, or turned TILT_DEGREES one way or the other). A face, upright or turned, stands upright enough in one view
    to gather many windows; the ties, buttons, fabric, hair and fur the search's cascade takes for faces seldom
    fool a cascade trained apart, and gather few windows of it in all three views."""
    cascade = load_cascade(SECOND, "views") if cascade is None else cascade
    return any(view_hits(grey, box, cascade, a) >= agree for a in (0.0, TILT_DEGREES, -TILT_DEGREES))


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


def one_box_a_face(boxes: np.ndarray, weights: np.ndarray, overlap: float = OVERLAP, accept=None) -> np.ndarray:
    """Indices (in their order) of the boxes to keep: where boxes cover one another (their intersection is more
    than ``overlap`` of the smaller one's area: OpenCV's grouping joins only boxes of like size and place, and
    leaves a second, offset box on a face), only the one with the highest cascade weight stays. With ``accept``
    (index -> bool), only accepted boxes count: the boxes are taken surest first and a box covered by one kept
    already is dropped without being asked about, which is where checking the boxes costs least."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(x1[:, None], x1) - np.maximum(x0[:, None], x0), 0, None)
    ih = np.clip(np.minimum(y1[:, None], y1) - np.maximum(y0[:, None], y0), 0, None)
    area = b[:, 2] * b[:, 3]
    covers = iw * ih > overlap * np.minimum(area[:, None], area)
    kept: list[int] = []
    for i in np.argsort(-np.asarray(weights, np.float64), kind="stable"):
        if not covers[i, kept].any() and (accept is None or accept(int(i))):
            kept.append(int(i))
    return np.array(sorted(kept), np.int64)
