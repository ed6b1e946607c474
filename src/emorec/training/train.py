"""Train an emotion classifier: ``emorec train`` (or ``torchrun --nproc_per_node=N -m emorec train``).

Reads top to bottom: device and precision, the run folder, data, model, the epoch loop (augment, step,
validate), callbacks (reduce-LR-on-plateau or cosine, early stopping, best/last checkpoints, CSV log, plot),
and at the end one evaluation of ``best.pt`` on PublicTest.

Honest validation: the checkpoint is selected, the LR reduced and training stopped on a *validation part
carved from Training* (stratified by class, ``--val-fraction`` of it, seeded by ``--val-seed``). PublicTest
is measured once, after training, with the final ``best.pt`` (``test.json``); it never steers training.

With ``--ema D``, an exponential moving average of the weights (PyTorch's ``AveragedModel``; decay D a step, less
over the first steps: :func:`ema_update`) is what is validated, selected and kept in ``best.pt``; the raw weights'
validation accuracy is logged beside it.

A run is one folder: ``last.pt`` (to ``--resume``), ``best.pt``, ``log.csv``, ``curves.png``,
``config.json`` (the configuration, the validation split and the selection rule) and ``test.json``.
On a GPU the whole data set sits on the device as uint8 and each batch is converted and augmented there.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..data import Dataset, load_dataset
from ..errors import EmorecError, ModelError
from ..evaluate import metrics
from ..files import writable_folder
from ..preprocess import SCALE
from .augment import augment
from .config import AUGMENTATIONS, ConfigError, TrainConfig, selection_rule
from .net import build_model

__all__ = ["TrainConfig", "train", "train_step", "to_input", "resolve_device", "resolve_precision"]

RUN_FILES = ("config.json", "last.pt", "best.pt", "log.csv", "curves.png", "test.json")
_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


# ---------------------------------------------------------------- device and precision
def resolve_device(name: str) -> torch.device:
    """``auto``: cuda if available, else mps, else cpu; a device that is not there is a :class:`ConfigError`."""
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps and mps.is_available())
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        why = "this PyTorch is built without CUDA" if torch.version.cuda is None else "no GPU is visible"
        raise ConfigError("device", f"cuda is not available ({why}; PyTorch {torch.__version__})")
    if name == "mps" and not mps_ok:
        raise ConfigError("device", "mps is not available (needs Apple silicon and a PyTorch built with MPS)")
    if name == "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(name)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 autocast is slow."""
    probes = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(p is not None and p() for p in probes)


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto``: bf16 where the device has it (GPUs, CPUs with AVX512-BF16/AMX), fp16 on GPUs without it,
    fp32 on other CPUs and on mps."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu":
        return "bf16" if cpu_has_bf16() else "fp32"
    return "fp32"


def autocast(device: torch.device, precision: str):
    """Autocast for the forward pass (weights, Adam and validation stay float32)."""
    if precision not in _AMP_DTYPES:
        return nullcontext()
    return torch.autocast(device.type, dtype=_AMP_DTYPES[precision])


def _setup_distributed(device_name: str) -> tuple[int, int, torch.device]:
    """One process per GPU under torchrun (NCCL), or per CPU share (Gloo); a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world < 2:
        return 0, 1, device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError("device", f"process {local_rank} has no GPU: {torch.cuda.device_count()} visible; "
                                        "start at most one process per GPU (--nproc_per_node)")
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        backend = "nccl"
    elif device.type == "mps":
        raise ConfigError("device", "DistributedDataParallel does not run on mps; use --device cpu or one process")
    else:
        backend = "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), device


# ---------------------------------------------------------------- data
def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Categorical cross-entropy against target distributions (one-hot, smoothed or FER+ votes)."""
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def to_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 1, H, W)`` -> float32 in [-1, 1], bit for bit what :func:`emorec.preprocess.preprocess`
    gives for crops already at the model's size (the batch stays on its device)."""
    return x.to(torch.float32).mul_(SCALE).sub_(1.0)


