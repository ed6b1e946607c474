"""EmotionRecognizer: every face of an image, with its box, top emotion and class probabilities.

>>> from emorec import EmotionRecognizer
>>> rec = EmotionRecognizer(model="fer2013")          # or "ferplus", or a path to an .onnx
>>> rec = EmotionRecognizer(detector="yunet")         # the DNN face detector; "haar" (default) or an object
>>> faces = rec.analyze("photo.jpg")                   # or a PIL image, bytes, or a numpy image (color="bgr"|"rgb"|"grey")
>>> faces[0].box, faces[0].emotion, faces[0].scores    # (x, y, w, h), 'happy', {'angry': 0.01, ...}
>>> [f.to_dict() for f in faces]                       # the JSON of `emorec detect --json`

Pipeline: a :class:`Frame` (uint8 image, grey made once) -> the detector (:mod:`emorec.detectors`:
boxes, and landmarks where it gives them) -> square crops with the detector's margin, rotated upright
from the eyes where alignment is on (:mod:`emorec.crop`) -> ONE batch through
:class:`emorec.classifier.EmotionClassifier`. The crop geometry per detector comes from the model card's
``preprocess`` section where it has one, else from the detector.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Optional

import numpy as np

from . import crop as _crop
from .detectors import Detections, get_detector
from .errors import ImageError

COLORS = ("bgr", "rgb", "grey", "gray")
UNSURE = "unsure"  # how a face whose label is withheld (below min_confidence) is drawn and printed


@dataclass
class Face:
    """One face: ``box`` (x, y, w, h) in pixels of the input image, clipped to it; ``emotion``, the top class,
    or None when its probability is below the recogniser's ``min_confidence`` (the label is withheld: "unsure";
    the scores are kept); ``scores`` (class -> calibrated probability, summing to 1); ``confidence``, the top
    probability. ``id`` is the track id in videos (None for photos); ``detection`` the detector's confidence
    where it gives one (YuNet)."""

    box: tuple[int, int, int, int]
    emotion: Optional[str]
    scores: dict[str, float]
    id: Optional[int] = field(default=None, compare=False)
    detection: Optional[float] = field(default=None, compare=False)

    @property
    def confidence(self) -> float:
        """Probability of the top emotion (also when its label is withheld)."""
        return max(self.scores.values())

    @property
    def label(self) -> str:
        """The emotion, or "unsure" where it is withheld."""
        return self.emotion or UNSURE

    def to_dict(self) -> dict:
        """``{"box": [x, y, w, h], "emotion": ... (null: withheld), "scores": {...}}`` (plus ``"id"`` when
        tracked and ``"detection"`` when the detector gives a confidence)."""
        d = {"box": [int(v) for v in self.box], "emotion": self.emotion,
             "scores": {k: float(v) for k, v in self.scores.items()}}
        if self.id is not None:
            d["id"] = int(self.id)
        if self.detection is not None:
            d["detection"] = round(float(self.detection), 4)
        return d


def as_image(image, color: str = "bgr") -> np.ndarray:
    """A path, encoded bytes, a PIL image or a numpy image -> numpy image in BGR(A) or grey channel order.

    A numpy array carries no colour order: ``color`` says it ("bgr", as OpenCV reads; "rgb", as PIL,
    matplotlib and imageio read; or "grey"). A PIL image is RGB by definition and is converted as such,
    whatever ``color`` says, and turned upright as its EXIF orientation says (as a file of it is read, and as
    viewers show it: a phone's photo is often stored sideways; ``PIL.ImageOps.exif_transpose`` gives the image the
    boxes are in)."""
    from .images import decode_image, pil_to_array, read_image, upright

    if color not in COLORS:
        raise ValueError(f"color must be one of {COLORS}, got {color!r}")
    if isinstance(image, (str, Path)):
        return read_image(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode_image(bytes(image))
    if is_pil_image(image):
        image, color = pil_to_array(upright(image)), "rgb"
    img = np.asarray(image) if not isinstance(image, np.ndarray) else image
    if img.dtype == object or not (np.issubdtype(img.dtype, np.number) or img.dtype == bool):
        raise ImageError(f"expected an image array of numbers, got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))):
        raise ImageError(f"expected a grey (H, W) or colour (H, W, 3|4) image, got shape {img.shape}")
    if img.size == 0:
        raise ImageError(f"empty image (shape {img.shape})")
    if color == "rgb" and img.ndim == 3:
        img = img[:, :, [2, 1, 0]] if img.shape[2] == 3 else img[:, :, [2, 1, 0, 3]]
    return img


def is_pil_image(obj) -> bool:
    """Whether ``obj`` is a PIL image (without importing PIL where the caller has not)."""
    import sys

    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(obj, pil.Image)


class Frame:
    """One image as every step needs it: ``image`` (uint8 grey or BGR), ``grey`` and ``bgr`` made once."""

    def __init__(self, image, color: str = "bgr"):
        from .preprocess import to_uint8

        img = to_uint8(as_image(image, color))
        if img.ndim == 3 and img.shape[2] == 4:
            import cv2

            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        self.image = img

    @property
    def shape(self):
        return self.image.shape

    @cached_property
    def grey(self) -> np.ndarray:
        from .preprocess import to_grey_uint8

        return to_grey_uint8(self.image)

    @cached_property
    def bgr(self) -> np.ndarray:
        from .preprocess import to_bgr_uint8

        return to_bgr_uint8(self.image)

    def as_(self, color: str) -> np.ndarray:
        return self.grey if color == "grey" else self.bgr


class EmotionRecognizer:
    """Find every face in an image and classify its emotion.

    ``model``: "fer2013", "ferplus" or a path to an exported .onnx. ``detector``: "haar" (the default, the
    classic mini-XCEPTION demo's method), "yunet", or an object with ``detect(image)`` (see :mod:`emorec.detectors`);
    ``detector_model``: the YuNet .onnx path (else found as :mod:`emorec.detectors.model_file` says);
    further keyword arguments are the detector's own settings (``min_size``, ``scale_factor``,
    ``min_neighbors``, ``score_threshold``, ...). ``margin`` / ``align``: crop geometry (default: the
    model card's entry for this detector, else the detector's own). ``flip_tta``: average each face's
    probabilities with its mirror image; ``crop_tta``: over the face and five tighter crops of it, each with
    its mirror (12 passes; :func:`emorec.preprocess.crop_views`). The model loads on first use and is shared by every recognizer
    of the process; a recognizer can be used from several threads.
    """

    def __init__(self, model="fer2013", *, detector="haar", detector_model=None, margin: Optional[float] = None,
                 align: Optional[bool] = None, flip_tta: bool = False, crop_tta: bool = False,
                 runtime: str = "onnxruntime",
                 threads: Optional[int] = None, min_confidence: float = 0.0, **detector_options):
        from .model_card import read_card, resolve

        path = resolve(model)  # a bad model name fails here, cheaply; the weights load on first use
        self.min_confidence = check_min_confidence(min_confidence)
        if detector_model is not None:
            detector_options["model"] = detector_model
        self.detector = get_detector(detector, **detector_options)
        geometry = read_card(path).get("preprocess", {}).get("crop", {}).get(self.detector.name, {})
        margin = geometry.get("margin", self.detector.margin) if margin is None else margin
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.model = model
        self.runtime = runtime
        self.threads = threads
        self.flip_tta = flip_tta
        self.crop_tta = bool(crop_tta)
        self.margin = float(margin)
        self.align = bool(geometry.get("align", self.detector.align) if align is None else align)
        self._classifier = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"EmotionRecognizer(model={self.model!r}, detector={self.detector!r}, margin={self.margin}, "
                f"align={self.align}, flip_tta={self.flip_tta}, crop_tta={self.crop_tta}, "
                f"min_confidence={self.min_confidence})")

    @property
    def classifier(self):
        """The :class:`EmotionClassifier` (loaded on first use, its session shared per process)."""
        if self._classifier is None:
            with self._lock:
                if self._classifier is None:
                    from .classifier import EmotionClassifier

                    self._classifier = EmotionClassifier(self.model, runtime=self.runtime, flip_tta=self.flip_tta,
                                                         crop_tta=self.crop_tta, threads=self.threads)
        return self._classifier

    @property
    def classes(self) -> list[str]:
        return self.classifier.classes

    # ------------------------------------------------------------------ steps, for video and tracking
    def frame(self, image, color: str = "bgr") -> Frame:
        """The :class:`Frame` every step works on (pass a Frame through unchanged)."""
        return image if isinstance(image, Frame) else Frame(image, color)

    def detect(self, frame: Frame, roi=None, sizes=None) -> Detections:
        """The detector's faces in ``frame`` (see :mod:`emorec.detectors`), largest first."""
        frame = self.frame(frame)
        return self.detector.detect(frame.as_(self.detector.color), roi, sizes)

    def crops(self, frame: Frame, found: Detections) -> list[np.ndarray]:
        """The grey face crops the classifier sees: square, the detector's margin, upright when aligned."""
        frame = self.frame(frame)
        if self.align and found.landmarks is not None:
            return [_crop.aligned_crop(frame.grey, b, lm, self.margin) for b, lm in zip(found.boxes, found.landmarks)]
        return _crop.crop_faces(frame.grey, found.boxes, self.margin)

    def classify(self, frame: Frame, found, flip: bool | None = None) -> np.ndarray:
        """Probabilities ``(N, C)`` of the faces ``found`` (:class:`Detections` or boxes), in one batch."""
        found = found if isinstance(found, Detections) else Detections(found)
        if len(found) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        return self.classifier.predict(self.crops(frame, found), flip=flip)

    def faces(self, found, probs, ids=None, shape=None, min_confidence: Optional[float] = None) -> list[Face]:
        """:class:`Face` objects from detections (or boxes) and probability rows; with the image's ``shape``,
        boxes are clipped to the image (a detector's box may reach past the edge of a face cut by it; the crop
        was taken from the whole box)."""
        found = found if isinstance(found, Detections) else Detections(found)
        boxes = found.boxes if shape is None else clip_boxes(found.boxes, shape)
        least = self.min_confidence if min_confidence is None else check_min_confidence(min_confidence)
        classes = self.classes
        out = []
        for i, (b, p) in enumerate(zip(boxes, probs)):
            k = int(np.argmax(p))
            out.append(Face(box=tuple(int(v) for v in b), emotion=classes[k] if p[k] >= least else None,
                            scores={c: float(v) for c, v in zip(classes, p)},
                            id=None if ids is None else int(ids[i]),
                            detection=None if found.scores is None else float(found.scores[i])))
        return out

    # ------------------------------------------------------------------ the one call most people use
    def analyze(self, image, *, color: str = "bgr", flip: bool | None = None,
                min_confidence: Optional[float] = None) -> list[Face]:
        """Every face of ``image``, largest first.

        ``image``: a path (str/Path), encoded bytes, a PIL image (RGB by definition), or a numpy image:
        a numpy array carries no colour order, so ``color`` says it: "bgr" (the default: OpenCV's
        ``cv2.imread``), "rgb" (PIL, matplotlib, imageio) or "grey"; uint8, uint16 or float; 3 or 4 channels. ``flip`` overrides the
        recognizer's ``flip_tta`` and ``min_confidence`` its ``min_confidence`` for this call. Raises :class:`emorec.errors.ImageError` for an
        image it cannot use; an image without faces gives ``[]``.
        """
        frame = self.frame(image, color)
        found = self.detect(frame)
        return self.faces(found, self.classify(frame, found, flip=flip), shape=frame.shape,
                          min_confidence=min_confidence)


def check_min_confidence(value) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"min_confidence is a probability in [0, 1], got {value}")
    return value


def clip_boxes(boxes, shape) -> np.ndarray:
    """Boxes (N, 4) x, y, w, h cut to the part inside an image of ``shape`` (H, W, ...), at least 1 px a side."""
    b = np.asarray(boxes, np.int64).reshape(-1, 4)
    H, W = shape[:2]
    x0, y0 = np.clip(b[:, 0], 0, W - 1), np.clip(b[:, 1], 0, H - 1)
    x1, y1 = np.clip(b[:, 0] + b[:, 2], x0 + 1, W), np.clip(b[:, 1] + b[:, 3], y0 + 1, H)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).astype(np.int32)
