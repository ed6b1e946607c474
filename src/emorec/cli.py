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
                      lr_patience=lr_patience, patience=patience, limit=limit, seed=seed, threads=threads,
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