def _load(cfg: TrainConfig) -> Dataset:
    return load_dataset(cfg.data, labels=cfg.labels, ferplus_csv=cfg.ferplus_csv, image_size=cfg.image_size,
                        skip_bad_rows=cfg.skip_bad_rows)


def _split_data(cfg: TrainConfig, data: Dataset | None = None) -> tuple[Dataset, Dataset]:
    """(training part, validation part), both from the Training split (the whole data if it has no splits)."""
    data = data if data is not None else _load(cfg)
    train = data.split(cfg.train_split) if data.usage is not None else data
    if cfg.limit:
        train = train.subset(np.arange(len(train)) < cfg.limit)
    return train.stratified_split(cfg.val_fraction, cfg.val_seed)


def _test_data(cfg: TrainConfig, data: Dataset) -> Dataset | None:
    if data.usage is None or not (data.usage == cfg.test_split).any():
        return None
    return data.split(cfg.test_split)


def _targets(d: Dataset, smoothing: float) -> torch.Tensor:
    t = torch.from_numpy(d.soft_targets().astype(np.float32))
    return t * (1 - smoothing) + smoothing / t.shape[1] if smoothing else t


def teacher_targets(cfg: TrainConfig, d: Dataset, targets: torch.Tensor) -> torch.Tensor:
    """Knowledge distillation (Hinton et al. 2015), offline: the teacher's probabilities for each training
    image (averaged with its mirror image, uncalibrated), blended with the label targets by
    ``--distill-weight``. Computed once, through ONNX Runtime, before the first epoch."""
    from ..classifier import EmotionClassifier
    from ..labels import common_names

    try:
        teacher = EmotionClassifier(cfg.teacher, flip_tta=True, calibrated=False, threads=cfg.threads or None)
    except (EmorecError, OSError, ValueError) as e:
        raise ConfigError("teacher", str(e)) from e
    if teacher.classes != common_names(d.classes):
        raise ConfigError("teacher", f"{teacher.name} predicts {teacher.classes}, the data has {d.classes}")
    probs = torch.from_numpy(teacher.predict(d.images)).to(targets.device)
    return targets * (1 - cfg.distill_weight) + probs * cfg.distill_weight


def _images(d: Dataset, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(d.images)).unsqueeze(1).to(device)  # uint8, once


def validation_record(cfg: TrainConfig, val: Dataset) -> dict:
    """What the validation part is: enough to check that another run used the same rows."""
    return {"from": cfg.train_split, "fraction": cfg.val_fraction, "seed": cfg.val_seed, "stratified": True,
            "rows": len(val), "rows_sha256": val.fingerprint(),
            "class_counts": np.bincount(val.labels, minlength=len(val.classes)).tolist()}


# ---------------------------------------------------------------- model steps
@torch.no_grad()
def evaluate_logits(model, x: torch.Tensor, batch: int = 512, cast=None) -> torch.Tensor:
    """float32 logits of uint8 images ``(N, 1, H, W)``, in eval mode, without autocast (or under ``cast``, an
    :func:`autocast` context)."""
    model.eval()
    with cast or nullcontext():
        return torch.cat([model(to_input(x[i:i + batch]).contiguous(memory_format=torch.channels_last)).float()
                          for i in range(0, len(x), batch)])


