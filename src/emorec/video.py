"""Videos: an annotated mp4, a per-frame CSV and a PNG timeline of each tracked face's emotions.

>>> from emorec.video import process_video
>>> summary = process_video("in.mp4", "out.mp4")   # also writes out.csv and out_timeline.png

Frames go through :class:`emorec.tracking.FaceTracker` (stable ids, smoothed probabilities, full
detection every few frames). The CSV is written as frames are processed and everything is closed
properly on an error or Ctrl-C, so what was processed is never lost.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import VideoError
from .tracking import DETECT_EVERY, SMOOTH


def parse_source(source):
    """'0' -> camera 0 (int); anything else stays a path or URL (str)."""
    if isinstance(source, int):
        return source
    s = str(source)
    return int(s) if s.isdigit() else s


def open_video(source):
    """An opened ``cv2.VideoCapture`` for a file, a URL or a camera index; :class:`VideoError` if not."""
    import cv2

    src = parse_source(source)
    if isinstance(src, str) and "://" not in src:
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
        if isinstance(src, int):
            raise VideoError(f"cannot open camera {src} (no camera here, or it is busy)")
        raise VideoError(f"{src}: cannot open as a video (not a video, or a format OpenCV cannot decode)")
    return cap


def video_fps(cap, default: float = 30.0) -> float:
    import cv2

    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and math.isfinite(fps) and 0 < fps <= 1000 else default


def outputs_for(out: Path) -> tuple[Path, Path]:
    """The CSV and timeline PNG written beside an output video."""
    out = Path(out)
    return out.with_suffix(".csv"), out.with_name(out.stem + "_timeline.png")


@dataclass
class VideoSummary:
    source: str
    out: str
    csv: str
    timeline: str
    frames: int = 0
    frames_expected: int = 0
    fps: float = 0.0
    seconds: float = 0.0  # processing wall time
    full_detections: int = 0
    tracks: int = 0
    face_frames: int = 0
    interrupted: bool = False
    warnings: list = field(default_factory=list)

    @property
    def processing_fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def write_timeline(history: dict, classes, path, fps: float, title: str = "") -> Path:
    """PNG: per tracked face, each class's smoothed probability over time (the longest 8 tracks)."""
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
        t = np.array([r[0] for r in rows]) / fps
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


def process_video(source, out, *, recognizer=None, csv_path=None, timeline_path=None, detect_every: int = DETECT_EVERY,
                  smooth: float = SMOOTH, max_frames: int = 0, progress: bool | None = None,
                  on_frame=None) -> VideoSummary:
    """Annotate a video file (or URL / camera index) and write its CSV and timeline.

    ``on_frame(index, annotated_bgr, faces)`` is called after each frame (used by ``emorec live``).
    Raises :class:`VideoError` when the source cannot be opened, has no frames, or the output cannot
    be written. Ctrl-C stops early: the outputs hold every processed frame and ``interrupted`` is set.
    """
    import cv2
    from tqdm import tqdm

    from .drawing import draw_faces
    from .recognizer import EmotionRecognizer
    from .tracking import FaceTracker

    rec = recognizer or EmotionRecognizer()
    out = Path(out)
    c_default, t_default = outputs_for(out)
    csv_path = Path(csv_path) if csv_path else c_default
    timeline_path = Path(timeline_path) if timeline_path else t_default
    name = str(source)
    cap = open_video(source)
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoError(f"{name}: the video has no frames that can be decoded")
        fps = video_fps(cap)
        expected = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if expected < 0:
            expected = 0
        summary = VideoSummary(source=name, out=str(out), csv=str(csv_path), timeline=str(timeline_path),
                               fps=fps, frames_expected=expected)
        h, w = frame.shape[:2]
        for p in {out.parent, csv_path.parent, timeline_path.parent}:
            p.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not writer.isOpened():
            raise VideoError(f"{out}: cannot write an mp4 video there")
        classes = rec.classes
        tracker = FaceTracker(rec, detect_every=detect_every, smooth=smooth)
        history: dict[int, list] = {}
        total = min(expected, max_frames) if max_frames and expected else (max_frames or expected or None)
        bar = tqdm(total=total, unit="frame", desc=Path(name).name if isinstance(source, (str, Path)) else name,
                   disable=None if progress in (None, True) else True, leave=False)  # None: only on a terminal
        t0 = time.perf_counter()
        try:
            with open(csv_path, "w", newline="") as fh:
                rows = csv.writer(fh)
                rows.writerow(["frame", "time_s", "face_id", "x", "y", "w", "h", "emotion", *classes])
                i = 0
                while ok:
                    if frame.shape[:2] != (h, w):  # a stream that changes size: keep the first size
                        frame = cv2.resize(frame, (w, h))
                    faces = tracker.update(frame)
                    annotated = draw_faces(frame, faces)
                    writer.write(annotated)
                    for f in faces:
                        rows.writerow([i, f"{i / fps:.3f}", f.id, *f.box, f.emotion,
                                       *(f"{f.scores[c]:.4f}" for c in classes)])
                        history.setdefault(f.id, []).append((i, [f.scores[c] for c in classes]))
                    summary.face_frames += len(faces)
                    i += 1
                    summary.frames = i
                    bar.update(1)
                    if on_frame is not None and on_frame(i - 1, annotated, faces) is False:
                        break
                    if i % 30 == 0:
                        fh.flush()
                    if max_frames and i >= max_frames:
                        break
                    ok, frame = cap.read()
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            summary.seconds = time.perf_counter() - t0
            bar.close()
            writer.release()
        summary.full_detections = tracker.full_detections
        summary.tracks = len(history)
        if expected and not max_frames and not summary.interrupted and summary.frames < expected - 1:
            summary.warnings.append(f"{name}: stopped at frame {summary.frames} of {expected} "
                                    "(the rest could not be decoded)")
        write_timeline(history, classes, timeline_path, fps, title=f"{Path(name).name}: emotions over time")
        return summary
    finally:
        cap.release()
