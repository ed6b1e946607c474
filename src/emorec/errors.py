"""Exceptions raised by emorec. The library raises these; only the CLI prints and exits."""


class EmorecError(Exception):
    """Base class of every error emorec raises on purpose."""


class DataError(EmorecError, ValueError):
    """A dataset file is missing, malformed or holds a bad row."""


class ModelError(EmorecError):
    """A model file or name cannot be loaded or does not fit its input."""


class ImageError(EmorecError, ValueError):
    """An image cannot be read or has a form emorec cannot use."""


class VideoError(EmorecError, ValueError):
    """A video or camera cannot be opened, has no frames, or its output cannot be written."""


class OutputError(EmorecError):
    """An output (an annotated copy, a report) could not be written; the input itself was analysed."""


class TooManyPixels(ImageError):
    """An image holds more pixels than the limit (``max_pixels``); refused before its pixels are decoded."""
