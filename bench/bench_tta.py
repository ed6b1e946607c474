"""Test-time augmentation of a shipped model: one pass, mirror (``--flip``), and N-crop averages (Khaireddin &
Chen 2021 use ten crops: the four corners and the centre of a smaller square, and their mirrors).

Each crop of ``--crop`` of the 48x48 face (e.g. 44 px) is resized back to the model's 48 px, as a crop of the
same face taken a little tighter: the same preprocessing the model saw (its training framing varies the crop
scale by +-20%). Selection happens on the validation part of Training (``stratified_split(0.1, seed=0)``,
the part every shipped model was selected on); ``--split PublicTest`` measures the chosen setting once.

    python bench/bench_tta.py --data ../shared/data/fer2013/fer2013.csv.gz                 # validation
    python bench/bench_tta.py --data ../shared/data/fer2013/fer2013.csv.gz --split PublicTest --only flip
    python bench/bench_tta.py --model ferplus      # FER+ models: both FER+ protocols, from the same predictions

Prints accuracy and per-face cost (ms, one thread) for each setting.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


def crops(faces: np.ndarray, side: int, where: str) -> list[np.ndarray]:
    """Crops of ``side`` px of (N, 48, 48) faces, resized back to 48: the centre ('centre'), or the centre
    and four corners ('five')."""
    import cv2

    n = faces.shape[1]
    d = n - side
    spots = [(d // 2, d // 2)] if where == "centre" else [(d // 2, d // 2), (0, 0), (0, d), (d, 0), (d, d)]
    return [np.stack([cv2.resize(f[y:y + side, x:x + side], (n, n), interpolation=cv2.INTER_LINEAR)
                      for f in faces]) for y, x in spots]


def settings(side: int) -> dict:
    """name -> function(classifier, faces) -> averaged probabilities."""
    def avg(clf, views, flip):
        return np.mean([clf.predict(v, flip=flip) for v in views], axis=0)

    return {
        "single": lambda clf, x: clf.predict(x, flip=False),
        "flip": lambda clf, x: clf.predict(x, flip=True),
        f"centre {side}px + flip": lambda clf, x: avg(clf, crops(x, side, "centre"), True),
        f"full + centre {side}px, + flip": lambda clf, x: avg(clf, [x] + crops(x, side, "centre"), True),
        f"ten-crop {side}px": lambda clf, x: avg(clf, crops(x, side, "five"), True),
        f"full + ten-crop {side}px": lambda clf, x: avg(clf, [x] + crops(x, side, "five"), True),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--model", default="fer2013")
    ap.add_argument("--split", default="validation", choices=["validation", "PublicTest"])
    ap.add_argument("--crop", type=int, default=44, help="crop side in px of the 48 px face")
    ap.add_argument("--only", default=None, help="one setting (a name printed by a validation run)")
    a = ap.parse_args(argv)
    if not a.data.exists():
        print(f"skipped: {a.data} not found (the FER2013 CSV; see ../shared/data/fer2013/README)")
        return 0
    from emorec import EmotionClassifier
    from emorec.data import load_dataset
    from emorec.evaluate import ferplus_metrics

    clf = EmotionClassifier(a.model, threads=1)
    labels = clf.card.get("labels", "fer2013")  # FER+: the rows the majority protocol keeps, as training carved them
    data = load_dataset(a.data, labels=labels)
    part = (data.split("Training").stratified_split(0.1, seed=0)[1] if a.split == "validation"
            else data.split("PublicTest"))
    print(f"{a.model} on {a.split} ({len(part)} faces, {labels} labels); crop {a.crop} px of 48")
    for name, fn in settings(a.crop).items():
        if a.only and name != a.only:
            continue
        t = time.perf_counter()
        probs = fn(clf, part.images)
        ms = (time.perf_counter() - t) * 1000 / len(part)
        if labels == "ferplus":
            text = "  ".join(f"{proto} {m['accuracy'] * 100:6.2f}%"
                             for proto, m in ferplus_metrics(part, probs, clf.classes).items())
        else:
            text = f"accuracy {float((probs.argmax(1) == part.labels).mean()) * 100:6.2f}%"
        print(f"  {name:28s} {text}   {ms:5.2f} ms/face")
    return 0


if __name__ == "__main__":
    sys.exit(main())
