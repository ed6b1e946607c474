"""The live view: camera (or video file / stream) frames with boxes, labels and a panel of
probability bars per face, in an OpenCV window; ``q`` or Esc quits.

opencv-python-headless (emorec's dependency) has no GUI: :func:`gui_problem` says so before anything
opens, and the CLI points to the browser page (``emorec serve``). Without a window the same loop can
write the annotated view to an mp4 (``out``), which is how it is tested headlessly.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import VideoError
from .tracking import DETECT_EVERY, SMOOTH

WINDOW = "emorec live (q quits)"


def gui_problem() -> str | None:
    """Why no OpenCV window can be shown here, or None when one can."""
    import cv2

    gui = "NONE"
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            gui = line.split(":", 1)[1].strip()
            break
    if gui.upper() == "NONE":
        return (f"this OpenCV ({cv2.__version__}, {'headless' if 'headless' in _cv2_dist() else 'no GUI'} build) "
                "cannot open a window")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "there is no display to open a window on ($DISPLAY is not set)"
    return None


def _cv2_dist() -> str:
    from importlib import metadata

    for name in ("opencv-python-headless", "opencv-contrib-python-headless", "opencv-python", "opencv-contrib-python"):
        try:
            metadata.version(name)
            return name
        except metadata.PackageNotFoundError:
            continue
    return ""


@dataclass
class LiveSummary:
    frames: int = 0
    seconds: float = 0.0
    quit_by_user: bool = False
    warnings: list = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def run_live(source="0", *, recognizer=None, window: bool = True, out=None, max_frames: int = 0,
             detect_every: int = DETECT_EVERY, smooth: float = SMOOTH, panel_width: int = 260) -> LiveSummary:
    """Run the live loop until the source ends, ``q``/Esc, Ctrl-C or ``max_frames``.

    ``window``: show the OpenCV window (needs a GUI build and a display). ``out``: also write the
    annotated view (frame and panel) to this mp4. Raises :class:`VideoError` when the source cannot
    be opened or has no frames, when the output cannot be written, or when a window is wanted and none
    can be shown. The loop is :func:`emorec.pipeline.run` with a tracker, like ``emorec video``.
    """
    import cv2

    from .pipeline import run
    from .recognizer import EmotionRecognizer
    from .sources import VideoSource
    from .tracking import FaceTracker
    from .writers import AnnotatedVideo, render_view

    if window:
        problem = gui_problem()
        if problem:
            raise VideoError(problem)
    if not window and out is None:
        raise ValueError("without a window, give an output file (out) to write the annotated view to")
    rec = recognizer or EmotionRecognizer()
    with VideoSource(source) as src:
        classes = rec.classes
        writers = [] if out is None else [AnnotatedVideo(Path(out), src.fps, panel_classes=classes,
                                                         panel_width=panel_width)]
        pace = {"t": time.perf_counter()}

        def show(item, faces):
            if not window:
                return True
            cv2.imshow(WINDOW, render_view(item, faces, classes, panel_width))
            # a file plays at its own pace; a camera as fast as frames come
            spent = time.perf_counter() - pace["t"]
            wait = max(1, int(1000 / src.fps - 1000 * spent)) if src.is_file else 1
            key = cv2.waitKey(wait) & 0xFF
            pace["t"] = time.perf_counter()
            if key in (ord("q"), ord("Q"), 27):
                return False
            return cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) >= 1  # closed with the mouse: stop

        if window:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        try:
            s = run(src, rec, writers, tracker=FaceTracker(rec, detect_every=detect_every, smooth=smooth),
                    max_frames=max_frames, on_frame=show)
        finally:
            if window:
                try:
                    cv2.destroyAllWindows()
                except cv2.error:
                    pass
    return LiveSummary(frames=s.frames, seconds=s.seconds, quit_by_user=s.stopped or s.interrupted,
                       warnings=list(s.warnings))
