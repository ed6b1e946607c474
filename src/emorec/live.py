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
from dataclasses import dataclass
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

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def run_live(source="0", *, recognizer=None, window: bool = True, out=None, max_frames: int = 0,
             detect_every: int = DETECT_EVERY, smooth: float = SMOOTH, panel_width: int = 260) -> LiveSummary:
    """Run the live loop until the source ends, ``q``/Esc, Ctrl-C or ``max_frames``.

    ``window``: show the OpenCV window (needs a GUI build and a display). ``out``: also write the
    annotated view (frame and panel) to this mp4. Raises :class:`VideoError` when the source cannot
    be opened or has no frames, or when a window is wanted and none can be shown.
    """
    import cv2

    from .drawing import draw_live
    from .recognizer import EmotionRecognizer
    from .tracking import FaceTracker
    from .video import open_video, parse_source, video_fps

    if window:
        problem = gui_problem()
        if problem:
            raise VideoError(problem)
    if not window and out is None:
        raise ValueError("without a window, give an output file (out) to write the annotated view to")
    rec = recognizer or EmotionRecognizer()
    src = parse_source(source)
    cap = open_video(src)
    writer = None
    summary = LiveSummary()
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoError(f"{'camera ' if isinstance(src, int) else ''}{src}: no frames could be read")
        fps = video_fps(cap)
        is_file = isinstance(src, str) and "://" not in src
        tracker = FaceTracker(rec, detect_every=detect_every, smooth=smooth)
        classes = rec.classes
        if window:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        t0 = time.perf_counter()
        try:
            while ok:
                t_frame = time.perf_counter()
                view = draw_live(frame, tracker.update(frame), classes, panel_width)
                if out is not None:
                    if writer is None:
                        Path(out).parent.mkdir(parents=True, exist_ok=True)
                        size = (view.shape[1], view.shape[0])
                        writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
                        if not writer.isOpened():
                            raise VideoError(f"{out}: cannot write an mp4 video there")
                    if (view.shape[1], view.shape[0]) != size:  # a stream that changes size
                        view = cv2.resize(view, size)
                    writer.write(view)
                summary.frames += 1
                if window:
                    cv2.imshow(WINDOW, view)
                    # a file plays at its own pace; a camera as fast as frames come
                    wait = max(1, int(1000 / fps - 1000 * (time.perf_counter() - t_frame))) if is_file else 1
                    key = cv2.waitKey(wait) & 0xFF
                    if key in (ord("q"), ord("Q"), 27):
                        summary.quit_by_user = True
                        break
                    if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:  # closed with the mouse
                        summary.quit_by_user = True
                        break
                if max_frames and summary.frames >= max_frames:
                    break
                ok, frame = cap.read()
        except KeyboardInterrupt:
            summary.quit_by_user = True
        summary.seconds = time.perf_counter() - t0
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        if window:
            try:
                cv2.destroyAllWindows()
            except cv2.error:
                pass
    return summary
