"""Photos, videos and camera: detect, video and live."""

from __future__ import annotations

import io
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import EmorecError
from ..options import RecognizerOptions
from ..tracking import DETECT_EVERY, SMOOTH
from .common import _MAX_MP_OPT, _RECOGNIZER, _fail, _make_recognizer, _with_recognizer_options, app


def _check_tracking(detect_every: int, smooth: float, max_frames: int, zero: str):
    if detect_every < 1 or not 0 <= smooth < 1:
        _fail("--detect-every must be >= 1 and --smooth in [0, 1)", 2)
    if max_frames < 0:
        _fail(f"--max-frames must be >= 0 (0: {zero})", 2)


def _quiet_opencv():
    """OpenCV's and FFmpeg's own warnings (camera probing, undecodable data) would bury emorec's clear
    message: the command line reports those itself."""
    import os

    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@contextmanager
def _native_stderr_silenced():
    """C libraries inside OpenCV (libjpeg's "Corrupt JPEG data", libpng's warnings) write straight to file
    descriptor 2, before and beside emorec's own clear message: while this is active they go to /dev/null,
    and Python's sys.stderr (emorec's messages, the progress bar) keeps the real terminal."""
    import os

    try:
        sys.stderr.flush()
        own = sys.stderr.fileno() == 2  # False under a test runner that captures sys.stderr itself
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        yield
        return
    old = sys.stderr
    if own:
        sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=getattr(old, "encoding", None) or "utf-8",
                               errors="backslashreplace")
    os.dup2(null, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        if own:
            sys.stderr.close()
            sys.stderr = old
        os.close(saved)
        os.close(null)


def _new_run_dir(base: Path, name: str) -> Path:
    """base/name, or base/name2, name3... : each run gets a fresh folder and overwrites nothing."""
    k, path = 1, base / name
    while path.exists():
        k += 1
        path = base / f"{name}{k}"
    return path


@app.command()
@_with_recognizer_options
def detect(
    paths: Optional[List[Path]] = typer.Argument(None, help="image files or folders (searched recursively); "
                                                            "none: the bundled sample photo"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="folder for the annotated copies "
                                       "(default: a new runs/detect/predict, predict2, ...)"),
    save: bool = typer.Option(True, "--save/--no-save", help="write annotated copies"),
    as_json: bool = typer.Option(False, "--json", help='print one JSON object per image: {"file", "faces"}'),
    as_csv: bool = typer.Option(False, "--csv", help="print CSV rows, one per face"),
    recognizer: RecognizerOptions = _RECOGNIZER,
    max_megapixels: float = _MAX_MP_OPT,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar for several images"),
):
    """Find the faces in photos and tell each one's emotion; writes annotated copies.

    Prints a line per face (or --json / --csv on stdout; messages go to stderr). Unreadable files are
    reported and skipped; the exit code is 1 if any image failed.
    """
    from ..samples import sample_path
    from ..sources import ImageSource

    if as_json and as_csv:
        _fail("choose one of --json and --csv", 2)
    rec = _make_recognizer(recognizer)
    with _native_stderr_silenced():
        _detect(source=ImageSource(list(paths) if paths else [sample_path()], max_pixels=int(max_megapixels * 1e6)),
                rec=rec, out=out, save=save,
                as_json=as_json, as_csv=as_csv, progress=progress)


def _detect(source, rec, out, save, as_json, as_csv, progress):
    """The body of ``emorec detect``: photos -> the pipeline -> text / JSON / CSV and annotated copies."""
    from tqdm import tqdm

    from ..pipeline import run
    from ..writers import AnnotatedImages, CsvRows, JsonLines, TextLines

    for folder, n in source.skipped:
        typer.echo(f"note: {folder}: skipped {n} file(s) that are not images by their extension", err=True)
    for msg in source.problems:
        typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    bar = tqdm(total=len(source), unit="image", disable=(not progress or len(source) < 2) or None, file=sys.stderr,
               leave=False)

    def say(line: str, err: bool = False):
        if bar.disable:
            typer.echo(line, err=err)
        else:
            bar.write(line, file=sys.stderr if err else sys.stdout)

    machine = as_json or as_csv
    writers = [JsonLines(say) if as_json else CsvRows(sys.stdout, rec.classes) if as_csv
               else TextLines(say, no_face_to_stderr=machine)]
    if as_json or as_csv:  # the "no face found" note still goes to stderr
        writers.append(TextLines(say, no_face_to_stderr=True, faces=False))
    copies = AnnotatedImages(out if out is not None else _new_run_dir(Path("runs/detect"), "predict")) if save else None
    if copies is not None:
        writers.append(copies)
    s = run(source, rec, writers, progress=bar,
            on_error=lambda msg: say(typer.style(f"error: {msg}", fg=typer.colors.RED), err=True))
    bar.close()
    failed = len(source.problems) + len(s.errors)
    summary = f"{len(source)} image(s), {s.faces} face(s)"
    if copies is not None and copies.outputs:
        summary += f"; annotated copies in {copies.folder}"
    typer.echo(summary, err=True)
    if failed:
        typer.secho(f"{failed} failed", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@app.command()
@_with_recognizer_options
def video(
    inputs: List[str] = typer.Argument(..., help="video files (or stream URLs)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="OUT.mp4 (one input) or a folder "
                                       "(default: a new runs/video/predict, predict2, ...)"),
    detect_every: int = typer.Option(DETECT_EVERY, help="run the full-frame detector every N frames and track in "
                                                       "between (1: detect on every frame)"),
    smooth: float = typer.Option(SMOOTH, help="weight of the past in each face's moving average of probabilities "
                                              "(0: no smoothing)"),
    max_frames: int = typer.Option(0, help="stop after N frames (0: the whole video)"),
    recognizer: RecognizerOptions = _RECOGNIZER,
    progress: bool = typer.Option(True, "--progress/--no-progress"),
):
    """Annotate videos: OUT.mp4 with boxes and labels, OUT.csv (frame, time, face id, box, scores) and
    OUT_timeline.png (each tracked face's emotions over time)."""
    from ..video import process_video
    from ..video_writer import CONTAINERS

    _check_tracking(detect_every, smooth, max_frames, "the whole video")
    rec = _make_recognizer(recognizer)
    _quiet_opencv()
    single_file = out is not None and out.suffix.lower() in CONTAINERS
    if single_file and len(inputs) > 1:
        _fail(f"--out {out} names one video but {len(inputs)} inputs were given: give a folder", 2)
    folder = None if single_file else (out if out is not None else _new_run_dir(Path("runs/video"), "predict"))
    failed = []
    used: set = set()
    for src in inputs:
        if single_file:
            target = out
        else:
            stem = Path(src.split("?")[0]).stem or "stream"
            target, k = folder / f"{stem}.mp4", 1
            while str(target) in used:
                k += 1
                target = folder / f"{stem}_{k}.mp4"
            used.add(str(target))
        try:
            s = process_video(src, target, recognizer=rec, detect_every=detect_every, smooth=smooth,
                              max_frames=max_frames, progress=progress)
        except (EmorecError, ValueError) as e:
            failed.append(str(e))
            typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
            continue
        for w in s.warnings:
            typer.secho(f"warning: {w}", fg=typer.colors.YELLOW, err=True)
        typer.echo(f"{src}: {s.frames} frames, {s.tracks} face(s) tracked, {s.processing_fps:.1f} frames/s "
                   f"(full detection on {s.full_detections}){'; interrupted' if s.interrupted else ''}\n"
                   f"  wrote {s.out}, {s.csv}, {s.timeline}")
        if s.interrupted:
            failed.append(f"{src}: interrupted")
            break
    if failed:
        typer.secho(f"{len(failed)} of {len(inputs)} video(s) failed", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@app.command()
@_with_recognizer_options
def live(
    source: str = typer.Option("0", "--source", "-s", help="camera index (0), video file or stream URL"),
    window: bool = typer.Option(True, "--window/--no-window", help="show the live view in an OpenCV window"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="also write the live view (frame and "
                                                                 "probability bars) to this mp4"),
    max_frames: int = typer.Option(0, help="stop after N frames (0: until the source ends or q)"),
    detect_every: int = typer.Option(DETECT_EVERY, help="full-frame detection every N frames, tracking in between"),
    smooth: float = typer.Option(SMOOTH, help="weight of the past in the moving average of probabilities"),
    recognizer: RecognizerOptions = _RECOGNIZER,
):
    """Live view of a camera (or a video file): boxes, labels and probability bars per face; q quits."""
    from ..live import gui_problem, run_live

    browser = ("for the live view in a web browser instead: run 'emorec web --out site' and serve that folder "
               "(python -m http.server -d site), or pip install \".[serve]\" from a checkout of emorec, run 'emorec "
               "serve' and open http://127.0.0.1:8000/")
    _check_tracking(detect_every, smooth, max_frames, "until the source ends")
    if window:
        problem = gui_problem()
        if problem:
            _fail(f"{problem}.\n  {browser}\n  or install the GUI build: pip install opencv-python "
                  "(in place of opencv-python-headless)\n  or save the live view without a window: "
                  "emorec live --source FILE --no-window --out live.mp4", 2)
    elif out is None:
        _fail("--no-window needs --out FILE.mp4 to write the live view to", 2)
    rec = _make_recognizer(recognizer)
    _quiet_opencv()
    try:
        s = run_live(source, recognizer=rec, window=window, out=out, max_frames=max_frames,
                     detect_every=detect_every, smooth=smooth)
    except (EmorecError, ValueError) as e:
        hint = f"\n  {browser}" if source.isdigit() else ""
        _fail(f"{e}{hint}")
    for w in s.warnings:
        typer.secho(f"warning: {w}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"{s.frames} frames at {s.fps:.1f} frames/s{f'; wrote {out}' if out else ''}", err=True)
