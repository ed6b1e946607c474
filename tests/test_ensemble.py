"""An ensemble as one model (``emorec ensemble``): one ONNX graph whose output is its members' mean, loadable
by path like any model, with a card that lists the members; members that do not fit together are refused."""

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from emorec import EmotionClassifier  # noqa: E402
from emorec.errors import ModelError  # noqa: E402
from emorec.training.ensemble import add_validation, build_ensemble  # noqa: E402
from emorec.training.export import export_onnx  # noqa: E402


@pytest.fixture(scope="module")
def member(trained_run, tmp_path_factory):
    run, _ = trained_run
    return export_onnx(run / "best.pt", tmp_path_factory.mktemp("member") / "tiny.onnx")


def faces(n=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_the_joined_graph_gives_the_mean_of_its_members(member, tmp_path):
    out = build_ensemble(["fer2013", member], tmp_path / "both.onnx", name="both")
    whole = EmotionClassifier(out, calibrated=False)
    x = faces()
    mean = (EmotionClassifier("fer2013", calibrated=False).predict(x) + EmotionClassifier(member).predict(x)) / 2
    got = whole.predict(x)
    assert np.abs(got - mean).max() < 1e-6
    assert np.allclose(got.sum(1), 1, atol=1e-5)
    assert whole.name == "both" and whole.classes == EmotionClassifier("fer2013").classes
    assert len(whole.predict(faces(1))) == 1 and len(whole.predict(faces(40))) == 40  # any batch size
    import cv2  # the other runtime reads it too

    net = cv2.dnn.readNetFromONNX(str(out))
    net.setInput(np.zeros((1, 1, 48, 48), np.float32))
    assert net.forward().shape == (1, 7)


def test_the_card_lists_members_and_records_the_validation_accuracy(member, tiny_csv, tmp_path):
    out = build_ensemble([member, member], tmp_path / "twins.onnx")
    card = json.loads(out.with_suffix(".json").read_text())
    assert [m["name"] for m in card["members"]] == ["tiny", "tiny"]
    assert card["parameters"] == 2 * json.loads(member.with_suffix(".json").read_text())["parameters"]
    card = add_validation(out, tiny_csv)
    # twins: the ensemble is its member, so it scores what the member scored on the same rows
    assert card["selection"]["validation_accuracy"] == pytest.approx(
        json.loads(member.with_suffix(".json").read_text())["selection"]["validation_accuracy"], abs=1e-4)  # (metrics rounds to 4 places; one row is 1%)


def test_members_that_do_not_fit_together_are_refused(member, tmp_path):
    with pytest.raises(ModelError, match="classes"):
        build_ensemble(["fer2013", "ferplus"], tmp_path / "x.onnx")
    with pytest.raises(Exception, match="at least two"):
        build_ensemble(["fer2013"], tmp_path / "x.onnx")
    not_onnx = tmp_path / "text.onnx"
    not_onnx.write_text("hello")
    with pytest.raises(ModelError, match="text.onnx"):
        build_ensemble(["fer2013", not_onnx], tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_cli_builds_and_checks_it(member, tmp_path):
    out = tmp_path / "cli.onnx"
    r = subprocess.run([sys.executable, "-m", "emorec", "ensemble", "fer2013", str(member), "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "max abs difference" in r.stdout and out.is_file() and out.with_suffix(".json").is_file()
    r = subprocess.run([sys.executable, "-m", "emorec", "ensemble", "fer2013", "ferplus", "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "classes" in r.stderr and "Traceback" not in r.stderr


def test_the_shipped_ensemble_is_its_members_averaged():
    """``fer2013-ensemble`` by name: the shipped fer2013 and the two other networks its card names (a distilled
    one, a second seed), averaged in one graph; calibrated by its own temperature."""
    clf = EmotionClassifier("fer2013-ensemble", calibrated=False)
    members = [m["name"] for m in clf.card["members"]]
    assert members == ["fer2013", "fer2013_x4_kd_shipped", "fer2013_x4_framing_seed1"]
    assert clf.card["selection"]["validation_accuracy"] > EmotionClassifier("fer2013").card["selection"][
        "validation_accuracy"]  # chosen because it beat the single model on validation
    assert EmotionClassifier("fer2013-ensemble").temperature == clf.card["calibration"]["temperature"] != 1.0
