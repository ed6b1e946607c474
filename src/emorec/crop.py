"""Face crops framed like FER2013's faces: a margin around the detector's box, square, grey; optionally
turned upright from the eyes (:func:`aligned_crop`).

Each detector frames a face its own way (a Haar box runs from the eyebrows to just under the mouth, a
YuNet box from the forehead to the chin), so each detector carries its own ``margin``: the box is widened by
that fraction of its size on every side. The square is cut from the image where it lies inside, and padded
by repeating the border pixels where it does not (a face at the frame's edge). Resizing to the model's input
is left to :func:`emorec.preprocess.preprocess` (the one preprocessing function), which the classifier applies.
"""

from __future__ import annotations

import numpy as np

# The default crop margin, per side, as a fraction of the box: Haar's and YuNet's (their MARGIN), and any
# other detector's that names none (chosen with bench/bench_crop_geometry.py).
MARGIN = 0.05


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


def eye_angle(landmarks) -> float:
    """Degrees the face is tilted: the angle of the line from its right eye to its left eye (image x to the right)."""
    (rx, ry), (lx, ly) = np.asarray(landmarks, np.float64)[:2]
    return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


def aligned_crop(grey: np.ndarray, box, landmarks, margin: float = MARGIN) -> np.ndarray:
    """The square crop of :func:`crop_face`, rotated about the box centre so the eyes lie level.

    One ``warpAffine`` straight into the crop's pixels (border pixels repeat outside the image).
    """
    import cv2

    x, y, s, _ = square_box(box, margin)
    cx, cy = x + s / 2.0, y + s / 2.0
    m = cv2.getRotationMatrix2D((cx, cy), eye_angle(landmarks), 1.0)
    m[0, 2] -= x
    m[1, 2] -= y
    return cv2.warpAffine(grey, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
