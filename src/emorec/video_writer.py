"""Writing annotated videos that web browsers play: H.264 (yuv420p) in an mp4, through PyAV.

OpenCV's own writer in the pip wheels has only MPEG-4 Part 2 (``mp4v``), which Chromium and Firefox
do not play. PyAV's wheels bundle FFmpeg with the libx264 encoder, so ``pip install emorec`` is
enough; where PyAV or an H.264 encoder is missing, the writer falls back to OpenCV's ``mp4v`` and
says so in :attr:`VideoWriter.warning` (the library does not print; the caller reports it).

Licence: PyAV is BSD-3-Clause, but the FFmpeg + libx264 inside its binary wheels are GPL-2.0-or-later;
emorec (MIT) only imports that wheel as an installed dependency and redistributes none of it.

>>> with VideoWriter("out.mp4", fps=25, size=(640, 480)) as w:   # size is (width, height)
...     for frame in frames:                                     # BGR uint8 (grey, BGRA, 16-bit converted)
...         w.write(frame)
>>> w.codec, w.warning                                           # 'h264', None
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import VideoError
from .files import writable_parent

# H.264 encoders tried in order (FFmpeg names). libx264 is in PyAV's wheels; libopenh264 in some builds.
H264_ENCODERS = ("libx264", "libopenh264")
# the video files it writes: extension -> FFmpeg container (each holds H.264); any other name gets an mp4 container
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}


def h264_encoder() -> str | None:
    """The first H.264 encoder this installation has (``'libx264'``, ...), or None (no PyAV or none built in)."""
    try:
        import av
    except ImportError:
        return None
    available = set(getattr(av, "codecs_available", ()))
    for name in H264_ENCODERS:
        if name in available:
            try:
                av.codec.Codec(name, "w")
                return name
            except Exception:  # listed but not usable as an encoder
                continue
    return None


def _check_path(path: Path) -> None:
    """Make the folder and make sure the file can be created, with a clear reason when it cannot."""
    if path.is_dir():
        raise VideoError(f"{path}: is a folder; give a video file name such as {path / 'out.mp4'}")
    writable_parent(path, "video", error=VideoError, create=True)


class VideoWriter:
    """An mp4 video writer: H.264 when an encoder is installed (``codec='auto'`` or ``'h264'``), else OpenCV's
    ``mp4v`` (``codec='mp4v'`` forces it).

    ``size`` is ``(width, height)`` of the frames given to :meth:`write`. H.264 in yuv420p needs even sides:
    an odd width or height is padded by one pixel (the edge repeated), and :attr:`size` is the written size.

    Attributes: ``codec`` ('h264' or 'mp4v'), ``encoder`` (e.g. 'libx264' or 'opencv'), ``warning`` (a
    sentence for the user when it fell back to mp4v, else None), ``frames`` (frames written so far), ``path``.
    Raises :class:`VideoError` when the file cannot be written, with the reason.
    """

    def __init__(self, path, fps: float, size: tuple[int, int], *, codec: str = "auto", crf: int = 23):
        if codec not in ("auto", "h264", "mp4v"):
            raise ValueError(f"codec must be 'auto', 'h264' or 'mp4v', not {codec!r}")
        try:
            fps = float(fps)
        except (TypeError, ValueError):
            fps = float("nan")
        if not math.isfinite(fps) or fps <= 0:
            raise VideoError(f"{path}: frame rate must be a positive number, got {fps}")
        w, h = (int(v) for v in size)
        if w < 1 or h < 1:
            raise VideoError(f"{path}: frame size must be positive, got {w}x{h}")
        self.path = Path(path)
        self.fps = fps
        self.frame_size = (w, h)
        self.frames = 0
        self.warning: str | None = None
        self._container = self._stream = self._cv_writer = None
        _check_path(self.path)

        encoder = h264_encoder() if codec in ("auto", "h264") else None
        if encoder is None and codec == "h264":
            raise VideoError(f"{self.path}: no H.264 encoder is installed (pip install av)")
        if encoder is not None:
            self.codec, self.encoder = "h264", encoder
            self.size = (w + w % 2, h + h % 2)
            self._open_h264(encoder, crf)
        else:
            self.codec, self.encoder = "mp4v", "opencv"
            self.size = (w, h)
            if codec == "auto":
                self.warning = ("no H.264 encoder installed (pip install av): the video is MPEG-4 Part 2 (mp4v), "
                                "which most web browsers do not play")
            self._open_mp4v()

    # ------------------------------------------------------------------ backends
    def _open_h264(self, encoder: str, crf: int) -> None:
        import av

        fmt = CONTAINERS.get(self.path.suffix.lower(), "mp4")
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}  # plays while it downloads
        try:
            self._container = av.open(str(self.path), "w", format=fmt, options=options)
            stream = self._container.add_stream(encoder, rate=Fraction(self.fps).limit_denominator(1001))
            stream.width, stream.height = self.size
            stream.pix_fmt = "yuv420p"  # what browsers decode (x264 would keep 4:4:4 for BGR input)
            if encoder == "libx264":
                stream.options = {"crf": str(int(crf)), "preset": "veryfast"}
            self._stream = stream
        except Exception as e:  # av.FFmpegError, OSError, ValueError
            self._abort()
            raise VideoError(f"{self.path}: cannot write an H.264 video: {e}") from None

    def _open_mp4v(self) -> None:
        import cv2

        self._cv_writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
        if not self._cv_writer.isOpened():
            self._cv_writer = None
            raise VideoError(f"{self.path}: OpenCV cannot open a video writer for this file")

    def _abort(self) -> None:
        c, self._container = self._container, None
        if c is not None:
            try:
                c.close()
            except Exception:
                pass

    # ------------------------------------------------------------------ use
    def write(self, frame) -> None:
        """Append one frame (H, W) grey or (H, W, 3|4) BGR/BGRA, of the ``size`` given at construction."""
        from .preprocess import to_bgr_uint8

        if self._container is None and self._cv_writer is None:
            raise VideoError(f"{self.path}: the video writer is closed")
        try:
            img = to_bgr_uint8(frame)
        except ValueError as e:
            raise VideoError(f"{self.path}: frame {self.frames}: {e}") from None
        if (img.shape[1], img.shape[0]) != self.frame_size:
            raise VideoError(f"{self.path}: frame {self.frames} is {img.shape[1]}x{img.shape[0]}, "
                             f"the video is {self.frame_size[0]}x{self.frame_size[1]}")
        if self._cv_writer is not None:
            self._cv_writer.write(np.ascontiguousarray(img))
            self.frames += 1
            return
        import av

        pad_w, pad_h = self.size[0] - img.shape[1], self.size[1] - img.shape[0]
        if pad_w or pad_h:
            img = np.pad(img, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
        vf.pts = self.frames
        try:
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
        except Exception as e:  # a full disk, a file removed meanwhile
            self._abort()
            raise VideoError(f"{self.path}: cannot write frame {self.frames}: {e}") from None
        self.frames += 1

    def close(self) -> None:
        """Finish the file (flush the encoder, write the index). Safe to call twice."""
        if self._cv_writer is not None:
            self._cv_writer.release()
            self._cv_writer = None
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        except Exception as e:
            raise VideoError(f"{self.path}: cannot finish the video: {e}") from None
        finally:
            self._container = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # keep what was written (a playable file), and let the first error be the one reported
            self.close()
        except VideoError:
            pass

    def __repr__(self) -> str:
        return (f"VideoWriter({str(self.path)!r}, fps={self.fps:g}, size={self.size}, codec={self.codec!r}, "
                f"frames={self.frames})")
