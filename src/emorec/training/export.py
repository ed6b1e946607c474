"""Export a training checkpoint to ONNX (dynamic batch axis, softmax inside) with its model card."""

from __future__ import annotations

import csv
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError
from ..model_card import sha256
from ..preprocess import SCALING
from .net import ARCHITECTURES, WithSoftmax, build_model


def load_checkpoint(path) -> tuple[torch.nn.Module, dict]:
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: checkpoint not found")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        model = build_model(ck["arch"], len(ck["classes"]))
        model.load_state_dict(ck["model"])
    except (KeyError, RuntimeError, EOFError, OSError) as e:
        raise ModelError(f"{path}: not an emorec checkpoint: {e}") from e
    return model.eval(), ck


def export_onnx(checkpoint, out, *, name: str | None = None, opset: int = 17) -> Path:
    """Write ``out`` (.onnx) and a first card (``.json``); :func:`write_card` adds the evaluation."""
    model, ck = load_checkpoint(checkpoint)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = int(ck["image_size"])
    dummy = torch.zeros(2, 1, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(WithSoftmax(model), (dummy,), str(out), input_names=["faces"], output_names=["probs"],
                          dynamic_axes={"faces": {0: "batch"}, "probs": {0: "batch"}}, opset_version=opset,
                          dynamo=False)
    run_dir = Path(checkpoint).parent
    config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").exists() else ck.get("config", {})
    log_csv = run_dir / "log.csv"
    seconds = [float(r["seconds"]) for r in csv.DictReader(open(log_csv))] if log_csv.exists() else []
    card = {
        "name": name or out.stem,
        "format": "onnx",
        "arch": ck["arch"],
        "arch_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in ARCHITECTURES[ck["arch"]].items()},
        "parameters": sum(p.numel() for p in model.parameters()),
        "labels": ck.get("labels", "fer2013"),
        "classes": list(ck["classes"]),
        "input_size": size,
        "input": f"float32 (N, 1, {size}, {size}), grey face crop",
        "scaling": SCALING,
        "output": "float32 (N, classes) softmax probabilities",
        "epochs_trained": int(ck["epoch"]) + 1,
        "checkpoint_val_acc": float(ck.get("val_acc", float("nan"))),
        "recipe": config,
        "training_time": {"epochs_run": len(seconds), "wall_seconds": round(sum(seconds)),
                          "seconds_per_epoch": round(sum(seconds) / max(1, len(seconds)), 1)},
        "sha256": sha256(out),
        "exported": time.strftime("%Y-%m-%d"),
    }
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return out


def max_abs_difference(checkpoint, onnx_path, faces: np.ndarray) -> float:
    """PyTorch against ONNX Runtime on the same preprocessed faces."""
    import onnxruntime as ort

    from ..preprocess import preprocess

    model, ck = load_checkpoint(checkpoint)
    x = preprocess(faces, int(ck["image_size"]))
    with torch.no_grad():
        ref = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    return float(np.abs(ref - got).max())


def add_evaluation(onnx_path, data, *, split: str = "PublicTest", ferplus_csv=None) -> dict:
    """Evaluate the exported model (through ONNX Runtime, as users run it) on ``split`` and write the
    result into its card, with and without flip test-time augmentation; then write the Markdown card."""
    from ..classifier import EmotionClassifier
    from ..data import load_dataset
    from ..evaluate import metrics, predict_dataset

    onnx_path = Path(onnx_path)
    card_path = onnx_path.with_suffix(".json")
    card = json.loads(card_path.read_text())
    clf = EmotionClassifier(onnx_path)
    ds = load_dataset(data, labels=card["labels"], ferplus_csv=ferplus_csv, image_size=card["input_size"])
    ds = ds.split(split)
    res = metrics(ds.labels, predict_dataset(clf, ds), clf.classes)
    res_flip = metrics(ds.labels, predict_dataset(clf, ds, flip=True), clf.classes)
    card.setdefault("evaluation", {})[split] = {
        "rows": res["n"], "accuracy": res["accuracy"], "macro_f1": res["macro_f1"],
        "accuracy_flip_tta": res_flip["accuracy"], "per_class": res["per_class"],
        "confusion_matrix": res["confusion_matrix"],
        "labels": "majority vote of the FER+ annotators" if card["labels"] == "ferplus" else "FER2013 labels",
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    onnx_path.with_suffix(".md").write_text(card_markdown(card))
    return card


def card_markdown(card: dict) -> str:
    r = card.get("recipe", {})
    lines = [
        f"# emorec model card: `{card['name']}`", "",
        f"- **Architecture**: {card['arch']} (mini-XCEPTION, Arriaga et al. 2017; widths {card['arch_kwargs']}), "
        f"{card['parameters']:,} parameters; softmax inside the ONNX graph.",
        f"- **Classes** ({len(card['classes'])}): {', '.join(card['classes'])}.",
        f"- **Input**: {card['input']}; scaling `{card['scaling']}` (grey, area-resized, [0,1] then [-1,1]).",
        f"- **Data**: {'FER2013 images with FER+ votes as soft targets (rows FER+ marks not-a-face or unknown dropped)' if card['labels'] == 'ferplus' else 'FER2013 (Kaggle CSV)'}; "
        f"trained on the `{r.get('train_split', 'Training')}` split, model selected on `{r.get('val_split', 'PublicTest')}`. "
        "PrivateTest was never seen (withheld for independent evaluation).",
        f"- **Recipe**: Adam lr {r.get('lr')}, weight decay {r.get('weight_decay')}, batch {r.get('batch_size')}, "
        f"{r.get('schedule')} schedule (warm-up {r.get('warmup_epochs')} epochs), label smoothing {r.get('label_smoothing')}, "
        f"augmentation {r.get('augment')}, categorical cross-entropy, seed {r.get('seed')}"
        f"{', bfloat16 autocast' if r.get('bf16') else ''}; "
        f"best checkpoint (by validation accuracy) from epoch {card['epochs_trained']} of {r.get('epochs')}; "
        f"{card['training_time']['epochs_run']} epochs took {card['training_time']['wall_seconds'] / 60:.0f} min "
        f"on a 2-core CPU.",
    ]
    for split, ev in card.get("evaluation", {}).items():
        lines += [f"- **{split}** ({ev['rows']} rows, {ev['labels']}): accuracy **{ev['accuracy']:.2%}**, "
                  f"with flip TTA {ev['accuracy_flip_tta']:.2%}; macro-F1 {ev['macro_f1']:.3f}.", "",
                  "| class | precision | recall | F1 | n |", "|---|---|---|---|---|"]
        lines += [f"| {c} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
                  for c, m in ev["per_class"].items()]
    lines += ["", f"- **sha256** of `{card['name']}.onnx`: `{card['sha256']}`", ""]
    return "\n".join(lines)
