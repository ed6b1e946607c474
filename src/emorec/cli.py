"""The ``emorec`` command line. Each command turns library exceptions into a message and an exit code."""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer

from .errors import EmorecError
from .images import MAX_PIXELS
from .options import RecognizerOptions
from .server import ServerConfig
from .tracking import DETECT_EVERY, SMOOTH

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Find faces and tell which emotion each shows.")


def _fail(msg: str, code: int = 1):
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _need_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        _fail('training needs PyTorch: pip install ".[train]" (from a checkout of emorec)', 2)


# ---------------------------------------------------------------- training side
def _config_option(f):
    """A typer parameter for one TrainConfig field: its default, help and allowed values, checked by the
    same function the dataclass uses (so a bad value is refused before any work, naming the option)."""
    from .training.config import ConfigError, check, describe_range

    m = f.metadata
    text = m["help"]
    if m["choices"]:
        text += f" (one of: {', '.join(m['choices'])})"
    elif m["lo"] is not None or m["hi"] is not None:
        text += f" ({describe_range(m)})"
    if f.name == "data":
        return typer.Argument(..., help=text)

    def callback(value):
        try:
            return check(f.name, value)
        except ConfigError as e:
            raise typer.BadParameter(str(e).split(": ", 1)[1]) from None

    return typer.Option(f.default, help=text, callback=callback)


def _train(**opts):
    """Train a model (runs under torchrun for DistributedDataParallel too).

    Checkpoints are selected, the LR reduced and training stopped on a validation part carved from
    Training (--val-fraction, stratified by class, --val-seed); PublicTest is measured once at the end
    with best.pt (test.json and the JSON line printed last).
    """
    import os

    _need_torch()
    from .training.config import ConfigError, TrainConfig
    from .training.train import train as run

    def fail(msg: str, code: int = 1):  # under torchrun, process 0 alone reports; the others just exit
        if os.environ.get("RANK", "0") == "0":
            _fail(msg, code)
        raise typer.Exit(code)

    if opts.pop("bf16"):
        if opts["precision"] not in ("auto", "bf16"):
            fail(f"--bf16 means --precision bf16; it contradicts --precision {opts['precision']}", 2)
        opts["precision"] = "bf16"
    try:
        cfg = TrainConfig(**opts)
        best = run(cfg, log=lambda s: typer.echo(s, err=True))
    except ConfigError as e:
        fail(str(e), 2)
    except (EmorecError, ValueError, OSError) as e:
        fail(str(e))
    if "test" in best:  # the main process (one line under torchrun too)
        test = best["test"]
        typer.echo(json.dumps({"best_epoch": best["epoch"] + 1, "val_acc": round(best["val_acc"], 5),
                               "val_rows": best["val_rows"], "test_split": test["split"],
                               "test_rows": test.get("rows"), "test_acc": test.get("accuracy"), "run": cfg.out}))


def _train_command():
    """`emorec train`: its options are generated from TrainConfig (one source of truth for defaults, help and
    allowed values); --bf16 stays as a hidden alias of --precision bf16."""
    import inspect
    import typing

    from .training.config import TrainConfig, option_fields

    hints = typing.get_type_hints(TrainConfig)
    params = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=_config_option(f),
                                annotation=hints[f.name]) for f in option_fields()]
    params.append(inspect.Parameter("bf16", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                                    default=typer.Option(False, "--bf16", hidden=True)))
    _train.__signature__ = inspect.Signature(params)
    _train.__annotations__ = {p.name: p.annotation for p in params}
    return app.command(name="train")(_train)


train = _train_command()


