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

from .errors import VideoError
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


def process_video(source, out, *, recognizer=None, csv_path=None, timeline_path=None, detect_every: int = DETECT_EVERY,
                  smooth: float = SMOOTH, max_frames: int = 0, progress: bool | None = None,
                  on_frame=None) -> VideoSummary:
    """Annotate a video file (or URL / camera index) and write its CSV and timeline.

    ``on_frame(index, annotated_bgr, faces)`` is called after each frame. Raises :class:`VideoError`
    when the source cannot be opened, has no frames, or an output cannot be written. Ctrl-C stops early:
    the outputs hold every processed frame and ``interrupted`` is set.
    """
    from tqdm import tqdm

    from .files import writable_parent
    from .pipeline import run
    from .recognizer import EmotionRecognizer
    from .sources import VideoSource
    from .tracking import FaceTracker
    from .writers import AnnotatedVideo, FrameCsv, Timeline

    rec = recognizer or EmotionRecognizer()
    out = Path(out)
    c_default, t_default = outputs_for(out)
    csv_path = Path(csv_path) if csv_path else c_default
    timeline_path = Path(timeline_path) if timeline_path else t_default
    with VideoSource(source) as src:
        name = src.name
        classes = rec.classes
        writable_parent(out, "video", error=VideoError)  # named when its folder is unusable, before any work
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
