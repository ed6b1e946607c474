"""The training configuration: one dataclass, the single source of truth for ``emorec train``.

Every field carries its default, its help text and its allowed values (choices or a range) in the
field's metadata; the command line's options are generated from it (``emorec.cli``) and the same
checks run when a :class:`TrainConfig` is made in Python. No PyTorch here: the command line imports
this module to build its options.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from ..errors import EmorecError

# name -> mini-XCEPTION constructor keyword arguments (see net.py); the model card records both.
ARCHITECTURES: dict[str, dict] = {
    "mini_xception": dict(stem=8, widths=(16, 32, 64, 128)),  # the paper's, ~60k parameters
    "mini_xception_x2": dict(stem=16, widths=(32, 64, 128, 256)),
    "mini_xception_x4": dict(stem=32, widths=(64, 128, 256, 512), dropout=0.2),
    "mini_xception_x6": dict(stem=48, widths=(96, 192, 384, 768), dropout=0.2),
}
# name -> augmentation parameters (see augment.py); the run's config.json and the model card record both.
AUGMENTATIONS: dict[str, dict] = {
    # the Keras mini-XCEPTION demo's ImageDataGenerator: rotation 10 deg, shifts and zoom of 10%, horizontal flip
    "seed": dict(rotation=10.0, shift=0.1, zoom=0.1, flip=True),
    # also the framing of other data sets: tighter/looser crops and shifts, blur/sharpen, contrast, brightness,
    # and random erasing (half the images lose a 2-20% rectangle)
    "framing": dict(rotation=15.0, shift=0.12, zoom=0.2, flip=True, sharpness=1.0, contrast=0.3, brightness=0.15,
                    erase=0.5),
}
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class ConfigError(EmorecError, ValueError):
    """A training option has a value it cannot take; ``option`` is its command-line name."""

    def __init__(self, name: str, message: str):
        self.field = name
        self.option = "--" + name.replace("_", "-")
        super().__init__(f"{self.option}: {message}")


def _opt(default: Any = None, help: str = "", *, choices=None, lo=None, lo_open=False, hi=None, hi_open=False,
         cli: bool = True, factory=None):
    meta = dict(help=help, choices=tuple(choices) if choices else None, lo=lo, lo_open=lo_open, hi=hi,
                hi_open=hi_open, cli=cli)
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    data: str = _opt(help="fer2013.csv(.gz) or an image folder root/<split>/<emotion>/*.png")
    out: str = _opt("runs/train", "run folder: checkpoints, log.csv, curves.png, config.json, test.json")
    labels: str = _opt("fer2013", "fer2013 (7 classes) or ferplus (8 classes, soft targets)",
                       choices=("fer2013", "ferplus"))
    ferplus_csv: Optional[str] = _opt(None, "FER+ votes (default: fer2013new.csv beside DATA)")
    arch: str = _opt("mini_xception", "network: the paper's mini-XCEPTION (~60k parameters) or 2x/4x its widths",
                     choices=ARCHITECTURES)
    image_size: int = _opt(48, "input side in pixels", lo=16)
    epochs: int = _opt(100, "epochs to train (the last one counts, also after --resume)", lo=1)
    batch_size: int = _opt(64, "images per step, per process", lo=1)
    lr: float = _opt(1e-3, "Adam learning rate", lo=0, lo_open=True)
    weight_decay: float = _opt(1e-4, "Adam weight decay", lo=0)
    label_smoothing: float = _opt(0.0, "label smoothing of the targets", lo=0, hi=1, hi_open=True)
    schedule: str = _opt("plateau", "plateau (reduce the LR when validation loss stalls) or cosine",
                         choices=("plateau", "cosine"))
    warmup_epochs: int = _opt(0, "linear LR warm-up epochs (cosine schedule)", lo=0)
    lr_patience: int = _opt(12, "epochs without validation-loss gain before the LR drops (plateau)", lo=0)
    lr_factor: float = _opt(0.1, "LR multiplier on a plateau", lo=0, lo_open=True, hi=1, hi_open=True)
    patience: int = _opt(50, "early stopping: epochs without validation-loss gain; 0 = off", lo=0)
    val_fraction: float = _opt(0.1, "part of Training held out (stratified by class) to select the checkpoint "
                                    "and stop early", lo=0, lo_open=True, hi=1, hi_open=True)
    val_seed: int = _opt(0, "seed of the validation split")
    limit: int = _opt(0, "use only the first N Training rows, validation part included (quick runs); 0 = all",
                      lo=0)
    seed: int = _opt(0, "seed of initialisation, shuffling and augmentation")
    device: str = _opt("auto", "auto: cuda if available, else mps, else cpu", choices=DEVICES)
    precision: str = _opt("auto", "autocast: fp32, bf16, fp16 (with a gradient scaler) or auto (bf16 on GPUs "
                                  "and CPUs that have it, fp16 on GPUs without it, else fp32)",
                          choices=PRECISIONS)
    threads: int = _opt(0, "PyTorch CPU threads per process; 0 = PyTorch's default", lo=0)
    skip_bad_rows: bool = _opt(False, "skip malformed rows and report how many")
    resume: bool = _opt(False, "continue the run in OUT from OUT/last.pt")
    overwrite: bool = _opt(False, "replace the run already in OUT")
    progress: bool = _opt(True, "progress bar per epoch")
    train_split: str = _opt("Training", cli=False)
    test_split: str = _opt("PublicTest", "measured once, after training, with best.pt; never used to select",
                           cli=False)
    teacher: Optional[str] = _opt(None, "distil: ONNX model(s) whose probabilities (mirror-averaged; an ensemble "
                                        "as A+B) blend into the targets: a model name or .onnx path")
    distill_weight: float = _opt(0.5, "with --teacher: the teacher's share of each target (the rest: the label, "
                                      "smoothed)", lo=0, hi=1)
    init: Optional[str] = _opt(None, "fine-tune: start from the network in a checkpoint (best.pt or last.pt of an "
                                     "earlier run of the same architecture and classes); the optimiser, schedule "
                                     "and epochs start afresh (with --resume: the run's own last.pt)")
    ema: float = _opt(0.0, "exponential moving average of the weights, its decay per step (e.g. 0.999): the "
                           "average is validated, kept in best.pt and exported, the raw weights' validation "
                           "accuracy logged beside it; 0 = off", lo=0, hi=1, hi_open=True)
    augment: str = _opt("framing", "augmentation preset: seed (rotation, shift, zoom, flip) or framing (also "
                                   "crop scale, blur/sharpen, contrast, brightness, random erasing)",
                        choices=AUGMENTATIONS)

    def __post_init__(self):
        if not self.data:
            raise ConfigError("data", "no data file or folder given")
        for f in fields(self):
            check(f.name, getattr(self, f.name))
        if self.resume and self.overwrite:
            raise ConfigError("overwrite", "cannot be combined with --resume: choose one")
        if self.test_split == self.train_split:
            raise ConfigError("test_split", f"must differ from the training split {self.train_split!r}")


def option_fields():
    """The fields that are command-line options, in order, with their metadata."""
    return [f for f in fields(TrainConfig) if f.metadata.get("cli", True)]


def check(name: str, value):
    """Raise :class:`ConfigError` if ``value`` is not allowed for field ``name``; returns the value."""
    meta = TrainConfig.__dataclass_fields__[name].metadata
    if value is None:
        return value
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(name, f"{value!r} is not one of {', '.join(meta['choices'])}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None or hi is not None:
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(name, f"{value} is not a finite number")
        if lo is not None and (value <= lo if meta["lo_open"] else value < lo):
            raise ConfigError(name, f"{value} is too small: {describe_range(meta)}")
        if hi is not None and (value >= hi if meta["hi_open"] else value > hi):
            raise ConfigError(name, f"{value} is too large: {describe_range(meta)}")
    return value


def describe_range(meta) -> str:
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and hi is not None:
        return f"must be in {'(' if meta['lo_open'] else '['}{lo}, {hi}{')' if meta['hi_open'] else ']'}"
    if lo is not None:
        return f"must be {'>' if meta['lo_open'] else '>='} {lo}"
    return f"must be {'<' if meta['hi_open'] else '<='} {hi}"


def selection_rule(cfg: TrainConfig) -> str:
    weights = f" of the weights' moving average (decay {cfg.ema:g} a step)" if cfg.ema else ""
    return (f"best validation accuracy{weights} on {cfg.val_fraction * 100:g}% of {cfg.train_split} "
            f"(stratified by class, seed {cfg.val_seed})")
