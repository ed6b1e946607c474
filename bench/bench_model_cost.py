"""What a model costs: ms per face (one face a call, as a frame with one face asks) and the whole pipeline's
frames/s (EmotionRecognizer().analyze: Haar + the model) on real photos, for each model and test-time option,
measured in one run with the settings taking turns round by round (a load that comes and goes falls on all).

Faces: the 24 real photos of ../shared/data/photos letterboxed to 640x480 (skips without them); the per-face time
uses the crops the default detector finds in them.

    python bench/bench_model_cost.py [--models fer2013 fer2013-ensemble] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["fer2013", "fer2013-ensemble"])
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args(argv)
    import photo_scenes

    if not photo_scenes.ready():
        print("skipped: no photos in ../shared/data/photos")
        return 0
    from emorec import EmotionRecognizer

    frames = [img for _, img in photo_scenes.letterboxed()]
    settings = {f"{m}{' --crops' if crops else ''}": EmotionRecognizer(model=m, crop_tta=crops)
                for m in a.models for crops in (False, True)}
    first = next(iter(settings.values()))
    crops = [first.crops(f, first.detect(f)) for f in frames]
    faces = [c[i:i + 1] for c in crops for i in range(len(c))]
    for rec in settings.values():  # load every model before timing
        rec.analyze(frames[0])
    per_face = {k: [] for k in settings}
    fps = {k: [] for k in settings}
    for _ in range(a.rounds):
        for name, rec in settings.items():
            t = time.perf_counter()
            for f in faces:
                rec.classifier.predict(f)
            per_face[name].append((time.perf_counter() - t) * 1000 / len(faces))
            t = time.perf_counter()
            for f in frames:
                rec.analyze(f)
            fps[name].append(len(frames) / (time.perf_counter() - t))
    print(f"{len(frames)} real photos at 640x480, {len(faces)} faces (Haar), {os.cpu_count()} CPUs, "
          f"median of {a.rounds} rounds")
    base = next(iter(settings))
    b_ms, b_fps = np.median(per_face[base]), np.median(fps[base])
    print(f"{'model':<28} {'ms/face':>8} {'x':>6} {'pipeline frames/s':>18} {'x':>6}")
    for name in settings:
        ms, f = np.median(per_face[name]), np.median(fps[name])
        print(f"{name:<28} {ms:>8.2f} {ms / b_ms:>5.2f}x {f:>18.1f} {f / b_fps:>5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
