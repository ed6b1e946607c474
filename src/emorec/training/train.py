"""Train an emotion classifier: ``emorec train`` (or ``torchrun --nproc_per_node=N -m emorec train``).

Reads top to bottom: config, data, model, the epoch loop (augment, step, validate), callbacks
(reduce-LR-on-plateau or cosine, early stopping, best/last checkpoints, CSV log, plot).
A run is one folder: ``last.pt`` (to ``--resume``), ``best.pt``, ``log.csv``, ``curves.png``, ``config.json``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..data import Dataset, load_dataset
from ..errors import DataError
from ..preprocess import preprocess
from .augment import random_affine
from .net import build_model


@dataclass
class TrainConfig:
    data: str
    out: str = "runs/train"
    labels: str = "fer2013"  # or "ferplus"
    ferplus_csv: str | None = None
    arch: str = "mini_xception"
    image_size: int = 48
    epochs: int = 100
    batch_size: int = 64  # per process
    lr: float = 1e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    schedule: str = "plateau"  # "plateau" (the seed's ReduceLROnPlateau) or "cosine"
    warmup_epochs: int = 0
    lr_patience: int = 12  # the seed: patience / 4
    lr_factor: float = 0.1
    patience: int = 50  # early stopping on validation loss; 0 turns it off
    train_split: str = "Training"
    val_split: str = "PublicTest"
    limit: int = 0  # use only the first N training rows (quick runs, tests)
    seed: int = 0
    threads: int = 0  # torch threads per process; 0 = PyTorch's default
    bf16: bool = False  # bfloat16 autocast for forward/backward (weights, Adam and validation stay float32)
    skip_bad_rows: bool = False
    resume: bool = False
    progress: bool = True
    augment: dict = field(default_factory=lambda: dict(rotation=10.0, shift=0.1, zoom=0.1, flip=True))


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Categorical cross-entropy against target distributions (one-hot, smoothed or FER+ votes)."""
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def _setup_distributed() -> tuple[int, int]:
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) < 2:
        return 0, 1
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def _split_data(cfg: TrainConfig) -> tuple[Dataset, Dataset]:
    data = load_dataset(cfg.data, labels=cfg.labels, ferplus_csv=cfg.ferplus_csv,
                        image_size=cfg.image_size, skip_bad_rows=cfg.skip_bad_rows)
    if data.usage is None:  # a folder without split folders: hold out 10% (seeded) for validation
        rng = np.random.default_rng(cfg.seed)
        val_mask = rng.random(len(data)) < 0.1
        train, val = data.subset(~val_mask), data.subset(val_mask)
    else:
        train, val = data.split(cfg.train_split), data.split(cfg.val_split)
    if cfg.val_split in ("PrivateTest",):
        raise DataError("PrivateTest is a test split: never select models on it; validate on PublicTest")
    if cfg.limit:
        train = train.subset(np.arange(len(train)) < cfg.limit)
    return train, val


def _targets(d: Dataset, smoothing: float) -> torch.Tensor:
    t = torch.from_numpy(d.soft_targets().astype(np.float32))
    return t * (1 - smoothing) + smoothing / t.shape[1] if smoothing else t


@torch.no_grad()
def evaluate_logits(model, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch].contiguous(memory_format=torch.channels_last))
                      for i in range(0, len(x), batch)])


def _lr_at(cfg: TrainConfig, epoch: int, step: float) -> float | None:
    """Cosine schedule with linear warm-up (None for the plateau schedule)."""
    if cfg.schedule != "cosine":
        return None
    t = epoch + step
    if t < cfg.warmup_epochs:
        return cfg.lr * (t + 1e-3) / cfg.warmup_epochs
    p = (t - cfg.warmup_epochs) / max(1e-9, cfg.epochs - cfg.warmup_epochs)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))


