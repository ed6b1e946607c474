"""Face detection with YuNet, OpenCV's DNN face detector (``cv2.FaceDetectorYN``, in opencv-python 4.8+).

A small CNN (Wu et al., libfacedetection; 232 kB): boxes with a confidence and five landmarks (eyes,
nose tip, mouth corners), faces from about 10 px, turned or tilted. The model file is not part of the
package: :func:`emorec.detectors.model_file.resolve_yunet` finds or fetches it. Like the Haar detector,
the search runs on a copy downscaled so that the smallest face asked for measures ``work_size`` pixels
there. The network finds faces up to about 600 px (bench/bench_scales.py): where a face bigger than
``LARGEST`` px could be in that copy (its shorter side is longer), a second search runs on a copy half the size,
and so on, and the boxes of all of them are merged by non-maximum suppression. A 640x480 frame is searched once;
a phone photo several times (the last copy keeps ``MIN_PASS`` px). An image smaller than ``SMALL_IMAGE`` px on
its shorter side is searched enlarged, up to 2x: the network scores small faces higher there.

It runs on ONNX Runtime by default (the runtime the classifier uses; 3.4 against 5.3 ms for OpenCV's
DNN module on a 640x480 frame, bench/bench_detector.py), decoding the network's outputs as ``cv2.FaceDetectorYN``
does; ``runtime="opencv"`` uses ``cv2.FaceDetectorYN`` itself.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

import numpy as np

from ..crop import MARGIN  # crop margin around a YuNet box, per side
from ..errors import ModelError
from ..runtime import session_options
from .base import BaseDetector, Detections
from .model_file import resolve_yunet
from .onnx_shape import free_dims

# Defaults measured on real photographs with bench/bench_detector.py (its docstring has the figures).
SCORE_THRESHOLD = 0.85  # (0.8 let buttons and paintings through in large photos: bench/bench_scales.py)
NMS_THRESHOLD = 0.3
MIN_SIZE = 20  # smallest face, in pixels of the input image
WORK_SIZE = 16  # the search runs on a copy where the smallest face measures this many pixels
MIN_INPUT = 120  # the searched copy keeps at least this many pixels on its shorter side
# A small image is searched enlarged, up to UPSCALE times, until its shorter side reaches SMALL_IMAGE px (at most a
# VGA frame's pixels): faces of 40-56 px score higher there (tune set, bench/RESULTS.md: the lowest score of a 40 px
# face 0.87 at its own size, 0.92 at 2x; the threshold is 0.85)
SMALL_IMAGE = 480
UPSCALE = 2.0
ALIGN = True  # turn faces upright from the eyes before the crop (bench/bench_crop_geometry.py: level to +0.7 points)
RUNTIME = "onnxruntime"  # or "opencv" (cv2.FaceDetectorYN): the same boxes, 1.6x the time (bench/bench_detector.py)
RUNTIMES = ("onnxruntime", "opencv")
TOP_K = 5000  # most faces kept before non-maximum suppression (cv2.FaceDetectorYN's usual setting)
LARGEST = 400  # a searched copy is trusted with faces up to this many pixels (the network finds them up to ~600)
# where bigger faces may be, the next search runs at this fraction of the previous size (0.5: a face of 512 px
# in one copy meets the network at 256 px in the next, where it scores higher than at 128 px; tune set: faces of
# 640-2,500 px mean score 0.946-0.947 against 0.932-0.934 at 0.25, for 1.4x the time on such photos) ...
NEXT_PASS = 0.5
MIN_PASS = 160  # ... keeping at least this many pixels on the copy's shorter side

STRIDES = (8, 16, 32)  # the network's three output grids; its input sides are padded to a multiple of 32
OUTPUTS = tuple(f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in STRIDES)

_LOCAL = threading.local()  # cv2.FaceDetectorYN keeps its input size: one per thread
_SESSIONS: dict = {}  # ONNX Runtime sessions are thread-safe: one per (file, threads) in the process
_SESSIONS_LOCK = threading.Lock()


def _load_error(model, runtime: str, why: str) -> ModelError:
    return ModelError(f"{model}: {runtime} cannot load this file as the YuNet face detector ({why}). Is it the "
                      "ONNX file face_detection_yunet_2023mar.onnx? Delete it or give the right file with "
                      "--detector-model / $EMOREC_YUNET")


def _session(model: Path, threads: int):
    """The ONNX Runtime session of a YuNet file, its image sides freed (any multiple of 32), loaded once."""
    key = (str(model), threads)
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            import onnxruntime as ort

            try:
                data = free_dims(Path(model).read_bytes(), inputs=(2, 3), outputs=(1,))
                sess = ort.InferenceSession(data, session_options(threads), providers=["CPUExecutionProvider"])
            except Exception as e:  # ModelError from free_dims, or ONNX Runtime's own types
                raise _load_error(model, "ONNX Runtime", str(e).strip().splitlines()[-1][:200]) from None
            names = sorted(o.name for o in sess.get_outputs())
            if names != sorted(OUTPUTS) or len(sess.get_inputs()) != 1:
                raise _load_error(model, "ONNX Runtime", f"its outputs are {', '.join(names)}, not "
                                                         f"{', '.join(OUTPUTS)}")
            _SESSIONS[key] = sess
        return _SESSIONS[key]


def decode(outputs: dict, width: int, score_threshold: float, nms_threshold: float, top_k: int = TOP_K) -> np.ndarray:
    """YuNet's outputs (``OUTPUTS`` by name) for an input ``width`` pixels wide (a multiple of 32) as rows of
    x, y, w, h, five landmarks (x, y), score: the faces scoring ``score_threshold`` or more, after
    non-maximum suppression at ``nms_threshold``, as ``cv2.FaceDetectorYN.detect`` gives them."""
    import cv2

    rows = []
    for s in STRIDES:
        cls = np.clip(outputs[f"cls_{s}"].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{s}"].reshape(-1), 0.0, 1.0)
        score = np.sqrt(cls * obj)
        idx = np.flatnonzero(score >= score_threshold)
        if not len(idx):
            continue
        cols = width // s
        cell = np.stack([idx % cols, idx // cols], axis=1).astype(np.float32)  # (column, row) of each cell
        box = outputs[f"bbox_{s}"].reshape(-1, 4)[idx]
        wh = np.exp(box[:, 2:4]) * s
        xy = (cell + box[:, :2]) * s - wh / 2
        marks = (outputs[f"kps_{s}"].reshape(-1, 5, 2)[idx] + cell[:, None, :]) * s
        rows.append(np.column_stack([xy, wh, marks.reshape(-1, 10), score[idx]]))
    if not rows:
        return np.zeros((0, 15), np.float32)
    rows = np.concatenate(rows).astype(np.float32)
    if len(rows) > 1:
        keep = cv2.dnn.NMSBoxes(np.trunc(rows[:, :4]).astype(np.float64).tolist(), rows[:, 14].tolist(),
                                score_threshold, nms_threshold, 1.0, top_k)
        rows = rows[np.asarray(keep, np.int64).reshape(-1)]
    return rows


def search_scales(shape, min_px: int, max_px: Optional[int], work_size: int = WORK_SIZE) -> list[float]:
    """The scales an image of ``shape`` is searched at for faces of ``min_px`` (to ``max_px``, or any size): the
    first so the smallest face measures ``work_size`` px (never enlarged, but for a small image's SMALL_IMAGE rule
    and a region's MIN_INPUT), then :func:`pass_scales` for the largest faces."""
    h, w = shape[:2]
    short = min(h, w)
    scale = min(1.0, work_size / min_px) if work_size else 1.0
    scale = max(scale, min(1.0, MIN_INPUT / short))  # a small region (a tracker's) keeps some context
    if max_px is None and short < SMALL_IMAGE:  # a small whole image (not a tracker's region) is searched enlarged
        scale = max(scale, min(UPSCALE, SMALL_IMAGE / short))
    largest = short if max_px is None else min(short, max_px * 1.25)
    return pass_scales(scale, largest, short)


def pass_scales(scale: float, largest: float, short: int) -> list[float]:
    """The scales to search at: ``scale`` first; then, while a face of ``largest`` px (in the input) would measure
    more than LARGEST px in the last copy, a copy NEXT_PASS the size (at least MIN_PASS px on its shorter side
    ``short``, never larger than the last)."""
    scales = [scale]
    while largest * scales[-1] > LARGEST:
        nxt = max(scales[-1] * NEXT_PASS, min(1.0, MIN_PASS / short))
        if nxt >= scales[-1]:
            break
        scales.append(nxt)
    return scales


def resized(bgr: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    if scale == 1.0:
        return bgr
    h, w = bgr.shape[:2]
    return cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))),
                      interpolation=cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR)


