"""Where results go: text lines, JSON lines, CSV rows, annotated images, annotated mp4s, per-frame CSVs
and emotion timelines. Each writer takes ``write(item, faces)`` for every frame of a
:class:`emorec.sources.FrameItem` source (``write_error(item)`` for a frame that could not be read) and
``close()`` at the end, so ``detect``, ``video`` and ``live`` assemble the outputs they need from these.

Memory stays bounded on endless streams: the per-frame CSV streams to disk, and the timeline keeps at most
``max_points`` points per face (pairs of points are averaged when it fills up) and its ``max_tracks``
longest faces.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .errors import OutputError, VideoError
from .files import writable_parent
from .images import WRITABLE_IMAGE_EXTENSIONS


class Writer:
    fatal = False  # a failure stops the run (a video file) rather than one frame's output (a photo copy)
    outputs: list

    def write(self, item, faces) -> None:
        raise NotImplementedError

    def write_error(self, item) -> None:
        pass

    def close(self) -> None:
        pass


class TextLines(Writer):
    """One line per face: ``FILE: face N [x, y, w, h] EMOTION 0.93``; ``FILE: no face found``."""

    def __init__(self, emit: Callable[[str, bool], None], *, no_face_to_stderr: bool = False,
                 faces: bool = True):
        self.emit, self.no_face_to_stderr, self.show_faces, self.outputs = emit, no_face_to_stderr, faces, []

    def write(self, item, faces):
        where = item.source if item.time is None else f"{item.source} frame {item.index}"
        for i, f in enumerate(faces if self.show_faces else [], 1):
            self.emit(f"{where}: face {f.id or i} [{', '.join(map(str, f.box))}] {f.label} {f.confidence:.2f}", False)
        if not faces:
            self.emit(f"{where}: no face found", self.no_face_to_stderr)


def json_record(name: str, faces, *, frame: Optional[int] = None, time: Optional[float] = None,
                error: Optional[str] = None) -> dict:
    """The JSON of one image (``emorec detect --json``, the server): ``{"file", "faces"}``, plus ``frame``
    and ``time`` for a video frame and ``error`` when it could not be read."""
    rec = {"file": name}
    if frame is not None:
        rec["frame"] = int(frame)
        rec["time"] = round(float(time), 3)
    rec["faces"] = [f.to_dict() for f in faces]
    if error is not None:
        rec["error"] = error
    return rec


class Records(Writer):
    """Keeps :func:`json_record` of every image (or frame) in ``records``: what ``JsonLines`` prints, as
    dicts (the server answers with these)."""

    def __init__(self):
        self.records, self.outputs = [], []

    def write(self, item, faces):
        self.records.append(json_record(item.source, faces, frame=None if item.time is None else item.index,
                                        time=item.time))

    def write_error(self, item):
        self.records.append(json_record(item.source, [], error=item.error))


class JsonLines(Writer):
    """One JSON object per image (or video frame) on ``emit``."""

    def __init__(self, emit: Callable[[str, bool], None]):
        self.emit, self.outputs = emit, []

    def write(self, item, faces):
        self.emit(json.dumps(json_record(item.source, faces, frame=None if item.time is None else item.index,
                                         time=item.time)), False)

    def write_error(self, item):
        self.emit(json.dumps(json_record(item.source, [], error=item.error)), False)


class CsvRows(Writer):
    """One CSV row per face (``file, face, x, y, w, h, emotion, confidence, <class scores>, error``);
    an image without faces gets face 0, one that failed gets its error. ``stream``: a text file."""

    def __init__(self, stream, classes, *, frames: bool = False):
        self.stream, self.classes, self.frames, self.outputs = stream, list(classes), frames, []
        self.rows = csv.writer(stream, lineterminator="\n")
        self.rows.writerow(["file", *(["frame", "time_s"] if frames else []), "face", "x", "y", "w", "h",
                            "emotion", "confidence", *self.classes, "error"])

    def _where(self, item):
        return [item.source, *([item.index, f"{item.time:.3f}"] if self.frames else [])]

    def write(self, item, faces):
        for i, f in enumerate(faces, 1):
            self.rows.writerow([*self._where(item), f.id or i, *f.box, f.emotion, f"{f.confidence:.4f}",
                                *(f"{f.scores[c]:.4f}" for c in self.classes), ""])
        if not faces:
            self.rows.writerow([*self._where(item), 0, "", "", "", "", "", "", *[""] * len(self.classes), ""])
        self.stream.flush()

    def write_error(self, item):
        self.rows.writerow([*self._where(item), "", "", "", "", "", "", "", *[""] * len(self.classes), item.error])
        self.stream.flush()


class AnnotatedImages(Writer):
    """An annotated copy of each photo in ``folder`` (the folder structure of the input kept)."""

    def __init__(self, folder: Path):
        self.folder, self.outputs, self._used = Path(folder), [], set()

    def _name(self, item) -> Path:
        src, root = Path(item.path or item.source), item.root
        rel = Path(root.name) / src.relative_to(root) if root is not None else Path(src.name)
        if rel.suffix.lower() not in WRITABLE_IMAGE_EXTENSIONS:
            rel = rel.with_name(rel.name + ".png")
        cand, k = rel, 1
        while str(cand) in self._used:
            k += 1
            cand = rel.with_name(f"{rel.stem}_{k}{rel.suffix}")
        self._used.add(str(cand))
        return self.folder / cand

    def write(self, item, faces):
        import cv2

        from .drawing import draw_faces

        target = self._name(item)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            ok, buf = cv2.imencode(target.suffix, draw_faces(item.image, faces))  # any path, unicode too
            if ok:
                target.write_bytes(buf.tobytes())
        except (OSError, cv2.error) as e:
            ok, why = False, (getattr(e, "strerror", None) or str(e)).strip().splitlines()[-1]
        else:
            why = "OpenCV could not encode it"
        if not ok:
            raise OutputError(f"{target}: cannot write the annotated copy of {item.source}: {why}")
        self.outputs.append(str(target))


def render_view(item, faces, panel_classes=None, panel_width: int = 260) -> np.ndarray:
    """The annotated frame; with ``panel_classes``, the live view's probability panel on its right."""
    from .drawing import draw_faces, draw_live

    if panel_classes is not None:
        return draw_live(item.image, faces, panel_classes, panel_width)
    return draw_faces(item.image, faces)


