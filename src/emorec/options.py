"""The recogniser's settings as the command line offers them, declared once.

Each field of :class:`RecognizerOptions` carries its default, help text, flags, allowed range and, where it
has one, the detector it belongs to. ``emorec detect``, ``video``, ``live`` and ``batch`` generate their
options from it (:mod:`emorec.cli`), and :meth:`RecognizerOptions.kwargs` turns the values given into
:class:`emorec.EmotionRecognizer` keyword arguments. Light: no model, no OpenCV.

>>> RecognizerOptions(detector="yunet", min_size=30).kwargs()
{'model': 'fer2013', 'flip_tta': False, 'crop_tta': False, 'detector': 'yunet', 'min_size': 30}
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional


def _opt(default: Any, *flags: str, help: str, detector: Optional[str] = None, kwarg: Optional[str] = None,
         lo: Optional[float] = None, hi: Optional[float] = None):
    """A field: ``flags`` (default: ``--field-name``), ``detector`` (the only detector it applies to),
    ``kwarg`` (its EmotionRecognizer keyword, when not its name), ``lo``/``hi`` (its allowed range)."""
    return field(default=default, metadata=dict(flags=flags, help=help, detector=detector, kwarg=kwarg, lo=lo, hi=hi))


@dataclass(frozen=True)
class RecognizerOptions:
    """What ``emorec detect``, ``video``, ``live`` and ``batch`` let a user set of the recogniser; None: the
    recogniser's own default (the model card's, the detector's)."""

    model: str = _opt("fer2013", "--model", "-m", help="fer2013, ferplus, fer2013-ensemble (three networks, more "
                                                       "accurate, 2.8x the time a face) or a path to an .onnx")
    flip: bool = _opt(False, "--flip", kwarg="flip_tta",
                      help="average each face with its mirror image (test-time augmentation)")
    crops: bool = _opt(False, "--crops", kwarg="crop_tta",
                       help="average each face over itself and five tighter crops, each with its mirror image (12 "
                            "passes a face: slower, a little more accurate)")
    detector: str = _opt("haar", "--detector", "-d",
                         help="face detector: haar (OpenCV's Haar cascade) or yunet (OpenCV's DNN detector: faster, "
                              "finds small and turned faces)")
    detector_model: Optional[Path] = _opt(None, "--detector-model", detector="yunet",
                                          help="the YuNet .onnx file (default: $EMOREC_YUNET, the cached copy, or a "
                                               "one-time checked download)")
    margin: Optional[float] = _opt(None, help="crop margin around the face box, per side, as a fraction of its size "
                                              "(default: the model card's value for the detector)")
    align: Optional[bool] = _opt(None, "--align/--no-align", help="rotate each face upright from its eyes before "
                                                                  "classifying (needs landmarks: yunet)")
    min_size: Optional[int] = _opt(None, help="smallest face to find, in pixels of the image (default: yunet 20; "
                                              "haar 40, or 1/25 of a large image's shorter side)")
    scale_factor: Optional[float] = _opt(None, detector="haar",
                                         help="haar: scale step between searched sizes (default 1.3; larger is faster)")
    min_neighbors: Optional[int] = _opt(None, detector="haar",
                                        help="haar: OpenCV's detectMultiScale with this many neighbours, unchecked "
                                             "(default: every box the cascade finds is confirmed by a second look)")
    turned: Optional[bool] = _opt(None, "--turned/--no-turned", detector="haar",
                                  help="haar: where no face stands upright, search the picture turned 15 degrees "
                                       "each way too (default on; --no-turned: three times faster on frames without "
                                       "a face, tilted heads missed)")
    score_threshold: Optional[float] = _opt(None, detector="yunet",
                                            help="yunet: confidence a face needs (default 0.85)")
    min_confidence: Optional[float] = _opt(None, lo=0.0, hi=1.0,
                                           help="withhold the label of a face whose top (calibrated) probability is "
                                                "below this: it keeps its scores and is shown as 'unsure' (JSON "
                                                "emotion null). Default 0: always a label; each model card suggests "
                                                "a value (`emorec models`)")

    def kwargs(self) -> dict:
        """:class:`emorec.EmotionRecognizer` keyword arguments: the settings given (those left None are left out,
        so the recogniser's own defaults apply)."""
        return {f.metadata["kwarg"] or f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    def misplaced(self) -> list[tuple[str, str]]:
        """(field, detector) for each setting given that belongs to a detector other than the one chosen."""
        chosen = str(self.detector).lower()
        return [(f.name, f.metadata["detector"]) for f in fields(self)
                if f.metadata["detector"] and getattr(self, f.name) is not None and f.metadata["detector"] != chosen]
