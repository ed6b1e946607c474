"""Dataset readers: good files, every kind of bad row, FER+ votes, image folders."""

import gzip

import cv2
import numpy as np
import pytest

from emorec.data import load_dataset, read_fer2013_csv, read_ferplus, read_image_folder
from emorec.errors import DataError
from emorec.labels import FER2013_CLASSES, FERPLUS_CLASSES

from conftest import REAL_CSV, REAL_FERPLUS, needs_real_data, synthetic_faces, write_fer_csv


def test_reads_plain_and_gzip_identically(tmp_path):
    images, labels = synthetic_faces(20)
    usage = ["Training"] * 12 + ["PublicTest"] * 5 + ["PrivateTest"] * 3
    plain = read_fer2013_csv(write_fer_csv(tmp_path / "a.csv", images, labels, usage))
    gz = read_fer2013_csv(write_fer_csv(tmp_path / "a.csv.gz", images, labels, usage))
    for d in (plain, gz):
        assert d.images.dtype == np.uint8 and d.images.shape == (20, 48, 48)
        np.testing.assert_array_equal(d.images, images)
        np.testing.assert_array_equal(d.labels, labels)
        assert d.classes == FER2013_CLASSES and d.bad_rows == []
    assert [len(plain.split(s)) for s in ("Training", "PublicTest", "PrivateTest")] == [12, 5, 3]
    onehot = plain.soft_targets()
    assert onehot.shape == (20, 7) and (onehot.argmax(1) == labels).all()


def _csv_with(tmp_path, bad_line: str, name="bad.csv"):
    images, labels = synthetic_faces(4)
    path = write_fer_csv(tmp_path / name, images, labels, ["Training"] * 4)
    lines = path.read_text().splitlines()
    lines.insert(3, bad_line)  # becomes data row 3, file line 4
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD_PIXELS = " ".join(["7"] * 2304)


@pytest.mark.parametrize("line, field, words", [
    (f"3,{' '.join(['7'] * 2303)},Training", "pixels", "expected 2304 values"),
    (f"3,{GOOD_PIXELS[:-1]}x,Training", "pixels", "not a number"),
    (f"3,{' '.join(['7'] * 2303)} 300,Training", "pixels", "out of range"),
    (f"9,{GOOD_PIXELS},Training", "emotion", "9 is not a class (0-6)"),
    (f"-1,{GOOD_PIXELS},Training", "emotion", "-1 is not a class (0-6)"),
    (f"happy,{GOOD_PIXELS},Training", "emotion", "not a whole number"),
    ("3,,Training", "pixels", "empty"),
    (f"3,{GOOD_PIXELS},", "Usage", "empty; expected one of Training, PublicTest, PrivateTest"),
    (f"3,{GOOD_PIXELS},Test", "Usage", "'Test' is not one of Training, PublicTest, PrivateTest"),
])
def test_bad_row_names_file_row_and_field(tmp_path, line, field, words):
    path = _csv_with(tmp_path, line)
    with pytest.raises(DataError) as err:
        read_fer2013_csv(path)
    msg = str(err.value)
    assert str(path) in msg and "row 3" in msg and f"'{field}'" in msg and words in msg
    d = read_fer2013_csv(path, skip_bad_rows=True)
    assert len(d) == 4 and len(d.bad_rows) == 1 and "row 3" in d.bad_rows[0]
    assert list(d.rows) == [0, 1, 3, 4]


def test_usage_is_read_case_insensitively(tmp_path):
    """'publictest' or ' TRAINING ' is the split it names, not a row silently left out of every split."""
    images, labels = synthetic_faces(6)
    usage = ["training", " TRAINING ", "Training", "publictest", "PublicTest", "privateTEST"]
    d = read_fer2013_csv(write_fer_csv(tmp_path / "u.csv", images, labels, usage))
    assert d.bad_rows == [] and list(d.usage) == ["Training"] * 3 + ["PublicTest"] * 2 + ["PrivateTest"]
    assert [len(d.split(s)) for s in ("Training", "PublicTest", "PrivateTest")] == [3, 2, 1]