def train_step(model, opt, scaler, xb: torch.Tensor, yb: torch.Tensor, *, generator, augmentation: dict,
               device: torch.device, precision: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One step on a uint8 batch: convert and augment on the device, forward under autocast, backward
    (scaled for fp16), Adam. Returns the detached loss and logits."""
    x = augment(to_input(xb), augmentation, generator).contiguous(memory_format=torch.channels_last)
    with autocast(device, precision):
        logits = model(x).float()
    loss = soft_cross_entropy(logits, yb)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    return loss.detach(), logits.detach()


def ema_update(decay: float):
    """The update of an exponential moving average of the weights, for ``AveragedModel(multi_avg_fn=...)``: after
    ``n`` steps the average keeps ``min(decay, (1 + n) / (10 + n))`` of itself (TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``). With the decay alone (0.999), the random initial weights
    still made up 20% of the average after 4 epochs of FER+, and the average answered one class for every face;
    the ramp lets it follow the first epochs. Integer buffers (BatchNorm's batch count) take the model's value."""

    def update(averaged: list, current: list, n) -> None:
        d = min(decay, (1.0 + float(n)) / (10.0 + float(n)))
        for a, c in zip(averaged, current):
            if a.is_floating_point():
                a.lerp_(c, 1.0 - d)
            else:
                a.copy_(c)

    return update


def _lr_at(cfg: TrainConfig, epoch: int, step: float) -> float | None:
    """Cosine schedule with linear warm-up (None for the plateau schedule)."""
    if cfg.schedule != "cosine":
        return None
    t = epoch + step
    if t < cfg.warmup_epochs:
        return cfg.lr * (t + 1e-3) / cfg.warmup_epochs
    p = (t - cfg.warmup_epochs) / max(1e-9, cfg.epochs - cfg.warmup_epochs)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))


# ---------------------------------------------------------------- files
def _save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a kill mid-write never leaves a broken checkpoint


def load_run_checkpoint(path: Path) -> dict:
    """A checkpoint written by :func:`train` (:func:`emorec.training.checkpoint.read_checkpoint`)."""
    from .checkpoint import read_checkpoint

    return read_checkpoint(path)


def read_init(cfg: TrainConfig) -> dict:
    """The checkpoint ``cfg.init`` (``--init``), read before anything in the run folder changes (it may lie
    there, and ``--overwrite`` empties it); refused, naming the file, when it is not a checkpoint."""
    try:
        return load_run_checkpoint(Path(cfg.init))
    except ModelError as e:
        raise ConfigError("init", str(e)) from e


def init_weights(cfg: TrainConfig, ck: dict, classes: list[str]) -> dict:
    """The network of the ``--init`` checkpoint ``ck``, to fine-tune; refused when it holds another
    architecture or other classes than this run trains."""
    if (ck.get("arch"), ck.get("classes")) != (cfg.arch, classes):
        raise ConfigError("init", f"{cfg.init} holds {ck.get('arch')} for {ck.get('classes')}; this run trains "
                                  f"{cfg.arch} for {classes}")
    return ck["model"]


def _check_run_folder(cfg: TrainConfig, out: Path) -> None:
    """Never overwrite a run silently; never 'resume' from nothing."""
    if out.exists() and not out.is_dir():
        raise ConfigError("out", f"{out} is a file, not a folder")
    if cfg.resume:
        if not (out / "last.pt").is_file():
            raise ConfigError("resume", f"{out / 'last.pt'} not found: nothing to resume "
                                        "(leave out --resume to start a new run)")
        return
    held = [f for f in ("config.json", "last.pt") if (out / f).exists()]
    if held and not cfg.overwrite:
        raise ConfigError("out", f"{out} already holds a run ({', '.join(held)}); pass --resume to continue it "
                                 "or --overwrite to replace it")


def _plot(log_path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(log_path) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    ep = [int(r["epoch"]) for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("loss", a), ("acc", b)):
        ax.plot(ep, [float(r[f"train_{key}"]) for r in rows], label="train (augmented)")
        ax.plot(ep, [float(r[f"val_{key}"]) for r in rows], label="validation (part of Training)")
        if key == "acc" and rows[0].get("raw_val_acc"):
            ax.plot(ep, [float(r["raw_val_acc"]) for r in rows], label="validation, raw weights (not averaged)")
        ax.set_xlabel("epoch"), ax.set_ylabel(key), ax.grid(alpha=0.3), ax.legend()
    fig.suptitle(f"learning curves ({log_path.parent.name})")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def _measure_test(model, test_set: Dataset, device: torch.device, cfg: TrainConfig, best: dict) -> dict:
    """PublicTest, one pass with the selected checkpoint (float32, no test-time augmentation)."""
    logits = evaluate_logits(model, _images(test_set, device)).float().cpu()
    loss = soft_cross_entropy(logits, _targets(test_set, 0.0)).item()
    res = metrics(test_set.labels, torch.softmax(logits, 1).numpy(), test_set.classes)
    return {"split": cfg.test_split, "rows": res["n"], "accuracy": res["accuracy"], "loss": round(loss, 5),
            "macro_f1": res["macro_f1"], "checkpoint": "best.pt", "epoch": best["epoch"] + 1,
            "measured": f"once, after training, with best.pt ({selection_rule(cfg)}); never used to select, "
                        "stop or tune",
            "labels": "majority vote of the FER+ annotators" if cfg.labels == "ferplus" else "FER2013 labels",
            "per_class": res["per_class"], "confusion_matrix": res["confusion_matrix"]}


# ---------------------------------------------------------------- training
def train(cfg: TrainConfig, log=print) -> dict:
    """Run training; returns the best epoch's validation metrics and, under ``"test"``, the one PublicTest
    measurement of ``best.pt``. ``log`` receives one line per epoch."""
    # numbers below float32's normal range count as 0 (x86's flush-to-zero and denormals-are-zero): trained weights
    # hold many tiny values whose denormal products slow a CPU's float32 kernels tenfold (bench/bench_training.py).
    # Set before the first parallel operation, so that the CPU threads PyTorch starts then inherit it.
    torch.set_flush_denormal(True)
    rank, world, device = _setup_distributed(cfg.device)
    main = rank == 0
    precision = resolve_precision(cfg.precision, device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed), np.random.seed(cfg.seed), torch.manual_seed(cfg.seed)

    # ---- the run folder: checked and made writable before the data is read (all processes alike)
    out = Path(cfg.out)
    _check_run_folder(cfg, out)
    start_from = read_init(cfg) if cfg.init and not cfg.resume else None  # --resume continues the run's own
    writable_folder(out, "run folder")
    if world > 1:
        dist.barrier()  # every process has checked before the first one writes
    if main and cfg.overwrite:
        for f in RUN_FILES:
            (out / f).unlink(missing_ok=True)

    # ---- data: files -> uint8 arrays -> the device, once; batches are converted there
    data = _load(cfg)
    train_set, val_set = _split_data(cfg, data)
    test_set = _test_data(cfg, data)
    del data
    if main and train_set.bad_rows:
        log(f"skipped {len(train_set.bad_rows)} bad rows (first: {train_set.bad_rows[0]})")
    classes = train_set.classes
    x_train, y_train = _images(train_set, device), _targets(train_set, cfg.label_smoothing).to(device)
    c_train = y_train.argmax(1)  # the class each training image counts as, for the training accuracy
    if cfg.teacher:
        if main:
            log(f"teacher {cfg.teacher}: its probabilities for the {len(train_set)} training images, once "
                "(mirror-averaged; several minutes on a CPU for an ensemble)")
        y_train = teacher_targets(cfg, train_set, y_train)
    x_val, y_val, t_val = _images(val_set, device), torch.from_numpy(val_set.labels).to(device), \
        _targets(val_set, 0.0).to(device)
    validation = validation_record(cfg, val_set)
    rule = selection_rule(cfg)

    # ---- model and optimiser
    model = build_model(cfg.arch, len(classes)).to(device=device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=cfg.lr_factor, patience=cfg.lr_patience)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    start, best, stale = 0, {"val_loss": float("inf"), "val_acc": -1.0, "epoch": -1}, 0
    if cfg.resume:
        ck = load_run_checkpoint(out / "last.pt")
        was = (ck.get("arch"), ck.get("classes"), (ck.get("validation") or {}).get("rows_sha256"))
        if was != (cfg.arch, classes, validation["rows_sha256"]):
            raise ConfigError("resume", f"{out / 'last.pt'} is from another run (architecture, classes or "
                                        "validation split differ); use another --out or --overwrite")
        model.load_state_dict(ck["model"]), opt.load_state_dict(ck["optimizer"])
        plateau.load_state_dict(ck["plateau"])
        if ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
        start, best, stale = ck["epoch"] + 1, ck["best"], ck["stale"]
        torch.set_rng_state(ck["rng"])
        if device.type == "cuda" and ck.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ck["cuda_rng"])
        if main:
            log(f"resumed from {out / 'last.pt'} at epoch {start}")
    elif start_from is not None:
        model.load_state_dict(init_weights(cfg, start_from, classes))
        if main:
            log(f"started from the network in {cfg.init}")
    ema = None  # the weights' moving average: made after a resumed run's weights are loaded, its state restored
    if cfg.ema:
        from torch.optim.swa_utils import AveragedModel

        ema = AveragedModel(model, multi_avg_fn=ema_update(cfg.ema), use_buffers=True)
        if cfg.resume and ck.get("ema"):
            ema.load_state_dict(ck["ema"])
    kept = model if ema is None else ema.module  # the network validated, selected and saved in best.pt
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        ddp_model = model
    gen = torch.Generator(device=device)
    record = {**asdict(cfg), "classes": classes, "world_size": world, "device": device.type, "precision": precision,
              "augmentation": AUGMENTATIONS[cfg.augment], "train_rows": len(train_set), "validation": validation,
              "selection": rule,
              "test": {"split": cfg.test_split, "rows": len(test_set) if test_set is not None else 0},
              "measured": {"log.csv": "train_loss/train_acc: the augmented training part, averaged over the "
                                      "epoch; val_loss/val_acc: the validation part, after each epoch",
                           "best.pt": rule, "early stopping and LR plateau": "validation loss",
                           "test.json": f"{cfg.test_split}, once, after training, with best.pt"}}
    if main:
        (out / "config.json").write_text(json.dumps(record, indent=2) + "\n")
        test_note = (f"{cfg.test_split}: {len(test_set)} rows, measured once at the end" if test_set is not None
                     else f"no {cfg.test_split} rows: no test measurement")
        log(f"{device.type}, {precision}, {world} process(es); training part {len(train_set)} rows, validation "
            f"part {len(val_set)} rows ({rule}); {test_note}")
    log_path = out / "log.csv"
    if main and start == 0:
        log_path.write_text("epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds" + (",raw_val_acc" if ema else "")
                            + "\n")
    elif main:  # drop rows of epochs that will be run again
        lines = log_path.read_text().splitlines(keepends=True) if log_path.exists() else []
        log_path.write_text("".join(lines[:1] + [r for r in lines[1:] if int(r.split(",")[0]) < start]))

    steps = len(x_train) // (cfg.batch_size * world) or 1
    for epoch in range(start, cfg.epochs):
        t0 = time.time()
        gen.manual_seed(cfg.seed * 1000 + rank * 7919 + epoch)  # reproducible and resumable per epoch
        perm = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(cfg.seed + epoch))
        shard = perm[rank::world].to(device)  # every process takes a different part of the same permutation
        ddp_model.train()
        tot = torch.zeros(3, device=device)  # loss sum, correct, rows
        bar = range(steps)
        if main and cfg.progress:
            from tqdm import tqdm

            bar = tqdm(bar, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, unit="batch")
        for i in bar:
            lr = _lr_at(cfg, epoch, i / steps)
            if lr is not None:
                for g in opt.param_groups:
                    g["lr"] = lr
            idx = shard[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            yb = y_train[idx]
            loss, logits = train_step(ddp_model, opt, scaler, x_train[idx], yb, generator=gen,
                                      augmentation=AUGMENTATIONS[cfg.augment],
                                      device=device, precision=precision)
            if ema is not None:
                ema.update_parameters(model)
            tot += torch.stack([loss * len(idx), (logits.argmax(1) == c_train[idx]).sum().float(),
                                torch.tensor(float(len(idx)), device=device)])

        # ---- validation on the part of Training held out: each process scores its share, sums combined
        if world > 1:
            for b in [*model.buffers(), *(kept.buffers() if ema is not None else ())]:  # BatchNorm statistics
                dist.broadcast(b, 0)  # of process 0: the ones best.pt will hold
        vshard = torch.arange(len(x_val), device=device)[rank::world]
        vlogits = evaluate_logits(kept, x_val[vshard])
        # the raw weights, a check beside the average, in the training's own precision: half the cost of float32 even
        # with flush-to-zero (x6, 2 cores, per 1,000 images: 4.5 s against 2.3; 24.7 s without it: bench_training.py)
        raw = [] if ema is None else [(evaluate_logits(model, x_val[vshard], cast=autocast(device, precision))
                                       .argmax(1) == y_val[vshard]).sum().float()]
        stats = torch.cat([tot, torch.stack([soft_cross_entropy(vlogits, t_val[vshard]) * len(vshard),
                                             (vlogits.argmax(1) == y_val[vshard]).sum().float(),
                                             torch.tensor(float(len(vshard)), device=device), *raw])])
        if world > 1:
            dist.all_reduce(stats)
        stats = stats.tolist()
        train_loss, train_acc = stats[0] / stats[2], stats[1] / stats[2]
        val_loss, val_acc = stats[3] / stats[5], stats[4] / stats[5]
        raw_acc = f",{stats[6] / stats[5]:.5f}" if ema is not None else ""
        if cfg.schedule == "plateau":
            plateau.step(val_loss)
        lr_now = opt.param_groups[0]["lr"]

        # ---- callbacks: best checkpoint (validation accuracy), early stopping (validation loss)
        improved_acc = val_acc > best["val_acc"]
        if val_loss < best["val_loss"] - 1e-4:
            best["val_loss"], stale = val_loss, 0
        else:
            stale += 1
        if improved_acc:
            best.update(val_acc=val_acc, epoch=epoch, val_loss_at_best=val_loss)
        seconds = time.time() - t0
        if main:
            meta = {"arch": cfg.arch, "classes": classes, "image_size": cfg.image_size, "labels": cfg.labels,
                    "epoch": epoch, "val_acc": val_acc, "val_loss": val_loss, "validation": validation,
                    "selection": rule, "config": asdict(cfg)}
            if improved_acc:
                _save({"model": kept.state_dict(), **meta}, out / "best.pt")
            _save({"model": model.state_dict(), "ema": None if ema is None else ema.state_dict(),
                   "optimizer": opt.state_dict(), "plateau": plateau.state_dict(),
                   "scaler": scaler.state_dict(), "best": best, "stale": stale, "rng": torch.get_rng_state(),
                   "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None, **meta},
                  out / "last.pt")
            with open(log_path, "a") as fh:
                fh.write(f"{epoch},{lr_now:.3g},{train_loss:.5f},{train_acc:.5f},{val_loss:.5f},{val_acc:.5f},"
                         f"{seconds:.1f}{raw_acc}\n")
            _plot(log_path, out / "curves.png")
            log(f"epoch {epoch + 1}/{cfg.epochs}  lr {lr_now:.2g}  train loss {train_loss:.4f} acc {train_acc:.4f}"
                f"  val loss {val_loss:.4f} acc {val_acc:.4f}{f' (raw weights {raw_acc[1:]})' if raw_acc else ''}"
                f"  best {best['val_acc']:.4f}@{best['epoch'] + 1}"
                f"  {seconds:.1f}s")
        if cfg.patience and stale >= cfg.patience:
            if main:
                log(f"early stop: validation loss has not improved for {cfg.patience} epochs")
            break

    # ---- the one measurement on PublicTest, with the checkpoint the validation part selected
    if world > 1:
        dist.barrier()
    if main:
        if test_set is None:
            test = {"split": None, "measured": f"nothing: the data has no {cfg.test_split} rows"}
        else:
            ck = load_run_checkpoint(out / "best.pt")
            model.load_state_dict(ck["model"])
            test = _measure_test(model, test_set, device, cfg, best)
            log(f"{cfg.test_split} (measured once, best.pt from epoch {test['epoch']}): accuracy "
                f"{test['accuracy']:.4f}  loss {test['loss']:.4f}  (n={test['rows']})")
        (out / "test.json").write_text(json.dumps(test, indent=2) + "\n")
        best = {**best, "val_rows": len(val_set), "test": {k: test.get(k) for k in ("split", "rows", "accuracy")}}
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return best
