"""`emorec batch` (Ray Data) against `emorec detect` on the same 1,000+ real photographs, on this machine
and on a simulated two-node Ray cluster, with Ray's start-up separated from the analysis.

The images: the 24 real photographs of ../shared/data/photos (not committed), each made into 44 variants
(11 scales from 100% to 40% of the photo capped at 1280 px, mirrored or not, letterboxed to 16:9 or not):
1,056 JPEGs in a temporary folder. Three runs, each a fresh process as a user would start it:

- ``emorec detect DIR --json --no-save``: one process, OpenCV's own threads;
- ``emorec batch DIR --out ... --workers W``: a local Ray (loopback) and W actors of 1 CPU;
- the same with ``--address`` on a ``ray.cluster_utils.Cluster`` of two nodes of 1 CPU each (loopback only;
  both "nodes" share this machine's cores, so it shows the cost of the cluster plumbing, not a gain).

images/s counts images over the wall time of the whole command; "analysis" leaves out Ray's start-up
(start a local Ray, or join the cluster), as the summary line of `emorec batch` reports it. The faces found
are compared: batch and detect must agree.

    python bench/bench_batch.py [--variants 44] [--workers 2] [--repeat 2] [--no-cluster]

Measured 2026-11-25 on the 2-core development machine, shared with four other agents working at the same
time (load average 6.7-10.6 during the runs), 1,056 images (24 real photos x 44 variants), 2 workers, best of
2 rounds (the rounds agreed within 9%; the order is reversed in the second):
    run                                           | wall s  img/s vs detect | start-up s analysis img/s | faces
    emorec detect (1 process)                     |   86.6   12.2     1.00x |          -              - | 1180
    emorec batch, local Ray, 2 workers            |   63.0   16.8     1.37x |        3.7           18.8 | 1180
    emorec batch, 2-node cluster (1 CPU each)     |   50.3   21.0     1.72x |        5.2           21.9 | 1180
The same 1,180 faces in every run. Even on 2 cores batch beats detect here: two worker processes keep both
cores busy, while detect's one process leaves a core idle during JPEG decoding and its serial steps (only
the Haar search is threaded). There are no more cores to gain from: the 2-node cluster shares the same two,
and is faster than the local Ray mostly because its nodes had started their worker processes before the
command ran (5.2 s start-up: the two nodes, then 0.4 s to join). A gain in proportion to the cores needs
machines with more of them; on a busy 2-core machine Ray's start-up (4-7 s) is the price of a small batch.

2026-11-26, the same command on the idle machine (nothing else running), with the Haar default of that day
(lone windows, step 1.3):
    run                                                        |  wall s  img/s vs detect | start-up s analysis img/s | faces
    emorec detect (1 process)                                  |    20.7   50.9     1.00x |          -              - | 1165
    emorec batch, local Ray, 2 workers                         |    25.1   42.0     0.83x |        3.2           54.7 | 1165
    emorec batch, 2-node cluster (1 CPU each), 2 workers       |    21.7   48.6     0.95x |        3.4           53.1 | 1165
Idle, detect's one process already keeps both cores busy (OpenCV's threads in the Haar search), so two
workers gain only 7% on the analysis, less than Ray's start-up costs on 1,056 images: on one idle 2-core
machine detect is quicker. The loaded run above came out the other way (1.37x); why load favours batch
(two processes get a larger share of a busy machine than one?) was not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos"
SCALES = (1.0, 0.94, 0.88, 0.82, 0.76, 0.7, 0.64, 0.58, 0.52, 0.46, 0.4)
SUMMARY = re.compile(r"([\d.]+) images/s on (\d+) worker\(s\) in ([\d.]+) s \(\+([\d.]+) s to start Ray\)")


def letterbox(img: np.ndarray, aspect: float = 16 / 9) -> np.ndarray:
    h, w = img.shape[:2]
    if w / h < aspect:
        pad = int(round(h * aspect)) - w
        return cv2.copyMakeBorder(img, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_CONSTANT, value=0)
    pad = int(round(w / aspect)) - h
    return cv2.copyMakeBorder(img, pad // 2, pad - pad // 2, 0, 0, cv2.BORDER_CONSTANT, value=0)


def make_images(folder: Path, variants: int) -> int:
    """Resized / mirrored / letterboxed copies of the real photos; returns how many were written."""
    photos = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    n = 0
    for p in photos:
        img = cv2.imread(str(p))
        s0 = min(1.0, 1280 / max(img.shape[:2]))
        k = 0
        for scale in SCALES:
            for flip in (False, True):
                for box in (False, True):
                    if k >= variants:
                        break
                    s = s0 * scale
                    v = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
                    v = cv2.flip(v, 1) if flip else v
                    v = letterbox(v) if box else v
                    cv2.imwrite(str(folder / f"{p.stem}_{k:02d}.jpg"), v, [cv2.IMWRITE_JPEG_QUALITY, 92])
                    k += 1
                    n += 1
    return n


def timed(cmd, env=None):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return time.perf_counter() - t, r


def batch_run(images: Path, out: Path, workers: int, env=None, address=None):
    cmd = [sys.executable, "-m", "emorec", "batch", str(images), "--out", str(out), "--workers", str(workers),
           "--no-progress"] + (["--address", address] if address else [])
    wall, r = timed(cmd, env)
    m = SUMMARY.search(r.stderr)
    if r.returncode != 0 or not m:
        sys.exit(f"emorec batch failed ({r.returncode}):\n{r.stderr[-3000:]}")
    import pandas as pd

    df = pd.read_parquet(out)
    return wall, float(m.group(3)), float(m.group(4)), int((df.face > 0).sum())


def detect_run(images: Path):
    wall, r = timed([sys.executable, "-m", "emorec", "detect", str(images), "--json", "--no-save", "--no-progress"])
    if r.returncode != 0:
        sys.exit(f"emorec detect failed:\n{r.stderr[-3000:]}")
    faces = sum(len(json.loads(ln)["faces"]) for ln in r.stdout.splitlines() if ln.startswith("{"))
    return wall, None, None, faces


def cluster_run(images: Path, out: Path, workers: int):
    """A two-node cluster (1 CPU each, loopback only) started here; `emorec batch --address` joins it."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # the simulated nodes listen on loopback only
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    from ray.cluster_utils import Cluster

    t = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "object_store_memory": 200 * 2**20, "node_ip_address": "127.0.0.1"})
    cluster.add_node(num_cpus=1, object_store_memory=200 * 2**20, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    cluster_start = time.perf_counter() - t
    try:
        wall, analysis, join, faces = batch_run(images, out, workers, env=dict(os.environ), address=cluster.address)
    finally:
        cluster.shutdown()
    return wall, analysis, cluster_start + join, faces


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", type=int, default=44, help="copies made of each of the 24 photos")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="rounds (order reversed every other round); best kept")
    ap.add_argument("--no-cluster", action="store_true", help="skip the simulated two-node cluster")
    args = ap.parse_args()
    if not PHOTOS.is_dir():
        sys.exit(f"the real photos are not at {PHOTOS}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = tmp / "images"
        images.mkdir()
        n = make_images(images, args.variants)
        print(f"{n} images from the {len(list(PHOTOS.glob('*.*'))) - 1} real photos in {PHOTOS}; "
              f"{os.cpu_count()} CPUs")
        runs = {"emorec detect (1 process)": lambda k: detect_run(images),
                f"emorec batch, local Ray, {args.workers} workers":
                    lambda k: batch_run(images, tmp / f"local{k}", args.workers)}
        if not args.no_cluster:
            runs[f"emorec batch, 2-node cluster (1 CPU each), {args.workers} workers"] = \
                lambda k: cluster_run(images, tmp / f"cluster{k}", args.workers)
        best: dict = {}
        for k in range(args.repeat):
            for name in (list(runs) if k % 2 == 0 else list(runs)[::-1]):
                load = os.getloadavg()[0]
                res = runs[name](k)
                extra = f", start-up {res[2]:.1f} s" if res[2] is not None else ""
                print(f"  round {k + 1}: {name}: {res[0]:.1f} s{extra}, {res[3]} faces (load average {load:.1f})",
                      flush=True)
                if name not in best or res[0] < best[name][0]:
                    best[name] = res

    base = n / best[next(iter(runs))][0]
    print(f"\n{n} images, {args.workers} workers, best of {args.repeat}; images/s over the whole command, and over "
          "the analysis alone (Ray's start-up left out)")
    print(f"{'run':58s} | {'wall s':>7s} {'img/s':>6s} {'vs detect':>9s} | {'start-up s':>10s} {'analysis img/s':>14s} | faces")
    for name, (wall, analysis, startup, faces) in best.items():
        a = f"{startup:10.1f} {n / analysis:14.1f}" if analysis else f"{'-':>10s} {'-':>14s}"
        print(f"{name:58s} | {wall:7.1f} {n / wall:6.1f} {n / wall / base:8.2f}x | {a} | {faces}")
    print("wall s: the command as a user runs it (local: includes starting and stopping Ray; cluster: joining the "
          "running cluster, whose own start is counted in start-up)")
    same = len({r[3] for r in best.values()}) == 1
    print(f"faces found: {'the same in every run' if same else 'DIFFER between runs'}")


if __name__ == "__main__":
    main()