def _save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a kill mid-write never leaves a broken checkpoint


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
        ax.plot(ep, [float(r[f"train_{key}"]) for r in rows], label="train")
        ax.plot(ep, [float(r[f"val_{key}"]) for r in rows], label="validation")
        ax.set_xlabel("epoch"), ax.set_ylabel(key), ax.grid(alpha=0.3), ax.legend()
    fig.suptitle(f"learning curves ({log_path.parent.name})")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def train(cfg: TrainConfig, log=print) -> dict:
    """Run training; returns the best epoch's metrics. ``log`` receives one line per epoch."""
    rank, world = _setup_distributed()
    main = rank == 0
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed), np.random.seed(cfg.seed), torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    if main:
        out.mkdir(parents=True, exist_ok=True)

    # ---- data: files -> arrays -> the one preprocessing function -> tensors
    train_set, val_set = _split_data(cfg)
    if main and train_set.bad_rows:
        log(f"skipped {len(train_set.bad_rows)} bad rows (first: {train_set.bad_rows[0]})")
    x_train = torch.from_numpy(preprocess(train_set.images, cfg.image_size))
    y_train = _targets(train_set, cfg.label_smoothing)
    x_val = torch.from_numpy(preprocess(val_set.images, cfg.image_size))
    y_val = torch.from_numpy(val_set.labels)
    t_val = _targets(val_set, 0.0)
    classes = train_set.classes

    # ---- model and optimiser
    model = build_model(cfg.arch, len(classes)).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=cfg.lr_factor, patience=cfg.lr_patience)
    start, best, stale = 0, {"val_loss": float("inf"), "val_acc": 0.0, "epoch": -1}, 0
    if cfg.resume and (out / "last.pt").exists():
        ck = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"]), opt.load_state_dict(ck["optimizer"])
        plateau.load_state_dict(ck["plateau"])
        start, best, stale = ck["epoch"] + 1, ck["best"], ck["stale"]
        torch.set_rng_state(ck["rng"])
        log(f"resumed from {out / 'last.pt'} at epoch {start}")
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    if main:
        (out / "config.json").write_text(json.dumps({**asdict(cfg), "classes": classes, "world_size": world,
                                                     "train_rows": len(train_set), "val_rows": len(val_set)},
                                                    indent=2))
    log_path = out / "log.csv"
    if main and start == 0:
        log_path.write_text("epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds\n")
    elif main:  # drop rows of epochs that will be run again
        lines = log_path.read_text().splitlines(keepends=True) if log_path.exists() else []
        log_path.write_text("".join(lines[:1] + [r for r in lines[1:] if int(r.split(",")[0]) < start]))

    steps = len(x_train) // (cfg.batch_size * world) or 1
    for epoch in range(start, cfg.epochs):
        t0 = time.time()
        gen.manual_seed(cfg.seed * 1000 + rank * 7919 + epoch)  # reproducible and resumable per epoch
        perm = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(cfg.seed + epoch))
        shard = perm[rank::world]  # every process sees a different part of the same permutation
        ddp_model.train()
        tot_loss = torch.zeros(()); tot_correct = torch.zeros(()); tot_n = torch.zeros(())
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
            xb = random_affine(x_train[idx], generator=gen, **cfg.augment)
            xb = xb.contiguous(memory_format=torch.channels_last)
            yb = y_train[idx]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                logits = ddp_model(xb).float()
            loss = soft_cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += loss.detach() * len(idx)
            tot_correct += (logits.argmax(1) == yb.argmax(1)).sum()
            tot_n += len(idx)

        # ---- validation: each process scores its share, the sums are combined
        vshard = torch.arange(len(x_val))[rank::world]
        vlogits = evaluate_logits(model, x_val[vshard])
        stats = torch.stack([tot_loss, tot_correct, tot_n,
                             soft_cross_entropy(vlogits, t_val[vshard]) * len(vshard),
                             (vlogits.argmax(1) == y_val[vshard]).sum().float(), torch.tensor(len(vshard) * 1.0)])
        if world > 1:
            dist.all_reduce(stats)
        train_loss, train_acc = (stats[0] / stats[2]).item(), (stats[1] / stats[2]).item()
        val_loss, val_acc = (stats[3] / stats[5]).item(), (stats[4] / stats[5]).item()
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
                    "epoch": epoch, "val_acc": val_acc, "val_loss": val_loss}
            if improved_acc:
                _save({"model": model.state_dict(), **meta}, out / "best.pt")
            _save({"model": model.state_dict(), "optimizer": opt.state_dict(), "plateau": plateau.state_dict(),
                   "best": best, "stale": stale, "rng": torch.get_rng_state(), **meta, "config": asdict(cfg)},
                  out / "last.pt")
            with open(log_path, "a") as fh:
                fh.write(f"{epoch},{lr_now:.3g},{train_loss:.5f},{train_acc:.5f},{val_loss:.5f},{val_acc:.5f},"
                         f"{seconds:.1f}\n")
            _plot(log_path, out / "curves.png")
            log(f"epoch {epoch + 1}/{cfg.epochs}  lr {lr_now:.2g}  train loss {train_loss:.4f} acc {train_acc:.4f}"
                f"  val loss {val_loss:.4f} acc {val_acc:.4f}  best {best['val_acc']:.4f}@{best['epoch'] + 1}"
                f"  {seconds:.1f}s")
        if cfg.patience and stale >= cfg.patience:
            if main:
                log(f"early stop: validation loss has not improved for {cfg.patience} epochs")
            break
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return best
