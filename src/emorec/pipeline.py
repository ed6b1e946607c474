"""The one inference loop behind ``emorec detect``, ``video`` and ``live`` (and the shape of the server's
answer): frames from a source (:mod:`emorec.sources`) -> faces (the recogniser, or a
:class:`emorec.tracking.FaceTracker` for videos) -> every writer (:mod:`emorec.writers`).

>>> from emorec.pipeline import run
>>> from emorec.sources import ImageSource
>>> from emorec.writers import JsonLines
>>> summary = run(ImageSource(["photos/"]), EmotionRecognizer(), [JsonLines(lambda line, err: print(line))])

A frame that cannot be read, or whose output cannot be written, is reported (``on_error``) and the rest
goes on; a writer marked ``fatal`` (a video file) that fails stops the run with its error. Ctrl-C stops
early with every output closed properly (``interrupted`` is set). Writers are always closed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from .errors import EmorecError


@dataclass
class RunSummary:
    frames: int = 0  # frames analysed
    faces: int = 0  # faces reported, over all frames
    errors: list = field(default_factory=list)  # messages of frames or outputs that failed
    seconds: float = 0.0
    full_detections: int = 0
    tracks: int = 0
    interrupted: bool = False
    stopped: bool = False  # on_frame asked to stop (q in the live window)
    warnings: list = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def run(source, recognizer, writers, *, tracker=None, max_frames: int = 0,
        on_frame: Optional[Callable] = None, on_error: Optional[Callable[[str], None]] = None,
        progress=None, options: Optional[dict] = None) -> RunSummary:
    """Analyse every frame of ``source`` and hand the faces to each writer.

    ``tracker``: a :class:`emorec.tracking.FaceTracker` (videos: ids, smoothing, less detection) or None
    (every frame on its own, as photos). ``on_frame(item, faces)`` after each frame; returning False
    stops. ``progress``: a tqdm-like bar (``update``) or None. ``options``: keyword arguments of each
    ``recognizer.analyze`` call (``flip``, ``min_confidence``: the server's per-request settings).
    """
    summary = RunSummary()
    report = on_error or (lambda msg: None)
    t0 = time.perf_counter()
    in_flight = None  # an exception on its way out: a writer's close failure must not replace it
    try:
        for item in source:
            if item.error is not None:
                summary.errors.append(item.error)
                report(item.error)
                for w in writers:
                    w.write_error(item)
            else:
                faces = tracker.update(item.image) if tracker is not None else recognizer.analyze(item.image, **(options or {}))
                summary.frames += 1
                summary.faces += len(faces)
                for w in writers:
                    try:
                        w.write(item, faces)
                    except EmorecError as e:
                        if w.fatal:
                            raise
                        summary.errors.append(str(e))
                        report(str(e))
                if on_frame is not None and on_frame(item, faces) is False:
                    summary.stopped = True
                    break
            if progress is not None:
                progress.update(1)
            if max_frames and summary.frames >= max_frames:
                break
    except KeyboardInterrupt:
        summary.interrupted = True
    except BaseException as e:
        in_flight = e
        raise
    finally:
        summary.seconds = time.perf_counter() - t0
        failure = None
        for w in writers:  # every writer is closed, even when one of them fails
            try:
                w.close()
            except (EmorecError, OSError) as e:  # an OSError a writer did not name: the rest still close
                failure = failure or (e if isinstance(e, EmorecError) else EmorecError(f"closing an output: {e}"))
            summary.warnings += getattr(w, "warnings", [])
        if failure is not None:
            if in_flight is None:
                raise failure
            summary.errors.append(str(failure))  # reported; the exception in flight goes on
            report(str(failure))
    if tracker is not None:
        summary.full_detections = tracker.full_detections
        summary.tracks = tracker.tracks_started
    return summary
