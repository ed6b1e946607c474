"""The rows of ``emorec batch``: one per face (or per image without a face, or per input that failed),
made by :class:`Analyzer`, the Ray actor, with the recogniser ``detect`` uses."""

from __future__ import annotations

import os
from typing import Optional

from ..errors import EmorecError, ImageError
from ..writers import Writer
from .inputs import _ext, _from_uri, _is_uri

FIXED_COLUMNS = ("file", "frame", "time_s", "face", "x", "y", "w", "h", "emotion", "confidence")
TAIL_COLUMNS = ("detection", "detector", "model", "error")


def output_schema(classes):
    """The Parquet schema of the rows for a model with these ``classes``."""
    import pyarrow as pa

    clash = set(classes) & set(FIXED_COLUMNS + TAIL_COLUMNS)
    if clash:
        raise EmorecError(f"the model's class names {sorted(clash)} clash with emorec batch's columns")
    i32, f32 = pa.int32(), pa.float32()
    return pa.schema([("file", pa.string()), ("frame", pa.int64()), ("time_s", pa.float64()), ("face", i32),
                      ("x", i32), ("y", i32), ("w", i32), ("h", i32), ("emotion", pa.string()),
                      ("confidence", f32), *[(c, f32) for c in classes], ("detection", f32),
                      ("detector", pa.string()), ("model", pa.string()), ("error", pa.string())])


def face_rows(file: str, faces, frame=None, time_s=None) -> list[dict]:
    """Rows for one image (or video frame): one per face, or one with ``face`` = 0 when there is none."""
    base = {"file": file, "frame": frame, "time_s": time_s}
    if not faces:
        return [dict(base, face=0)]
    rows = []
    for i, f in enumerate(faces, 1):
        x, y, w, h = (int(v) for v in f.box)
        rows.append(dict(base, face=i, x=x, y=y, w=w, h=h, emotion=f.emotion, confidence=f.confidence,
                         detection=f.detection, **f.scores))
    return rows


def _message(e: Exception, file: str, src: str) -> str:
    msg = str(e).replace(src, file) if src != file else str(e)
    if not isinstance(e, (EmorecError, ValueError, OSError, MemoryError)):
        msg = f"{type(e).__name__}: {msg}"
    return msg if file in msg else f"{file}: {msg}"


class FaceRows(Writer):
    """A :mod:`emorec.writers` writer that keeps :func:`face_rows` of every frame (``frame``/``time_s`` for
    video frames), named ``file``."""

    def __init__(self, file: str):
        self.file, self.rows, self.outputs = file, [], []

    def write(self, item, faces):
        video = item.time is not None
        self.rows += face_rows(self.file, faces, frame=item.index if video else None, time_s=item.time)

    def write_error(self, item):
        self.rows.append({"file": self.file, "error": item.error})


class Analyzer:
    """Rows for a block of inputs; the Ray actor builds one of these per worker (the recogniser is
    built once, in ``__init__``). Usable without Ray too: ``Analyzer(kwargs)(block)``."""

    def __init__(self, recognizer_kwargs: Optional[dict] = None, every_seconds: float = 1.0, threads: int = 1,
                 max_pixels: Optional[int] = None):
        import cv2

        from ..images import MAX_PIXELS
        from ..recognizer import EmotionRecognizer

        self.max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
        if threads:
            cv2.setNumThreads(int(threads))  # one process per CPU: no oversubscription by OpenCV's pool
        self.rec = EmotionRecognizer(**(recognizer_kwargs or {}))
        self.classes = self.rec.classes  # loads the model now, once
        self.schema = output_schema(self.classes)
        self.detector = self.rec.detector.name
        self.model = self.rec.classifier.name
        self.every_seconds = float(every_seconds)
        self._fs: dict = {}

    def _read_bytes(self, uri: str) -> bytes:
        scheme, rest = uri.split("://", 1)
        if scheme in ("s3", "gs", "gcs"):  # one file system per bucket (credentials resolved once)
            key = f"{scheme}://{rest.split('/', 1)[0]}"
            if key not in self._fs:
                self._fs[key] = _from_uri(uri)[0]
            fs, path = self._fs[key], rest
        else:
            fs, path = _from_uri(uri)
        try:
            with fs.open_input_file(path) as fh:
                return fh.read()
        except FileNotFoundError:
            raise ImageError(f"{uri}: no such file") from None
        except OSError as e:
            raise ImageError(f"{uri}: cannot read: {str(e).strip().splitlines()[0]}") from e

    def _rows(self, file: str, frames) -> list[dict]:
        """The rows of ``frames`` through :func:`emorec.pipeline.run`, the loop ``detect`` and ``video`` use."""
        from ..pipeline import run

        rows = FaceRows(file)
        run(frames, self.rec, [rows])
        return rows.rows

    def image_rows(self, file: str, src: str) -> list[dict]:
        from ..images import decode_image, read_image
        from ..sources import FrameItem

        limit = self.max_pixels or None
        image = decode_image(self._read_bytes(src), file, limit) if _is_uri(src) else read_image(src, limit)
        return self._rows(file, [FrameItem(file, image=image)])

    def video_rows(self, file: str, src: str) -> list[dict]:
        """A row set per sampled frame (every ``every_seconds``; 0: every frame), decoded as `emorec video` does."""
        import tempfile

        from ..sources import VideoSource

        tmp = None
        if _is_uri(src):  # OpenCV reads local files: fetch the video through pyarrow first
            fd, tmp = tempfile.mkstemp(suffix=_ext(src))
            with os.fdopen(fd, "wb") as fh:
                fh.write(self._read_bytes(src))
        try:
            with VideoSource(tmp or src) as video:
                step = max(1, round(self.every_seconds * video.fps))
                return self._rows(file, (item for item in video if item.index % step == 0))
        finally:
            if tmp:
                os.unlink(tmp)

    def analyze(self, file: str, src: str, video: bool) -> list[dict]:
        """The rows of one input; an input that fails gives one row holding the error."""
        try:
            return self.video_rows(file, src) if video else self.image_rows(file, src)
        except Exception as e:  # noqa: BLE001 -- one bad input must not stop its block
            return [{"file": file, "error": _message(e, file, src)}]

    def table(self, rows: list[dict]):
        import pyarrow as pa

        for r in rows:
            r.setdefault("detector", self.detector)
            r.setdefault("model", self.model)
        return pa.Table.from_pydict({c: [r.get(c) for r in rows] for c in self.schema.names}, schema=self.schema)

    def __call__(self, block: dict):
        rows: list[dict] = []
        for file, src, video in zip(block["file"], block["src"], block["video"]):
            rows += self.analyze(str(file), str(src), bool(video))
        return self.table(rows)