def test_any_whitespace_separates_pixels(tmp_path):
    """A tab or a run of spaces between two pixel values is a separator, not an empty field."""
    images, labels = synthetic_faces(3)
    path = write_fer_csv(tmp_path / "ws.csv", images, labels, ["Training"] * 3)
    lines = path.read_text().splitlines()
    values = [str(v) for v in images[1].ravel()]
    lines[2] = f"{labels[1]}, {values[0]}\t{values[1]}  {values[2]} \t {' '.join(values[3:])}\t,Training"
    path.write_text("\n".join(lines) + "\n")
    d = read_fer2013_csv(path)
    assert d.bad_rows == []
    np.testing.assert_array_equal(d.images, images)


def test_missing_ferplus_votes_name_the_option(tmp_path):
    images, labels = synthetic_faces(2)
    fer = write_fer_csv(tmp_path / "fer2013.csv", images, labels, ["Training"] * 2)
    with pytest.raises(DataError, match=r"fer2013new\.csv.*not found.*--ferplus-csv"):
        load_dataset(fer, labels="ferplus")


def test_evaluate_on_data_without_splits_suggests_split_all(tmp_path):
    import subprocess
    import sys

    images, labels = synthetic_faces(14)
    path = write_fer_csv(tmp_path / "nosplit.csv", images, labels, ["Training"] * 14)
    path.write_text("\n".join(line.rsplit(",", 1)[0] for line in path.read_text().splitlines()) + "\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "emorec", "evaluate", str(path), "--out",  # noqa: E731
                                     str(tmp_path / "ev"), *a], capture_output=True, text=True, timeout=120)
    out = run()
    assert out.returncode == 1 and "nosplit.csv" in out.stderr and "--split all" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    out = run("--split", "all")
    assert out.returncode == 0 and "(n=14)" in out.stdout, out.stderr


def test_missing_column_and_missing_file(tmp_path):
    p = tmp_path / "nocol.csv"
    p.write_text("emotion,Usage\n1,Training\n")
    with pytest.raises(DataError, match=r"nocol\.csv: missing column\(s\) 'pixels'"):
        read_fer2013_csv(p)
    with pytest.raises(DataError, match="file not found"):
        read_fer2013_csv(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_fer2013_csv(empty)
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(b"emotion,pixels,Usage\n1,2 3,Training\n")[:-12])
    with pytest.raises(DataError, match="broken.csv.gz"):
        read_fer2013_csv(broken)


def test_many_bad_rows_are_counted(tmp_path):
    images, labels = synthetic_faces(10)
    labels = labels.copy()
    labels[[2, 5, 7]] = 11
    path = write_fer_csv(tmp_path / "x.csv", images, labels, ["Training"] * 10)
    with pytest.raises(DataError, match=r"row 3 .*and 2 more bad rows"):
        read_fer2013_csv(path)
    d = read_fer2013_csv(path, skip_bad_rows=True)
    assert len(d) == 7 and len(d.bad_rows) == 3


def test_split_errors(tmp_path):
    images, labels = synthetic_faces(4)
    d = read_fer2013_csv(write_fer_csv(tmp_path / "t.csv", images, labels, ["Training"] * 4))
    with pytest.raises(DataError, match="no rows in split 'PublicTest'"):
        d.split("PublicTest")


def _ferplus_csv(path, votes, names):
    cols = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    rows = [f"Training,{n},{','.join(map(str, v))}" for n, v in zip(names, votes)]
    path.write_text(cols + "\n" + "\n".join(rows) + "\n")
    return path


