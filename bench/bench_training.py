"""Training speed: seconds per FER2013 epoch (28,709 images, 48x48) for each architecture and precision,
measured with the training loop's own step (``emorec.training.train.train_step``: the uint8 batch converted
and augmented on the device, forward under autocast, backward, gradient scaling for fp16, Adam), on
synthetic batches of the real size, channels-last as ``emorec train`` runs it; then the wall time of the
shipped runs from their model cards.

    python bench/bench_training.py [--archs mini_xception_x2 mini_xception_x4] [--precisions fp32 bf16]
                                   [--device auto] [--steps 5] [--repeats 6] [--threads 2] [--batch 64]
                                   [--augment framing|seed]
    python bench/bench_training.py --eval-checkpoint RUN/last.pt [--threads 2] [--flush-denormal]

``--eval-checkpoint``: the validation pass of a run's checkpoint instead (1,000 images through
``emorec.training.train.evaluate_logits``), for its raw weights and their moving average (``--ema``), in float32
and under bf16 autocast: the seconds per 1,000 images of each, measured in one run; ``--flush-denormal`` sets
``torch.set_flush_denormal(True)`` before PyTorch starts its threads, as ``emorec train`` now does.

Measured 2026-12-06 13:11 on the committed checkpoint of the x6 run (``bench/checkpoints/fer2013_x6_kd3_ema_seed5/
last.pt``, epoch 38; Intel Xeon with AMX, 2 threads, the run paused): raw weights 24.2 s per 1,000 images in float32,
2.3 s in bf16 (10.5x); their moving average 4.1 s and 2.3 s. At epoch 43 the raw weights took 31.5 s in float32. They
hold many tiny values whose products are denormal, which this CPU's float32 kernels handle slowly (setting
``torch.set_flush_denormal`` after the threads exist did not change it). The run validated its raw weights in
float32 each epoch: 90 of its 235 s at epoch 43, and rising. ``emorec train`` then checked them under its own
autocast: the next epoch took 151 s, and the epochs crept up again, to 170-226 s by epoch 64. Flush-to-zero set
before the threads start (a scratch script, the raw weights of epoch 62, 500 images, the run paused): 44.5 s per
1,000 images in float32 without it, 4.3 s with it. ``emorec train`` now sets it first thing. On the committed
checkpoint, the same day at 14:09, the run paused: ``--flush-denormal`` off, raw weights 24.7 s in float32 and 2.5
in bf16, their average 4.4 and 2.4; on, raw weights 4.5 and 2.3, their average 4.4 and 2.4.

Measured 2026-11-25 14:45-14:49, 2-core development machine (AMD EPYC with AVX512-BF16), CPU, 2 threads,
batch 64, fastest of 6 blocks of 5 steps, four runs (range). The two cores were shared with four other
agents' work (load average 3-7): an unlucky block is 5-20x slower, so the fastest block is reported and these
are still upper bounds for an idle machine:
                      fp32            bf16
    mini_xception_x2  30.1-33.1 s     20.0-21.8 s   (~1.5x)
    mini_xception_x4  83.5-99.2 s     44.6-46.3 s   (~1.9x)
The models shipped then: two runs at once, one thread each, bf16: 110 epochs each, 117 and 115 min wall
(63.6 and 62.9 s/epoch).

Again at 18:35, no other work running (the machine was slower then: bench_vs_fer.py's `fer` took 27-29 ms a frame
against 26.8 earlier), bf16, 2 threads:
                      --augment seed    --augment framing
    mini_xception_x2  26.7 s            28.6 s   (the framing preset's photometry and erasing: +7%)
    mini_xception_x4                    51.7 s
The models shipped since (README "Train, evaluate, export"): fer2013 (x2) 80 epochs in 71 min wall, one thread,
beside the FER+ run; ferplus (x4) 45 epochs in 81 min, one thread and the last 9 epochs on two.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from emorec.training.config import AUGMENTATIONS
from emorec.training.train import resolve_device, train_step
from emorec.training.net import build_model

EPOCH_IMAGES = 28709


def seconds_per_epoch(arch: str, precision: str, device: torch.device, batch: int, steps: int,
                      repeats: int, augment: str = "framing") -> float:
    """The fastest of ``repeats`` blocks of ``steps`` steps (after 3 warm-up steps), scaled to an epoch: on a
    machine shared with other work, the fastest block is the one least disturbed."""
    torch.manual_seed(0)
    model = build_model(arch, 7).to(device=device, memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randint(0, 256, (batch, 1, 48, 48), dtype=torch.uint8, device=device)
    y = torch.nn.functional.one_hot(torch.randint(0, 7, (batch,), device=device), 7).float()

    def block(n):
        t0 = time.perf_counter()
        for _ in range(n):
            loss, _ = train_step(model, opt, scaler, x, y, generator=gen, augmentation=AUGMENTATIONS[augment],
                                 device=device, precision=precision)
        loss.item()  # waits for the device
        return time.perf_counter() - t0

    block(3)
    return min(block(steps) for _ in range(repeats)) / steps * EPOCH_IMAGES / batch


def eval_seconds(checkpoint: Path, device: torch.device, flush: bool, images: int = 1000) -> None:
    """Seconds per ``images`` of the validation pass, for a run checkpoint's raw weights and moving average, in
    float32 and under bf16 autocast."""
    from torch.optim.swa_utils import AveragedModel

    from emorec.training.train import autocast, ema_update, evaluate_logits, load_run_checkpoint

    ck = load_run_checkpoint(checkpoint)
    raw = build_model(ck["arch"], len(ck["classes"]))
    raw.load_state_dict(ck["model"])
    raw = raw.to(device=device, memory_format=torch.channels_last)
    models = {"raw weights": raw}
    if ck.get("ema"):
        ema = AveragedModel(raw, multi_avg_fn=ema_update(0.999), use_buffers=True)
        ema.load_state_dict(ck["ema"])
        models["moving average"] = ema.module
    x = torch.randint(0, 256, (images, 1, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    print(f"{checkpoint} (epoch {ck.get('epoch')}), {images} images, {torch.get_num_threads()} threads, flush-to-zero "
          f"{'on' if flush else 'off'}: seconds")
    for name, model in models.items():
        times = {}
        for precision in ("fp32", "bf16"):
            t = time.perf_counter()
            evaluate_logits(model, x.to(device), cast=autocast(device, precision))
            times[precision] = time.perf_counter() - t
        print(f"  {name:16} fp32 {times['fp32']:6.2f}  bf16 {times['bf16']:6.2f}  ({times['fp32'] / times['bf16']:.1f}x)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archs", nargs="+", default=["mini_xception_x2", "mini_xception_x4"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5, help="steps per timed block")
    ap.add_argument("--repeats", type=int, default=6, help="timed blocks; the fastest counts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--augment", default="framing", choices=list(AUGMENTATIONS))
    ap.add_argument("--eval-checkpoint", type=Path, help="time the validation pass of this run checkpoint instead")
    ap.add_argument("--flush-denormal", action="store_true",
                    help="numbers below float32's normal range count as 0, in every thread (as emorec train)")
    a = ap.parse_args()
    if a.flush_denormal:  # before any parallel operation, so that PyTorch's threads inherit it
        torch.set_flush_denormal(True)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    if a.eval_checkpoint:
        return eval_seconds(a.eval_checkpoint, device, a.flush_denormal)
    print(f"{device}, batch {a.batch}, {torch.get_num_threads()} threads, augment {a.augment}, fastest of {a.repeats} blocks of "
          f"{a.steps} steps: seconds per {EPOCH_IMAGES}-image epoch")
    print(f"  {'':18}" + "".join(f"{p:>10}" for p in a.precisions))
    for arch in a.archs:
        s = [seconds_per_epoch(arch, p, device, a.batch, a.steps, a.repeats, a.augment) for p in a.precisions]
        ratio = f"   ({s[0] / s[-1]:.2f}x {a.precisions[0]}/{a.precisions[-1]})" if len(s) > 1 else ""
        print(f"  {arch:18}" + "".join(f"{v:9.1f}s" for v in s) + ratio, flush=True)
    models = Path(__file__).resolve().parents[1] / "src" / "emorec" / "models"
    for card in sorted(models.glob("*.json")):
        c = json.loads(card.read_text())
        t = c.get("training_time")
        if t:
            print(f"shipped {c['name']} ({c['arch']}): {t['epochs_run']} epochs, {t['wall_seconds'] / 60:.0f} min wall, "
                  f"{t['seconds_per_epoch']} s/epoch ({c['recipe'].get('threads') or 'default'} thread(s) per run)")


if __name__ == "__main__":
    main()
