"""Serving and scale: serve (the web page and HTTP API, issue 4), web (the static in-browser site) and batch
(many machines on Ray Data, issue 10)."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import EmorecError
from ..options import RecognizerOptions
from ..server import ServerConfig
from .common import _MAX_MP_OPT, _RECOGNIZER, _fail, _make_recognizer, _with_recognizer_options, app

# ---------------------------------------------------------------- web page and HTTP API (issue 4)
_SERVER = {f.name: f.default for f in dataclasses.fields(ServerConfig)}  # serve's defaults are the server's


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to bind; the default serves this machine only"),
    port: int = typer.Option(8000, help="TCP port (0: any free one)", min=0, max=65535),
    model: str = typer.Option(_SERVER["default_model"],
                              help="default model of requests that name none (fer2013, ferplus or fer2013-ensemble)"),
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
        for extra in ("fastapi", "fastapi_offline", "PIL", "python_multipart", "uvicorn"):  # the serve extra
            importlib.import_module(extra)
        from ..server import allowed_hosts_for, bind, is_loopback, serve as run_server
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
        from ..detectors import get_detector

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
    from ..web import build_site

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
    r"""Run `detect` over large collections on Ray Data (pip install ".[ray]" from a checkout): a Parquet dataset in OUT,
    one row per face, and one per image without a face or with an error. A rerun skips what is done."""
    import os

    from tqdm import tqdm

    from ..batch import require_ray, run_batch

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
