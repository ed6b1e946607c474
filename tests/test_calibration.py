"""Calibrated probabilities and "unsure": temperature scaling, ECE, the threshold below which a label is withheld,
and the model cards' temperatures applied at inference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emorec import EmotionClassifier, EmotionRecognizer
from emorec.calibration import (coverage_curve, fit_temperature, nll, reliability, suggest_min_confidence,
                                with_temperature)
from emorec.samples import sample_face, sample_path


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def drawn(n=20000, classes=7, temperature=1.0, seed=0):
    """Logits, and labels drawn from softmax(logits): ``softmax(logits / temperature)`` is then what a model
    with those logits would need to be calibrated."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.5, (n, classes))
    truth = softmax(z)
    labels = np.array([rng.choice(classes, p=p) for p in truth])
    return softmax(z * temperature), labels


def test_temperature_on_probabilities_is_softmax_of_scaled_logits():
    z = np.random.default_rng(1).normal(0, 3, (50, 7))
    for t in (0.5, 1.0, 1.7):
        np.testing.assert_allclose(with_temperature(softmax(z), t), softmax(z / t), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("objective", ["ece", "nll"])
def test_fit_recovers_the_temperature_that_calibrates(objective):
    probs, labels = drawn(temperature=1.6)  # an overconfident model: its logits are 1.6x too large
    t = fit_temperature(probs, labels, objective=objective)
    assert abs(t - 1.6) < 0.1
    before, after = reliability(probs, labels)["ece"], reliability(with_temperature(probs, t), labels)["ece"]
    assert after < 0.015 < before
    assert nll(with_temperature(probs, t), labels) < nll(probs, labels)


def test_the_ece_fit_never_gives_a_larger_ece_than_the_nll_fit():
    """The default objective is the figure a user reads: on the data it is fitted on, its ECE is at most the
    NLL temperature's (fer2013's NLL temperature loosened its validation ECE, 2.3% to 2.6%)."""
    for seed, temperature in ((0, 0.7), (4, 1.0), (5, 2.2)):
        probs, labels = drawn(seed=seed, temperature=temperature, n=1500)
        by_ece, by_nll = (fit_temperature(probs, labels, objective=o) for o in ("ece", "nll"))
        ece = lambda t: reliability(with_temperature(probs, t), labels)["ece"]  # noqa: E731
        assert ece(by_ece) <= ece(by_nll) + 1e-3  # (a 1% grid against a continuous search)
    # a model no temperature calibrates exactly (a floor under every probability, as label smoothing leaves):
    # the two temperatures part, and the ECE's is the one whose scores mean what they say
    probs, labels = drawn(seed=0, temperature=1.5, n=3000)
    probs = 0.8 * probs + 0.2 / 7
    by_ece, by_nll = (fit_temperature(probs, labels, objective=o) for o in ("ece", "nll"))
    ece = lambda t: reliability(with_temperature(probs, t), labels)["ece"]  # noqa: E731
    assert ece(by_ece) < ece(by_nll) - 0.01
    with pytest.raises(ValueError, match="objective"):
        fit_temperature(probs, labels, objective="brier")


def test_reliability_bins_and_ece_of_a_calibrated_model():
    probs, labels = drawn()
    r = reliability(probs, labels)
    assert r["ece"] < 0.015 and sum(b["n"] for b in r["bins"]) == len(labels) and len(r["bins"]) <= 15
    # a model that always says 1.0 and is right half the time is off by 0.5
    sure = np.eye(2)[np.zeros(100, int)]
    assert abs(reliability(sure, np.arange(100) % 2)["ece"] - 0.5) < 1e-9


def test_suggested_threshold_reaches_the_accuracy_on_the_faces_answered():
    probs, labels = drawn(seed=3)
    t = suggest_min_confidence(probs, labels, 0.8)
    answered = probs.max(1) >= t
    assert (probs.argmax(1) == labels)[answered].mean() >= 0.8
    lower = probs.max(1) >= t - 0.01
    assert (probs.argmax(1) == labels)[lower].mean() < 0.8  # the lowest such threshold: the most faces answered
    curve = coverage_curve(probs, labels)
    assert curve[0]["coverage"] == 1.0 and all(a["coverage"] >= b["coverage"] for a, b in zip(curve, curve[1:]))


def test_classifier_applies_the_temperature_of_its_card():
    faces = np.stack([sample_face(48)[..., 1], sample_face(48)[::-1, :, 1]])
    for model in ("fer2013", "ferplus", "fer2013-ensemble"):
        clf, raw = EmotionClassifier(model), EmotionClassifier(model, calibrated=False)
        card = json.loads(clf.path.with_suffix(".json").read_text())
        assert clf.temperature == card["calibration"]["temperature"] != 1.0 and raw.temperature == 1.0
        np.testing.assert_allclose(clf.predict(faces), with_temperature(raw.predict(faces), clf.temperature),
                                   rtol=1e-4, atol=1e-6)


def test_a_face_below_min_confidence_keeps_its_scores_but_not_its_label():
    sure = EmotionRecognizer().analyze(sample_path())[0]
    assert sure.emotion == "happy" and sure.label == "happy"
    for rec, call in ((EmotionRecognizer(min_confidence=0.999), {}), (EmotionRecognizer(), {"min_confidence": 0.999})):
        (face,) = rec.analyze(sample_path(), **call)
        assert face.emotion is None and face.label == "unsure" and face.scores == sure.scores
        assert face.confidence == max(face.scores.values()) and face.to_dict()["emotion"] is None
    assert EmotionRecognizer(min_confidence=0.5).analyze(sample_path())[0].emotion == "happy"
    with pytest.raises(ValueError, match="min_confidence"):
        EmotionRecognizer(min_confidence=1.5)
