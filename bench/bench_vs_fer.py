"""emorec against the `fer` package (the seed's model behind a plain Haar cascade), frame for frame.

Frames: the 24 real photos of ../shared/data/photos letterboxed to 640x480 (decoded once, in memory).
Timed: detection + classification of every face of a frame, median over all frames of 3 rounds of 3 passes;
the three pipelines take turns round by round, so a load that comes and goes falls on all of them:
  * fer:               FER().detect_emotions(frame)       (its defaults: Haar, min face 50 px, Keras model)
  * emorec haar:       EmotionRecognizer().analyze(frame)  (the default)
  * emorec yunet:      EmotionRecognizer(detector="yunet").analyze(frame)
`fer` needs TensorFlow, so it runs in its own Python (``--fer-python``, e.g. a venv with
``pip install fer tensorflow-cpu "setuptools<81"``); both are timed in this one run, on the same frames.
Faces: the 28 faces YuNet reads (confidence >= 0.8, side >= 30 px) on the frames themselves; "found" counts
boxes that match one (bench/photo_scenes.matches), "false" the rest. That reference is YuNet's own reading, so
it favours the YuNet row; the comparison that matters is emorec haar against fer.

    python bench/bench_vs_fer.py --fer-python /path/to/fer-venv/bin/python [--baseline-src OLD_TREE/src]

``--baseline-src`` times emorec's haar and yunet pipelines from another source tree too (a git worktree of an
older commit), in the same rounds: a change's speed against the code before it, on the same machine and minute.

Measured here (2 CPU cores, no other work running; fer 25.10.3 with tensorflow-cpu 2.21; 2026-11-25, evening,
after the Haar default's tilt check and the retrained fer2013 model), three runs of ``--rounds 5``:

    pipeline                  ms/frame  frames/s  x fer     found  false
    fer (Haar + Keras)            27.1      36.9   1.00   27/28        3
    emorec haar (default)         12.9      77.6   2.11   27/28        0
    emorec yunet                   9.1     109.7   2.98   28/28        0
    (run 2: fer 27.7, haar 12.8 = 2.16x, yunet 8.1 = 3.41x; run 3: fer 29.0, haar 12.8 = 2.25x, yunet 6.6 = 4.38x)

Earlier the same day (one round of 3 passes, the previous Haar default and model) three runs gave 2.18x / 2.34x /
2.22x for haar and 4.57x / 4.50x / 4.25x for yunet (fer 26.8, haar 12.1, yunet 6.3 ms). Haar and fer hold steady
from run to run; YuNet (OpenCV's DNN on 2 threads) swings between 5.3 and 9.9 ms a frame on this virtual machine
from one minute to the next, detection alone, so its ratio does too.

The next session, YuNet on ONNX Runtime (the "on OpenCV" row: cv2.FaceDetectorYN, as above), training paused:

    pipeline                  ms/frame  frames/s  x fer     found  false
    fer (Haar + Keras)            25.8      38.7   1.00   27/28        3
    emorec haar (default)         11.9      83.7   2.16   27/28        0
    emorec yunet                   4.0     248.3   6.42   28/28        0
    emorec yunet on OpenCV         6.0     166.4   4.30   28/28        0
    (run 2: fer 25.7, haar 11.5 = 2.24x, yunet 4.6 = 5.55x, on OpenCV 5.9 = 4.35x; run 3, with the x4 fer2013
    model shipped after them: fer 25.9, haar 12.2 = 2.12x, yunet 4.3 = 5.99x, on OpenCV 6.6 = 3.96x)

2026-11-26, the Haar default with lone windows and step 1.3 (src/emorec/detectors/haar.py), nothing else running:

    pipeline                  ms/frame  frames/s  x fer     found  false
    fer (Haar + Keras)            28.3      35.3   1.00   27/28        3
    emorec haar (default)         11.7      85.6   2.42   27/28        0
    emorec yunet                   4.6     217.0   6.14   28/28        0
    emorec yunet on OpenCV         6.9     145.4   4.11   28/28        0
    (run 2: fer 28.3, haar 11.8 = 2.39x, yunet 4.9 = 5.80x, on OpenCV 6.9 = 4.12x; run 3: fer 26.5, haar 10.9 =
    2.42x, yunet 4.5 = 5.88x, on OpenCV 6.5 = 4.06x.) Just before the change, the same morning, the machine ran
    slower (fer 27.1-28.9 ms) and a first version of lone windows at step 1.2 gave haar 1.72-1.77x: the check of
    lone windows costs about 0.6 ms a view, and the step of 1.3 is what pays for it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import photo_scenes as ps  # noqa: E402

FER_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
from fer.fer import FER
frames = np.load(sys.argv[1])["frames"]
det = FER()
det.detect_emotions(frames[0])  # warm-up
boxes, times = [], []
for rep in range(int(sys.argv[2])):
    for f in frames:
        t = time.perf_counter(); r = det.detect_emotions(f); times.append(time.perf_counter() - t)
        if rep == 0:
            boxes.append([[int(v) for v in face["box"]] for face in r])
print(json.dumps({"times": times, "boxes": boxes}))
"""