@app.command()
def evaluate(
    data: Path = typer.Argument(..., help="fer2013.csv(.gz) or an image folder"),
    model: str = typer.Option("fer2013", help="fer2013, ferplus or a path to an .onnx"),
    split: str = typer.Option("PublicTest", help="Training, PublicTest, PrivateTest, or 'all'"),
    labels: Optional[str] = typer.Option(None, help="fer2013 or ferplus (default: the model's)"),
    ferplus_csv: Optional[Path] = typer.Option(None),
    flip: bool = typer.Option(False, help="average with the mirrored face (test-time augmentation)"),
    out: Path = typer.Option(Path("runs/evaluate"), help="writes evaluation.json and evaluation_confusion.png"),
    skip_bad_rows: bool = typer.Option(False),
    protocol: Optional[str] = typer.Option(
        None, help="FER+ labels: the rows and labels of the report. majority (default): every row FER+ keeps, "
                   "its most-voted emotion; barsoum: Barsoum et al. 2016 (votes of 1 dropped, an emotion with "
                   "more than half the rest). Both accuracies are printed either way"),
):
    """Accuracy, per-class precision/recall/F1 and a confusion matrix on a split."""
    from .data import FERPLUS_PROTOCOLS
    from .evaluate import OptionError, evaluate_model

    try:  # a bad --split, --labels or --protocol fails before any work
        ev = evaluate_model(data, model, out=out, split=split, labels=labels, ferplus_csv=ferplus_csv, flip=flip,
                            skip_bad_rows=skip_bad_rows, protocol=protocol)
    except OptionError as e:
        _fail(f"--{e.option}: {e}", 2)
    except EmorecError as e:
        _fail(str(e))
    result, by_protocol = ev.result, ev.protocols
    for msg in ev.bad_rows[:5]:
        typer.echo(f"skipped: {msg}", err=True)
    if ev.bad_rows:
        typer.echo(f"skipped {len(ev.bad_rows)} bad rows", err=True)
    shown = f", FER+ {result['protocol']} protocol" if by_protocol else ""
    typer.echo(f"{result['model']} on {result['split']}{shown}: accuracy {result['accuracy']:.4f}  "
               f"macro-F1 {result['macro_f1']:.4f}  (n={result['n']}{', flip TTA' if flip else ''})")
    for c, m in result["per_class"].items():
        typer.echo(f"  {c:>10}  precision {m['precision']:.3f}  recall {m['recall']:.3f}  f1 {m['f1']:.3f}  n={m['support']}")
    if by_protocol:
        typer.echo("FER+ protocols (same predictions):")
        for p, m in by_protocol.items():
            typer.echo(f"  {p:>10}  accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  n={m['n']}  "
                       f"({FERPLUS_PROTOCOLS[p]})")
    typer.echo(f"wrote {ev.json_path} and {ev.png_path}")


@app.command()
def export(
    checkpoint: Path = typer.Argument(..., help="a training checkpoint (best.pt)"),
    out: Path = typer.Option(..., help="the .onnx to write (a .json model card is written beside it)"),
    name: Optional[str] = typer.Option(None, help="model name in the card"),
    data: Optional[Path] = typer.Option(None, help="evaluate the exported model on this CSV/folder and record "
                                                   "the result in its card (and a Markdown card)"),
    split: str = typer.Option("PublicTest", help="split for --data; never a test split you select on"),
):
    """Export a checkpoint to ONNX (dynamic batch) with a model card; checks ONNX Runtime against PyTorch."""
    _need_torch()
    import numpy as np

    from .training.export import export_onnx, max_abs_difference

    try:
        path = export_onnx(checkpoint, out, name=name)
        faces = np.random.default_rng(0).integers(0, 256, (16, 48, 48), dtype=np.uint8)
        diff = max_abs_difference(checkpoint, path, faces)
    except (EmorecError, OSError) as e:
        _fail(str(e))
    typer.echo(f"wrote {path} and {path.with_suffix('.json')}; ONNX Runtime vs PyTorch max abs difference {diff:.2e}")
    if diff >= 1e-4:
        _fail(f"exported model differs from the checkpoint by {diff:.2e} (limit 1e-4)")
    if data is not None:
        from .training.export import add_evaluation

        try:
            ev = add_evaluation(path, data, split=split)["evaluation"][split]
        except EmorecError as e:
            _fail(str(e))
        typer.echo(f"{split}: accuracy {ev['accuracy']:.4f} (flip TTA {ev['accuracy_flip_tta']:.4f}), "
                   f"macro-F1 {ev['macro_f1']:.4f}; card: {path.with_suffix('.md')}")


@app.command()
def models():
    """List the built-in models and their cards."""
    from .model_card import list_models

    for card in list_models():
        acc = card.get("evaluation", {}).get("PublicTest", {}).get("accuracy")
        cal = card.get("calibration", {})
        typer.echo(f"{card['name']:>8}  {len(card['classes'])} classes  {card['arch']}  "
                   f"input {card['input_size']}x{card['input_size']}  PublicTest accuracy {acc}"
                   + (f"  calibrated (T={cal['temperature']:g}); suggested --min-confidence "
                      f"{cal['suggested_min_confidence']:g}" if cal else ""))
    from .detectors import DESCRIPTIONS, available

    typer.echo("face detectors (--detector):")
    for name in available():
        typer.echo(f"{name:>8}  {DESCRIPTIONS.get(name, '')}")


