"""Calibrated probabilities and "unsure" for the shipped models: the temperature, ECE, NLL, reliability diagrams,
and accuracy against coverage when labels below a confidence are withheld.

Data: ``../shared/data/fer2013/fer2013.csv.gz`` (and ``fer2013new.csv`` beside it for FER+); skips without it.
  * ``val``: the validation part of Training every shipped model was selected on (``stratified_split(0.1, seed=0)``
    of the Training rows, as ``emorec train`` carves it; its ``rows_sha256`` is checked against the model card's).
    The temperature and the suggested ``--min-confidence`` are chosen here, and only here.
  * ``PublicTest``: measured once, with the temperature and threshold fixed, never to choose anything.
Each model is evaluated on the label it is evaluated on elsewhere: FER2013's label for ``fer2013``; for
``ferplus`` the majority label (all 3,524 majority rows of PublicTest, and Barsoum et al.'s 3,199), with the
NLL against the normalised votes too. The temperature minimises the ECE of that label on ``val``
(:func:`emorec.calibration.fit_temperature`; the NLL's minimum is recorded beside it); the threshold is the lowest at which the faces answered on ``val``
are right 80% of the time (:func:`emorec.calibration.suggest_min_confidence`). Single pass, no flip.

    python bench/bench_calibration.py --fit      # val only: fit, and write calibration into the model cards
    python bench/bench_calibration.py --report   # PublicTest, once: figures, bench/calibration/*.png and *.json

``--report`` also gives accuracy against coverage on PublicTest faces re-framed as bench/bench_reframed.py does
(the mean over its six re-framings), at the suggested threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DATA = HERE.parents[1] / "shared" / "data" / "fer2013" / "fer2013.csv.gz"
OUT = HERE / "calibration"
MODELS = ("fer2013", "ferplus")
TARGET_ACCURACY = 0.80


def load(model: str, data_path: Path):
    """(val, PublicTest) of the data the model is evaluated on."""
    from emorec.data import load_dataset

    labels = json.loads(card_path(model).read_text()).get("labels", "fer2013")
    data = load_dataset(data_path, labels=labels)
    _, val = data.split("Training").stratified_split(0.1, seed=0)  # as emorec.training.train._split_data
    return val, data.split("PublicTest")


def card_path(model: str) -> Path:
    from emorec.model_card import resolve

    return resolve(model).with_suffix(".json")


def vote_targets(data) -> np.ndarray:
    v = data.votes[:, :8].astype(np.float64)
    return v / np.clip(v.sum(1, keepdims=True), 1e-9, None)


def figures(probs, data, model: str) -> dict:
    from emorec.calibration import nll, reliability

    r = reliability(probs, data.labels)
    out = {"n": int(len(data)), "accuracy": round(r["accuracy"], 4), "ece": round(r["ece"], 4),
           "nll": round(nll(probs, data.labels), 4)}
    if model == "ferplus":
        out["nll_votes"] = round(nll(probs, vote_targets(data)), 4)
    return out


def at_threshold(probs, labels, threshold: float) -> dict:
    """Share of faces answered at ``threshold`` and the accuracy on them (:func:`emorec.calibration.coverage_curve`)."""
    from emorec.calibration import coverage_curve

    (row,) = coverage_curve(probs, labels, [threshold])
    return {"coverage": round(row["coverage"], 4), "accuracy": round(row["accuracy"], 4)}


def fit(model: str, data_path: Path) -> dict:
    from emorec import EmotionClassifier
    from emorec.calibration import fit_temperature, suggest_min_confidence, with_temperature
    from emorec.evaluate import predict_dataset

    val, _ = load(model, data_path)
    card = json.loads(card_path(model).read_text())
    want = card.get("selection", {}).get("validation", {}).get("rows_sha256")
    if want and want != val.fingerprint():
        raise SystemExit(f"{model}: the validation rows differ from the card's ({val.fingerprint()} != {want})")
    raw = predict_dataset(EmotionClassifier(model, calibrated=False), val)
    t = fit_temperature(raw, val.labels, objective="ece")
    t_nll = fit_temperature(raw, val.labels, objective="nll")
    cal = with_temperature(raw, t)
    threshold = suggest_min_confidence(cal, val.labels, TARGET_ACCURACY)
    result = {"temperature": round(t, 4),
              "fitted_on": "the validation part of Training the model was selected on (rows_sha256 "
                           f"{val.fingerprint()[:16]}...), minimising the expected calibration error (15 bins) "
                           "of the " + ("majority label" if model == "ferplus" else "FER2013 label"),
              "temperature_nll": round(t_nll, 4),
              "suggested_min_confidence": threshold,
              "suggested_for": f"the lowest threshold at which the faces answered on validation are right "
                               f"{TARGET_ACCURACY:.0%} of the time",
              "validation": {"raw": figures(raw, val, model), "calibrated": figures(cal, val, model),
                             "nll_temperature": figures(with_temperature(raw, t_nll), val, model),
                             "at_suggested": at_threshold(cal, val.labels, threshold)}}
    card["calibration"] = result
    card_path(model).write_text(json.dumps(card, indent=2) + "\n")
    return result


def report(model: str, data_path: Path) -> dict:
    from bench_reframed import REFRAMINGS

    from emorec import EmotionClassifier
    from emorec.calibration import coverage_curve, plot_reliability, reliability
    from emorec.data import Dataset
    from emorec.evaluate import predict_dataset

    _, test = load(model, data_path)
    clf = EmotionClassifier(model)
    cal = predict_dataset(clf, test)
    raw = predict_dataset(EmotionClassifier(model, calibrated=False), test)
    threshold = clf.card["calibration"]["suggested_min_confidence"]
    out = {"model": model, "temperature": clf.temperature, "suggested_min_confidence": threshold,
           "PublicTest": {"raw": figures(raw, test, model), "calibrated": figures(cal, test, model)}}
    sets = {"majority": test}
    if model == "ferplus":
        sets["barsoum"] = test.ferplus_protocol("barsoum")
        keep = np.isin(test.rows, sets["barsoum"].rows)
        out["PublicTest"]["barsoum"] = figures(cal[keep], sets["barsoum"], model)
        out["PublicTest"]["barsoum_raw"] = figures(raw[keep], sets["barsoum"], model)
    curves = {"PublicTest": coverage_curve(cal, test.labels)}
    out["PublicTest"]["at_suggested"] = at_threshold(cal, test.labels, threshold)
    # re-framed faces (bench_reframed): the six re-framings' variants pooled
    pooled_p, pooled_y = [], []
    for name, fn in REFRAMINGS.items():
        if name == "original":
            continue
        for v in fn(test.images):
            pooled_p.append(predict_dataset(clf, Dataset(v, test.labels, list(clf.classes))))
            pooled_y.append(test.labels)
    rp, ry = np.concatenate(pooled_p), np.concatenate(pooled_y)
    curves["re-framed PublicTest"] = coverage_curve(rp, ry)
    out["reframed"] = {"n": int(len(ry)), "accuracy": round(float((rp.argmax(1) == ry).mean()), 4),
                       "ece": round(reliability(rp, ry)["ece"], 4),
                       "at_suggested": at_threshold(rp, ry, threshold)}
    out["coverage_curves"] = curves
    OUT.mkdir(exist_ok=True)
    plot_reliability({"network's own (T=1)": reliability(raw, test.labels),
                      f"calibrated (T={clf.temperature:g})": reliability(cal, test.labels)},
                     OUT / f"{model}_reliability.png", f"{model}, PublicTest ({len(test)} faces), 15 bins")
    plot_coverage(curves, threshold, OUT / f"{model}_coverage.png", model)
    (OUT / f"{model}.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


def plot_coverage(curves: dict, threshold: float, path: Path, model: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for label, rows in curves.items():
        ax.plot([r["coverage"] for r in rows], [r["accuracy"] for r in rows], marker=".", label=label)
    ax.axhline(TARGET_ACCURACY, color="grey", lw=1, ls="--")
    ax.set_xlabel("faces answered (coverage)")
    ax.set_ylabel("accuracy on the faces answered")
    ax.set_title(f"{model}: label withheld below a confidence (suggested {threshold:g})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fit", action="store_true", help="fit on val and write the model cards")
    ap.add_argument("--report", action="store_true", help="measure PublicTest (once)")
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--data", type=Path, default=DATA)
    a = ap.parse_args(argv)
    if not a.data.is_file():
        print(f"skipped: no FER2013 data at {a.data}")
        return 0
    for model in a.models:
        if a.fit:
            print(model, "fit on val:", json.dumps(fit(model, a.data)))
        if a.report:
            r = report(model, a.data)
            r.pop("coverage_curves")
            print(model, "PublicTest:", json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
