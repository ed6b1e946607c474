"""An ensemble as one model: exported members joined into one ONNX graph that averages their probabilities.

Each member's graph is copied in with its names prefixed (``m0/``, ``m1/``, ...); all read the one ``faces``
input, and an ONNX ``Mean`` node averages their ``probs`` into the graph's own. The result is an ordinary
emorec model: a user loads it by path (or, shipped, by name: ``EmotionClassifier("fer2013-ensemble")``), on
ONNX Runtime or OpenCV DNN, and the page can run it too. Its card lists the members and records the
ensemble's own validation accuracy.

    emorec ensemble fer2013 runs/kd.onnx --out fer2013-ensemble.onnx --data fer2013.csv.gz
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import EmorecError, ModelError
from ..files import sha256, writable_folder
from ..model_card import ensemble_members, read_card, resolve

INPUT, OUTPUT = "faces", "probs"
SAME = ("classes", "input_size", "scaling", "labels")  # what every member must share


def _load(path: Path):
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as e:  # onnx raises DecodeError and friends
        raise ModelError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None


def _prefixed(model, prefix: str):
    """The member's graph with every name but the shared input prefixed, its output renamed to prefix+probs."""
    import onnx

    g = onnx.GraphProto()
    g.CopyFrom(model.graph)
    if len(g.input) != 1 or len(g.output) != 1:
        raise ModelError(f"member {prefix}: expected one input and one output, got {len(g.input)} and {len(g.output)}")
    inp = g.input[0].name

    def rename(name: str) -> str:
        return name if name in ("", inp) else prefix + name

    for node in g.node:
        node.name = prefix + node.name
        node.input[:] = [INPUT if n == inp else rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
    for t in g.initializer:
        t.name = rename(t.name)
    for v in g.value_info:
        v.name = rename(v.name)
    return g, rename(g.output[0].name)


def build_ensemble(members, out, *, name: str | None = None) -> Path:
    """Write ``out`` (.onnx) averaging ``members`` (built-in names or exported .onnx files, at least two) and a
    card beside it. The members must share classes, input size, scaling and labels."""
    import onnx
    from onnx import helper

    members = [m for spec in members for m in ensemble_members(spec)]
    if len(members) < 2:
        raise EmorecError("an ensemble needs at least two members")
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise EmorecError(f"{out}: the ensemble is written as an .onnx file")
    paths = [resolve(m) for m in members]
    cards = [read_card(p) for p in paths]
    for key in SAME:
        values = {json.dumps(c.get(key)) for c in cards}
        if len(values) > 1:
            raise ModelError(f"the members differ in {key!r}: "
                             + "; ".join(f"{p.name}: {c.get(key)}" for p, c in zip(paths, cards)))
    models = [_load(p) for p in paths]
    opset = max(next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 13) for m in models)
    nodes, inits, outs = [], [], []
    for i, m in enumerate(models):
        g, probs = _prefixed(m, f"m{i}/")
        nodes += g.node
        inits += g.initializer
        outs.append(probs)
    size = int(cards[0]["input_size"])
    faces = helper.make_tensor_value_info(INPUT, onnx.TensorProto.FLOAT, ["batch", 1, size, size])
    probs = helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, ["batch", len(cards[0]["classes"])])
    nodes.append(helper.make_node("Mean", outs, [OUTPUT], name="ensemble_mean"))
    graph = helper.make_graph(nodes, name or out.stem, [faces], [probs], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="emorec ensemble")
    model.ir_version = min(m.ir_version for m in models)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise ModelError(f"the joined graph is not valid ONNX: {str(e).splitlines()[0]}") from None
    writable_folder(out.parent, "model")
    onnx.save(model, str(out))
    first = cards[0]
    card = {
        "name": name or out.stem,
        "format": "onnx",
        "arch": f"ensemble of {len(members)}: " + ", ".join(c.get("arch", "?") for c in cards),
        "members": [{"name": c.get("name", p.stem), "sha256": c.get("sha256") or sha256(p), "arch": c.get("arch"),
                     "parameters": c.get("parameters"), "selection": c.get("selection"), "recipe": c.get("recipe")}
                    for p, c in zip(paths, cards)],
        "parameters": sum(int(c.get("parameters") or 0) for c in cards),
        **{k: first[k] for k in ("labels", "classes", "input_size", "input", "scaling", "preprocess") if k in first},
        "output": f"float32 (N, classes): the mean of the {len(members)} members' softmax probabilities",
        "sha256": sha256(out),
        "exported": time.strftime("%Y-%m-%d"),
        "evaluation": {},
    }
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return out


def max_difference(out, members, faces: np.ndarray) -> float:
    """The joined graph against its members run one by one and averaged (the networks' own probabilities):
    the largest difference on ``faces``."""
    from ..classifier import EmotionClassifier

    whole = EmotionClassifier(out, calibrated=False).predict(faces)
    each = [EmotionClassifier(m, calibrated=False).predict(faces) for m in members]
    return float(np.abs(whole - np.mean(each, axis=0)).max())


def add_validation(out, data, *, ferplus_csv=None) -> dict:
    """Measure the ensemble on the validation part of Training its members were selected on (the rows
    ``emorec train`` carves) and record it in the card as the ensemble's selection."""
    from ..classifier import EmotionClassifier
    from ..data import load_dataset
    from ..evaluate import metrics, predict_dataset

    out = Path(out)
    card = json.loads(out.with_suffix(".json").read_text())
    first = (card["members"][0].get("selection") or {}).get("validation") or {}
    if first.get("from") != "Training" or "fraction" not in first:
        raise EmorecError(f"{card['members'][0]['name']}: its card records no validation part of Training")
    ds = load_dataset(data, labels=card["labels"], ferplus_csv=ferplus_csv,
                      image_size=card["input_size"]).split("Training")
    _, val = ds.stratified_split(first["fraction"], seed=first.get("seed", 0))
    if first.get("rows_sha256") and val.fingerprint() != first["rows_sha256"]:
        raise EmorecError(f"{data}: its validation rows are not the ones the members were selected on")
    clf = EmotionClassifier(out, calibrated=False)
    m = metrics(val.labels, predict_dataset(clf, val), clf.model_classes)
    card["selection"] = {"rule": "members chosen by the ensemble's accuracy on the validation part of Training "
                                 "(bench/bench_ensemble.py)", "validation": first,
                         "validation_accuracy": m["accuracy"], "validation_macro_f1": m["macro_f1"]}
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return card
