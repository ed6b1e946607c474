"""Choosing the detectors' defaults on real photographs: false faces, missed faces and time, in one run.

Data (bench/photo_scenes.py, from the 24 real photos in ../shared/data/photos; skips without them):
  * portraits: the 21 single-person photos in 16 variants each (crop, mirror, brightness), 640x480:
    336 frames with exactly one face. "false" = frames where more than one face is reported,
    "missed" = frames where the face is not found.
  * group: 20 composite 1280x960 scenes, 6 real faces each (120), 40-200 px, turned up to +-25 deg.
  * ms: median time of detector.detect on the 24 photos letterboxed to 640x480.

    python bench/bench_detector.py [--quick]

Measured here (2 CPU cores, other work running; 2026-11-25):
RESULTS
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import photo_scenes as ps  # noqa: E402

from emorec.detectors import get_detector  # noqa: E402

HAAR = [  # (label, options)
    ("seed: fer's Haar (min 50 px, full size)", dict(min_size=50, work_size=0, strong=0)),
    ("old emorec (clahe, min 24 px)", dict(min_size=24, work_size=0, equalize="clahe", strong=0)),
    ("min 40 px, full size", dict(min_size=40, work_size=0, strong=0)),
    ("min 40 px, work 24 px", dict(min_size=40, work_size=24, strong=0)),
    ("min 40 px, work 30 px", dict(min_size=40, work_size=30, strong=0)),
    ("min 40, work 24, clahe", dict(min_size=40, work_size=24, equalize="clahe", strong=0)),
    ("min 40, work 24, neighbours 6", dict(min_size=40, work_size=24, min_neighbors=6, strong=0)),
    ("min 40, work 24, eye check < 4.0", dict(min_size=40, work_size=24, strong=4.0)),
    ("DEFAULT: min 40, work 24, eye check < 3.5", dict()),
    ("min 32, work 24, eye check < 3.5", dict(min_size=32)),
]
YUNET = [
    ("yunet full size, score 0.7", dict(work_size=0)),
    ("yunet min 20, work 12, score 0.7", dict(score_threshold=0.7, work_size=12)),
    ("yunet min 20, work 12, score 0.8", dict(score_threshold=0.8, work_size=12)),
    ("yunet min 20, work 16, score 0.8", dict(score_threshold=0.8, work_size=16)),
    ("yunet min 20, work 16, score 0.75", dict(score_threshold=0.75, work_size=16)),
    ("yunet DEFAULT", dict()),
]


def measure(det, portraits, groups, frames):
    false = missed = 0
    for _, img in portraits:
        n = len(det.detect(img))
        false += n > 1
        missed += n == 0
    found = total = gfalse = 0
    for _, img, truth in groups:
        f, fa = ps.matches(det.detect(img).boxes, truth)
        found, total, gfalse = found + f, total + len(truth), gfalse + fa
    times = []
    for _, img in frames:
        t = time.perf_counter()
        det.detect(img)
        times.append(time.perf_counter() - t)
    return dict(false=false / len(portraits), missed=missed / len(portraits), found=found / total,
                group_false=gfalse, ms=1000 * float(np.median(times)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="4 variants per portrait, 8 scenes")
    a = ap.parse_args()
    if not ps.available():
        print(f"skipped: the real photos are not at {ps.PHOTOS}")
        return
    portraits = ps.portraits(4 if a.quick else 16)
    groups = ps.group_scenes(8 if a.quick else 20)
    frames = ps.letterboxed() * 3
    print(f"{len(portraits)} portrait frames, {sum(len(t) for _, _, t in groups)} faces in {len(groups)} group "
          f"scenes, {len(frames)} timed 640x480 frames")
    print(f"{'detector':<38} {'false':>6} {'missed':>7} {'group found':>12} {'group false':>12} {'ms':>6}")
    for label, opts in HAAR + [(lab, dict(o, model=ps.YUNET)) for lab, o in YUNET]:
        det = get_detector("yunet" if label.startswith("yunet") else "haar", **opts)
        r = measure(det, portraits, groups, frames)
        print(f"{label:<38} {r['false']:>6.1%} {r['missed']:>7.1%} {r['found']:>12.1%} {r['group_false']:>12d} "
              f"{r['ms']:>6.1f}", flush=True)


if __name__ == "__main__":
    main()
