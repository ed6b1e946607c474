"""The validation part that selects checkpoints: carved from Training, stratified, seeded, never PublicTest."""

import numpy as np
import pytest

from emorec.data import read_fer2013_csv
from emorec.errors import DataError

from conftest import synthetic_faces, write_fer_csv


@pytest.fixture(scope="module")
def uneven(tmp_path_factory):
    """1,000 rows with uneven classes (as FER2013: disgust is rare): 800 Training, 200 PublicTest."""
    rng = np.random.default_rng(5)
    images, _ = synthetic_faces(1000, seed=5)
    labels = rng.choice(7, size=1000, p=[0.14, 0.02, 0.14, 0.25, 0.17, 0.11, 0.17])
    usage = np.where(rng.random(1000) < 0.8, "Training", "PublicTest")
    return read_fer2013_csv(write_fer_csv(tmp_path_factory.mktemp("split") / "u.csv", images, labels, usage))


def test_parts_are_disjoint_and_cover_training(uneven):
    training = uneven.split("Training")
    rest, val = training.stratified_split(0.1, seed=0)
    assert len(rest) + len(val) == len(training)
    assert set(rest.rows).isdisjoint(val.rows)
    assert sorted(np.concatenate([rest.rows, val.rows])) == sorted(training.rows)
    assert set(val.rows).isdisjoint(uneven.split("PublicTest").rows)
    assert (val.usage == "Training").all()
    for part in (rest, val):  # images and labels travel with their rows
        np.testing.assert_array_equal(part.images, uneven.images[part.rows])
        np.testing.assert_array_equal(part.labels, uneven.labels[part.rows])


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_split_is_stratified(uneven, fraction):
    training = uneven.split("Training")
    _, val = training.stratified_split(fraction, seed=3)
    per_class = np.bincount(training.labels, minlength=7)
    held = np.bincount(val.labels, minlength=7)
    assert np.all(np.abs(held - fraction * per_class) <= 1), (held, fraction * per_class)


def test_same_seed_same_rows_other_seed_other_rows(uneven):
    training = uneven.split("Training")
    a = training.stratified_split(0.1, seed=0)[1]
    b = training.stratified_split(0.1, seed=0)[1]
    c = training.stratified_split(0.1, seed=1)[1]
    np.testing.assert_array_equal(a.rows, b.rows)
    assert a.fingerprint() == b.fingerprint()
    assert set(a.rows) != set(c.rows) and a.fingerprint() != c.fingerprint()


def test_training_split_of_a_run_holds_no_publictest_row(tiny_csv):
    """What `emorec train` validates on: the validation part comes from Training rows only."""
    pytest.importorskip("torch")
    from emorec.training.train import TrainConfig, _split_data, _test_data

    cfg = TrainConfig(data=str(tiny_csv))
    train_part, val = _split_data(cfg)
    test = _test_data(cfg, read_fer2013_csv(tiny_csv))
    assert len(val) == pytest.approx(0.1 * 480, abs=7) and len(test) == 120
    assert set(val.rows).isdisjoint(test.rows) and set(val.rows).isdisjoint(train_part.rows)
    assert set(train_part.rows).isdisjoint(test.rows)


def test_a_split_that_holds_out_nothing_is_refused(tmp_path):
    images, labels = synthetic_faces(7)
    d = read_fer2013_csv(write_fer_csv(tmp_path / "s.csv", images, labels, ["Training"] * 7))
    with pytest.raises(DataError, match="cannot hold out"):
        d.stratified_split(0.1)  # one row per class: 0.1 of it rounds to nothing
