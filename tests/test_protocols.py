"""FER+ evaluation protocols: emorec's majority and Barsoum et al. 2016's, on small hand-made vote tables."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import synthetic_faces, write_fer_csv
from emorec.cli import app
from emorec.data import (FERPLUS_PROTOCOLS, DataError, ferplus_labels, load_dataset, read_fer2013_csv,
                         read_ferplus)
from emorec.evaluate import ferplus_metrics
from emorec.labels import FERPLUS_CLASSES

N, H, SU, SA, AN, DI, FE, CO, UNK, NF = range(10)  # fer2013new.csv vote columns


def votes(**counts) -> list[int]:
    """One row of 10 vote counts: votes(neutral=5, unknown=3)."""
    names = [*FERPLUS_CLASSES, "unknown", "NF"]
    row = [0] * 10
    for k, v in counts.items():
        row[names.index(k)] = v
    return row


# (votes, majority label or None if dropped, barsoum label or None if dropped)
CASES = [
    (votes(happiness=8, surprise=2), H, H),                          # clear majority
    (votes(happiness=4, neutral=1, surprise=1, sadness=1, anger=1, fear=1, contempt=1), H, H),
    # ^ 4 of 10 is no majority, but the six single votes are noise: 4 of the remaining 4
    (votes(neutral=5, happiness=5), N, None),                         # exactly half is not more than half
    (votes(neutral=4, happiness=2, surprise=2, anger=1, fear=1), N, None),  # 4 of the remaining 8: half
    (votes(neutral=5, unknown=3, happiness=2), N, None),              # unknown counts in the total: 5 of 10
    (votes(neutral=4, unknown=6), None, None),                        # unknown majority: excluded
    (votes(NF=10), None, None),                                       # not a face: excluded
    (votes(neutral=2, NF=8), None, None),
    ([1] * 10, None, None),                                           # all single votes: nothing left
    (votes(neutral=2, unknown=1, happiness=1), N, N),                # 2 of the remaining 2
    (votes(contempt=6, unknown=2, NF=2), CO, CO),                     # the last emotion column is a class
    (votes(sadness=3, anger=3, fear=2, neutral=2), SA, None),         # tie: majority takes the first column
    (votes(fear=1), FE, None),                                        # one vote: kept by majority only
    ([0] * 10, None, None),                                           # no votes at all
]


def test_each_protocol_keeps_and_labels_as_specified():
    table = np.array([c[0] for c in CASES])
    for protocol, col in (("majority", 1), ("barsoum", 2)):
        keep, labels = ferplus_labels(table, protocol)
        want = [c[col] for c in CASES]
        assert keep.tolist() == [w is not None for w in want], protocol
        assert labels.tolist() == [-1 if w is None else w for w in want], protocol
        assert keep.dtype == bool and labels.dtype == np.int64


def test_barsoum_rows_are_majority_rows_with_the_same_label():
    rng = np.random.default_rng(0)
    table = np.stack([rng.multinomial(10, rng.dirichlet(np.full(10, 0.4))) for _ in range(3000)])
    km, lm = ferplus_labels(table, "majority")
    kb, lb = ferplus_labels(table, "barsoum")
    assert kb.any() and (km & ~kb).any()
    assert not (kb & ~km).any()
    np.testing.assert_array_equal(lb[kb], lm[kb])


def test_bad_protocol_and_bad_shape():
    with pytest.raises(ValueError, match="unknown FER\\+ protocol 'paper'"):
        ferplus_labels(np.zeros((2, 10)), "paper")
    with pytest.raises(ValueError, match="expected FER\\+ votes"):
        ferplus_labels(np.zeros((2, 8)))
    keep, labels = ferplus_labels(np.zeros((0, 10)), "barsoum")
    assert keep.shape == labels.shape == (0,)


def _write_pair(tmp_path, table, names, usage="PublicTest"):
    images, labels = synthetic_faces(len(table))
    fer = write_fer_csv(tmp_path / "fer2013.csv", images, labels, [usage] * len(table))
    cols = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    rows = [f"{usage},{n},{','.join(map(str, v))}" for n, v in zip(names, table)]
    plus = tmp_path / "fer2013new.csv"
    plus.write_text(cols + "\n" + "\n".join(rows) + "\n")
    return fer, plus, images


def test_read_ferplus_by_protocol(tmp_path):
    table = [c[0] for c in CASES] + [votes(happiness=9)]
    names = [f"{i}.png" for i in range(len(CASES))] + [""]  # the last row: not a face, whatever its votes
    fer, plus, images = _write_pair(tmp_path, table, names)
    base = read_fer2013_csv(fer)
    for col, protocol in ((1, "majority"), (2, "barsoum")):
        d = read_ferplus(None, plus, fer=base, protocol=protocol)
        want = [(i, c[col]) for i, c in enumerate(CASES) if c[col] is not None]
        assert d.rows.tolist() == [i for i, _ in want], protocol
        assert d.labels.tolist() == [lab for _, lab in want], protocol
        np.testing.assert_array_equal(d.images, images[d.rows])
        np.testing.assert_array_equal(d.votes, np.array(table, dtype=np.float32)[d.rows])
        np.testing.assert_allclose(d.targets.sum(1), 1.0)
        same = load_dataset(fer, labels="ferplus", ferplus_protocol=protocol)
        assert same.rows.tolist() == d.rows.tolist() and same.labels.tolist() == d.labels.tolist()
    # the default is today's majority protocol; narrowing majority rows to barsoum = reading barsoum
    majority = read_ferplus(fer, plus)
    barsoum = read_ferplus(fer, plus, protocol="barsoum")
    narrowed = majority.ferplus_protocol("barsoum")
    assert narrowed.rows.tolist() == barsoum.rows.tolist() and narrowed.labels.tolist() == barsoum.labels.tolist()
    assert len(majority.split("PublicTest").ferplus_protocol("barsoum")) == len(barsoum)
    with pytest.raises(DataError, match="unknown FER\\+ protocol"):
        read_ferplus(fer, plus, protocol="paper")
    with pytest.raises(DataError, match="no FER\\+ votes"):
        base.ferplus_protocol("barsoum")


def test_ferplus_metrics_per_protocol(tmp_path):
    table = [votes(happiness=8, surprise=2), votes(neutral=5, happiness=5), votes(sadness=6, anger=4),
             votes(anger=3, fear=3, neutral=2, unknown=2)]
    fer, plus, _ = _write_pair(tmp_path, table, ["a", "b", "c", "d"])
    d = read_ferplus(fer, plus)
    assert d.labels.tolist() == [H, N, SA, AN]  # majority keeps all four
    probs = np.eye(8, dtype=np.float32)[[H, H, SA, AN]]  # right, wrong, right, right
    by = ferplus_metrics(d, probs, d.classes)
    assert set(by) == set(FERPLUS_PROTOCOLS)
    assert (by["majority"]["n"], by["majority"]["accuracy"]) == (4, 0.75)
    assert (by["barsoum"]["n"], by["barsoum"]["accuracy"]) == (2, 1.0)  # rows a and c
    assert by["barsoum"]["protocol"] == "barsoum"


def _evaluate(*args):
    return CliRunner().invoke(app, ["evaluate", *map(str, args)], env={"COLUMNS": "160", "NO_COLOR": "1"})


def test_evaluate_names_the_protocol_and_reports_both(tmp_path):
    table = [c[0] for c in CASES] * 3
    fer, plus, _ = _write_pair(tmp_path, table, [f"{i}.png" for i in range(len(table))])
    n_major = 3 * sum(c[1] is not None for c in CASES)
    n_bars = 3 * sum(c[2] is not None for c in CASES)

    r = _evaluate(fer, "--model", "ferplus", "--out", tmp_path / "m")
    assert r.exit_code == 0, r.output
    assert "ferplus on PublicTest, FER+ majority protocol: accuracy" in r.output
    assert f"(n={n_major})" in r.output
    lines = r.output.splitlines()
    assert any("majority" in ln and f"n={n_major}" in ln for ln in lines)
    assert any("barsoum" in ln and f"n={n_bars}" in ln and "Barsoum et al. 2016" in ln for ln in lines)
    report = json.loads((tmp_path / "m" / "evaluation.json").read_text())
    assert report["protocol"] == "majority" and report["n"] == n_major
    assert report["protocols"]["barsoum"]["rows"] == n_bars

    r = _evaluate(fer, "--model", "ferplus", "--protocol", "barsoum", "--out", tmp_path / "b")
    assert r.exit_code == 0, r.output
    assert "FER+ barsoum protocol: accuracy" in r.output and f"(n={n_bars})" in r.output
    report = json.loads((tmp_path / "b" / "evaluation.json").read_text())
    assert report["protocol"] == "barsoum" and report["n"] == n_bars
    assert report["protocols"]["majority"]["rows"] == n_major
    assert sum(report["confusion_matrix"], []) and sum(map(sum, report["confusion_matrix"])) == n_bars


def test_evaluate_protocol_errors(tmp_path):
    table = [votes(happiness=8, surprise=2)] * 4
    fer, _, _ = _write_pair(tmp_path, table, ["a", "b", "c", "d"])
    r = _evaluate(fer, "--model", "ferplus", "--protocol", "paper", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "--protocol: 'paper' is not one of majority, barsoum" in r.output
    r = _evaluate(fer, "--model", "fer2013", "--protocol", "barsoum", "--out", tmp_path / "y")
    assert r.exit_code == 2 and "only FER+ labels have protocols" in r.output
    r = _evaluate(fer, "--model", "fer2013", "--out", tmp_path / "z")  # FER2013 labels: no protocol talk
    assert r.exit_code == 0 and "FER+" not in r.output and " protocol" not in r.output
    assert "protocol" not in json.loads((tmp_path / "z" / "evaluation.json").read_text())
