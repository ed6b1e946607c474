"""Accuracy of the shipped models on FER2013 PublicTest (the only labelled split we may select on),
with and without flip test-time augmentation, measured through EmotionClassifier (ONNX Runtime).

    python bench/bench_accuracy.py [--data ../shared/data/fer2013/fer2013.csv.gz]

FER+ accuracy under both protocols (emorec.data.ferplus_labels), from the same predictions:
- majority (ours, the model's target): every PublicTest row FER+ keeps (its validation set: a face whose
  most-voted emotion beats unknown and NF), labelled by that emotion;
- barsoum (Barsoum et al. 2016, the FER+ paper and its reader's "majority" mode): votes of 1 dropped as noise,
  rows kept where one emotion holds more than half of the remaining votes (unknown/NF majority excluded).
  A subset of the majority rows, with the same labels; the easier rows, so its accuracy is higher. The
  paper's own figures are on PrivateTest (its test set, withheld here), not PublicTest.

Measured 2026-11-25 on the 2-core CPU, the shipped models (selected on 10% of Training, PublicTest measured once
after training; README "Train, evaluate, export"):
   model protocol              arch  rows  accuracy  flip TTA  macro-F1   target
 fer2013        -  mini_xception_x2  3589    65.92%    66.56%     0.610  68.5% MISSED
 ferplus majority  mini_xception_x4  3524    83.63%    84.11%     0.648        -
 ferplus  barsoum  mini_xception_x4  3199    86.81%    87.25%     0.696  86.5% met
The models shipped before (mini_xception_x2 both, selected on PublicTest, so optimistic there) measured 66.90% /
68.26% (fer2013), 83.71% / 83.94% (FER+ majority) and 86.65% / 87.00% (FER+ Barsoum).
"""

import argparse
import sys
from pathlib import Path

from emorec import EmotionClassifier
from emorec.data import FERPLUS_PROTOCOLS, read_fer2013_csv, read_ferplus
from emorec.evaluate import ferplus_metrics, metrics, predict_dataset

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "fer2013.csv.gz"
# issue 9's figures: FER2013 PublicTest single pass >= 68.5%; FER+ by Barsoum et al.'s protocol >= 86.5%
TARGETS = {"fer2013": {"-": 0.685}, "ferplus": {"barsoum": 0.865}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT)
    a = ap.parse_args()
    if not a.data.exists():
        print(f"skipped: {a.data} not found (the FER2013 CSV is needed)")
        return 0
    fer = read_fer2013_csv(a.data)
    print(f"{'model':>8} {'protocol':>8} {'arch':>17} {'rows':>5} {'accuracy':>9} {'flip TTA':>9} {'macro-F1':>9} "
          f"{'target':>7}")
    for name, target in TARGETS.items():
        clf = EmotionClassifier(name)
        if name == "ferplus":  # FER+ read with the widest protocol; each protocol from the same predictions
            data = read_ferplus(None, a.data.parent / "fer2013new.csv", fer=fer).split("PublicTest")
            plain = ferplus_metrics(data, predict_dataset(clf, data), clf.classes)
            flip = ferplus_metrics(data, predict_dataset(clf, data, flip=True), clf.classes)
            rows = [(p, plain[p], flip[p], target.get(p)) for p in FERPLUS_PROTOCOLS]
        else:
            data = fer.split("PublicTest")
            rows = [("-", metrics(data.labels, predict_dataset(clf, data), clf.classes),
                     metrics(data.labels, predict_dataset(clf, data, flip=True), clf.classes), target["-"])]
        for protocol, m, f, t in rows:
            goal = "-" if t is None else f"{t:>6.1%} {'met' if m['accuracy'] >= t else 'MISSED'}"
            print(f"{name:>8} {protocol:>8} {clf.card['arch']:>17} {m['n']:>5} {m['accuracy']:>9.2%} "
                  f"{f['accuracy']:>9.2%} {m['macro_f1']:>9.3f} {goal:>7}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
