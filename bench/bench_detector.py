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
  * the 24 photos at their own size (240x427 to 1434x2333): faces found of the 28 that YuNet reads at full
    resolution (confidence >= 0.8, side >= 30 px), and boxes that are no face.

    python bench/bench_detector.py [--quick] [--seeds N [N ...]] [--rows LABEL-PART ...]

Haar rows: scale step, min_neighbors, min face (default 40 px), work size, and the check a box with a cascade
weight below the threshold must pass: "eye" (an eye in its upper half, haarcascade_eye) or "tilt" (the face
cascade finds it again in the box turned +-15 degrees; src/emorec/detectors/haar.py). "alt2":
haarcascade_frontalface_alt2 as the cascade. "lone windows": the cascade's windows are grouped in emorec and a
lone one (OpenCV's grouping drops it) is kept when the tilt check finds its face with 12 windows; of boxes that
cover one another only the surest stays. The rows measured before lone windows keep OpenCV's grouping and step
1.2 (``BEFORE``).

The defaults now (2026-11-26): step 1.3, lone windows, tilt check below weight 6 (with an upright view needing
16 windows). They were chosen on the draws of seeds 0-9 (scratch scripts on this bench's data: the windows of
the search with their check features, the rules compared on them), then measured once on five draws no one
had looked at, every row in this one run (2 CPU cores, nothing else running):

    python bench/bench_detector.py --seeds 20 21 22 23 24 --rows "seed:" "old emorec" "PREVIOUS" "lone windows" "DEFAULT: 1.3" "yunet DEFAULT"
    seeds 20 21 22 23 24: 1680 portrait frames, 600 faces in 100 group scenes, 24 640x480 frames timed 3 times
    detector                                      false  missed  group found  group false     ms   mean   24 photos, own size: found, false
    seed: fer's Haar (1.1, 5, min 50 px)           6.4%    0.0%        82.3%           45   30.7   30.3                        25/28    10
    old emorec (clahe, 1.1, 5, min 24 px)         17.6%    0.0%        84.3%          117   62.2   64.2                        25/28    19
    PREVIOUS: 1.2, 1, work 24, tilt < 5, no lone   0.6%    0.0%        85.5%            5   13.1   13.7                        25/28     1
    1.2, 1, work 24, tilt < 6, lone windows        0.2%    0.0%        88.2%            1   16.2   16.8                        25/28     1
    1.3, 1, work 24, tilt < 6, no lone windows     0.8%    0.0%        81.2%            6    9.7   10.2                        25/28     1
    DEFAULT: 1.3, 1, min 40, work 24, tilt < 6, lone   0.2%    0.0%        86.2%            1   11.6   11.6                        25/28     1
    yunet DEFAULT: min 20, work 16, score 0.8      0.1%    0.0%        99.0%            0    4.9    5.0                        28/28     0
    yunet DEFAULT, runtime opencv                  0.1%    0.0%        99.0%            0    8.2    8.3                        28/28     0

The default finds 517 of the 600 held-out group faces (the old CLAHE default 506, the previous default 513, the
seed's settings 494) with false faces on 0.2% of the portrait frames (old CLAHE 17.6%, previous 0.6%, seed 6.4%),
in 11.6 ms a 640x480 frame (previous 13.1, seed 30.7, old CLAHE 62.2). Lone windows buy the recall (81.2% without
them at step 1.3) and cost the time of their checks (about 0.6 ms a view, two views for most); the coarser step
pays for it (step 1.2 with lone windows: 88.2% but 16.2 ms, 1.4x the default's time).

How the choice was made, on seeds 0-9 (1,200 group faces, 3,360 portrait frames; these figures are optimistic):
  * The previous default, on fresh draws, let false faces through on 0.95% (seeds 5-9) and 0.89% (seeds 15-19) of
    the portrait frames, where seeds 0-4 had shown 1 in 1,680; its group recall on seeds 5-9 and 15-19 was 83.8%
    and 83.7% against the old CLAHE default's 85.0% and 84.8%. Most of its false frames were a second, offset box on the face
    (one box a face halves them) or a tie or collar.
  * Its search (OpenCV's grouping at 1 neighbour) found at best 1,035 of the 1,200 faces before any check; every
    window of the same search, lone ones included, falls on 1,101. Checking lone windows by the tilt check (12
    windows in a turned view; every lone window, none dropped on its weight): 1,069 found, 7 false frames. With
    an upright view for weak groups (16 windows; 14 let a patch of fur through on a photo): +6 faces.
  * Steps with lone windows: 1.2: 1,069 found / 7 false frames, 14.6 ms; 1.25: 1,045 / 5, 11.1 ms; 1.3: 1,053 / 4,
    10.3 ms (detection alone on the 24 frames, one run). Without lone windows, a work size of 26-28 px or steps
    1.21-1.25 found 516-525 of seeds 0-4's 600 faces (the default then: 515) with 7-17 false frames. Which box of two to keep: the highest weight 1,069, the most
    windows 1,065.

The tables below are from before lone windows (their DEFAULT row is the PREVIOUS row above).

Measured here (2 CPU cores, every row in this one run, 2026-11-25; the machine was loaded by two training runs
(load ~4), so every time is about twice the idle figure: on an idle machine the OLD DEFAULT row measured 12.1 ms):

    336 portrait frames, 120 faces in 20 group scenes, 24 640x480 frames timed 3 times
    detector                                      false  missed  group found  group false     ms   mean   24 photos, own size: found, false
    seed: fer's Haar (1.1, 5, min 50 px)           6.5%    0.0%        81.7%            9   57.4   59.0                        25/28    10
    old emorec (clahe, 1.1, 5, min 24 px)         16.7%    0.0%        85.8%           23  121.8  126.8                        25/28    19
    1.1, 5, min 40, full size                      6.5%    0.0%        84.2%            9   63.0   64.0                        25/28    10
    1.1, 5, min 40, work 24                        2.4%    0.0%        85.0%            5   40.0   41.2                        25/28     2
    1.1, 5, min 40, work 24, clahe                 9.5%    0.0%        80.8%            9   50.7   50.1                        25/28     4
    1.1, 5, work 24, eye check < 3.5               0.3%    0.0%        83.3%            1   40.1   41.1                        25/28     0
    1.05, 7, work 24, eye check < 4                0.3%    0.0%        85.8%            3   75.1   76.8                        25/28     0
    1.2, 3, work 24, eye check < 3.5               0.0%    0.0%        78.3%            2   23.8   24.5                        25/28     2
    1.2, 2, work 24, no check                      5.1%    0.0%        85.0%           12   24.2   24.3                        25/28     9
    OLD DEFAULT: 1.2, 2, work 24, eye < 4          0.3%    0.0%        82.5%            2   23.8   24.1                        25/28     3
    1.2, 1, work 24, no check                     19.0%    0.0%        90.0%           27   24.1   24.2                        25/28    20
    1.2, 1, work 24, eye check < 4                 2.7%    0.0%        86.7%            7   23.8   24.3                        25/28     3
    1.2, 1, work 24, eye check < 5                 1.8%    0.0%        85.0%            7   23.5   24.4                        25/28     2
    alt2, 1.2, 2, work 24, no check                2.7%    0.0%        76.7%            3   17.9   17.9                        25/28     0
    alt2, 1.2, 2, work 24, eye check < 4           2.7%    0.0%        76.7%            3   18.5   18.2                        25/28     0
    alt2, 1.2, 1, work 24, tilt check < 5          9.2%    0.0%        82.5%           10   17.5   17.6                        25/28     5
    1.2, 2, work 24, tilt check < 5                0.0%    0.0%        84.2%            2   23.5   24.8                        25/28     1
    1.2, 1, work 24, tilt check < 4                0.9%    0.0%        89.2%            4   23.4   24.4                        25/28     2
    1.2, 1, work 24, tilt check < 6                0.0%    0.0%        89.2%            3   24.7   25.8                        25/28     1
    DEFAULT: 1.2, 1, min 40, work 24, tilt < 5     0.0%    0.0%        89.2%            4   24.1   24.9                        25/28     1
    yunet full size, score 0.7                     1.5%    0.0%       100.0%            1   12.8   14.9                        28/28     0
    yunet work 12, score 0.7                       1.8%    0.0%        97.5%            0    6.1    7.2                        28/28     1
    yunet work 12, score 0.8                       0.0%    0.0%        96.7%            0    5.9    6.9                        28/28     0
    yunet work 16, score 0.75                      0.3%    0.0%        98.3%            0    9.0   10.4                        28/28     0
    yunet DEFAULT: min 20, work 16, score 0.8      0.0%    0.0%        98.3%            0    9.5   11.0                        28/28     0

The default (tilt check) finds 107 of the 120 turned faces in the group scenes (the old eye-check default: 99, the
old CLAHE default: 103), with false faces on no portrait frame (old default: 1 of 336) and 1 false box on the 24
photos (old: 3), at +1% median and +3% mean time over the old default in the same run. min_neighbors 1 is what
finds the turned faces (108 of 120 with no check, against 102 at 2), and only the tilt check keeps them and still
removes the false faces (eye check < 4: 2.7% false frames; < 5: 1.8% and 102 found); the tilt check keeps 107 of
those 108. YuNet finds 118 of 120 group faces and all 28 photo faces with no false face, in under half the time.

Ideas measured outside this table (scratch scripts on the same data, same loaded machine):
  * tilt check variants (on the boxes of the 1.2, 1 search; group found / portrait false frames / photo false
    boxes, all 25 photo faces kept unless said): the chosen one, +-15 deg, face at 32 px, step 1.05, 7 windows:
    107 / 0 / 1 (6-9 windows: 105-107 / 0-1 / 1). With the upright view as well: at best 105 / 0 / 2, at 1.6x
    the cost. +-12 deg: 105 / 0 / 1; +-18: 106 / 1 / 1 but a photo face lost; +-20: 102 / 1 / 1 and a photo face
    lost; face at 30 px: 106 / 2 / 1; at 36 px: 107 / 1 / 1; step 1.1: at most 105 / 0 / 1; alt2 as the checking
    cascade: 104 / 0 / 1. Over the bench's scenes and two more draws of them (seeds 1 and 2: 360 faces, 1008
    portrait frames) the chosen check keeps 313 of the 315 faces the 1.2, 1 search finds, with 1 false frame;
    6 or 8 windows, 12 or 18 degrees, weight threshold 4: 310-314 found, 1-8 false frames.
  * on those two other draws the default finds 102 and 104 of 120 (old eye default 97 and 100; old CLAHE default
    104 and 105 with 16-17% false frames): the search at step 1.2 finds only 103 and 104 there, so reaching the
    CLAHE default everywhere needs a finer search (step 1.1: 1.7x the time).
  * a second search on copies of the downscaled frame turned +-18 degrees: 113-116 of 120 group faces found
    (before any check), but 2.2x (step 1.5) to 3.3x (step 1.2) the default's time.
  * an eye check on turned copies of the box (tried earlier): 84.2% found, 1.2% false frames.

Held out: the defaults above were chosen on the seed-0 scenes (and checked on seeds 1 and 2), so their figures
there are optimistic. Two fresh draws no one had looked at, measured after the choice (same loaded machine):

    python bench/bench_detector.py --seed 3 --rows "seed:" "old emorec" "OLD DEFAULT" "DEFAULT: 1.2, 1" "yunet DEFAULT"
    (and --seed 4)                                 seed 3: false  group found   seed 4: false  group found
    seed: fer's Haar (1.1, 5, min 50 px)                   3.9%        85.0%            8.0%        85.0%
    old emorec (clahe, 1.1, 5, min 24 px)                 17.3%        85.8%           17.6%        85.0%
    OLD DEFAULT: 1.2, 2, work 24, eye < 4                  0.0%        80.8%            0.6%        80.0%
    DEFAULT: 1.2, 1, min 40, work 24, tilt < 5             0.0%        85.0%            0.0%        83.3%
    yunet DEFAULT: min 20, work 16, score 0.8              0.3%        99.2%            0.9%        99.2%

On the 240 held-out group faces the default finds 202 (84.2%): 5 more than the old eye-check default (197), 3 fewer
than the old CLAHE default (205, with 17% false frames) and 2 fewer than the seed's settings (204, 4-8% false),
with no false portrait frame (1 missed frame of 336 on seed 4). YuNet: 238 of 240, 0.3-0.9% false frames.

All five draws together (seeds 0-4, 600 group faces, 1680 portrait frames; scratch script on this bench's data):
the default finds 515 (85.8%) with 1 false frame, the old CLAHE default 517 with ~17% false frames. Searching
at a work size of 26 or 28 px instead of 24 finds 518 / 525 but with 11 / 12 false frames and +9% time at 28;
a coarser step with a bigger work size (28-36 px, step 1.25-1.4) is faster but finds fewer (seeds 0-1: 190-205
of 240 against 209). Haar's misses on seeds 1-4 spread over every size (43-198 px): they are not small faces.

YuNet on ONNX Runtime (the next session, 2026-11-25 evening; the training run paused, nothing else running):

    python bench/bench_detector.py --rows "DEFAULT" "OLD DEFAULT"
    detector                                      false  missed  group found  group false     ms   mean   24 photos
    OLD DEFAULT: 1.2, 2, work 24, eye < 4          0.3%    0.0%        82.5%            2   10.8   10.9   25/28  3
    DEFAULT: 1.2, 1, min 40, work 24, tilt < 5     0.0%    0.0%        89.2%            4   10.9   11.3   25/28  1
    yunet DEFAULT: min 20, work 16, score 0.8      0.0%    0.0%        98.3%            0    3.4    3.4   28/28  0
    yunet DEFAULT, runtime opencv                  0.0%    0.0%        98.3%            0    5.3    5.4   28/28  0

The same network and decoding (tests/test_detectors.py checks boxes, landmarks and scores against
cv2.FaceDetectorYN on every real photo), 1.6x faster here; run alone at 512x384, ONNX Runtime took 3.1 ms
against OpenCV's 7.7. Over seeds 0-4, YuNet's minimum face trades recall for time: min 20 / 24 / 28 / 32 px
(work 16, score 0.8) find 99.0 / 98.2 / 96.8 / 95.7% of the 600 group faces (0.4 / 0.4 / 0.4 / 0.2% false
frames); 20 stays the default now that it costs 3.4 ms.
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

ALT2 = "haarcascade_frontalface_alt2.xml"
EYE = dict(verify="eye")
BEFORE = dict(lone_hits=0, scale_factor=1.2)  # the rows from before lone windows: OpenCV's grouping, step 1.2
HAAR = [  # (label, options)
    ("seed: fer's Haar (1.1, 5, min 50 px)", dict(BEFORE, min_size=50, work_size=0, scale_factor=1.1,
                                                   min_neighbors=5, strong=0)),
    ("old emorec (clahe, 1.1, 5, min 24 px)", dict(BEFORE, min_size=24, work_size=0, equalize="clahe",
                                                  scale_factor=1.1, min_neighbors=5, strong=0)),
    ("1.1, 5, min 40, full size", dict(BEFORE, work_size=0, scale_factor=1.1, min_neighbors=5, strong=0)),
    ("1.1, 5, min 40, work 24", dict(BEFORE, scale_factor=1.1, min_neighbors=5, strong=0)),
    ("1.1, 5, min 40, work 24, clahe", dict(BEFORE, scale_factor=1.1, min_neighbors=5, equalize="clahe", strong=0)),
    ("1.1, 5, work 24, eye check < 3.5", dict(BEFORE, **EYE, scale_factor=1.1, min_neighbors=5, strong=3.5)),
    ("1.05, 7, work 24, eye check < 4", dict(BEFORE, **EYE, scale_factor=1.05, min_neighbors=7, strong=4.0)),
    ("1.2, 3, work 24, eye check < 3.5", dict(BEFORE, **EYE, min_neighbors=3, strong=3.5)),
    ("1.2, 2, work 24, no check", dict(BEFORE, min_neighbors=2, strong=0)),
    ("OLD DEFAULT: 1.2, 2, work 24, eye < 4", dict(BEFORE, **EYE, min_neighbors=2, strong=4.0)),
    ("1.2, 1, work 24, no check", dict(BEFORE, strong=0)),
    ("1.2, 1, work 24, eye check < 4", dict(BEFORE, **EYE, strong=4.0)),
    ("1.2, 1, work 24, eye check < 5", dict(BEFORE, **EYE, strong=5.0)),
    ("alt2, 1.2, 2, work 24, no check", dict(BEFORE, cascade=ALT2, min_neighbors=2, strong=0)),
    ("alt2, 1.2, 2, work 24, eye check < 4", dict(BEFORE, **EYE, cascade=ALT2, min_neighbors=2, strong=4.0)),
    ("alt2, 1.2, 1, work 24, tilt check < 5", dict(BEFORE, cascade=ALT2, strong=5.0)),
    ("1.2, 2, work 24, tilt check < 5", dict(BEFORE, min_neighbors=2, strong=5.0)),
    ("1.2, 1, work 24, tilt check < 4", dict(BEFORE, strong=4.0)),
    ("1.2, 1, work 24, tilt check < 6", dict(BEFORE, strong=6.0)),
    ("PREVIOUS: 1.2, 1, work 24, tilt < 5, no lone", dict(BEFORE, strong=5.0)),
    ("1.2, 1, work 24, tilt < 6, lone windows", dict(scale_factor=1.2)),
    ("1.3, 1, work 24, tilt < 6, no lone windows", dict(lone_hits=0)),
    ("DEFAULT: 1.3, 1, min 40, work 24, tilt < 6, lone", dict()),
]
YUNET = [
    ("yunet full size, score 0.7", dict(work_size=0, score_threshold=0.7)),
    ("yunet work 12, score 0.7", dict(score_threshold=0.7, work_size=12)),
    ("yunet work 12, score 0.8", dict(score_threshold=0.8, work_size=12)),
    ("yunet work 16, score 0.75", dict(score_threshold=0.75, work_size=16)),
    ("yunet DEFAULT: min 20, work 16, score 0.8", dict()),
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
    configs = HAAR + [(lab, dict(o, model=ps.YUNET)) for lab, o in YUNET]
    if a.rows:
        configs = [(lab, o) for lab, o in configs if any(r in lab for r in a.rows)]
    dets = [get_detector("yunet" if label.startswith("yunet") else "haar", **opts) for label, opts in configs]
    rows = []
    for (label, _), det in zip(configs, dets):
        rows.append((measure(det, portraits, groups), full_size(det, photos)))
        print(f"measured {label}", file=sys.stderr, flush=True)
    times = timings(dets, frames)
    print(f"seeds {' '.join(map(str, a.seeds))}: {len(portraits)} portrait frames, {sum(len(t) for _, _, t in groups)} faces in {len(groups)} group "
          f"scenes, {len(frames)} 640x480 frames timed 3 times")
    print(f"{'detector':<44} {'false':>6} {'missed':>7} {'group found':>12} {'group false':>12} {'ms':>6} {'mean':>6}"
          f"  {'24 photos, own size: found, false':>34}")
    for (label, _), (r, (f, t, fa)), (ms, mean) in zip(configs, rows, times):
        print(f"{label:<44} {r['false']:>6.1%} {r['missed']:>7.1%} {r['found']:>12.1%} {r['group_false']:>12d} "
              f"{ms:>6.1f} {mean:>6.1f}  {f:>24}/{t} {fa:>5}")


if __name__ == "__main__":
    main()