BASELINE_SCRIPT = r"""
import json, sys, time
import numpy as np
from emorec import EmotionRecognizer
frames = np.load(sys.argv[1])["frames"]
out = {}
for detector in ("haar", "yunet"):
    rec = EmotionRecognizer(detector=detector)
    rec.analyze(frames[0])  # warm-up: the model loads
    boxes, times = [], []
    for rep in range(int(sys.argv[2])):
        for f in frames:
            t = time.perf_counter(); faces = rec.analyze(f); times.append(time.perf_counter() - t)
            if rep == 0:
                boxes.append([list(map(int, x.box)) for x in faces])
    out[detector] = {"times": times, "boxes": boxes}
print(json.dumps(out))
"""


def time_emorec(rec, frames, reps):
    rec.analyze(frames[0])  # warm-up: the model loads
    times, boxes = [], []
    for rep in range(reps):
        for f in frames:
            t = time.perf_counter()
            faces = rec.analyze(f)
            times.append(time.perf_counter() - t)
            if rep == 0:
                boxes.append([list(x.box) for x in faces])
    return times, boxes


def time_fer(python, frames_npz: Path, reps):
    out = subprocess.run([python, "-c", FER_SCRIPT, str(frames_npz), str(reps)],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["times"], r["boxes"]


def time_baseline(src: Path, frames_npz: Path, reps) -> dict:
    """{detector: (times, boxes)} of emorec's haar and yunet pipelines from another source tree (``src``, e.g. a
    git worktree of an older commit), in a Python of its own."""
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run([sys.executable, "-c", BASELINE_SCRIPT, str(frames_npz), str(reps)], env=env,
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {d: (v["times"], v["boxes"]) for d, v in r.items()}


def _add(rows, name, result):
    times, boxes = result
    if name in rows:
        rows[name][0].extend(times)
    else:
        rows[name] = (list(times), boxes)


def score(boxes, truths):
    found = false = 0
    for b, t in zip(boxes, truths):
        f, fa = ps.matches(np.array(b, float).reshape(-1, 4), t)
        found, false = found + f, false + fa
    return found, false


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fer-python", default=os.environ.get("FER_PYTHON"), help="a Python with `fer` installed")
    ap.add_argument("--reps", type=int, default=3, help="passes over the frames in a round")
    ap.add_argument("--rounds", type=int, default=3,
                    help="the pipelines take turns this many times, so a passing load on the machine falls on all")
    ap.add_argument("--baseline-src", type=Path,
                    help="also time emorec's haar and yunet pipelines from this source folder (an older commit's src)")
    a = ap.parse_args()
    if not ps.ready():
        return
    from emorec import EmotionRecognizer

    named = ps.letterboxed()
    frames = [f for _, f in named]
    truths = [ps.reference_faces(f) for f in frames]
    # a face counts when YuNet sees it at full resolution in the source photo too: read it on the frame
    total = sum(len(t) for t in truths)
    if not a.fer_python:
        print("note: no --fer-python given: fer is not measured")
    from emorec.detectors import get_detector

    from haar_variants import EveryBoxCheckedHaar, PreviousHaar

    recognizers = {"emorec haar (default)": EmotionRecognizer(), "emorec yunet": EmotionRecognizer(detector="yunet"),
                   "emorec yunet on OpenCV": EmotionRecognizer(detector=get_detector("yunet", runtime="opencv")),
                   "emorec previous haar": EmotionRecognizer(detector=PreviousHaar()),
                   "emorec haar, every box looked": EmotionRecognizer(detector=EveryBoxCheckedHaar())}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        frames_npz = Path(tmp) / "frames.npz"  # for fer's own Python, written once
        np.savez(frames_npz, frames=np.stack(frames))
        for _ in range(a.rounds):
            if a.fer_python:
                _add(rows, "fer (Haar + Keras)", time_fer(a.fer_python, frames_npz, a.reps))
            for name, rec in recognizers.items():
                _add(rows, name, time_emorec(rec, frames, a.reps))
            if a.baseline_src:
                for detector, result in time_baseline(a.baseline_src, frames_npz, a.reps).items():
                    _add(rows, f"baseline {detector}", result)
    print(f"{len(frames)} real photos letterboxed to 640x480, {total} faces; median of {a.rounds} rounds x "
          f"{a.reps} passes")
    base = None
    print(f"{'pipeline':<30} {'ms/frame':>9} {'frames/s':>9} {'x fer':>6} {'found':>9} {'false':>6}")
    for name, (times, boxes) in rows.items():
        ms = 1000 * float(np.median(times))
        fps = 1000 / ms
        base = base or (fps if name.startswith("fer") else None)
        found, false = score(boxes, truths)
        ratio = f"{fps / base:.2f}" if base else "-"
        print(f"{name:<30} {ms:>9.1f} {fps:>9.1f} {ratio:>6} {found:>4}/{total:<4} {false:>6}")


if __name__ == "__main__":
    main()