# ---------------------------------------------------------------- photos, videos and camera
_RECOGNIZER = RecognizerOptions()  # a command's `recognizer` parameter: the recogniser options go there


def _recognizer_option(f: dataclasses.Field):
    """The typer option of one :class:`RecognizerOptions` field: its default, flags, help and range."""
    m = f.metadata
    bounds = {k: v for k, v in (("min", m["lo"]), ("max", m["hi"])) if v is not None}
    return typer.Option(f.default, *m["flags"], help=m["help"], **bounds)


def _with_recognizer_options(command):
    """``command`` with its parameter ``recognizer`` replaced, in its place, by one option per
    :class:`RecognizerOptions` field (one declaration of each for every command that has them); the
    command is called with ``recognizer=RecognizerOptions(...)`` of the values given."""
    import functools
    import inspect
    import typing

    hints = typing.get_type_hints(RecognizerOptions)
    fields = dataclasses.fields(RecognizerOptions)
    params = []
    for p in inspect.signature(command).parameters.values():
        if p.name != "recognizer":
            params.append(p)
            continue
        params += [inspect.Parameter(f.name, p.kind, default=_recognizer_option(f), annotation=hints[f.name])
                   for f in fields]

    @functools.wraps(command)
    def run(**values):
        return command(recognizer=RecognizerOptions(**{f.name: values.pop(f.name) for f in fields}), **values)

    run.__signature__ = inspect.Signature(params)
    run.__annotations__ = {p.name: p.annotation for p in params}  # what typer reads the types from
    return run


def recognizer_options(**options) -> dict:
    """EmotionRecognizer keyword arguments from values of the recogniser options (None: the default)."""
    return RecognizerOptions(**options).kwargs()


def _make_recognizer(options: RecognizerOptions):
    from .recognizer import EmotionRecognizer

    for name, owner in options.misplaced():
        _fail(f"--{name.replace('_', '-')} applies to the {owner} detector only (this run uses --detector "
              f"{str(options.detector).lower()})", 2)
    try:
        rec = EmotionRecognizer(**options.kwargs())
        rec.classes  # load the model now: a broken one fails before any work
        return rec
    except (EmorecError, ValueError) as e:
        _fail(str(e), 2)


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


_MAX_MP_OPT = typer.Option(MAX_PIXELS / 1e6, help="largest image accepted, in millions of pixels (as `serve`); a bigger one is "
                                       "refused, named, before it is decoded (0: no limit)", min=0)


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
    from .samples import sample_path
    from .sources import ImageSource

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

    from .pipeline import run
    from .writers import AnnotatedImages, CsvRows, JsonLines, TextLines

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
    from .video import process_video
    from .video_writer import CONTAINERS

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
    from .live import gui_problem, run_live

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


