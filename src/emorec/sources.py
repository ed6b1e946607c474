"""Where frames come from: photos (files and folders), video files, cameras and stream URLs.

Every source is an iterator of :class:`FrameItem` — one decoded image with where it came from — so
``emorec detect``, ``video`` and ``live`` run the same loop (:mod:`emorec.pipeline`). A photo that cannot be
decoded becomes an item with an ``error`` (the rest goes on); a video that cannot be opened raises
:class:`emorec.errors.VideoError` when it is opened.

>>> for item in ImageSource(["holiday/"]):      # or VideoSource("clip.mp4"), VideoSource(0), VideoSource("rtsp://...")
...     item.source, item.index, item.image.shape
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .errors import EmorecError, VideoError


@dataclass
class FrameItem:
    """One frame: ``source`` (file, URL or camera), ``index`` (frame number; 0 for a photo), ``time``
    (seconds, videos only), ``image`` (BGR/grey numpy, None when ``error`` says why it could not be read),
    ``root`` (the folder a photo was found in, so outputs can keep the folder structure)."""

    source: str
    index: int = 0
    time: Optional[float] = None
    image: Optional[np.ndarray] = None
    error: Optional[str] = None
    root: Optional[Path] = None
    path: Optional[Path] = None


class ImageSource:
    """Photos from files and folders (folders searched recursively for image extensions).

    ``problems``: folders without images; ``skipped``: (folder, number of non-image files left out).
    ``max_pixels``: an image of more pixels is refused, named, before it is decoded (None: no limit).
    """

    kind = "images"

    def __init__(self, paths, max_pixels: Optional[int] = None):
        from .images import MAX_PIXELS, find_images

        self.max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
        self.jobs: list[tuple[Path, Optional[Path]]] = []
        self.problems: list[str] = []
        self.skipped: list[tuple[Path, int]] = []
        for p in map(Path, paths):
            if p.is_dir():
                found, skipped = find_images([p])
                if not found:
                    self.problems.append(f"{p}: no image files in this folder")
                self.jobs += [(f, p) for f in found]
                if skipped:
                    self.skipped.append((p, len(skipped)))
            else:
                self.jobs.append((p, None))

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[FrameItem]:
        from .images import read_image

        for path, root in self.jobs:
            name = str(path)
            try:
                image = read_image(path, self.max_pixels or None)
            except (EmorecError, ValueError, MemoryError) as e:
                msg = str(e) if name in str(e) else f"{name}: {e}"
                yield FrameItem(name, error=msg, root=root, path=path)
                continue
            yield FrameItem(name, image=image, root=root, path=path)

    def close(self):
        pass


def parse_source(source):
    """'0' -> camera 0 (int); anything else stays a path or URL (str)."""
    if isinstance(source, int):
        return source
    s = str(source)
    return int(s) if s.isascii() and s.isdigit() else s


class VideoSource:
    """Frames of a video file, a camera (an index) or a stream URL, through ``cv2.VideoCapture``.

    Opens on construction (:class:`VideoError` if it cannot); ``fps``, ``frame_count`` (0 when unknown,
    as for cameras and streams), ``size`` (w, h) of the first frame; ``decoded`` counts frames read. A
    stream that changes frame size mid-way is resized to the first size.
    """

    kind = "video"

    def __init__(self, source, *, default_fps: float = 30.0):
        import cv2

        src = parse_source(source)
        self.src = src
        self.name = f"camera {src}" if isinstance(src, int) else str(src)
        self.is_camera = isinstance(src, int)
        self.is_file = isinstance(src, str) and "://" not in src
        if self.is_file:
            p = Path(src)
            if not p.exists():
                raise VideoError(f"{src}: no such file")
            if p.is_dir():
                raise VideoError(f"{src}: is a folder, not a video")
            if p.stat().st_size == 0:
                raise VideoError(f"{src}: empty file (0 bytes)")
        cap = cv2.VideoCapture(src)
        if not cap.isOpened():
            cap.release()
            if self.is_camera:
                raise VideoError(f"cannot open camera {src} (no camera here, or it is busy)")
            raise VideoError(f"{src}: cannot open as a video (not a video, or a format OpenCV cannot decode)")
        self.cap = cap
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise VideoError(f"{self.name}: no frames could be read" if self.is_camera else
                             f"{self.name}: the video has no frames that can be decoded")
        self._first = frame
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and 0 < fps <= 1000 else default_fps
        self.frame_count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)) if not self.is_camera else 0
        self.size = (frame.shape[1], frame.shape[0])
        self.decoded = 0

    def __iter__(self) -> Iterator[FrameItem]:
        import cv2

        frame, self._first = self._first, None
        if frame is None:
            return
        ok = True
        while ok and frame is not None:
            if (frame.shape[1], frame.shape[0]) != self.size:
                frame = cv2.resize(frame, self.size)
            i = self.decoded
            self.decoded += 1
            yield FrameItem(self.name, index=i, time=i / self.fps, image=frame)
            ok, frame = self.cap.read()

    def close(self):
        self.cap.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
