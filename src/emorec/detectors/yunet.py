"""Face detection with YuNet, OpenCV's DNN face detector (``cv2.FaceDetectorYN``, in opencv-python 4.8+).

A small CNN (Wu et al., libfacedetection; 232 kB): boxes with a confidence and five landmarks (eyes,
nose tip, mouth corners), faces from about 10 px, turned or tilted. The model file is not part of the
package: :func:`emorec.detectors.model_file.resolve_yunet` finds or fetches it. Like the Haar detector,
the search runs on a copy downscaled so that the smallest face asked for measures ``work_size`` pixels
there, never above ``max_side`` pixels on its longer side unless a smaller face is asked for.
"""

from __future__ import annotations

import threading
from typing import Optional

import numpy as np

from ..errors import ModelError
from . import BaseDetector, Detections
from .model_file import resolve_yunet

# Defaults measured on real photographs with bench/bench_detector.py (its docstring has the figures).
SCORE_THRESHOLD = 0.8
NMS_THRESHOLD = 0.3
MIN_SIZE = 20  # smallest face, in pixels of the input image
WORK_SIZE = 16  # the search runs on a copy where the smallest face measures this many pixels
MARGIN = 0.05  # crop margin around a YuNet box (bench/bench_crop_geometry.py: 0.05 best with the shipped models)
MIN_INPUT = 120  # the searched copy keeps at least this many pixels on its shorter side
ALIGN = True  # turn faces upright from the eyes before the crop (bench/bench_crop_geometry.py: level to +0.7 points)

_LOCAL = threading.local()  # cv2.FaceDetectorYN keeps its input size: one per thread


class YuNetDetector(BaseDetector):
    """YuNet face detector.

    ``model``: the .onnx path (default: found as :mod:`emorec.detectors.model_file` says).
    ``score_threshold``: confidence a face needs. ``min_size`` / ``work_size``: as for Haar (pixels of the
    input; the smallest face measures ``work_size`` px in the searched copy; 0 = search at full size).
    ``margin`` / ``align``: the crop geometry for its boxes.
    """

    name = "yunet"
    color = "bgr"
    min_px = 10

    def __init__(self, *, model=None, score_threshold: float = SCORE_THRESHOLD, nms_threshold: float = NMS_THRESHOLD,
                 min_size: int = MIN_SIZE, work_size: int = WORK_SIZE, margin: float = MARGIN, align: bool = ALIGN,
                 download: bool = True):
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {score_threshold}")
        if not 0.0 < nms_threshold < 1.0:
            raise ValueError(f"nms_threshold must be in (0, 1), got {nms_threshold}")
        if not min_size >= 1:
            raise ValueError(f"min_size is the smallest face in pixels (>= 1), got {min_size}")
        if work_size and work_size < 8:
            raise ValueError(f"work_size must be 0 (full size) or >= 8, got {work_size}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.model = resolve_yunet(model, download_missing=download)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.min_size = int(round(min_size))
        self.work_size = int(work_size)
        self.margin = float(margin)
        self.align = bool(align)
        self._net((64, 64))  # a corrupt or wrong file fails now, with its name

    def __repr__(self) -> str:
        return (f"YuNetDetector(model={str(self.model)!r}, score_threshold={self.score_threshold}, "
                f"min_size={self.min_size}, work_size={self.work_size}, align={self.align})")

    def _net(self, size):
        import cv2

        key = (str(self.model), self.score_threshold, self.nms_threshold)
        cache = _LOCAL.__dict__.setdefault("nets", {})
        net = cache.get(key)
        if net is None:
            try:
                net = cv2.FaceDetectorYN.create(str(self.model), "", (int(size[0]), int(size[1])),
                                                self.score_threshold, self.nms_threshold, 5000)
            except cv2.error as e:
                why = str(e).strip().splitlines()[-1][:200]
                raise ModelError(f"{self.model}: OpenCV cannot load this file as the YuNet face detector ({why}). "
                                 "Is it the ONNX file face_detection_yunet_2023mar.onnx? Delete it or give the "
                                 "right file with --detector-model / $EMOREC_YUNET") from None
            cache[key] = net
        net.setInputSize((int(size[0]), int(size[1])))
        return net

    def _detect(self, bgr: np.ndarray, min_px: Optional[int], max_px: Optional[int]) -> Detections:
        import cv2

        min_px = max(self.min_px, min_px or self.min_size)
        h, w = bgr.shape[:2]
        scale = min(1.0, self.work_size / min_px) if self.work_size else 1.0
        scale = max(scale, min(1.0, MIN_INPUT / min(h, w)))  # a small region (a tracker's) keeps some context
        if scale < 1.0:
            bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        net = self._net((bgr.shape[1], bgr.shape[0]))
        try:
            _, rows = net.detect(bgr)
        except cv2.error as e:
            raise ModelError(f"{self.model}: YuNet failed on a {w}x{h} image: "
                             f"{str(e).strip().splitlines()[-1][:200]}") from None
        if rows is None or len(rows) == 0:
            return Detections.empty()
        rows = np.asarray(rows, np.float64)
        rows[:, :14] /= scale
        found = Detections(np.rint(rows[:, :4]), rows[:, 14], rows[:, 4:14].reshape(-1, 5, 2))
        side = np.maximum(found.boxes[:, 2], found.boxes[:, 3])
        keep = side >= min_px * 0.8
        if max_px is not None:
            keep &= side <= max_px * 1.25
        return found.take(keep)
