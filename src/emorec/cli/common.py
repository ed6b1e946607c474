"""What the commands share: the typer ``app`` they register on, the error exit, and the recogniser options
(one typer option per :class:`RecognizerOptions` field) with the recogniser they build."""

from __future__ import annotations

import dataclasses
import importlib

import typer

from ..errors import EmorecError
from ..images import MAX_PIXELS
from ..options import RecognizerOptions

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Find faces and tell which emotion each shows.")


def _fail(msg: str, code: int = 1):
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _need_torch():
    try:
        importlib.import_module("torch")
    except ImportError:
        _fail('training needs PyTorch: pip install ".[train]" (from a checkout of emorec)', 2)


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
    from ..recognizer import EmotionRecognizer

    for name, owner in options.misplaced():
        _fail(f"--{name.replace('_', '-')} applies to the {owner} detector only (this run uses --detector "
              f"{str(options.detector).lower()})", 2)
    try:
        rec = EmotionRecognizer(**options.kwargs())
        rec.classes  # load the model now: a broken one fails before any work
        return rec
    except (EmorecError, ValueError) as e:
        _fail(str(e), 2)


_MAX_MP_OPT = typer.Option(MAX_PIXELS / 1e6, help="largest image accepted, in millions of pixels (as `serve`); a bigger one is "
                                       "refused, named, before it is decoded (0: no limit)", min=0)
