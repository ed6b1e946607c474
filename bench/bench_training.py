"""Training speed of mini-XCEPTION on this machine: seconds per FER2013 epoch (28,709 images, 48x48),
channels-last against the default memory format, and bfloat16 autocast (``emorec train --bf16``) on top,
measured in one run on synthetic batches (augmentation, forward, backward and Adam step included); then the
wall time of the shipped runs from their model cards.

    python bench/bench_training.py [--arch mini_xception] [--steps 30] [--threads 0]

Measured 2026-11-25 on the 2-core development machine (AMD EPYC with AVX512-BF16), 2 threads, batch 64:
                         mini_xception   mini_xception_x2
    default (NCHW)          50.4 s          102.1 s
    channels-last           25.9 s           51.4 s
    channels-last + bf16    19.8 s           31.9 s   (3.2x the default)
The shipped runs: two at once, one thread each, --bf16: 110 epochs each, 117 and 115 min wall
(63.6 and 62.9 s/epoch).
"""

import argparse
import csv
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from emorec.training.augment import random_affine
from emorec.training.net import build_model

EPOCH_IMAGES = 28709


def seconds_per_epoch(arch: str, channels_last: bool, batch: int, steps: int, bf16: bool = False) -> float:
    torch.manual_seed(0)
    model = build_model(arch, 7)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.rand(batch, 1, 48, 48) * 2 - 1, torch.randint(0, 7, (batch,))
    for i in range(steps + 3):
        if i == 3:
            t0 = time.perf_counter()
        xb = random_affine(x).contiguous(memory_format=fmt)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(xb).float()
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps * EPOCH_IMAGES / batch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="mini_xception")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"{a.arch}, batch {a.batch}, {torch.get_num_threads()} threads: seconds per {EPOCH_IMAGES}-image epoch")
    plain = seconds_per_epoch(a.arch, False, a.batch, a.steps)
    last = seconds_per_epoch(a.arch, True, a.batch, a.steps)
    half = seconds_per_epoch(a.arch, True, a.batch, a.steps, bf16=True)
    print(f"  default (NCHW)         {plain:6.1f} s/epoch\n"
          f"  channels-last          {last:6.1f} s/epoch  ({plain / last:.2f}x faster)\n"
          f"  channels-last + bf16   {half:6.1f} s/epoch  ({plain / half:.2f}x faster)")
    models = Path(__file__).resolve().parents[1] / "src" / "emorec" / "models"
    for card in sorted(models.glob("*.json")):
        c = json.loads(card.read_text())
        t = c.get("training_time")
        if t:
            print(f"shipped {c['name']} ({c['arch']}): {t['epochs_run']} epochs, {t['wall_seconds'] / 60:.0f} min wall, "
                  f"{t['seconds_per_epoch']} s/epoch ({c['recipe'].get('threads') or 'default'} thread(s) per run)")


if __name__ == "__main__":
    main()
