"""The ``emorec`` command line. Each command turns library exceptions into a message and an exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import EmorecError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Find faces and tell which emotion each shows.")


def _fail(msg: str, code: int = 1):
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _need_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        _fail('training needs PyTorch: pip install "emorec[train]"', 2)


# ---------------------------------------------------------------- training side
@app.command()
def train(
    data: Path = typer.Argument(..., help="fer2013.csv(.gz) or an image folder root/<split>/<emotion>/*.png"),
    out: Path = typer.Option(Path("runs/train"), help="run folder: checkpoints, log.csv, curves.png"),
    labels: str = typer.Option("fer2013", help="fer2013 (7 classes) or ferplus (8 classes, soft targets)"),
    ferplus_csv: Optional[Path] = typer.Option(None, help="FER+ votes (default: fer2013new.csv beside DATA)"),
    arch: str = typer.Option("mini_xception", help="mini_xception, mini_xception_x2, mini_xception_x4"),
    epochs: int = typer.Option(100),
    batch_size: int = typer.Option(64, help="per process"),
    lr: float = typer.Option(1e-3),
    weight_decay: float = typer.Option(1e-4),
    label_smoothing: float = typer.Option(0.0),
    schedule: str = typer.Option("plateau", help="plateau (reduce LR on plateau) or cosine"),
    warmup_epochs: int = typer.Option(0),
    lr_patience: int = typer.Option(12, help="epochs without validation-loss gain before the LR drops"),
    patience: int = typer.Option(50, help="early stopping on validation loss; 0 = off"),
    image_size: int = typer.Option(48),
    limit: int = typer.Option(0, help="use only the first N training rows"),
    seed: int = typer.Option(0),
    threads: int = typer.Option(0, help="PyTorch threads per process (0 = default)"),
    bf16: bool = typer.Option(False, help="bfloat16 autocast on the CPU (~1.7x faster where the CPU has AVX512-BF16)"),
    skip_bad_rows: bool = typer.Option(False, help="skip malformed rows and report how many"),
    resume: bool = typer.Option(False, help="continue from OUT/last.pt"),
    progress: bool = typer.Option(True),
):
    """Train a model (runs under torchrun for DistributedDataParallel too)."""
    _need_torch()
    from .training.train import TrainConfig, train as run

    cfg = TrainConfig(data=str(data), out=str(out), labels=labels,
                      ferplus_csv=str(ferplus_csv) if ferplus_csv else None, arch=arch, image_size=image_size,
                      epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                      label_smoothing=label_smoothing, schedule=schedule, warmup_epochs=warmup_epochs,
                      lr_patience=lr_patience, patience=patience, limit=limit, seed=seed, threads=threads, bf16=bf16,
                      skip_bad_rows=skip_bad_rows, resume=resume, progress=progress)
    try:
        best = run(cfg, log=lambda s: typer.echo(s, err=True))
    except (EmorecError, ValueError) as e:
        _fail(str(e))
    typer.echo(json.dumps({"best_epoch": best["epoch"] + 1, "val_acc": best["val_acc"], "run": str(out)}))


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
):
    """Accuracy, per-class precision/recall/F1 and a confusion matrix on a split."""
    from .classifier import EmotionClassifier
    from .data import load_dataset
    from .evaluate import metrics, predict_dataset, write_report

    try:
        clf = EmotionClassifier(model)
        label_set = labels or clf.card.get("labels", "ferplus" if len(clf.classes) == 8 else "fer2013")
        data_set = load_dataset(data, labels=label_set, ferplus_csv=ferplus_csv, image_size=clf.input_size,
                                skip_bad_rows=skip_bad_rows).split(None if split == "all" else split)
        if data_set.classes != clf.classes:
            _fail(f"model classes {clf.classes} differ from the data's {data_set.classes}; pass --labels")
        result = metrics(data_set.labels, predict_dataset(clf, data_set, flip=flip), clf.classes)
    except EmorecError as e:
        _fail(str(e))
    result.update(model=clf.name, data=str(data), split=split, flip_tta=flip, skipped_rows=len(data_set.bad_rows))
    js, png = write_report(result, out)
    for msg in data_set.bad_rows[:5]:
        typer.echo(f"skipped: {msg}", err=True)
    if data_set.bad_rows:
        typer.echo(f"skipped {len(data_set.bad_rows)} bad rows", err=True)
    typer.echo(f"{clf.name} on {split}: accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  "
               f"(n={result['n']}{', flip TTA' if flip else ''})")
    for c, m in result["per_class"].items():
        typer.echo(f"  {c:>10}  precision {m['precision']:.3f}  recall {m['recall']:.3f}  f1 {m['f1']:.3f}  n={m['support']}")
    typer.echo(f"wrote {js} and {png}")


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
    except EmorecError as e:
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
        typer.echo(f"{card['name']:>8}  {len(card['classes'])} classes  {card['arch']}  "
                   f"input {card['input_size']}x{card['input_size']}  PublicTest accuracy {acc}")


# ---------------------------------------------------------------- photos, videos and camera (issue 3)
_WRITABLE = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def _make_recognizer(model, flip, margin, scale_factor, min_neighbors, min_size, max_side):
    from .recognizer import EmotionRecognizer

    try:
        return EmotionRecognizer(model, flip_tta=flip, margin=margin, scale_factor=scale_factor,
                                 min_neighbors=min_neighbors, min_size=min_size, max_side=max_side)
    except (EmorecError, ValueError) as e:
        _fail(str(e), 2)


def _quiet_opencv():
    """OpenCV's and FFmpeg's own warnings (camera probing, undecodable data) would bury emorec's clear
    message: the command line reports those itself."""
    import os

    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def _new_run_dir(base: Path, name: str) -> Path:
    """base/name, or base/name2, name3... : each run gets a fresh folder and overwrites nothing."""
    k, path = 1, base / name
    while path.exists():
        k += 1
        path = base / f"{name}{k}"
    return path


def _annotated_name(src: Path, root: Optional[Path], used: set) -> Path:
    """Where an image's annotated copy goes, relative to the output folder (folder structure kept)."""
    rel = Path(root.name) / src.relative_to(root) if root is not None else Path(src.name)
    if rel.suffix.lower() not in _WRITABLE:
        rel = rel.with_name(rel.name + ".png")
    cand, k = rel, 1
    while str(cand) in used:
        k += 1
        cand = rel.with_name(f"{rel.stem}_{k}{rel.suffix}")
    used.add(str(cand))
    return cand