# ---------------------------------------------------------------- web page and HTTP API (issue 4)
_SERVER = {f.name: f.default for f in dataclasses.fields(ServerConfig)}  # serve's defaults are the server's


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to bind; the default serves this machine only"),
    port: int = typer.Option(8000, help="TCP port (0: any free one)", min=0, max=65535),
    model: str = typer.Option(_SERVER["default_model"],
                              help="default model of requests that name none (fer2013 or ferplus)"),
    detector: str = typer.Option(_SERVER["default_detector"],
                                 help="default face detector of requests that name none (haar or yunet)"),
    detector_model: Optional[Path] = typer.Option(_SERVER["detector_model"],
                                                  help="the YuNet .onnx file (else $EMOREC_YUNET, the cache, or a "
                                                       "one-time download at start)"),
    allowed_hosts: Optional[List[str]] = typer.Option(
        None, help="other Host names to answer (repeat or comma-separate; '*' answers any). Loopback names and "
                   "the bound address are always answered"),
    max_upload_mb: float = typer.Option(_SERVER["max_upload_bytes"] / 1e6, help="largest accepted image file, in MB"),
    max_megapixels: float = typer.Option(_SERVER["max_pixels"] / 1e6,
                                         help="largest accepted image, in millions of pixels", min=0.000001),
    max_decoded_mb: float = typer.Option(_SERVER["max_decoded_bytes"] / 1e6,
                                         help="largest decoded image (width x height x channels x bytes per sample), "
                                              "in MB"),
    timeout: float = typer.Option(_SERVER["analysis_timeout_s"],
                                  help="seconds an analysis may take once started (503 past it)"),
    queue_timeout: float = typer.Option(_SERVER["queue_timeout_s"],
                                        help="seconds a request may wait for an analysis thread (503 busy past it; "
                                             "the analysis is then never run)"),
    upload_timeout: float = typer.Option(_SERVER["upload_timeout_s"],
                                         help="seconds an upload may take to arrive (408 past it)"),
    max_pending: int = typer.Option(_SERVER["max_pending"],
                                    help="requests received, queued or analysed at once (503 busy past it, before "
                                         "the upload is read)"),
    workers: int = typer.Option(0, help="analysis threads sharing one loaded model (0 = CPUs, at most 4)"),
    log_level: str = typer.Option("info", help="uvicorn log level: critical, error, warning, info, debug"),
):
    """Serve the web page (GET /) and the HTTP API (POST /v1/analyze, GET /v1/models, /healthz, /docs)."""
    try:
        import fastapi, fastapi_offline, PIL, python_multipart, uvicorn  # noqa: F401, E401  (the serve extra)

        from .server import allowed_hosts_for, bind, is_loopback, serve as run_server
    except ImportError as e:
        _fail(f'serving needs the web extras ({e.name} is missing): pip install ".[serve]" (from a checkout of emorec)', 2)
    extra_hosts = [h.strip() for item in (allowed_hosts or []) for h in item.split(",") if h.strip()]
    try:
        cfg = ServerConfig(max_upload_bytes=int(max_upload_mb * 1e6), max_pixels=int(max_megapixels * 1e6),
                           max_decoded_bytes=int(max_decoded_mb * 1e6), analysis_timeout_s=timeout,
                           queue_timeout_s=queue_timeout, upload_timeout_s=upload_timeout, max_pending=max_pending,
                           default_model=model, preload=(model,), default_detector=detector,
                           detector_model=str(detector_model) if detector_model else None,
                           allowed_hosts=allowed_hosts_for(host, extra_hosts),
                           **({"workers": workers} if workers else {}))
    except ValueError as e:
        _fail(str(e), 2)
    if detector != "haar":  # its model file: found (or fetched once) now, with a clear error, not at startup
        from .detectors import get_detector

        try:
            get_detector(detector, **({"model": str(detector_model)} if detector_model else {}))
        except EmorecError as e:
            _fail(str(e), 2)
    if not is_loopback(host):
        typer.secho(f"warning: binding {host}: other machines can reach this server; it has no authentication",
                    fg=typer.colors.YELLOW, err=True)
    try:
        sock = bind(host, port)  # a busy port fails here, before anything is announced
    except EmorecError as e:
        _fail(str(e))
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"emorec serving on http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/ "
               "(API docs at /docs; Ctrl+C stops)", err=True)
    if "*" not in cfg.allowed_hosts and not is_loopback(host):
        typer.echo(f"answering the Host names {', '.join(cfg.allowed_hosts)} (others: --allowed-hosts)", err=True)
    try:
        run_server(host=host, port=port, config=cfg, log_level=log_level, sock=sock)
    except EmorecError as e:
        _fail(str(e))


@app.command()
def web(
    out: Path = typer.Option(..., "--out", "-o", help="folder to write the site into (new, empty, or a site "
                                                      "written before)"),
    yunet: Optional[Path] = typer.Option(None, help="YuNet's face_detection_yunet_2023mar.onnx to include "
                                                    "(default: $EMOREC_YUNET or emorec's cache; never downloaded)"),
    model: Optional[List[str]] = typer.Option(None, help="built-in model to include (repeat it; default: all)"),
    force: bool = typer.Option(False, "--force", help="write into a non-empty folder that is not an emorec site"),
):
    """Write the web page as a static site that runs in the browser: faces are found and read on the visitor's
    device (no frame leaves it), from any static file server, with no emorec process behind it."""
    from .web import build_site

    try:
        info = build_site(out, yunet, models=model or None, force=force)
    except EmorecError as e:
        _fail(str(e))
    typer.echo(f"wrote {info['files']} files ({info['bytes'] / 1e6:.1f} MB) to {info['out']}; serve that folder "
               f"with any static file server (e.g. python -m http.server -d {info['out']})")
    if not info["yunet"]:
        typer.echo(f"note: {info['problem']}", err=True)