def test_ferplus_votes_soft_targets_and_drops(tmp_path):
    images, labels = synthetic_faces(5)
    fer = write_fer_csv(tmp_path / "fer2013.csv", images, labels, ["Training"] * 5)
    votes = [
        [0, 8, 2, 0, 0, 0, 0, 0, 0, 0],   # happiness
        [4, 0, 0, 0, 0, 0, 0, 0, 6, 0],   # unknown wins: dropped
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],   # one vote of neutral
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # NF
        [0, 0, 3, 0, 0, 0, 7, 0, 0, 0],   # fear
    ]
    names = ["a.png", "b.png", "c.png", "", "e.png"]  # empty name: not a face
    d = read_ferplus(fer, _ferplus_csv(tmp_path / "fer2013new.csv", votes, names))
    assert d.classes == FERPLUS_CLASSES
    assert list(d.rows) == [0, 2, 4]
    assert [FERPLUS_CLASSES[i] for i in d.labels] == ["happiness", "neutral", "fear"]
    np.testing.assert_allclose(d.targets.sum(1), 1.0)
    np.testing.assert_allclose(d.targets[0, :3], [0, 0.8, 0.2])
    np.testing.assert_array_equal(d.images[2], images[4])
    # the loader picks fer2013new.csv beside the CSV
    assert len(load_dataset(fer, labels="ferplus")) == 3


def test_ferplus_bad_vote_is_reported(tmp_path):
    images, labels = synthetic_faces(2)
    fer = write_fer_csv(tmp_path / "fer2013.csv", images, labels, ["Training"] * 2)
    plus = _ferplus_csv(tmp_path / "fer2013new.csv", [[1] * 10, [1] * 10], ["a.png", "b.png"])
    plus.write_text(plus.read_text().replace("b.png,1,1", "b.png,x,1"))
    with pytest.raises(DataError, match=r"fer2013new.csv: row 2 .*'neutral'"):
        read_ferplus(fer, plus)
    assert len(read_ferplus(fer, plus, skip_bad_rows=True).bad_rows) == 1


def test_image_folder_with_splits_and_aliases(tmp_path):
    images, labels = synthetic_faces(14)
    for i, (img, lab) in enumerate(zip(images, labels)):
        split = "train" if i < 10 else "test"
        name = {"happy": "happiness"}.get(FER2013_CLASSES[lab], FER2013_CLASSES[lab])
        folder = tmp_path / split / name
        folder.mkdir(parents=True, exist_ok=True)
        big = cv2.resize(img, (96, 96), interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(big, cv2.COLOR_GRAY2BGR))
    (tmp_path / "train" / "happiness" / "junk.txt").write_text("not an image")
    (tmp_path / "train" / "fear").mkdir(exist_ok=True)
    (tmp_path / "train" / "fear" / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="broken.png: cannot read image"):
        read_image_folder(tmp_path)
    d = read_image_folder(tmp_path, skip_bad_rows=True)
    assert len(d) == 14 and len(d.split("Training")) == 10 and len(d.split("PublicTest")) == 4
    assert d.images.shape == (14, 48, 48)
    # every image read back (96 -> 48 px, area) is one of the originals, with that original's class and split
    source = {img.tobytes(): i for i, img in enumerate(images)}
    found = [source.get(img.tobytes()) for img in d.images]
    assert sorted(i for i in found if i is not None) == list(range(14))
    for img_label, split, i in zip(d.labels, d.usage, found):
        assert img_label == labels[i] and split == ("Training" if i < 10 else "PublicTest")
    assert any("broken.png" in b for b in d.bad_rows)


@needs_real_data
def test_real_fer2013_counts():
    d = read_fer2013_csv(REAL_CSV)
    assert np.bincount(d.split("Training").labels).tolist() == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert np.bincount(d.split("PublicTest").labels).tolist() == [467, 56, 496, 895, 653, 415, 607]
    plus = read_ferplus(None, REAL_FERPLUS, fer=d)
    assert plus.targets.shape[1] == 8 and 31000 < len(plus) < len(d)
