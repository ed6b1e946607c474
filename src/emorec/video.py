"""Videos: an annotated mp4, a per-frame CSV and a PNG timeline of each tracked face's emotions.

>>> from emorec.video import process_video
>>> summary = process_video("in.mp4", "out.mp4")   # also writes out.csv and out_timeline.png

The frames run through the one pipeline (:mod:`emorec.pipeline`): a :class:`emorec.sources.VideoSource`,
a :class:`emorec.tracking.FaceTracker` (stable ids, smoothed probabilities, full detection every few
frames) and the writers :class:`~emorec.writers.AnnotatedVideo` (H.264 where an encoder is installed),
:class:`~emorec.writers.FrameCsv` and :class:`~emorec.writers.Timeline`. The CSV is written as frames
are processed and everything is closed properly on an error or Ctrl-C, so what was processed is never
lost; memory stays bounded on endless streams.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .tracking import DETECT_EVERY, SMOOTH


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


def process_video(source, out, *, recognizer=None, csv_path=None, timeline_path=None, detect_every: int = DETECT_EVERY,
                  smooth: float = SMOOTH, max_frames: int = 0, progress: bool | None = None,
                  on_frame=None) -> VideoSummary:
    """Annotate a video file (or URL / camera index) and write its CSV and timeline.

    ``on_frame(index, annotated_bgr, faces)`` is called after each frame. Raises :class:`VideoError`
    when the source cannot be opened, has no frames, or an output cannot be written. Ctrl-C stops early:
    the outputs hold every processed frame and ``interrupted`` is set.
    """
    from tqdm import tqdm

    from .pipeline import run
    from .recognizer import EmotionRecognizer
    from .sources import VideoSource
    from .tracking import FaceTracker
    from .writers import AnnotatedVideo, FrameCsv, Timeline, ensure_parent

    rec = recognizer or EmotionRecognizer()
    out = Path(out)
    c_default, t_default = outputs_for(out)
    csv_path = Path(csv_path) if csv_path else c_default
    timeline_path = Path(timeline_path) if timeline_path else t_default
    with VideoSource(source) as src:
        name = src.name
        classes = rec.classes
        ensure_parent(out, "video")  # the video's own path is the one to name when the folder is unusable
        video = AnnotatedVideo(out, src.fps)
        writers = [video, FrameCsv(csv_path, classes),
                   Timeline(timeline_path, classes, title=f"{Path(name).name}: emotions over time")]
        expected = src.frame_count
        total = min(expected, max_frames) if max_frames and expected else (max_frames or expected or None)
        bar = tqdm(total=total, unit="frame", desc=Path(name).name if src.is_file else name,
                   disable=None if progress in (None, True) else True, leave=False)  # None: only on a terminal
        def hook(item, faces):
            return on_frame(item.index, video.render(item, faces), faces)

        tracker = FaceTracker(rec, detect_every=detect_every, smooth=smooth)
        try:
            s = run(src, rec, writers, tracker=tracker, max_frames=max_frames,
                    on_frame=hook if on_frame is not None else None, progress=bar)
        finally:
            bar.close()
    summary = VideoSummary(source=name, out=str(out), csv=str(csv_path), timeline=str(timeline_path), fps=src.fps,
                           frames_expected=expected, frames=s.frames, seconds=s.seconds,
                           full_detections=s.full_detections, tracks=s.tracks, face_frames=s.faces,
                           interrupted=s.interrupted, warnings=list(s.warnings))
    if expected and not max_frames and not s.interrupted and not s.stopped and s.frames < expected - 1:
        summary.warnings.append(f"{name}: stopped at frame {s.frames} of {expected} (the rest could not be decoded)")
    return summary
