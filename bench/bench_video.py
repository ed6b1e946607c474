"""Video: frames per second with tracking (full-frame detection every k frames, a local search in
between) against detecting on every frame, and the faces lost, measured in one run.

The video is synthetic (emorec.samples.moving_faces_video): two copies of the sample's face glide
across a 640x480 background, so where each face is in every frame is known. A face counts as found
in a frame when a reported box's centre lies in its pasted square; "lost" frames are those where it
is not, and the longest run of lost frames is reported. Two speeds: the analysis alone (decode +
FaceTracker.update) and the whole `emorec video` pipeline (process_video: also drawing, mp4 and CSV);
each is the best of --repeat runs (this machine may be busy with other work).

    python bench/bench_video.py [--frames 150] [--every 1 3 5 10] [--repeat 3] [--tilt 30] [--no-turned]

``--tilt DEG``: the two faces tilted DEG degrees (a tilted head); ``--no-turned``: Haar's upright search alone
(``turned=False``: no search of the picture turned where no face stands upright, in full searches and tracking).

Measured 2026-11-25 with the current Haar default (2 CPUs, idle, 150 frames 640x480, 2 moving faces; the
synthetic video is right here: the figure is about tracking, where the true positions must be known):
    detect every | analysis fps speed-up | pipeline fps speed-up | lost face-frames longest gap ids
               1 |        124.1    1.00x |         90.6    1.00x |       0 of 300              0   5
               3 |        167.3    1.35x |        117.7    1.30x |       0 of 300              0   4
               5 |        187.4    1.51x |        127.6    1.41x |       0 of 300              0   2
              10 |        209.6    1.69x |        136.5    1.51x |       0 of 300              0   2
Default: every 10 frames (emorec.tracking.DETECT_EVERY): 1.7x the analysis speed, no face lost, one id per face
(detecting on every frame gave 5 ids for the 2 faces). The gain is smaller than with the old detector (3.4x)
because full-frame detection itself became 3-4x cheaper.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2

from emorec import EmotionRecognizer
from emorec.samples import moving_faces_video
from emorec.tracking import FaceTracker
from emorec.video import process_video


def inside(box, sq) -> bool:
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    return sq[0] <= cx <= sq[0] + sq[2] and sq[1] <= cy <= sq[1] + sq[3]


def analyse(path, rec, every, truth):
    cap = cv2.VideoCapture(str(path))
    tracker = FaceTracker(rec, detect_every=every)
    lost = [0] * len(truth[0])
    gap = [0] * len(truth[0])
    longest = [0] * len(truth[0])
    ids = set()
    t0 = time.perf_counter()
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        faces = tracker.update(frame)
        ids |= {f.id for f in faces}
        for k, sq in enumerate(truth[i]):
            if any(inside(f.box, sq) for f in faces):
                gap[k] = 0
            else:
                lost[k] += 1
                gap[k] += 1
                longest[k] = max(longest[k], gap[k])
        i += 1
    dt = time.perf_counter() - t0
    return i / dt, sum(lost), max(longest), len(ids), tracker.full_detections


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--every", type=int, nargs="+", default=[1, 3, 5, 10])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tilt", type=float, default=0.0, help="turn each face this many degrees (a tilted head)")
    ap.add_argument("--no-turned", dest="turned", action="store_false",
                    help="Haar's upright search alone (no search of the picture turned)")
    a = ap.parse_args()
    rec = EmotionRecognizer(turned=a.turned)
    rec.classes  # load the model outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "moving.mp4"
        truth = moving_faces_video(path, frames=a.frames, tilt=a.tilt)
        n_faces = len(truth[0])
        print(f"{a.frames} frames 640x480, {n_faces} moving faces" + (f" tilted {a.tilt:g} degrees" if a.tilt else "")
              + f", {os.cpu_count()} CPUs" + ("" if a.turned else ", Haar --no-turned"))
        print(f"{'detect every':>12} | {'analysis fps':>12} {'speed-up':>8} | {'pipeline fps':>12} {'speed-up':>8} | "
              f"{'lost face-frames':>16} {'longest gap':>11} {'ids':>3}")
        base = base_pipe = None
        for k in a.every:
            runs = [analyse(path, rec, k, truth) for _ in range(a.repeat)]
            fps = max(r[0] for r in runs)
            _, lost, longest, n_ids, full = runs[0]  # deterministic: the same in every run
            pipe = max(process_video(path, Path(tmp) / f"out{k}.mp4", recognizer=rec, detect_every=k,
                                     progress=False).processing_fps for _ in range(a.repeat))
            base = base or fps
            base_pipe = base_pipe or pipe
            print(f"{k:>12} | {fps:>12.1f} {fps / base:>7.2f}x | {pipe:>12.1f} "
                  f"{pipe / base_pipe:>7.2f}x | {lost:>7d} of {a.frames * n_faces:<6d} {longest:>11d} {n_ids:>3d}")


if __name__ == "__main__":
    main()
