"""Several models and their average, on the validation part of Training (where ensembles are chosen).

Each model is an exported .onnx (or a built-in name); its single-pass probabilities (the network's own, T = 1)
are averaged over the members. Only the validation part is read: PublicTest is measured once per shipped model,
never here. FER+ models (``--labels ferplus``) are scored on the validation part `emorec train --labels ferplus`
carves, under both FER+ protocols (majority, and Barsoum et al.'s), from the same predictions.

    python bench/bench_ensemble.py fer2013 runs/fer2013_x4_seed1.onnx [more.onnx ...]
    python bench/bench_ensemble.py --labels ferplus ferplus runs/ferplus_x4_seed1.onnx
"""

from __future__ import annotations

import argparse
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--labels", choices=["fer2013", "ferplus"], default="fer2013")
    a = ap.parse_args(argv)
    if not a.data.is_file():
        print(f"skipped: no FER2013 data at {a.data}")
        return 0
    from emorec import EmotionClassifier
    from emorec.data import load_dataset
    from emorec.evaluate import ferplus_metrics, metrics, predict_dataset

    # as `emorec train` carves it (FER+: the rows the majority protocol keeps, stratified by that label)
    _, val = load_dataset(a.data, labels=a.labels).split("Training").stratified_split(0.1, seed=0)
    probs = {m: predict_dataset(EmotionClassifier(m, calibrated=False), val) for m in a.models}
    classes = EmotionClassifier(a.models[0]).classes
    print(f"validation part of Training: {len(val)} rows (rows_sha256 {val.fingerprint()[:16]}...), single pass")
    for k in range(1, len(a.models) + 1):
        for group in combinations(a.models, k):
            p = np.mean([probs[g] for g in group], axis=0)
            if a.labels == "ferplus":
                figures = ferplus_metrics(val, p, classes)
                text = "  ".join(f"{proto} {m['accuracy']:.2%} (F1 {m['macro_f1']:.3f})"
                                 for proto, m in figures.items())
            else:
                m = metrics(val.labels, p, classes)
                text = f"accuracy {m['accuracy']:.2%}  macro-F1 {m['macro_f1']:.3f}"
            print(f"{' + '.join(group):<70} {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
