"""Export a training checkpoint to ONNX (dynamic batch axis, softmax inside) with its model card."""

from __future__ import annotations

import csv
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import EmorecError, ModelError
from ..files import sha256
from ..model_card import preprocess_contract
from ..preprocess import SCALING
from .checkpoint import read_checkpoint
from .net import ARCHITECTURES, WithSoftmax, build_model


def load_checkpoint(path) -> tuple[torch.nn.Module, dict]:
    """The network and metadata of a checkpoint written by ``emorec train`` (``best.pt``/``last.pt``).

    Loaded with ``weights_only=True``: a checkpoint holds tensors and plain types only, and any other
    file (an image, a pickle of something else, a truncated download) is a :class:`ModelError` naming it.
    """
    path = Path(path)
    ck = read_checkpoint(path)
    try:
        model = build_model(ck["arch"], len(ck["classes"]))
        model.load_state_dict(ck["model"])
    except KeyError as e:
        raise ModelError(f"{path}: not an emorec checkpoint (a .pt written by 'emorec train'): no {e} entry") from e
    except (TypeError, ValueError, RuntimeError) as e:
        raise ModelError(f"{path}: not an emorec checkpoint (a .pt written by 'emorec train'): "
                         f"{(str(e).strip().splitlines() or [type(e).__name__])[0]}") from e
    return model.eval(), ck


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def _selection(ck: dict, config: dict) -> dict:
    """How the checkpoint was chosen, from what the run recorded."""
    if ck.get("selection"):
        return {"rule": ck["selection"], "validation": ck.get("validation"),
                "epoch": int(ck["epoch"]) + 1, "validation_accuracy": float(ck.get("val_acc", float("nan")))}
    split = config.get("val_split", "PublicTest")  # runs from before the validation part was carved
    return {"rule": f"best {split} accuracy (this run validated on {split}: figures measured on {split} "
                    "are optimistic for this model)",
            "validation": {"from": split}, "epoch": int(ck["epoch"]) + 1,
            "validation_accuracy": float(ck.get("val_acc", float("nan")))}