# ---------------------------------------------------------------- many machines: Ray Data (issue 10)
@app.command()
@_with_recognizer_options
def batch(
    inputs: List[str] = typer.Argument(..., help="image/video files, folders, globs, or .txt/.csv/.parquet lists of "
                                                 "paths or URIs (s3://, gs://, file://)"),
    out: str = typer.Option(..., "--out", "-o", help="folder (or URI) of the Parquet dataset; a rerun continues it"),
    workers: int = typer.Option(0, help="actors in the pool, each with its own recogniser (0: one per CPU)"),
    address: Optional[str] = typer.Option(None, help="an existing Ray cluster (HOST:PORT, ray://HOST:10001, auto); "
                                                     "default $RAY_ADDRESS, else a local Ray on loopback"),
    every_seconds: float = typer.Option(1.0, help="videos: analyse one frame every S seconds (0: every frame)"),
    files_per_part: int = typer.Option(32, help="inputs per block, and per Parquet part written"),
    recognizer: RecognizerOptions = _RECOGNIZER,
    max_megapixels: float = _MAX_MP_OPT,
    progress: bool = typer.Option(True, "--progress/--no-progress"),
):
    r"""Run `detect` over large collections on Ray Data (pip install "emorec\[ray]"): a Parquet dataset in OUT,
    one row per face, and one per image without a face or with an error. A rerun skips what is done."""
    import os

    from tqdm import tqdm

    from .batch import require_ray, run_batch

    if every_seconds < 0 or files_per_part < 1 or workers < 0:
        _fail("--every-seconds must be >= 0, --files-per-part >= 1 and --workers >= 0", 2)
    try:
        require_ray()
    except EmorecError as e:
        _fail(str(e), 2)
    _make_recognizer(recognizer)  # bad options fail here, before Ray starts
    state: dict = {"bar": None, "errors": 0}

    def on_progress(done: int, total: int, s):
        if state["bar"] is None:
            for msg in s.problems:
                typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
            cluster = address or os.environ.get("RAY_ADDRESS")
            where = f"joining the Ray cluster at {cluster}" if cluster else "starting a local Ray on loopback"
            typer.echo(f"{s.inputs} input(s): {s.skipped} already in {out}, {total} to analyse"
                       + (f" ({s.retried} that failed before)" if s.retried else "")
                       + (f"; {where}" if total else ""), err=True)
            state["bar"] = tqdm(total=total, unit="file", disable=(not progress or not total) or None,
                                file=sys.stderr, leave=False)
        bar = state["bar"]
        for msg in s.error_messages[state["errors"]:]:
            line = typer.style(f"error: {msg}", fg=typer.colors.RED)
            typer.echo(line, err=True) if bar.disable else bar.write(line, file=sys.stderr)
        state["errors"] = len(s.error_messages)
        bar.update(done - bar.n)

    try:
        s = run_batch(inputs, out, recognizer_kwargs=recognizer.kwargs(), workers=workers, address=address,
                      every_seconds=every_seconds, files_per_part=files_per_part,
                      max_pixels=int(max_megapixels * 1e6), on_progress=on_progress)
    except EmorecError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail(f"interrupted: the parts written are kept in {out}; rerun the same command to continue", 130)
    finally:
        if state["bar"] is not None:
            state["bar"].close()
    if s.files:
        typer.echo(f"{s.files} file(s) analysed ({s.images} image(s), {s.frames} video frame(s)): {s.faces} face(s), "
                   f"{s.no_face} image(s)/frame(s) without a face, {s.errors} error(s); {s.images_per_s:.1f} images/s "
                   f"on {s.workers} worker(s) in {s.seconds:.1f} s (+{s.startup_s:.1f} s to start Ray); "
                   f"{s.parts} part(s) written to {out}", err=True)
    failed = s.errors + len(s.problems)
    if failed:
        typer.secho(f"{failed} failed", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def main():
    app()


if __name__ == "__main__":
    main()
