"""EmotionClassifier: face crops in, class probabilities out, through ONNX Runtime (no PyTorch)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .errors import ModelError
from .labels import common_names
from .model_card import ensemble_members, read_card, resolve
from .preprocess import SCALING, preprocess
from .runtime import session_options

# Large batches run in chunks: activations of 16 faces stay in the CPU cache, and on 2 cores this was
# measured 1.3-1.5x faster per face than one call on 256 faces (bench/bench_classifier.py).
CHUNK = 16
_SESSIONS: dict[tuple[str, str], object] = {}
_LOCK = threading.Lock()


def _session(path: Path, runtime: str, threads: int | None = None):
    """One loaded model per file, runtime and ``threads`` (ONNX Runtime intra-op threads; None: its
    default, one per core), shared by every classifier in the process."""
    key = (str(path.resolve()), runtime) if threads is None else (str(path.resolve()), runtime, int(threads))
    with _LOCK:
        if key not in _SESSIONS:
            try:
                if runtime == "onnxruntime":
                    import onnxruntime as ort

                    _SESSIONS[key] = ort.InferenceSession(str(path), session_options(threads),
                                                          providers=["CPUExecutionProvider"])
                elif runtime == "opencv":
                    import cv2

                    _SESSIONS[key] = cv2.dnn.readNetFromONNX(str(path))
                else:
                    raise ModelError(f"unknown runtime {runtime!r}; use 'onnxruntime' or 'opencv'")
            except ModelError:
                raise
            except Exception as e:  # the runtimes raise their own types for a corrupt file
                raise ModelError(f"{path}: cannot load model: {e}") from e
        return _SESSIONS[key]


class EmotionClassifier:
    """Classify grey face crops.

    >>> clf = EmotionClassifier("fer2013")      # or "ferplus", or a path to an .onnx
    >>> clf.predict(faces)                       # faces: uint8 (N, 48, 48) -> float32 (N, len(clf.classes))
    >>> clf.classes                              # common names (labels.COMMON_CLASSES), in the output order
    >>> clf.model_classes                        # the model card's own names (FER+: 'happiness', ...)
    >>> EmotionClassifier("fer2013+ferplus")     # an ensemble: the first model's classes, probabilities
    ...                                          # averaged with the others' over the classes they share

    Crops of another size, colour crops (BGR) and other dtypes are converted by
    :func:`emorec.preprocess.preprocess`, the same function training used.

    ``calibrated`` (default): the probabilities are scaled by the temperature the model card records
    (``calibration.temperature``, fitted on the validation part of Training: :mod:`emorec.calibration`), so
    that a face scored 0.8 is right about 80% of the time; ``calibrated=False`` gives the network's own.
    """

    def __init__(self, model: str | Path = "fer2013", *, runtime: str = "onnxruntime", flip_tta: bool = False,
                 crop_tta: bool = False, threads: int | None = None, calibrated: bool = True):
        members = ensemble_members(model)
        self.path = resolve(members[0])
        self.runtime = runtime
        self.flip_tta = flip_tta
        self.crop_tta = bool(crop_tta)
        self._session = _session(self.path, runtime, threads)
        if runtime == "onnxruntime":
            inp, out = self._session.get_inputs()[0], self._session.get_outputs()[0]
            self._input_name = inp.name
            size = inp.shape[-1] if isinstance(inp.shape[-1], int) else None
            n_out = out.shape[-1] if isinstance(out.shape[-1], int) else None
        else:
            size = n_out = None
        self.card = read_card(self.path, n_out, size)
        if self.card.get("scaling", SCALING) != SCALING:
            raise ModelError(f"{self.path}: model expects scaling {self.card['scaling']!r}, emorec applies {SCALING!r}")
        # the card keeps the model's own class names; outputs use the common ones (labels.py): 'happy' for
        # fer2013's 'happy' and ferplus's 'happiness' alike, in the model's output order
        self.model_classes: list[str] = list(self.card["classes"])
        self.classes: list[str] = common_names(self.model_classes)
        self.input_size: int = int(self.card["input_size"])
        self.name: str = self.card.get("name", self.path.stem)
        self.calibrated = bool(calibrated)
        self.temperature: float = float(self.card.get("calibration", {}).get("temperature", 1.0)) if calibrated else 1.0
        # ensemble members: (classifier, for each of our classes its column in the member's output or -1)
        self._members = [self._member(m, runtime, threads) for m in members[1:]]
        if self._members:
            self.name = "+".join([self.name] + [m.name for m, _ in self._members])

    def _member(self, model, runtime: str, threads: int | None):
        other = EmotionClassifier(model, runtime=runtime, threads=threads, calibrated=self.calibrated)
        if other.input_size != self.input_size:
            raise ModelError(f"ensemble {self.name}+{other.name}: input sizes differ ({self.input_size} and "
                             f"{other.input_size})")
        columns = np.array([other.classes.index(c) if c in other.classes else -1 for c in self.classes])
        if (columns < 0).sum() > 1 or len(set(columns[columns >= 0])) < 2:
            raise ModelError(f"ensemble {self.name}+{other.name}: the classes do not map ({self.classes} and "
                             f"{other.classes})")
        return other, columns

    @property
    def threads(self) -> int | None:
        """The threads ONNX Runtime runs this model with (its session's intra-op pool; 0: ONNX Runtime's
        default, one per core); None under OpenCV DNN."""
        if self.runtime != "onnxruntime":
            return None
        return self._session.get_session_options().intra_op_num_threads

    def __repr__(self) -> str:
        return f"EmotionClassifier({self.name!r}, classes={self.classes}, runtime={self.runtime!r})"

    def _run(self, x: np.ndarray) -> np.ndarray:
        if len(x) > CHUNK:
            return np.concatenate([self._run(x[i:i + CHUNK]) for i in range(0, len(x), CHUNK)])
        if self.runtime == "onnxruntime":
            return self._session.run(None, {self._input_name: x})[0]
        with _LOCK:  # cv2.dnn.Net is not safe to share across threads
            self._session.setInput(x)
            return self._session.forward().reshape(len(x), -1)

    def predict(self, faces, *, flip: bool | None = None, crops: bool | None = None) -> np.ndarray:
        """Probabilities ``(N, len(classes))``, rows summing to 1. ``flip`` averages with the mirror image;
        ``crops`` averages the whole face and five tighter crops of it, each with its mirror (12 passes)."""
        if isinstance(faces, (list, tuple)) and len(faces) == 0 or getattr(faces, "size", 1) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        if self.crop_tta if crops is None else crops:
            from .preprocess import crop_views, uint8_faces

            try:
                whole = uint8_faces(faces, self.input_size)
            except (ValueError, TypeError) as e:
                raise ValueError(f"cannot use faces of shape {np.shape(faces)}: {e}") from e
            return np.mean([self.predict(v, flip=True, crops=False) for v in [whole, *crop_views(whole)]],
                           axis=0).astype(np.float32)
        try:
            x = preprocess(faces, self.input_size)
        except (ValueError, TypeError) as e:
            raise ValueError(f"cannot use faces of shape {np.shape(faces)} and dtype "
                             f"{getattr(faces, 'dtype', type(faces).__name__)}: {e}") from e
        flip = self.flip_tta if flip is None else flip
        probs = self._probs(x, flip)
        for other, columns in self._members:
            theirs = other._probs(x, flip)
            mapped = np.where(columns >= 0, theirs[:, np.maximum(columns, 0)], 0.0)
            probs = probs + mapped / mapped.sum(1, keepdims=True).clip(1e-12)  # over the classes both have
        return (probs / (1 + len(self._members))).astype(np.float32, copy=False)

    def _probs(self, x: np.ndarray, flip: bool) -> np.ndarray:
        probs = self._calibrated(self._run(x))
        if flip:
            probs = (probs + self._calibrated(self._run(np.ascontiguousarray(x[..., ::-1])))) / 2
        return probs

    def _calibrated(self, probs: np.ndarray) -> np.ndarray:
        if self.temperature == 1.0:
            return probs
        from .calibration import with_temperature

        return with_temperature(probs, self.temperature).astype(np.float32)
