"""Classifier throughput: faces per second through EmotionClassifier.predict, ONNX Runtime against
OpenCV DNN, at batch 1 and batch 256, measured in one run on this machine.

    python bench/bench_classifier.py [--model fer2013] [--seconds 3]

Measured 2026-11-25 (shipped fer2013, mini_xception_x2, 2 CPUs):
      onnxruntime  batch   1:      1927 faces/s  (0.52 ms per call)
      onnxruntime  batch 256:      3596 faces/s  (71.19 ms per call)
           opencv  batch   1:      1455 faces/s  (0.69 ms per call)
           opencv  batch 256:      1702 faces/s  (150.43 ms per call)
      chunks of 16 against one call of 256: 1.14x
ONNX Runtime is 1.32x OpenCV DNN at batch 1 and 2.11x at batch 256: it is the default runtime.
"""

import argparse
import os
import time

import numpy as np

from emorec import EmotionClassifier


def faces_per_second(clf, batch: int, seconds: float) -> float:
    faces = np.random.default_rng(0).integers(0, 256, (batch, 48, 48), dtype=np.uint8)
    clf.predict(faces)  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        clf.predict(faces)
        n += batch
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="fer2013")
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    print(f"model {a.model}, {os.cpu_count()} CPUs; faces/s through EmotionClassifier.predict (preprocessing included)")
    res = {}
    for runtime in ("onnxruntime", "opencv"):
        clf = EmotionClassifier(a.model, runtime=runtime)
        for batch in (1, 256):
            res[runtime, batch] = faces_per_second(clf, batch, a.seconds)
            print(f"  {runtime:>11}  batch {batch:>3}: {res[runtime, batch]:9.0f} faces/s"
                  f"  ({1000 * batch / res[runtime, batch]:.2f} ms per call)")
    import emorec.classifier as c

    chunk, c.CHUNK = c.CHUNK, 1 << 30
    unchunked = faces_per_second(EmotionClassifier(a.model), 256, a.seconds)
    c.CHUNK = chunk
    print(f"  onnxruntime  batch 256 in one call (no chunks of {chunk}): {unchunked:.0f} faces/s; chunking gives "
          f"{res['onnxruntime', 256] / unchunked:.2f}x")
    for batch in (1, 256):
        print(f"  ratio onnxruntime/opencv at batch {batch}: {res['onnxruntime', batch] / res['opencv', batch]:.2f}x")


if __name__ == "__main__":
    main()