def merge(rows: np.ndarray, nms_threshold: float) -> np.ndarray:
    """Rows of several searches (x, y, w, h, landmarks, score) with one face's boxes merged by non-maximum
    suppression, the highest score kept."""
    import cv2

    if len(rows) < 2:
        return rows
    keep = cv2.dnn.NMSBoxes(rows[:, :4].tolist(), rows[:, 14].tolist(), 0.0, nms_threshold)
    return rows[np.sort(np.asarray(keep, np.int64).reshape(-1))]


class YuNetDetector(BaseDetector):
    """YuNet face detector.

    ``model``: the .onnx path (default: found as :mod:`emorec.detectors.model_file` says).
    ``score_threshold``: confidence a face needs. ``min_size`` / ``work_size``: as for Haar (pixels of the
    input; the smallest face measures ``work_size`` px in the searched copy; 0 = search at full size).
    ``margin`` / ``align``: the crop geometry for its boxes. ``runtime``: "onnxruntime" (default; as many
    threads as OpenCV is set to use, ``cv2.getNumThreads()``) or "opencv" (``cv2.FaceDetectorYN``).
    """

    name = "yunet"
    color = "bgr"
    min_px = 10

    def __init__(self, *, model=None, score_threshold: float = SCORE_THRESHOLD, nms_threshold: float = NMS_THRESHOLD,
                 min_size: Optional[int] = None, work_size: int = WORK_SIZE, margin: float = MARGIN, align: bool = ALIGN,
                 runtime: str = RUNTIME, download: bool = True):
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {score_threshold}")
        if not 0.0 < nms_threshold < 1.0:
            raise ValueError(f"nms_threshold must be in (0, 1), got {nms_threshold}")
        if min_size is not None and not min_size >= 1:
            raise ValueError(f"min_size is the smallest face in pixels (>= 1), got {min_size}")
        if work_size and work_size < 8:
            raise ValueError(f"work_size must be 0 (full size) or >= 8, got {work_size}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        self.runtime = runtime
        self.model = resolve_yunet(model, download_missing=download)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.min_size = None if min_size is None else int(round(min_size))
        self.work_size = int(work_size)
        self.margin = float(margin)
        self.align = bool(align)
        self._run(np.zeros((64, 64, 3), np.uint8))  # a corrupt or wrong file fails now, with its name

    def __repr__(self) -> str:
        return (f"YuNetDetector(model={str(self.model)!r}, score_threshold={self.score_threshold}, "
                f"min_size={self.min_size}, work_size={self.work_size}, align={self.align}, runtime={self.runtime!r})")

    def _net(self, size):
        import cv2

        key = (str(self.model), self.score_threshold, self.nms_threshold)
        cache = _LOCAL.__dict__.setdefault("nets", {})
        net = cache.get(key)
        if net is None:
            try:
                net = cv2.FaceDetectorYN.create(str(self.model), "", (int(size[0]), int(size[1])),
                                                self.score_threshold, self.nms_threshold, TOP_K)
            except cv2.error as e:
                raise _load_error(self.model, "OpenCV", str(e).strip().splitlines()[-1][:200]) from None
            cache[key] = net
        net.setInputSize((int(size[0]), int(size[1])))
        return net

    def _detect(self, bgr: np.ndarray, min_px: Optional[int], max_px: Optional[int]) -> Detections:
        min_px = max(self.min_px, min_px or self.min_size or MIN_SIZE)
        passes = []
        for s in search_scales(bgr.shape, min_px, max_px, self.work_size):
            rows = self._run(resized(bgr, s)).astype(np.float64)
            rows[:, :14] /= s
            passes.append(rows)
        rows = passes[0] if len(passes) == 1 else merge(np.concatenate(passes), self.nms_threshold)
        if len(rows) == 0:
            return Detections.empty()
        found = Detections(np.rint(rows[:, :4]), rows[:, 14], rows[:, 4:14].reshape(-1, 5, 2))
        side = np.maximum(found.boxes[:, 2], found.boxes[:, 3])
        keep = side >= min_px * 0.8
        if max_px is not None:
            keep &= side <= max_px * 1.25
        return found.take(keep)

    def _run(self, bgr: np.ndarray) -> np.ndarray:
        """The network on a BGR image: rows of x, y, w, h, landmarks, score (pixels of that image)."""
        import cv2

        h, w = bgr.shape[:2]
        try:
            if self.runtime == "opencv":
                _, rows = self._net((w, h)).detect(bgr)
                return np.zeros((0, 15), np.float32) if rows is None else np.asarray(rows, np.float32)
            sess = _session(self.model, cv2.getNumThreads())
            ph, pw = -(-h // STRIDES[-1]) * STRIDES[-1], -(-w // STRIDES[-1]) * STRIDES[-1]
            blob = np.zeros((1, 3, ph, pw), np.float32)  # padded at the right and bottom with black
            blob[0, :, :h, :w] = bgr.transpose(2, 0, 1)
            outputs = dict(zip(OUTPUTS, sess.run(list(OUTPUTS), {sess.get_inputs()[0].name: blob})))
        except ModelError:
            raise
        except Exception as e:  # cv2.error, or ONNX Runtime's own types
            raise ModelError(f"{self.model}: YuNet failed on a {w}x{h} image: "
                             f"{str(e).strip().splitlines()[-1][:200]}") from None
        return decode(outputs, pw, self.score_threshold, self.nms_threshold)