_MODEL_OPT = typer.Option("fer2013", "--model", "-m", help="fer2013, ferplus or a path to an .onnx")
_FLIP_OPT = typer.Option(False, "--flip", help="average each face with its mirror image (test-time augmentation)")
_MARGIN_OPT = typer.Option(0.05, help="crop margin around the Haar box, per side, as a fraction of its size")
_SF_OPT = typer.Option(1.1, help="Haar scale factor (smaller: finds more faces, slower)")
_NB_OPT = typer.Option(5, help="Haar minimum neighbours (larger: fewer false faces, misses more)")
_MIN_OPT = typer.Option(0.04, help="smallest face: fraction of the image's shorter side (<1) or pixels (>=1)")
_MAX_SIDE_OPT = typer.Option(1280, help="images larger than this are downscaled for detection (0: never)")


@app.command()
def detect(
    paths: Optional[List[Path]] = typer.Argument(None, help="image files or folders (searched recursively); "
                                                            "none: the bundled sample photo"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="folder for the annotated copies "
                                       "(default: a new runs/detect/predict, predict2, ...)"),
    save: bool = typer.Option(True, "--save/--no-save", help="write annotated copies"),
    as_json: bool = typer.Option(False, "--json", help='print one JSON object per image: {"file", "faces"}'),
    as_csv: bool = typer.Option(False, "--csv", help="print CSV rows, one per face"),
    model: str = _MODEL_OPT, flip: bool = _FLIP_OPT, margin: float = _MARGIN_OPT, scale_factor: float = _SF_OPT,
    min_neighbors: int = _NB_OPT, min_size: float = _MIN_OPT, max_side: int = _MAX_SIDE_OPT,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar for several images"),
):
    """Find the faces in photos and tell each one's emotion; writes annotated copies.

    Prints a line per face (or --json / --csv on stdout; messages go to stderr). Unreadable files are
    reported and skipped; the exit code is 1 if any image failed.
    """
    import csv as csv_mod

    import cv2
    from tqdm import tqdm

    from .drawing import draw_faces
    from .images import find_images, read_image
    from .samples import sample_path

    if as_json and as_csv:
        _fail("choose one of --json and --csv", 2)
    rec = _make_recognizer(model, flip, margin, scale_factor, min_neighbors, min_size, max_side)
    try:
        classes = rec.classes
    except EmorecError as e:
        _fail(str(e), 2)
    sources = list(paths) if paths else [sample_path()]
    jobs: list[tuple[Path, Optional[Path]]] = []  # (image, the folder it was found in)
    failed: list[str] = []
    for p in sources:
        if p.is_dir():
            found, skipped = find_images([p])
            if not found:
                failed.append(f"{p}: no image files in this folder")
            jobs += [(f, p) for f in found]
            if skipped:
                typer.echo(f"note: {p}: skipped {len(skipped)} file(s) that are not images by their extension",
                           err=True)
        else:
            jobs.append((p, None))
    for msg in failed:
        typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    machine = as_json or as_csv
    out_dir = (out if out is not None else _new_run_dir(Path("runs/detect"), "predict")) if save else None
    writer = None
    if as_csv:
        writer = csv_mod.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["file", "face", "x", "y", "w", "h", "emotion", "confidence", *classes, "error"])
    used: set = set()
    n_faces = n_saved = 0
    bar = tqdm(jobs, unit="image", disable=(not progress or len(jobs) < 2) or None, file=sys.stderr, leave=False)

    def say(line: str, err: bool = False):
        if bar.disable:
            typer.echo(line, err=err)
        else:
            bar.write(line, file=sys.stderr if err else sys.stdout)

    for path, root in bar:
        name = str(path)
        try:
            image = read_image(path)
            faces = rec.analyze(image)
        except (EmorecError, ValueError, MemoryError) as e:
            msg = str(e) if name in str(e) else f"{name}: {e}"
            failed.append(msg)
            say(typer.style(f"error: {msg}", fg=typer.colors.RED), err=True)
            if as_json:
                say(json.dumps({"file": name, "faces": [], "error": msg}))
            elif as_csv:
                writer.writerow([name, "", "", "", "", "", "", "", *[""] * len(classes), msg])
                sys.stdout.flush()
            continue
        n_faces += len(faces)
        if as_json:
            say(json.dumps({"file": name, "faces": [f.to_dict() for f in faces]}))
        elif as_csv:
            for i, f in enumerate(faces, 1):
                writer.writerow([name, i, *f.box, f.emotion, f"{f.confidence:.4f}",
                                 *(f"{f.scores[c]:.4f}" for c in classes), ""])
            if not faces:
                writer.writerow([name, 0, "", "", "", "", "", "", *[""] * len(classes), ""])
            sys.stdout.flush()
        else:
            for i, f in enumerate(faces, 1):
                say(f"{name}: face {i} [{', '.join(map(str, f.box))}] {f.emotion} {f.confidence:.2f}")
        if not faces:
            say(f"{name}: no face found", err=machine)
        if out_dir is not None:
            target = out_dir / _annotated_name(path, root, used)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                ok, buf = cv2.imencode(target.suffix, draw_faces(image, faces))  # any path, unicode too
                if ok:
                    target.write_bytes(buf.tobytes())
            except (OSError, cv2.error) as e:
                ok, why = False, (getattr(e, "strerror", None) or str(e)).strip().splitlines()[-1]
            else:
                why = "OpenCV could not encode it"
            if ok:
                n_saved += 1
            else:
                failed.append(f"{target}: cannot write the annotated copy of {name}: {why}")
                say(typer.style(f"error: {failed[-1]}", fg=typer.colors.RED), err=True)
    bar.close()
    n_images = len(jobs)
    summary = f"{n_images} image(s), {n_faces} face(s)"
    if n_saved:
        summary += f"; annotated copies in {out_dir}"
    typer.echo(summary, err=True)
    if failed:
        typer.secho(f"{len(failed)} failed", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@app.command()
def video(
    inputs: List[str] = typer.Argument(..., help="video files (or stream URLs)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="OUT.mp4 (one input) or a folder "
                                       "(default: a new runs/video/predict, predict2, ...)"),
    detect_every: int = typer.Option(10, help="run the full-frame detector every N frames and track in between "
                                             "(1: detect on every frame)"),
    smooth: float = typer.Option(0.6, help="weight of the past in each face's moving average of probabilities "
                                           "(0: no smoothing)"),
    max_frames: int = typer.Option(0, help="stop after N frames (0: the whole video)"),
    model: str = _MODEL_OPT, flip: bool = _FLIP_OPT, margin: float = _MARGIN_OPT, scale_factor: float = _SF_OPT,
    min_neighbors: int = _NB_OPT, min_size: float = _MIN_OPT, max_side: int = _MAX_SIDE_OPT,
    progress: bool = typer.Option(True, "--progress/--no-progress"),
):
    """Annotate videos: OUT.mp4 with boxes and labels, OUT.csv (frame, time, face id, box, scores) and
    OUT_timeline.png (each tracked face's emotions over time)."""
    from .video import process_video

    if detect_every < 1 or not 0 <= smooth < 1:
        _fail("--detect-every must be >= 1 and --smooth in [0, 1)", 2)
    rec = _make_recognizer(model, flip, margin, scale_factor, min_neighbors, min_size, max_side)
    _quiet_opencv()
    single_file = out is not None and out.suffix.lower() in (".mp4", ".m4v", ".mov", ".avi")
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
def live(
    source: str = typer.Option("0", "--source", "-s", help="camera index (0), video file or stream URL"),
    window: bool = typer.Option(True, "--window/--no-window", help="show the live view in an OpenCV window"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="also write the live view (frame and "
                                                                 "probability bars) to this mp4"),
    max_frames: int = typer.Option(0, help="stop after N frames (0: until the source ends or q)"),
    detect_every: int = typer.Option(10, help="full-frame detection every N frames, tracking in between"),
    smooth: float = typer.Option(0.6, help="weight of the past in the moving average of probabilities"),
    model: str = _MODEL_OPT, flip: bool = _FLIP_OPT, margin: float = _MARGIN_OPT, scale_factor: float = _SF_OPT,
    min_neighbors: int = _NB_OPT, min_size: float = _MIN_OPT, max_side: int = _MAX_SIDE_OPT,
):
    """Live view of a camera (or a video file): boxes, labels and probability bars per face; q quits."""
    from .live import gui_problem, run_live

    browser = ('for the live view in a web browser instead: pip install "emorec[serve]", run '
               "'emorec serve' and open http://127.0.0.1:8000/")
    if detect_every < 1 or not 0 <= smooth < 1:
        _fail("--detect-every must be >= 1 and --smooth in [0, 1)", 2)
    if window:
        problem = gui_problem()
        if problem:
            _fail(f"{problem}.\n  {browser}\n  or install the GUI build: pip install opencv-python "
                  "(in place of opencv-python-headless)\n  or save the live view without a window: "
                  "emorec live --source FILE --no-window --out live.mp4", 2)
    elif out is None:
        _fail("--no-window needs --out FILE.mp4 to write the live view to", 2)
    rec = _make_recognizer(model, flip, margin, scale_factor, min_neighbors, min_size, max_side)
    _quiet_opencv()
    try:
        s = run_live(source, recognizer=rec, window=window, out=out, max_frames=max_frames,
                     detect_every=detect_every, smooth=smooth)
    except (EmorecError, ValueError) as e:
        hint = f"\n  {browser}" if source.isdigit() else ""
        _fail(f"{e}{hint}")
    typer.echo(f"{s.frames} frames at {s.fps:.1f} frames/s{f'; wrote {out}' if out else ''}", err=True)


# ---------------------------------------------------------------- web page and HTTP API (issue 4)
@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to bind; the default serves this machine only"),
    port: int = typer.Option(8000, help="TCP port"),
    model: str = typer.Option("fer2013", help="default model of requests that name none (fer2013 or ferplus)"),
    max_upload_mb: float = typer.Option(10.0, help="largest accepted image file, in MB"),
    max_megapixels: float = typer.Option(40.0, help="largest accepted image, in millions of pixels"),
    timeout: float = typer.Option(20.0, help="seconds an analysis may take (503 past it)"),
    upload_timeout: float = typer.Option(30.0, help="seconds an upload may take to arrive (408 past it)"),
    workers: int = typer.Option(0, help="analysis threads sharing one loaded model (0 = CPUs, at most 4)"),
    log_level: str = typer.Option("info", help="uvicorn log level: critical, error, warning, info, debug"),
):
    """Serve the web page (GET /) and the HTTP API (POST /v1/analyze, GET /v1/models, /healthz, /docs)."""
    try:
        from .server import ServerConfig, is_loopback, serve as run_server
    except ImportError as e:
        _fail(f'serving needs the web extras ({e.name} is missing): pip install "emorec[serve]"', 2)
    try:
        cfg = ServerConfig(max_upload_bytes=int(max_upload_mb * 1e6), max_pixels=int(max_megapixels * 1e6),
                           analysis_timeout_s=timeout, upload_timeout_s=upload_timeout,
                           default_model=model, preload=(model,), **({"workers": workers} if workers else {}))
    except ValueError as e:
        _fail(str(e), 2)
    if not is_loopback(host):
        typer.secho(f"warning: binding {host}: other machines can reach this server; it has no authentication",
                    fg=typer.colors.YELLOW, err=True)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"emorec serving on http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/ "
               "(API docs at /docs; Ctrl+C stops)", err=True)
    try:
        run_server(host=host, port=port, config=cfg, log_level=log_level)
    except EmorecError as e:
        _fail(str(e))


def main():
    app()


if __name__ == "__main__":
    main()
