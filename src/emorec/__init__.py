"""emorec: find every face in a picture, a video or a live camera and tell which emotion it shows.

>>> from emorec import EmotionRecognizer
>>> EmotionRecognizer().analyze("photo.jpg")       # faces with box, emotion and scores

>>> from emorec import EmotionClassifier
>>> EmotionClassifier("fer2013").predict(crops)   # uint8 (N, 48, 48) -> probabilities (N, 7)

Nothing heavy is imported here: models load once, on first use, and are shared.
"""

__version__ = "0.1.0"
__all__ = ["EmotionClassifier", "EmotionRecognizer", "EmorecError", "__version__"]

from .errors import EmorecError  # noqa: E402  (light)


def __getattr__(name):
    if name == "EmotionClassifier":
        from .classifier import EmotionClassifier

        return EmotionClassifier
    if name == "EmotionRecognizer":
        from .recognizer import EmotionRecognizer

        return EmotionRecognizer
    raise AttributeError(f"module 'emorec' has no attribute {name!r}")
