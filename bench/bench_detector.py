"""Choosing the detectors' defaults on real photographs: false faces, missed faces and time, in one run.

Data (bench/photo_scenes.py, from the 24 real photos in ../shared/data/photos; skips without them):
  * portraits: the 21 single-person photos in 16 variants each (crop, mirror, brightness), 640x480:
    336 frames with exactly one face. "false" = frames where more than one face is reported,
    "missed" = frames where the face is not found.
  * group: 20 composite 1280x960 scenes, 6 real faces each (120), 40-200 px, turned up to +-25 deg.
  * ms, mean: median and mean time of detector.detect on the 24 photos letterboxed to 640x480, 3 rounds; the
    detectors take turns frame by frame, so a changing load on the machine falls on all of them alike (compare
    rows as ratios). A check of doubtful boxes costs only on the frames that have some (a quarter of these):
    the mean shows it, the median hardly.
  * face-free: boxes found in the parts of the 24 photos below every face (18 of them) at 0.5x, 1x and 2x and
    letterboxed to 640x480 (72 images, every box false); empty ms: mean time on the 18 letterboxed ones, timed
    with the others (where Haar's search finds no face, the default searches the picture turned too).
  * the 24 photos at their own size (240x427 to 1434x2333): faces found of the 28 that YuNet reads at full
    resolution (confidence >= 0.8, side >= 30 px), and boxes that are no face.
  * real group photos (``python bench/fetch_photos.py``'s group part: 11 photos of 2 to 6 people from npm and PyPI
    packages, no default chosen on them), at their own size, scored the same way.

    python bench/bench_detector.py [--quick] [--seeds N [N ...]] [--rows LABEL-PART ...]

Haar rows: OpenCV's detectMultiScale as it is (``min_neighbors`` given: the seed's settings, the old CLAHE default, a plain
search at today's step), earlier defaults (bench/haar_variants.py) and today's (a group of fewer than 12
windows must gather 6 windows of OpenCV's alt cascade in one of three views of it; large windows searched on a
bordered copy; src/emorec/detectors/haar.py). The composite group scenes are
made from the same 21 portraits the Haar default was tuned on (bench/bench_scales.py), so their figures are not
independent. The figures of each run, with their dates, are in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import photo_scenes as ps  # noqa: E402

from emorec.detectors import get_detector  # noqa: E402
from emorec.detectors.haar import HaarDetector  # noqa: E402
from haar_variants import (EqualizedHaar, EveryBoxCheckedHaar, OneCascadeHaar, PreviousHaar,  # noqa: E402
                            TwoLooksHaar, UprightOnlyHaar, WideBorderHaar)

HAAR = [  # (label, detector class, options)
    ("seed: fer's Haar (1.1, 5, min 50 px)", HaarDetector, dict(min_size=50, work_size=0,
                                                                 scale_factor=1.1, min_neighbors=5)),
    ("old emorec (clahe, 1.1, 5, min 24 px)", EqualizedHaar, dict(min_size=24, work_size=0,
                                                                  scale_factor=1.1, min_neighbors=5)),
    ("1.3, OpenCV grouping, 3 neighbours, no check", HaarDetector, dict(min_neighbors=3)),
    ("PREVIOUS: weight < 6 checked, lone windows", PreviousHaar, dict()),
    ("EARLIER: 1.3, every box checked", EveryBoxCheckedHaar, dict()),
    ("boxes of < 12 windows checked, one cascade", OneCascadeHaar, dict()),
    ("BEFORE: ... and then the alt cascade (5)", TwoLooksHaar, dict()),
    ("... upright search alone (until 12-06 eve)", UprightOnlyHaar, dict()),
    ("DEFAULT: the alt cascade alone (6), a border", HaarDetector, dict()),
    ("... the border from windows of 0.5", WideBorderHaar, dict()),
]
YUNET = [
    ("yunet min 20, work 16, score 0.8", dict(score_threshold=0.8)),
    ("yunet DEFAULT: min 20, work 16, score 0.85", dict()),
    ("yunet DEFAULT, runtime opencv", dict(runtime="opencv")),
]


def full_size(det, photos):
    """(faces found, reference faces, false boxes) on the photos at their own resolution."""
    found = total = false = 0
    for img, ref in photos:
        f, fa = ps.matches(det.detect(img).boxes, ref)
        found, total, false = found + f, total + len(ref), false + fa
    return found, total, false


def measure(det, portraits, groups):
    false = missed = 0
    for _, img in portraits:
        n = len(det.detect(img))
        false += n > 1
        missed += n == 0
    found = total = gfalse = 0
    for _, img, truth in groups:
        f, fa = ps.matches(det.detect(img).boxes, truth)
        found, total, gfalse = found + f, total + len(truth), gfalse + fa
    return dict(false=false / len(portraits), missed=missed / len(portraits), found=found / total,
                group_false=gfalse)


def timings(dets, frames, rounds=3):
    """(median, mean) ms per frame of each detector. They take turns frame by frame, so a load that comes and
    goes on the machine falls on all of them alike."""
    times = [[] for _ in dets]
    for _ in range(rounds):
        for _, img in frames:
            for k, det in enumerate(dets):
                t = time.perf_counter()
                det.detect(img)
                times[k].append(time.perf_counter() - t)
    return [(1000 * float(np.median(t)), 1000 * float(np.mean(t))) for t in times]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="4 variants per portrait, 8 scenes")
    ap.add_argument("--seed", "--seeds", dest="seeds", type=int, nargs="+", default=[0],
                    help="draw other portrait variants and group scenes (a check on scenes the defaults were not "
                         "chosen on); several seeds pool their draws")
    ap.add_argument("--rows", nargs="*", default=None, help="only the rows whose label contains one of these")
    a = ap.parse_args()
    if not ps.available():
        print(f"skipped: the real photos are not at {ps.PHOTOS}")
        return
    portraits = [p for seed in a.seeds for p in ps.portraits(4 if a.quick else 16, seed=seed)]
    groups = [g for seed in a.seeds for g in ps.group_scenes(8 if a.quick else 20, seed=seed)]
    frames = ps.letterboxed()
    photos = [(img, ps.reference_faces(img)) for img in (ps.read(p) for p in ps.photo_paths())]
    from fetch_photos import OUT  # real group photos no default was chosen on, where fetched

    fetched = sorted((OUT / "group").glob("*.jpg")) if (OUT / "group").is_dir() else []
    real_groups = [(img, ps.reference_faces(img)) for img in (ps.read(p) for p in fetched)]
    configs = HAAR + [(lab, None, dict(o, model=ps.YUNET)) for lab, o in YUNET]
    if a.rows:
        configs = [c for c in configs if any(r in c[0] for r in a.rows)]
    dets = [cls(**opts) if cls else get_detector("yunet", **opts) for _, cls, opts in configs]
    rows = []
    for (label, _, _), det in zip(configs, dets):
        rows.append((measure(det, portraits, groups), full_size(det, photos), full_size(det, real_groups)))
        print(f"measured {label}", file=sys.stderr, flush=True)
    times = timings(dets, frames)
    backgrounds = ps._backgrounds(photos)
    empty = [("empty", ps.letterbox(bg)) for bg in backgrounds]
    empty_times = timings(dets, empty)
    face_free = [img for bg in backgrounds for img in (*(cv2.resize(bg, None, fx=z, fy=z) for z in (0.5, 1, 2)),
                                                        ps.letterbox(bg))]
    empty_boxes = [sum(len(det.detect(img)) for img in face_free) for det in dets]
    print(f"seeds {' '.join(map(str, a.seeds))}: {len(portraits)} portrait frames, {sum(len(t) for _, _, t in groups)} faces in {len(groups)} group "
          f"scenes, {len(frames)} 640x480 frames and {len(empty)} face-free ones timed 3 times, {len(face_free)} "
          "face-free images")
    print(f"{'detector':<44} {'false':>6} {'missed':>7} {'group found':>12} {'group false':>12} {'ms':>6} {'mean':>6}"
          f" {'empty':>6} {'face-free':>9}  {'24 photos, own size: found, false':>34}  {'real group photos: found, false':>32}")
    for (label, _, _), (r, (f, t, fa), (gf, gt, gfa)), (ms, mean), (_, empty_mean), boxes in zip(
            configs, rows, times, empty_times, empty_boxes):
        print(f"{label:<44} {r['false']:>6.1%} {r['missed']:>7.1%} {r['found']:>12.1%} {r['group_false']:>12d} "
              f"{ms:>6.1f} {mean:>6.1f} {empty_mean:>6.1f} {boxes:>9d}  {f:>24}/{t} {fa:>5}  {gf:>22}/{gt} {gfa:>5}")
    if not real_groups:
        print(f"(no real group photos in {OUT / 'group'}: python bench/fetch_photos.py)")


if __name__ == "__main__":
    main()