class AnnotatedVideo(Writer):
    """The annotated frames as an mp4 (H.264 where an encoder is installed: :mod:`emorec.video_writer`).
    ``panel_classes``: add the live view's probability panel on the right."""

    fatal = True

    def __init__(self, path: Path, fps: float, *, panel_classes=None, panel_width: int = 260):
        self.path, self.fps, self.panel_classes, self.panel_width = Path(path), fps, panel_classes, panel_width
        self.video = None
        self.outputs, self.warnings = [], []

    def render(self, item, faces) -> np.ndarray:
        return render_view(item, faces, self.panel_classes, self.panel_width)

    def write(self, item, faces):
        from .video_writer import VideoWriter

        view = self.render(item, faces)
        if self.video is None:  # VideoWriter makes the folder, or says clearly why it cannot
            self.video = VideoWriter(self.path, self.fps, (view.shape[1], view.shape[0]))
            if self.video.warning:
                self.warnings.append(f"{self.path}: {self.video.warning}")
            self.outputs.append(str(self.path))
        self.video.write(view)

    def close(self):
        if self.video is not None:
            self.video.close()


class FrameCsv(Writer):
    """A video's CSV: one row per face and frame (``frame, time_s, face_id, x, y, w, h, emotion, <scores>``),
    flushed every 30 frames, so an interrupted run keeps what it processed."""

    fatal = True

    def __init__(self, path: Path, classes):
        self.path, self.classes, self.outputs = Path(path), list(classes), []
        writable_parent(self.path, "CSV", error=VideoError)
        try:
            self.fh = open(self.path, "w", newline="")
        except OSError as e:
            raise VideoError(f"{self.path}: cannot write the CSV there: {e.strerror or e}") from None
        self.rows = csv.writer(self.fh)
        self.rows.writerow(["frame", "time_s", "face_id", "x", "y", "w", "h", "emotion", *self.classes])
        self.outputs.append(str(self.path))
        self._n = 0

    def write(self, item, faces):
        for f in faces:
            self.rows.writerow([item.index, f"{item.time or 0.0:.3f}", f.id, *f.box, f.emotion,
                                *(f"{f.scores[c]:.4f}" for c in self.classes)])
        self._n += 1
        if self._n % 30 == 0:
            self.fh.flush()

    def close(self):
        self.fh.close()


