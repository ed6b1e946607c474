"""Evaluation of a model on a dataset split: accuracy, per-class precision/recall/F1, confusion matrix;
for FER+ labels, under each FER+ protocol (:func:`emorec.data.ferplus_labels`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .data import FERPLUS_PROTOCOLS, Dataset, ferplus_labels
from .errors import EmorecError


def metrics(labels: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro F1 and the confusion matrix (rows: truth)."""
    k = len(classes)
    pred = probs.argmax(axis=1)
    cm = np.bincount(labels * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(tp / cm.sum(axis=0))
        recall = np.nan_to_num(tp / cm.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    per_class = {c: {"precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
                     "f1": round(float(f1[i]), 4), "support": int(cm[i].sum())} for i, c in enumerate(classes)}
    return {"n": int(len(labels)), "accuracy": round(float((pred == labels).mean()) if len(labels) else 0.0, 4),
            "macro_f1": round(float(f1.mean()), 4), "per_class": per_class, "classes": list(classes),
            "confusion_matrix": cm.tolist()}


def ferplus_metrics(data: Dataset, probs: np.ndarray, classes: list[str],
                    protocols=FERPLUS_PROTOCOLS) -> dict[str, dict]:
    """:func:`metrics` under each FER+ protocol, from one set of predictions ``probs`` for every row of
    ``data`` (FER+ data read with the ``majority`` protocol, the widest): ``{protocol: metrics}``, each
    on the rows the protocol keeps, with its labels."""
    if data.votes is None:
        raise EmorecError(f"{data.source}: has no FER+ votes; the FER+ protocols need FER+ labels")
    out = {}
    for protocol in protocols:
        keep, labels = ferplus_labels(data.votes, protocol)
        out[protocol] = dict(metrics(labels[keep], probs[keep], classes), protocol=protocol)
    return out


def predict_dataset(model, data: Dataset, *, flip: bool = False, batch: int = 1024) -> np.ndarray:
    """Probabilities of ``model`` (an :class:`EmotionClassifier`) for every image of ``data``."""
    return np.concatenate([model.predict(data.images[i:i + batch], flip=flip)
                           for i in range(0, len(data), batch)]) if len(data) else np.zeros((0, len(model.classes)))


def plot_confusion(result: dict, path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(result["confusion_matrix"], dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    classes = result["classes"]
    fig, ax = plt.subplots(figsize=(1.1 * len(classes) + 2, 1.0 * len(classes) + 1.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{int(cm[i, j])}\n{norm[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted"), ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {result['accuracy']:.2%} (n={result['n']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def output_folder(path, what: str = "output folder") -> Path:
    """Make the folder ``path`` (parents too) and check a file can be written there, before any long work;
    :class:`EmorecError` naming it otherwise (a file in the way, no permission, a read-only place)."""
    import tempfile

    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise EmorecError(f"{path}: cannot write the {what} there: it is a file, not a folder")
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise EmorecError(f"{path}: cannot write the {what} there: {e.strerror or e}") from e
    return path


def write_report(result: dict, out_dir, stem: str = "evaluation") -> tuple[Path, Path]:
    out_dir = output_folder(out_dir, "evaluation report")
    js, png = out_dir / f"{stem}.json", out_dir / f"{stem}_confusion.png"
    js.write_text(json.dumps(result, indent=2) + "\n")
    plot_confusion(result, png)
    return js, png
