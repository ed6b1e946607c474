"""The training side of the command line: train (its options generated from TrainConfig), evaluate, export
and models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import EmorecError
from .common import _fail, _need_torch, app


def _config_option(f):
    """A typer parameter for one TrainConfig field: its default, help and allowed values, checked by the
    same function the dataclass uses (so a bad value is refused before any work, naming the option)."""
    from ..training.config import ConfigError, check, describe_range

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
    from ..training.config import ConfigError, TrainConfig
    from ..training.train import train as run

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

    from ..training.config import TrainConfig, option_fields

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
    model: str = typer.Option("fer2013", help="fer2013, ferplus, fer2013-ensemble (three networks, more accurate, "
                                              "2.8x the time a face) or a path to an .onnx"),
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
    from ..data import FERPLUS_PROTOCOLS
    from ..evaluate import OptionError, evaluate_model

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


def _written(build, check, against: str, limit: float, data: Optional[Path], split: str, validate=None) -> None:
    """Write a model (``build() -> path``), check it on random faces (``check(path, faces) -> max abs
    difference``, at most ``limit``), then with ``data`` record its validation (``validate``) and ``split``
    figures in its card."""
    import numpy as np

    try:
        path = build()
        diff = check(path, np.random.default_rng(0).integers(0, 256, (16, 48, 48), dtype=np.uint8))
    except (EmorecError, OSError) as e:
        _fail(str(e))
    typer.echo(f"wrote {path} and {path.with_suffix('.json')}; {against}: max abs difference {diff:.2e}")
    if diff >= limit:
        _fail(f"{path} differs ({against}) by {diff:.2e} (limit {limit:g})")
    if data is None:
        return
    from ..training.export import add_evaluation

    try:
        val = validate(path, data)["selection"] if validate else None
        ev = add_evaluation(path, data, split=split)["evaluation"][split]
    except EmorecError as e:
        _fail(str(e))
    if val:
        typer.echo(f"validation part of Training: accuracy {val['validation_accuracy']:.4f}")
    typer.echo(f"{split}: accuracy {ev['accuracy']:.4f} (flip TTA {ev['accuracy_flip_tta']:.4f}), "
               f"macro-F1 {ev['macro_f1']:.4f}; card: {path.with_suffix('.md')}")


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
    from ..training.export import export_onnx, max_abs_difference

    _written(lambda: export_onnx(checkpoint, out, name=name),
             lambda path, faces: max_abs_difference(checkpoint, path, faces),
             "ONNX Runtime against PyTorch", 1e-4, data, split)


@app.command()
def ensemble(
    members: list[str] = typer.Argument(..., help="two or more models: built-in names or exported .onnx files"),
    out: Path = typer.Option(..., help="the .onnx to write (a .json model card is written beside it)"),
    name: Optional[str] = typer.Option(None, help="model name in the card (default: the file's name)"),
    data: Optional[Path] = typer.Option(None, help="record the ensemble's accuracy on the validation part of "
                                                   "Training in its card, then evaluate it on --split"),
    split: str = typer.Option("PublicTest", help="split for --data; never a test split you select on"),
):
    """Join exported models into one ONNX graph that averages their probabilities (one model, by path)."""
    _need_torch()
    from ..training.ensemble import add_validation, build_ensemble, max_difference

    _written(lambda: build_ensemble(members, out, name=name),
             lambda path, faces: max_difference(path, members, faces),
             "against its members averaged one by one", 1e-5, data, split, validate=add_validation)


@app.command()
def models():
    """List the built-in models and their cards."""
    from ..model_card import list_models

    for card in list_models():
        acc = card.get("evaluation", {}).get("PublicTest", {}).get("accuracy")
        cal = card.get("calibration", {})
        typer.echo(f"{card['name']:>16}  {len(card['classes'])} classes  {card['arch']}  "
                   f"input {card['input_size']}x{card['input_size']}  PublicTest accuracy {acc}"
                   + (f"  calibrated (T={cal['temperature']:g}); suggested --min-confidence "
                      f"{cal['suggested_min_confidence']:g}" if cal else ""))
    from ..detectors import DESCRIPTIONS, available

    typer.echo("face detectors (--detector):")
    for name in available():
        typer.echo(f"{name:>16}  {DESCRIPTIONS.get(name, '')}")
