"""Calibrated probabilities and an honest "unsure": temperature scaling (Guo et al. 2017), expected calibration
error, reliability diagrams, and accuracy against coverage when labels below a confidence are withheld.

A model's temperature ``T`` is fitted on the validation part of Training (``bench/bench_calibration.py``) and
recorded in its model card (``calibration.temperature``); :class:`emorec.EmotionClassifier` applies it. The
models output softmax probabilities ``p``, so ``softmax(z / T) = p ** (1 / T)``, renormalised, is applied to
them directly.
"""

from __future__ import annotations

import numpy as np

BINS = 15  # ECE's bins over the top-class confidence, as Guo et al.


def with_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``(N, C)`` as the model gives them with its logits divided by ``temperature``."""
    probs = np.asarray(probs, np.float64)
    if temperature == 1.0:
        return probs
    logp = np.log(np.clip(probs, 1e-30, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return out / out.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood of ``targets``: class indices ``(N,)`` or distributions ``(N, C)``
    (e.g. the FER+ votes, normalised)."""
    logp = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, 1.0))
    targets = np.asarray(targets)
    if targets.ndim == 1:
        return float(-logp[np.arange(len(targets)), targets].mean())
    return float(-(targets * logp).sum(axis=1).mean())


def fit_temperature(probs: np.ndarray, targets: np.ndarray, lo: float = 0.2, hi: float = 5.0,
                    objective: str = "ece") -> float:
    """The temperature that makes the scores mean what they say on ``probs``' data (validation data, never the
    split it is reported on). ``objective="ece"`` (default): the lowest :func:`reliability` ECE of the class
    labels ``targets``, on a grid of 1% steps in log T (ties: the T nearest 1). ``"nll"``: the lowest
    :func:`nll` of ``targets`` (class indices or distributions; a golden-section search over log T, NLL being
    convex in 1/T). The default is ECE because the NLL's temperature can loosen what a user reads: fer2013's
    (0.91) took its validation ECE from 2.3% to 2.6% (bench/RESULTS.md)."""
    if objective == "ece":
        steps = np.arange(np.ceil(np.log(lo) / 0.01), np.floor(np.log(hi) / 0.01) + 1)
        grid = np.exp(steps[np.argsort(np.abs(steps), kind="stable")] * 0.01)  # 1 first, then outwards: ties go to it
        errors = [reliability(with_temperature(probs, float(t)), targets)["ece"] for t in grid]
        return float(grid[int(np.argmin(errors))])
    if objective != "nll":
        raise ValueError(f"objective must be 'ece' or 'nll', got {objective!r}")
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    f = lambda t: nll(with_temperature(probs, float(np.exp(t))), targets)  # noqa: E731
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return float(np.exp((a + b) / 2))


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> dict:
    """Top-class confidence against accuracy in ``bins`` equal-width bins, and the expected calibration error
    (the bins' |accuracy - confidence| weighted by their share of faces)."""
    probs = np.asarray(probs, np.float64)
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    correct = pred == np.asarray(labels)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for k in range(bins):
        m = which == k
        if m.any():
            acc, c = float(correct[m].mean()), float(conf[m].mean())
            ece += m.mean() * abs(acc - c)
            rows.append({"lo": float(edges[k]), "hi": float(edges[k + 1]), "n": int(m.sum()), "accuracy": acc,
                         "confidence": c})
    return {"ece": float(ece), "accuracy": float(correct.mean()) if len(correct) else 0.0, "bins": rows}


def coverage_curve(probs: np.ndarray, labels: np.ndarray, thresholds=None) -> list[dict]:
    """For each confidence threshold: the share of faces whose top probability reaches it (answered) and the
    accuracy on those."""
    probs = np.asarray(probs, np.float64)
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == np.asarray(labels)
    thresholds = np.round(np.arange(0.0, 1.0, 0.05), 2) if thresholds is None else thresholds
    out = []
    for t in thresholds:
        m = conf >= t
        out.append({"min_confidence": float(t), "coverage": float(m.mean()),
                    "accuracy": float(correct[m].mean()) if m.any() else float("nan")})
    return out


def suggest_min_confidence(probs: np.ndarray, labels: np.ndarray, accuracy: float = 0.8,
                           step: float = 0.01) -> float:
    """The lowest threshold (on a grid of ``step``) at which the faces answered reach ``accuracy``: the most
    faces answered for that accuracy. Chosen on validation data, never on the split it is reported on."""
    probs = np.asarray(probs, np.float64)
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == np.asarray(labels)
    for t in np.round(np.arange(0.0, 1.0 + step / 2, step), 4):
        m = conf >= t
        if m.any() and correct[m].mean() >= accuracy:
            return float(t)
    return 1.0


def plot_reliability(results: dict, path, title: str = "") -> None:
    """A reliability diagram: accuracy against confidence per bin, one line per entry of ``results``
    (label -> :func:`reliability`), and the diagonal of perfect calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfectly calibrated")
    for label, r in results.items():
        xs = [b["confidence"] for b in r["bins"]]
        ys = [b["accuracy"] for b in r["bins"]]
        ax.plot(xs, ys, marker="o", label=f"{label} (ECE {100 * r['ece']:.1f}%)")
    ax.set_xlabel("top-class probability (mean in bin)")
    ax.set_ylabel("accuracy in bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
