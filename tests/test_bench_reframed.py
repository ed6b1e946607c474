"""bench/bench_reframed.py: the re-framings (uint8 48x48 images in, the same count out, as specified) and --fer-python."""

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_faces

_PATH = Path(__file__).resolve().parents[1] / "bench" / "bench_reframed.py"
_spec = importlib.util.spec_from_file_location("bench_reframed", _PATH)
br = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(br)

IMAGES, LABELS = synthetic_faces(9)


@pytest.mark.parametrize("name", list(br.REFRAMINGS))
def test_each_reframing_gives_uint8_48x48_images_of_the_same_count(name):
    variants = br.REFRAMINGS[name](IMAGES.copy())
    assert len(variants) == (4 if name == "shifted" else 1)
    for v in variants:
        assert v.dtype == np.uint8 and v.shape == IMAGES.shape
    if name != "original":
        assert all(not np.array_equal(v, IMAGES) for v in variants), name


def test_original_leaves_images_unchanged_and_inputs_are_not_modified():
    before = IMAGES.copy()
    (same,) = br.original(IMAGES)
    np.testing.assert_array_equal(same, before)
    for fn in br.REFRAMINGS.values():
        fn(IMAGES)
    np.testing.assert_array_equal(IMAGES, before)


def test_geometry_of_shift_tighter_looser():
    img = np.zeros((1, 48, 48), np.uint8)
    img[0, 20:28, 20:28] = 200  # a bright square in the middle
    right, left, down, up = br.shifted(img)
    np.testing.assert_array_equal(right[0, :, 5:], img[0, :, :-5])  # moved 5 px (10% of 48)
    np.testing.assert_array_equal(left[0, :, :-5], img[0, :, 5:])
    np.testing.assert_array_equal(down[0, 5:], img[0, :-5])
    np.testing.assert_array_equal(up[0, :-5], img[0, 5:])
    np.testing.assert_array_equal(right[0, :, :5], np.repeat(img[0, :, :1], 5, axis=1))  # edge fill
    assert (br.tighter(img)[0] > 100).sum() > (img > 100).sum()  # the square gets bigger
    (loose,) = br.looser(img)
    assert 0 < (loose[0] > 100).sum() < (img > 100).sum()  # and smaller
    flat = np.full((1, 48, 48), 77, np.uint8)
    for fn in (br.tighter, br.looser, br.blurred, br.sharper, br.low_contrast):
        np.testing.assert_array_equal(fn(flat)[0], flat)  # a flat grey stays as it is


def test_contrast_blur_sharpen_move_pixel_spread_as_expected():
    spread = float(IMAGES.std())
    assert br.low_contrast(IMAGES)[0].std() == pytest.approx(0.6 * spread, rel=0.02)
    assert br.blurred(IMAGES)[0].std() < spread < br.sharper(IMAGES)[0].std()


def test_reframed_accuracy_through_the_classifier():
    from emorec import EmotionClassifier

    acc = br.reframed_accuracy(EmotionClassifier("fer2013"), IMAGES, LABELS)
    assert list(acc) == [*br.REFRAMINGS, "mean re-framed"]
    clf = EmotionClassifier("fer2013")
    assert acc["original"] == pytest.approx(float((clf.predict(IMAGES).argmax(1) == LABELS).mean()))
    for name, fn in br.REFRAMINGS.items():  # each re-framing: the mean accuracy over its re-framed copies
        direct = np.mean([(clf.predict(v).argmax(1) == LABELS).mean() for v in fn(IMAGES)])
        assert acc[name] == pytest.approx(float(direct)), name
    assert acc["mean re-framed"] == pytest.approx(np.mean([v for k, v in acc.items()
                                                           if k not in ("original", "mean re-framed")]))


# --fer-python: the subprocess plumbing, with stand-in interpreters (no TensorFlow needed) ...

def _fake_python(tmp_path, body: str) -> Path:
    """An executable that runs ``body`` with this test's Python; argv is then [-c, script, src, dst]."""
    if sys.platform == "win32":
        pytest.skip("stand-in interpreter needs a shebang")
    exe = tmp_path / "fake-python"
    exe.write_text(f"#!{sys.executable}\nimport sys\nimport numpy as np\nsrc, dst = sys.argv[3:5]\n{body}\n")
    exe.chmod(0o755)
    return exe


@pytest.fixture
def tmpdir_root(tmp_path, monkeypatch):
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def test_fer_probabilities_maps_fer_class_order_and_cleans_up(tmp_path, tmpdir_root):
    from emorec.labels import FER2013_CLASSES

    reversed_labels = FER2013_CLASSES[::-1]  # neutral, surprise, ...
    exe = _fake_python(tmp_path, f"""
stacks = np.load(src)
probs = np.zeros(stacks.shape[:2] + (7,), np.float32)
probs[..., 0] = 1.0  # all on neutral
probs[..., 1] = stacks[:, :, 0, 0] / 1000.0  # surprise carries each image's first pixel
np.savez(dst, probs=probs, labels=np.array({reversed_labels!r}))""")
    stacks = [IMAGES, br.blurred(IMAGES)[0]]
    out = br.fer_probabilities(exe, stacks)
    assert len(out) == 2 and all(p.shape == (len(IMAGES), 7) for p in out)
    neutral, surprise = FER2013_CLASSES.index("neutral"), FER2013_CLASSES.index("surprise")
    for p, s in zip(out, stacks):
        assert (p.argmax(1) == neutral).all()
        np.testing.assert_allclose(p[:, surprise], s[:, 0, 0] / 1000.0, rtol=1e-6)
    acc = br.seed_reframed_accuracy(exe, IMAGES, LABELS)
    assert list(acc) == [*br.REFRAMINGS, "mean re-framed"]
    assert all(v == pytest.approx((LABELS == neutral).mean()) for v in acc.values())
    assert list(tmpdir_root.iterdir()) == []  # temporary files removed


def test_fer_probabilities_names_the_failing_interpreter(tmp_path, tmpdir_root):
    exe = _fake_python(tmp_path, "sys.stderr.write('first line\\nModuleNotFoundError: no fer here\\n'); sys.exit(3)")
    with pytest.raises(RuntimeError, match="no fer here") as err:
        br.fer_probabilities(exe, [IMAGES])
    assert str(exe) in str(err.value) and "exit 3" in str(err.value)
    missing = tmp_path / "no-such-python"
    with pytest.raises(RuntimeError, match=str(missing)):
        br.fer_probabilities(missing, [IMAGES])
    assert list(tmpdir_root.iterdir()) == []


# ... and the real seed model, where a Python with fer and TensorFlow is at hand

FER_PYTHON = Path(os.environ.get("FER_PYTHON", "/work/fer-venv/bin/python"))


@pytest.mark.skipif(not FER_PYTHON.exists(), reason=f"no Python with fer at {FER_PYTHON} (set FER_PYTHON)")
def test_seed_model_probabilities_through_fer():
    (p,) = br.fer_probabilities(FER_PYTHON, [IMAGES])  # the script also checks itself against FER.detect_emotions
    assert p.shape == (len(IMAGES), 7) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-4)
