"""Evaluation of a model on a dataset split: accuracy, per-class precision/recall/F1, confusion matrix;
for FER+ labels, under each FER+ protocol (:func:`emorec.data.ferplus_labels`).

>>> from emorec.evaluate import evaluate_model
>>> ev = evaluate_model("fer2013.csv", "fer2013", split="PublicTest", out="runs/evaluate")
>>> ev.result["accuracy"], ev.json_path          # also evaluation_confusion.png beside it
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .data import FERPLUS_PROTOCOLS, SPLITS, Dataset, ferplus_labels, load_dataset
from .errors import DataError, EmorecError
from .files import writable_folder
from .labels import common_names

LABEL_SETS = ("fer2013", "ferplus")


class OptionError(ValueError):
    """An evaluation setting that cannot be used; ``option`` names it (``split``, ``labels``, ``protocol``)."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


@dataclass
class Evaluation:
    """What :func:`evaluate_model` measured and wrote: ``result`` (the report, as in ``json_path``),
    ``protocols`` (FER+ labels: the metrics under each protocol, from the same predictions; else empty),
    ``bad_rows`` (rows skipped with ``skip_bad_rows``), ``json_path`` and ``png_path`` (the confusion matrix)."""

    result: dict
    json_path: Path
    png_path: Path
    protocols: dict = field(default_factory=dict)
    bad_rows: list = field(default_factory=list)


def check_options(split: str = "PublicTest", labels: Optional[str] = None, protocol: Optional[str] = None) -> str:
    """The settings of :func:`evaluate_model`, checked before any work: the split's name as the data spells it,
    any case given (``publictest`` -> ``PublicTest``; or ``all``), or :class:`OptionError` naming the setting
    that is not one of its values."""
    names = {s.lower(): s for s in (*SPLITS, "all")}
    if str(split).lower() not in names:
        raise OptionError("split", f"{split!r} is not one of {', '.join(names.values())}")
    if labels is not None and labels not in LABEL_SETS:
        raise OptionError("labels", f"{labels!r} is not one of {', '.join(LABEL_SETS)}")
    if protocol is not None and protocol not in FERPLUS_PROTOCOLS:
        raise OptionError("protocol", f"{protocol!r} is not one of {', '.join(FERPLUS_PROTOCOLS)}")
    return names[str(split).lower()]


def evaluate_model(data, model="fer2013", *, out, split: str = "PublicTest", labels: Optional[str] = None,
                   ferplus_csv=None, flip: bool = False, skip_bad_rows: bool = False,
                   protocol: Optional[str] = None) -> Evaluation:
    """Evaluate ``model`` (a name, an ensemble ``a+b`` or an .onnx path) on one ``split`` of ``data`` (a FER2013
    CSV or an image folder; ``split="all"``: every row) and write ``evaluation.json`` and
    ``evaluation_confusion.png`` in the folder ``out``.

    ``labels``: ``fer2013`` or ``ferplus`` (default: the model's). ``flip``: average with the mirrored face.
    ``protocol``: for FER+ labels, the protocol whose rows and labels the report uses (default ``majority``);
    every protocol is measured either way (:attr:`Evaluation.protocols`).

    Raises :class:`OptionError` for a setting that cannot be used (checked before any work),
    :class:`emorec.errors.EmorecError` (a model, data or output problem) otherwise.
    """
    from .classifier import EmotionClassifier

    split = check_options(split, labels, protocol)
    writable_folder(out, "evaluation report")
    clf = EmotionClassifier(model)
    label_set = labels or clf.card.get("labels", "ferplus" if len(clf.classes) == 8 else "fer2013")
    if protocol is not None and label_set != "ferplus":
        raise OptionError("protocol", f"only FER+ labels have protocols; these are {label_set} labels "
                                      "(--labels ferplus)")
    data_set = load_dataset(data, labels=label_set, ferplus_csv=ferplus_csv, image_size=clf.input_size,
                            skip_bad_rows=skip_bad_rows)
    if data_set.usage is None and split != "all":
        raise DataError(f"{data}: has no splits (no 'Usage' column or split folders), so there is no {split}; "
                        "pass --split all to evaluate every row")
    data_set = data_set.split(None if split == "all" else split)
    if common_names(data_set.classes) != clf.classes:  # both in the common vocabulary (happy = happiness)
        raise DataError(f"model classes {clf.classes} differ from the data's {data_set.classes}; pass --labels")
    probs = predict_dataset(clf, data_set, flip=flip)
    by_protocol = {}
    if data_set.votes is not None:  # FER+ (read with the widest protocol): each protocol, same predictions
        by_protocol = ferplus_metrics(data_set, probs, clf.classes)
        result = by_protocol[protocol or "majority"]
        result["protocols"] = {p: {"rows": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
                               for p, m in by_protocol.items()}
    else:
        result = metrics(data_set.labels, probs, clf.classes)
    result.update(model=clf.name, data=str(data), split=split, flip_tta=flip, skipped_rows=len(data_set.bad_rows))
    js, png = write_report(result, out)
    return Evaluation(result, js, png, by_protocol, list(data_set.bad_rows))


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


def write_report(result: dict, out_dir, stem: str = "evaluation") -> tuple[Path, Path]:
    out_dir = writable_folder(out_dir, "evaluation report")
    js, png = out_dir / f"{stem}.json", out_dir / f"{stem}_confusion.png"
    js.write_text(json.dumps(result, indent=2) + "\n")
    plot_confusion(result, png)
    return js, png