def export_onnx(checkpoint, out, *, name: str | None = None, opset: int = 17) -> Path:
    """Write ``out`` (.onnx) and a first card (``.json``); :func:`add_evaluation` adds the measurement
    through ONNX Runtime. The card records how the checkpoint was selected and, for a run's ``best.pt``, the run's
    one PublicTest measurement (``test.json``)."""
    from ..files import writable_folder

    model, ck = load_checkpoint(checkpoint)
    out = Path(out)
    if out.is_dir():
        raise EmorecError(f"{out}: is a folder; give the .onnx file to write, such as {out / 'model.onnx'}")
    writable_folder(out.parent, "model")
    size = int(ck["image_size"])
    dummy = torch.zeros(2, 1, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(WithSoftmax(model), (dummy,), str(out), input_names=["faces"], output_names=["probs"],
                          dynamic_axes={"faces": {0: "batch"}, "probs": {0: "batch"}}, opset_version=opset,
                          dynamo=False)
    run_dir = Path(checkpoint).parent
    run_record = _read_json(run_dir / "config.json")
    config = dict(ck.get("config") or run_record)
    for k in ("precision", "device", "world_size", "augmentation"):  # resolved at run time: beside the configuration
        if k in run_record:
            config[k] = run_record[k]
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
        "preprocess": preprocess_contract(size),
        "output": "float32 (N, classes) softmax probabilities",
        "epochs_trained": int(ck["epoch"]) + 1,
        "checkpoint_val_acc": float(ck.get("val_acc", float("nan"))),
        "selection": _selection(ck, config),
        "recipe": {k: v for k, v in config.items() if k not in ("resume", "overwrite", "progress")},
        "training_time": {"epochs_run": len(seconds), "wall_seconds": round(sum(seconds)),
                          "seconds_per_epoch": round(sum(seconds) / max(1, len(seconds)), 1)},
        "sha256": sha256(out),
        "exported": time.strftime("%Y-%m-%d"),
        "evaluation": {},
    }
    test = _read_json(run_dir / "test.json")  # the run's one measurement of this checkpoint, if it is best.pt
    if test.get("split") and test.get("epoch") == card["epochs_trained"] and Path(checkpoint).name == "best.pt":
        card["evaluation"][test["split"]] = {
            "measured": f"{test['measured']} (PyTorch, the run's test.json)",
            **{k: test[k] for k in ("rows", "accuracy", "macro_f1", "per_class", "confusion_matrix", "labels")
               if k in test}}
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
    from ..evaluate import ferplus_metrics, metrics, predict_dataset

    onnx_path = Path(onnx_path)
    card_path = onnx_path.with_suffix(".json")
    card = json.loads(card_path.read_text())
    clf = EmotionClassifier(onnx_path)
    ds = load_dataset(data, labels=card["labels"], ferplus_csv=ferplus_csv, image_size=card["input_size"])
    ds = ds.split(split)
    probs, probs_flip = predict_dataset(clf, ds), predict_dataset(clf, ds, flip=True)
    names = clf.model_classes  # the card speaks its data set's own names
    res = metrics(ds.labels, probs, names)
    res_flip = metrics(ds.labels, probs_flip, names)
    protocols = {}
    if ds.votes is not None:  # FER+: also Barsoum et al.'s rows and labels, from the same predictions
        plain, flipped = ferplus_metrics(ds, probs, names), ferplus_metrics(ds, probs_flip, names)
        protocols = {"protocols": {p: {"rows": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                                       "accuracy_flip_tta": flipped[p]["accuracy"]} for p, m in plain.items()}}
    card.setdefault("evaluation", {})[split] = {
        "measured": f"one pass over {split} with this .onnx through ONNX Runtime, after the "
                    f"{'members were chosen' if 'members' in card else 'checkpoint was selected'}; not used for selection",
        "rows": res["n"], "accuracy": res["accuracy"], "macro_f1": res["macro_f1"],
        "accuracy_flip_tta": res_flip["accuracy"], "per_class": res["per_class"],
        "confusion_matrix": res["confusion_matrix"],
        "labels": "majority vote of the FER+ annotators" if card["labels"] == "ferplus" else "FER2013 labels",
        **protocols,
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    onnx_path.with_suffix(".md").write_text(card_markdown(card))
    return card


def _val_rows(sel: dict) -> str:
    v = sel.get("validation") or {}
    if "rows" not in v:
        return ""
    return (f" ({v['rows']} validation rows, sha256 of their row numbers `{str(v.get('rows_sha256', ''))[:16]}...`; "
            f"validation accuracy {sel.get('validation_accuracy', float('nan')):.2%})")


def _precision_note(r: dict) -> str:
    p = r.get("precision") or ("bf16" if r.get("bf16") else "fp32")
    return {"bf16": ", bfloat16 autocast", "fp16": ", float16 autocast with gradient scaling"}.get(p, "")


def _augmentation(r: dict) -> str:
    if isinstance(r.get("augment"), dict):  # cards from before the presets
        return str(r["augment"])
    return f"`{r.get('augment')}` {r.get('augmentation', '')}"


def _ensemble_lines(card: dict) -> list[str]:
    sel = card.get("selection") or {}
    acc = sel.get("validation_accuracy")
    lines = [f"- **Architecture**: {card['arch']}; {card['parameters']:,} parameters in all; one ONNX graph that "
             "averages the members' softmax probabilities.",
             f"- **Classes** ({len(card['classes'])}): {', '.join(card['classes'])}.",
             f"- **Input**: {card['input']}; scaling `{card['scaling']}` (grey, area-resized, [0,1] then [-1,1]).",
             f"- **Selection**: {sel.get('rule', 'not recorded')}"
             + (f"; validation accuracy {acc:.2%}" if acc is not None else "") + ".",
             "- **Members**:"]
    for m in card["members"]:
        msel = m.get("selection") or {}
        r = m.get("recipe") or {}
        extra = _lineage(r)
        lines.append(f"  - `{m['name']}`: {m.get('arch')}, {m.get('parameters') or 0:,} parameters, "
                     f"seed {r.get('seed')}, augmentation `{r.get('augment')}`{extra}; validation accuracy "
                     f"{msel.get('validation_accuracy', float('nan')):.2%} (epoch {msel.get('epoch')}); sha256 "
                     f"`{str(m.get('sha256'))[:16]}...`.")
    return lines


def _lineage(r: dict) -> str:
    """What a recipe adds to plain training: a start from another run, a teacher, a moving average."""
    return "".join([f", fine-tuned from {r['init']}" if r.get("init") else "",
                    f", distilled from {r['teacher']} (weight {r.get('distill_weight')})" if r.get("teacher") else "",
                    f", moving average of the weights (decay {r['ema']})" if r.get("ema") else ""])


def card_markdown(card: dict) -> str:
    r = card.get("recipe", {})
    sel = card.get("selection") or {}
    if "members" in card:
        return _card_markdown(card, _ensemble_lines(card))
    return _card_markdown(card, [
        f"- **Architecture**: {card['arch']} (mini-XCEPTION, Arriaga et al. 2017; widths {card['arch_kwargs']}), "
        f"{card['parameters']:,} parameters; softmax inside the ONNX graph.",
        f"- **Classes** ({len(card['classes'])}): {', '.join(card['classes'])}.",
        f"- **Input**: {card['input']}; scaling `{card['scaling']}` (grey, area-resized, [0,1] then [-1,1]).",
        f"- **Data**: {'FER2013 images with FER+ votes as soft targets (rows FER+ marks not-a-face or unknown dropped)' if card['labels'] == 'ferplus' else 'FER2013 (Kaggle CSV)'}; "
        f"trained on the `{r.get('train_split', 'Training')}` split. "
        "PrivateTest was never seen (withheld for independent evaluation).",
        f"- **Selection**: {sel.get('rule', 'not recorded')}; the checkpoint of epoch {sel.get('epoch')}"
        f"{_val_rows(sel)}.",
        f"- **Recipe**: Adam lr {r.get('lr')}, weight decay {r.get('weight_decay')}, batch {r.get('batch_size')}, "
        f"{r.get('schedule')} schedule (warm-up {r.get('warmup_epochs')} epochs), label smoothing {r.get('label_smoothing')}, "
        f"augmentation {_augmentation(r)}, categorical cross-entropy, seed {r.get('seed')}"
        f"{_precision_note(r)}{_lineage(r)}; "
        f"best checkpoint from epoch {card['epochs_trained']} of {r.get('epochs')}; "
        f"{card['training_time']['epochs_run']} epochs took {card['training_time']['wall_seconds'] / 60:.0f} min "
        f"({r.get('device', 'cpu')}, {r.get('world_size', 1)} process(es)).",
    ])


def _card_markdown(card: dict, head: list[str]) -> str:
    lines = [f"# emorec model card: `{card['name']}`", "", *head]
    for split, ev in card.get("evaluation", {}).items():
        flip = f", with flip TTA {ev['accuracy_flip_tta']:.2%}" if "accuracy_flip_tta" in ev else ""
        lines += [f"- **{split}** ({ev['rows']} rows, {ev['labels']}; {ev.get('measured', 'one pass')}): "
                  f"accuracy **{ev['accuracy']:.2%}**{flip}; macro-F1 {ev['macro_f1']:.3f}."]
        lines += [f"- **{split}, FER+ {p} protocol** ({m['rows']} rows): accuracy **{m['accuracy']:.2%}**, with flip "
                  f"TTA {m['accuracy_flip_tta']:.2%}; macro-F1 {m['macro_f1']:.3f}."
                  for p, m in ev.get("protocols", {}).items()]
        lines += ["",
                  "| class | precision | recall | F1 | n |", "|---|---|---|---|---|"]
        lines += [f"| {c} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
                  for c, m in ev["per_class"].items()]
    cal = card.get("calibration")
    if cal:
        v = cal["validation"]
        lines += ["", f"- **Calibration**: temperature {cal['temperature']:g}, fitted on {cal['fitted_on']}; applied "
                      f"by emorec at inference (validation ECE {v['raw']['ece']:.1%} -> {v['calibrated']['ece']:.1%}, "
                      f"NLL {v['raw']['nll']:.3f} -> {v['calibrated']['nll']:.3f}). Suggested `--min-confidence` "
                      f"{cal['suggested_min_confidence']:g}: {cal['suggested_for']} (there: "
                      f"{v['at_suggested']['coverage']:.1%} answered, {v['at_suggested']['accuracy']:.1%} right). "
                      "PublicTest figures: bench/RESULTS.md."]
    lines += ["", f"- **sha256** of `{card['name']}.onnx`: `{card['sha256']}`", ""]
    return "\n".join(lines)
