"""What the crop margin around the Haar box does to accuracy, on real labelled faces.

FER2013 PublicTest faces (48x48) are upscaled x3 and placed in a 320x320 frame whose surroundings
repeat the image's border (bench_detector.fer_frame); the Haar cascade (emorec defaults) finds the
face and emorec's crop with margin m is classified. Accuracy is over the faces Haar found (the same
faces for every margin), beside the accuracy on the original 48x48 images (the framing the model was
trained on). Skips cleanly without the FER2013 file (it is not in CI).

    python bench/bench_crop_margin.py [--n 400] [--model fer2013]

Measured with the interim fer2013 model (accuracy on the found faces; two samples):
    margin   0.00   0.05   0.10   0.15   0.20   0.25   0.30   0.40
    n=272   0.603  0.621  0.621  0.570  0.551  0.507  0.478  0.397   (original 48x48: 0.614)
    n=524   0.595  0.590  0.574  0.550  0.511  0.475  0.437  0.340   (original 48x48: 0.573)
0.0-0.1 are level within noise (+-2-3 points); wider crops lose accuracy steadily. Default: 0.05.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from bench_detector import DEFAULT_CSV, fer_frame, found, load_fer

from emorec import EmotionClassifier
from emorec.crop import MARGIN, crop_face
from emorec.detector import FaceDetector

MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--model", default="fer2013")
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    a = ap.parse_args()
    fer = load_fer(a.csv, a.n, seed=2)
    if fer is None:
        print(f"skipped: FER2013 not found at {a.csv}")
        return 0
    faces, labels, classes = fer
    clf = EmotionClassifier(a.model)
    if clf.classes != classes:
        print(f"skipped: model {a.model} classes {clf.classes} are not FER2013's")
        return 0
    det = FaceDetector()
    rng = np.random.default_rng(3)
    frames, boxes, keep = [], [], []
    for i, f in enumerate(faces):
        img, sq = fer_frame(f, rng)
        good = [b for b in det.detect(img) if found(b, sq)]
        if good:
            frames.append(img)
            boxes.append(good[0])
            keep.append(i)
    keep = np.array(keep)
    y = labels[keep]
    base = (clf.predict(faces[keep]).argmax(1) == y).mean()
    print(f"model {a.model}: {len(keep)} of {len(faces)} PublicTest faces found by Haar; "
          f"accuracy on their original 48x48 images: {base:.3f}")
    print(f"{'margin':>6}  accuracy  (crop side / Haar box side)")
    for m in MARGINS:
        crops = [crop_face(img, b, m) for img, b in zip(frames, boxes)]
        acc = (clf.predict(crops).argmax(1) == y).mean()
        side = np.mean([c.shape[0] / b[2] for c, b in zip(crops, boxes)])
        print(f"{m:>6.2f}  {acc:8.3f}  {side:.2f}{'   <- default' if m == MARGIN else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
