"""EmotionRecognizer: every face of an image, with its box, top emotion and class probabilities.

>>> from emorec import EmotionRecognizer
>>> rec = EmotionRecognizer(model="fer2013")          # or "ferplus", or a path to an .onnx
>>> faces = rec.analyze("photo.jpg")                   # or a BGR / RGB / grey numpy image, or bytes
>>> faces[0].box, faces[0].emotion, faces[0].scores    # (x, y, w, h), 'happy', {'angry': 0.01, ...}
>>> [f.to_dict() for f in faces]                       # the JSON of `emorec detect --json`

Pipeline: grey image (:func:`emorec.preprocess.to_grey_uint8`) -> Haar cascade on the equalised
grey (:class:`emorec.detector.FaceDetector`, downscaling huge images) -> square crops with a margin
(:mod:`emorec.crop`) -> ONE batch through :class:`emorec.classifier.EmotionClassifier`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from . import crop as _crop
from . import detector as _det
from .errors import ImageError

COLORS = ("bgr", "rgb", "grey", "gray")


@dataclass
class Face:
    """One face: ``box`` (x, y, w, h) in pixels of the input image, top ``emotion``, ``scores``
    (class -> probability, summing to 1). ``id`` is the track id in videos (None for photos)."""

    box: tuple[int, int, int, int]
    emotion: str
    scores: dict[str, float]
    id: Optional[int] = field(default=None, compare=False)

    @property
    def confidence(self) -> float:
        """Probability of the top emotion."""
        return self.scores[self.emotion]

    def to_dict(self) -> dict:
        """``{"box": [x, y, w, h], "emotion": ..., "scores": {...}}`` (plus ``"id"`` when tracked)."""
        d = {"box": [int(v) for v in self.box], "emotion": self.emotion,
             "scores": {k: float(v) for k, v in self.scores.items()}}
        if self.id is not None:
            d["id"] = int(self.id)
        return d


def as_image(image, color: str = "bgr") -> np.ndarray:
    """A path, encoded bytes or numpy image -> numpy image in BGR(A) or grey channel order."""
    from .images import decode_image, read_image

    if color not in COLORS:
        raise ValueError(f"color must be one of {COLORS}, got {color!r}")
    if isinstance(image, (str, Path)):
        return read_image(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode_image(bytes(image))
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


class EmotionRecognizer:
    """Find every face in an image and classify its emotion.

    ``model``: "fer2013", "ferplus" or a path to an exported .onnx. ``flip_tta``: average each face's
    probabilities with its mirror image. ``margin``: crop margin around the Haar box (fraction of its
    size per side). ``scale_factor``, ``min_neighbors``, ``min_size``, ``max_side``, ``equalize``: Haar settings
    (see :class:`emorec.detector.FaceDetector`). The model loads on first use and is shared by every
    recognizer of the process; a recognizer can be used from several threads.
    """

    def __init__(self, model="fer2013", *, flip_tta: bool = False, runtime: str = "onnxruntime",
                 margin: float = _crop.MARGIN, scale_factor: float = _det.SCALE_FACTOR,
                 min_neighbors: int = _det.MIN_NEIGHBORS, min_size: float = _det.MIN_SIZE,
                 max_side: int = _det.MAX_SIDE, equalize: str = _det.EQUALIZE):
        from .model_card import resolve

        resolve(model)  # a bad model name fails here, cheaply; the weights load on first use
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.model = model
        self.runtime = runtime
        self.flip_tta = flip_tta
        self.margin = float(margin)
        self.detector = _det.FaceDetector(scale_factor=scale_factor, min_neighbors=min_neighbors,
                                          min_size=min_size, max_side=max_side, equalize=equalize)
        self._classifier = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EmotionRecognizer(model={self.model!r}, flip_tta={self.flip_tta}, margin={self.margin}, {self.detector})"

    @property
    def classifier(self):
        """The :class:`EmotionClassifier` (loaded on first use, its session shared per process)."""
        if self._classifier is None:
            with self._lock:
                if self._classifier is None:
                    from .classifier import EmotionClassifier

                    self._classifier = EmotionClassifier(self.model, runtime=self.runtime, flip_tta=self.flip_tta)
        return self._classifier

    @property
    def classes(self) -> list[str]:
        return self.classifier.classes

    # ------------------------------------------------------------------ steps, for video and tracking
    def grey(self, image, color: str = "bgr") -> np.ndarray:
        """The 2-D uint8 grey image every step works on."""
        from .preprocess import to_grey_uint8

        return to_grey_uint8(as_image(image, color))

    def detect(self, grey: np.ndarray, roi=None, sizes=None) -> np.ndarray:
        """Haar boxes ``(N, 4)`` (x, y, w, h) in pixels of ``grey`` (see :meth:`FaceDetector.detect`)."""
        return self.detector.detect(grey, roi, sizes)

    def classify(self, grey: np.ndarray, boxes, flip: bool | None = None) -> np.ndarray:
        """Probabilities ``(N, C)`` of the faces at ``boxes``, in one batch."""
        if len(boxes) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        return self.classifier.predict(_crop.crop_faces(grey, boxes, self.margin), flip=flip)

    def faces(self, boxes, probs, ids=None) -> list[Face]:
        """:class:`Face` objects from boxes and probability rows."""
        classes = self.classes
        out = []
        for i, (b, p) in enumerate(zip(boxes, probs)):
            k = int(np.argmax(p))
            out.append(Face(box=tuple(int(v) for v in b), emotion=classes[k],
                            scores={c: float(v) for c, v in zip(classes, p)},
                            id=None if ids is None else int(ids[i])))
        return out

    # ------------------------------------------------------------------ the one call most people use
    def analyze(self, image, *, color: str = "bgr", flip: bool | None = None) -> list[Face]:
        """Every face of ``image``, largest first.

        ``image``: a path (str/Path), encoded bytes, or a numpy image: BGR (default), RGB
        (``color="rgb"``) or grey; uint8, uint16 or float; 3 or 4 channels. ``flip`` overrides the
        recognizer's ``flip_tta`` for this call. Raises :class:`emorec.errors.ImageError` for an
        image it cannot use; an image without faces gives ``[]``.
        """
        grey = self.grey(image, color)
        boxes = self.detect(grey)
        return self.faces(boxes, self.classify(grey, boxes, flip=flip))
