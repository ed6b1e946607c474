"""Face crops framed like FER2013's faces: a margin around the Haar box, square, grey.

A Haar box runs from the eyebrows to just under the mouth; FER2013's 48x48 faces show a little more
(forehead and chin), so the box is widened by ``margin`` of its size on every side. The square is
cut from the image where it lies inside, and padded by repeating the border pixels where it does
not (a face at the frame's edge). Resizing to the model's input is left to
:func:`emorec.preprocess.preprocess` (the one preprocessing function), which the classifier applies.

The default margin is measured by bench/bench_crop_margin.py (see its docstring).
"""

from __future__ import annotations

import numpy as np

MARGIN = 0.05  # bench_crop_margin.py: 0.0-0.1 are equally good (within noise), 0.15+ lose accuracy


def square_box(box, margin: float = MARGIN) -> tuple[int, int, int, int]:
    """The square (x, y, side, side) centred on ``box`` (x, y, w, h), grown by ``margin`` per side."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    s = max(1, int(round(side)))
    return int(round(cx - s / 2.0)), int(round(cy - s / 2.0)), s, s


def crop_face(grey: np.ndarray, box, margin: float = MARGIN) -> np.ndarray:
    """The square grey crop around ``box`` from a 2-D image; border pixels repeat outside the image."""
    import cv2

    x, y, s, _ = square_box(box, margin)
    H, W = grey.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + s), min(H, y + s)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {tuple(int(v) for v in box)} lies outside the {W}x{H} image")
    crop = grey[y0:y1, x0:x1]
    pad = (y0 - y, (y + s) - y1, x0 - x, (x + s) - x1)  # top, bottom, left, right
    if any(pad):
        crop = cv2.copyMakeBorder(crop, *pad, borderType=cv2.BORDER_REPLICATE)
    return crop


def crop_faces(grey: np.ndarray, boxes, margin: float = MARGIN) -> list[np.ndarray]:
    """Square grey crops of every box (sizes differ; the classifier resizes them)."""
    return [crop_face(grey, b, margin) for b in boxes]
