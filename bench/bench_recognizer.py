"""End-to-end cost of rec.analyze on real 640x480 frames beside detection alone, for each detector, in
one run: how much classification adds on top of detection.

Frames: the 24 real photos of ../shared/data/photos letterboxed to 640x480 (bench/photo_scenes.py; 29
faces). Detection alone and rec.analyze are timed alternately frame by frame (a busy machine slows both
alike); figures are medians over --repeat passes of all frames. Skips without the photos.

    python bench/bench_recognizer.py [--repeat 5] [--flip]

Measured here (2 CPU cores, idle machine; 2026-11-25):
    24 real photos letterboxed to 640x480, 2 CPUs, median over 5 passes
    detector | faces | detect ms analyze ms  added | frames/s
        haar |    27 |     10.99      11.58   5.4% |     86.3
       yunet |    28 |      5.25       6.03  15.0% |    165.8
(The old figure, 16.6 ms for one face, was measured on a synthetic plain-background scene.)
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import photo_scenes as ps  # noqa: E402

from emorec import EmotionRecognizer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--flip", action="store_true", help="with flip test-time augmentation")
    a = ap.parse_args()
    if not ps.ready():
        return
    frames = [f for _, f in ps.letterboxed()]
    print(f"{len(frames)} real photos letterboxed to 640x480, {os.cpu_count()} CPUs, median over {a.repeat} passes")
    print(f"{'detector':>8} | {'faces':>5} | {'detect ms':>9} {'analyze ms':>10} {'added':>6} | {'frames/s':>8}")
    for name in ("haar", "yunet"):
        rec = EmotionRecognizer(detector=name, flip_tta=a.flip)
        rec.analyze(frames[0])  # load the model outside the timings
        det, ana, faces = [], [], 0
        for rep in range(a.repeat):
            for f in frames:
                t0 = time.perf_counter()
                rec.detect(rec.frame(f))
                t1 = time.perf_counter()
                n = len(rec.analyze(f))
                t2 = time.perf_counter()
                det.append(t1 - t0)
                ana.append(t2 - t1)
                faces += n if rep == 0 else 0
        d, m = 1000 * statistics.median(det), 1000 * statistics.median(ana)
        print(f"{name:>8} | {faces:>5} | {d:>9.2f} {m:>10.2f} {100 * (m - d) / d:>5.1f}% | {1000 / m:>8.1f}")


if __name__ == "__main__":
    main()