def write_timeline(history: dict, classes, path, title: str = "") -> Path:
    """PNG: per tracked face, each class's smoothed probability over time (the longest 8 tracks).

    ``history``: face id -> list of (time in seconds, probabilities)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .drawing import color_of

    ids = sorted(history, key=lambda k: -len(history[k]))[:8]
    ids.sort()
    n = max(1, len(ids))
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.0 + 2.0 * n), sharex=True, squeeze=False)
    for ax, tid in zip(axes[:, 0], ids):
        rows = history[tid]
        t = np.array([r[0] for r in rows])
        p = np.array([r[1] for r in rows])
        for k, c in enumerate(classes):
            b, g, r = color_of(c)
            ax.plot(t, p[:, k], color=(r / 255, g / 255, b / 255), lw=1.4, label=c)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"face #{tid}")
        ax.grid(alpha=0.3)
    if not ids:
        axes[0, 0].text(0.5, 0.5, "no face found in this video", ha="center", va="center")
        axes[0, 0].set_axis_off()
    else:
        axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(title or "emotions over time")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class Timeline(Writer):
    """A PNG of each tracked face's smoothed emotions over time (its ``max_tracks`` longest faces).

    Bounded memory on an endless stream: each face keeps at most ``max_points`` points; when that fills,
    neighbouring pairs are averaged (the timeline halves its resolution and goes on)."""

    fatal = True

    def __init__(self, path: Path, classes, *, title: str = "", max_points: int = 2000, max_tracks: int = 32):
        self.path, self.classes, self.title = Path(path), list(classes), title
        self.max_points, self.max_tracks = max_points, max_tracks
        self.points: dict[int, list] = {}  # id -> [[time, probs (C,), weight], ...]
        self.counts: dict[int, int] = {}  # id -> frames seen
        self.outputs = []
        writable_parent(self.path, "timeline", error=VideoError)
        if self.path.is_dir():
            raise VideoError(f"{self.path}: is a folder: give the timeline a file name (.png)")

    def write(self, item, faces):
        for f in faces:
            if f.id is None:
                continue
            pts = self.points.setdefault(f.id, [])
            pts.append([float(item.time or 0.0), np.array([f.scores[c] for c in self.classes], np.float32), 1])
            self.counts[f.id] = self.counts.get(f.id, 0) + 1
            if len(pts) > self.max_points:
                self.points[f.id] = [_merge(pts[i], pts[i + 1]) if i + 1 < len(pts) else pts[i]
                                     for i in range(0, len(pts), 2)]
        if len(self.points) > self.max_tracks:  # forget the shortest faces
            keep = sorted(self.points, key=lambda k: -self.counts[k])[: self.max_tracks // 2]
            self.points = {k: self.points[k] for k in keep}

    def close(self):
        history = {k: [(p[0], p[1]) for p in pts] for k, pts in self.points.items()}
        try:
            write_timeline(history, self.classes, self.path, title=self.title)
        except OSError as e:
            raise VideoError(f"{self.path}: cannot write the timeline: {e.strerror or e}") from None
        self.outputs.append(str(self.path))


def _merge(a, b):
    w = a[2] + b[2]
    return [(a[0] * a[2] + b[0] * b[2]) / w, (a[1] * a[2] + b[1] * b[2]) / w, w]
