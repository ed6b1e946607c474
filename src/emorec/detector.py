"""Face detection with OpenCV's Haar cascade (``haarcascade_frontalface_default.xml``).

The cascade runs on the grey, histogram-equalised image (CLAHE: local equalisation, which keeps a
face's contrast where a global one let a large plain background take it; see bench_detector.py). Huge images are downscaled for detection
only (to ``max_side`` pixels on their longer side) and the boxes are mapped back to the pixels of
the input. Every face is kept, not just the largest.

OpenCV 5.0 wheels dropped ``cv2.CascadeClassifier`` and the cascade files from the main build, so
emorec depends on ``opencv-python-headless<5``; :func:`cascade_path` says so clearly if it meets one.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .errors import ModelError

CASCADE = "haarcascade_frontalface_default.xml"

# Defaults measured with bench/bench_detector.py (see its docstring for the figures).
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 5
MIN_SIZE = 0.04  # smallest face: a fraction of the image's shorter side (floored at MIN_PIXELS)...
MIN_PIXELS = 24  # ...and never below the cascade's own window (24 px)
MAX_SIDE = 1280  # images larger than this are downscaled for detection
EQUALIZE = "clahe"  # global equalisation lost faces on plain backgrounds (bench_detector.py)

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


class FaceDetector:
    """Haar-cascade face detector.

    >>> FaceDetector().detect(grey)   # int (N, 4) boxes x, y, w, h in pixels of ``grey``

    ``min_size``: the smallest face, as a fraction of the shorter image side when < 1, else in pixels
    of the input image. ``max_side``: longer side above which the image is downscaled for detection
    (0 = never). ``equalize``: "clahe" (local, contrast-limited histogram equalisation,
    the default), "hist" (global) or "none".
    """

    def __init__(self, *, scale_factor: float = SCALE_FACTOR, min_neighbors: int = MIN_NEIGHBORS,
                 min_size: float = MIN_SIZE, max_side: int = MAX_SIDE, equalize: str = EQUALIZE,
                 cascade: str = CASCADE):
        if not scale_factor > 1.0:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
        if min_neighbors < 0 or min_size < 0 or max_side < 0:
            raise ValueError("min_neighbors, min_size and max_side must be >= 0")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = float(min_size)
        self.max_side = int(max_side)
        equalize = {True: "hist", False: "none", None: "none"}.get(equalize, equalize)
        if equalize not in ("hist", "clahe", "none"):
            raise ValueError(f"equalize must be 'hist', 'clahe' or 'none', got {equalize!r}")
        self.equalize = equalize
        self.cascade = cascade
        load_cascade(cascade)  # fail now, with the clear message, rather than on the first frame

    def __repr__(self) -> str:
        return (f"FaceDetector(scale_factor={self.scale_factor}, min_neighbors={self.min_neighbors}, "
                f"min_size={self.min_size}, max_side={self.max_side}, equalize={self.equalize!r})")

    def _min_pixels(self, shape) -> int:
        side = self.min_size * min(shape[:2]) if self.min_size < 1 else self.min_size
        return max(MIN_PIXELS, int(round(side)))

    def detect(self, grey: np.ndarray, roi: tuple[int, int, int, int] | None = None,
               sizes: tuple[float, float] | None = None) -> np.ndarray:
        """Boxes ``(N, 4)`` int32 x, y, w, h in pixels of ``grey`` (a 2-D uint8 image), largest first.

        ``roi`` (x, y, w, h) restricts the search to that region (boxes still come back in full-image
        pixels); the minimum face size is then still taken from the full image unless ``sizes``
        (smallest, largest face side in pixels) narrows the search, as a tracker does.
        """
        import cv2

        if grey.ndim != 2 or grey.dtype != np.uint8:
            raise ValueError(f"detect() wants a 2-D uint8 grey image, got {grey.dtype} {grey.shape}")
        min_px = self._min_pixels(grey.shape) if sizes is None else max(MIN_PIXELS, int(sizes[0]))
        max_px = None if sizes is None else max(min_px + 1, int(sizes[1]))
        ox = oy = 0
        if roi is not None:
            x, y, w, h = (int(v) for v in roi)
            x0, y0 = max(0, x), max(0, y)
            x1, y1 = min(grey.shape[1], x + w), min(grey.shape[0], y + h)
            if x1 - x0 < MIN_PIXELS or y1 - y0 < MIN_PIXELS:
                return np.zeros((0, 4), np.int32)
            grey, ox, oy = grey[y0:y1, x0:x1], x0, y0
        h, w = grey.shape
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))),
                              interpolation=cv2.INTER_AREA)
        if self.equalize == "hist":
            grey = cv2.equalizeHist(grey)
        elif self.equalize == "clahe":
            grey = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey)
        m = max(MIN_PIXELS, int(round(min_px * scale)))
        if min(grey.shape) < m:
            return np.zeros((0, 4), np.int32)
        kw = {} if max_px is None else {"maxSize": (int(max_px * scale) + 1,) * 2}
        boxes = load_cascade(self.cascade).detectMultiScale(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(m, m), **kw)
        if len(boxes) == 0:
            return np.zeros((0, 4), np.int32)
        boxes = np.asarray(boxes, np.float64)
        if scale != 1.0:
            boxes = boxes / scale
        boxes = np.rint(boxes).astype(np.int32)
        boxes[:, 0] += ox
        boxes[:, 1] += oy
        order = np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable")
        return boxes[order]
