"""`emorec detect`: annotated copies, a line per face, --json and --csv, and bad files in a batch."""

import csv
import io
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from emorec.cli import app
from emorec.recognizer import EmotionRecognizer
from emorec.samples import face_scene, sample_path

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of good, odd and broken images (and a non-image file)."""
    root = tmp_path_factory.mktemp("photos")
    img = cv2.imread(str(sample_path()))
    data = sample_path().read_bytes()
    (root / "sub").mkdir()
    (root / "astronaut.jpg").write_bytes(data)
    cv2.imwrite(str(root / "grey.png"), cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(root / "rgba.png"), cv2.cvtColor(img, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(root / "deep16.png"), img.astype(np.uint16) * 257)
    cv2.imwrite(str(root / "sub" / "five.png"), face_scene(5)[0])
    cv2.imwrite(str(root / "sub" / "nobody.png"), np.full((200, 300, 3), 90, np.uint8))
    (root / "sub" / "empty.jpg").write_bytes(b"")
    (root / "sub" / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "sub" / "fake.png").write_bytes(b"this is not a picture\n")
    (root / "notes.txt").write_text("not an image, skipped by extension")
    return root


GOOD = {"astronaut.jpg": 1, "grey.png": 1, "rgba.png": 1, "deep16.png": 1, "sub/five.png": 5, "sub/nobody.png": 0}
BAD = {"sub/empty.jpg": "empty file", "sub/truncated.jpg": "truncated", "sub/fake.png": "cannot read as an image"}


def run(*args, cwd=None, monkeypatch=None):
    if cwd is not None:
        monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, ["detect", *map(str, args)])


def test_folder_batch_goes_on_past_bad_files(photos, tmp_path):
    out = tmp_path / "out"
    r = run(photos, "--out", out, "--no-progress")
    assert r.exit_code == 1, r.output
    for rel, why in BAD.items():
        assert f"{photos / rel}" in r.stderr and why in r.stderr
    assert "3 failed" in r.stderr
    for rel, n in GOOD.items():
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith(f"{photos / rel}:")]
        if n:
            assert len(lines) == n and all(" face " in ln for ln in lines), (rel, lines)
        else:
            assert lines == [f"{photos / rel}: no face found"]
        copy = out / photos.name / rel
        assert copy.exists(), copy  # annotated copies keep the folder structure
        written = cv2.imread(str(copy))
        original = cv2.imread(str(photos / rel))
        assert written.shape[:2] == original.shape[:2]
        if n:  # the box was drawn
            assert not np.array_equal(written, cv2.cvtColor(cv2.imread(str(photos / rel), cv2.IMREAD_GRAYSCALE),
                                                            cv2.COLOR_GRAY2BGR)) and not np.array_equal(written, original)
    assert not (out / photos.name / "notes.txt").exists()
    assert "skipped 1 file" in r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith(f"{photos / 'astronaut.jpg'}:"))
    box = json.loads(line.split(" face 1 ")[1].rsplit(" ", 2)[0])
    assert abs(box[0] - 175) <= 6 and abs(box[2] - 98) <= 6


def test_json_prints_one_object_per_image(photos, tmp_path):
    r = run(photos, "--json", "--no-save", "--no-progress")
    assert r.exit_code == 1
    objs = [json.loads(ln) for ln in r.stdout.splitlines()]
    by_file = {o["file"]: o for o in objs}
    assert len(objs) == len(GOOD) + len(BAD)
    for rel, n in GOOD.items():
        o = by_file[str(photos / rel)]
        assert set(o) == {"file", "faces"} and len(o["faces"]) == n
        for f in o["faces"]:
            assert set(f) == {"box", "emotion", "scores"}
            assert len(f["box"]) == 4 and all(isinstance(v, int) for v in f["box"])
            assert list(f["scores"]) == CLASSES and abs(sum(f["scores"].values()) - 1) < 1e-4
            assert f["emotion"] == max(f["scores"], key=f["scores"].get)
    for rel, why in BAD.items():
        o = by_file[str(photos / rel)]
        assert o["faces"] == [] and why in o["error"]
    assert not any(ln.startswith("{") for ln in r.stderr.splitlines())  # stdout is pure JSON lines


def test_csv_rows(photos):
    r = run(photos / "sub", photos / "astronaut.jpg", "--csv", "--no-save", "--no-progress")
    assert r.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["file", "face", "x", "y", "w", "h", "emotion", "confidence", *CLASSES, "error"]
    five = [row for row in rows if row["file"].endswith("five.png")]
    assert [row["face"] for row in five] == ["1", "2", "3", "4", "5"]
    for row in five:
        p = [float(row[c]) for c in CLASSES]
        assert abs(sum(p) - 1) < 1e-3 and row["emotion"] == CLASSES[int(np.argmax(p))]
        assert float(row["confidence"]) == max(p) and int(row["w"]) > 30
    nobody = [row for row in rows if row["file"].endswith("nobody.png")]
    assert len(nobody) == 1 and nobody[0]["face"] == "0" and nobody[0]["error"] == ""
    bad = [row for row in rows if row["error"]]
    assert sorted(row["file"].rsplit("/", 1)[1] for row in bad) == ["empty.jpg", "fake.png", "truncated.jpg"]
    assert [row for row in rows if row["file"].endswith("astronaut.jpg")][0]["face"] == "1"


def test_missing_files_and_empty_folders(tmp_path):
    (tmp_path / "empty_dir").mkdir()
    r = run(tmp_path / "missing.jpg", tmp_path / "empty_dir", sample_path(), "--no-save")
    assert r.exit_code == 1
    assert f"{tmp_path / 'missing.jpg'}: no such file" in r.stderr
    assert f"{tmp_path / 'empty_dir'}: no image files" in r.stderr
    assert f"{sample_path()}: face 1" in r.stdout  # the good file was still processed


def test_usage_errors_exit_2(tmp_path):
    r = run(sample_path(), "--json", "--csv")
    assert r.exit_code == 2 and "one of --json and --csv" in r.stderr
    r = run(sample_path(), "--model", "nope")
    assert r.exit_code == 2 and "not found" in r.stderr


def test_no_path_runs_on_the_sample_and_never_overwrites(tmp_path, monkeypatch):
    r = run(cwd=tmp_path, monkeypatch=monkeypatch)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"{sample_path()}: face 1 [")
    assert (tmp_path / "runs/detect/predict/astronaut.jpg").exists()
    r = run("--json", cwd=tmp_path, monkeypatch=monkeypatch)
    assert r.exit_code == 0
    assert json.loads(r.stdout)["file"] == str(sample_path())
    assert (tmp_path / "runs/detect/predict2/astronaut.jpg").exists()  # a new folder, nothing replaced


def test_the_installed_command_runs_end_to_end(tmp_path):
    """The README's first command, as a user types it, in a fresh process."""
    r = subprocess.run([sys.executable, "-m", "emorec", "detect", "--json"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    faces = json.loads(r.stdout)["faces"]
    assert len(faces) == 1 and faces[0]["emotion"] in CLASSES
    assert "annotated copies in runs/detect/predict" in r.stderr


def test_an_unwritable_output_folder_is_reported_and_results_still_printed(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should go")
    r = run(sample_path(), "--out", blocker)
    assert r.exit_code == 1
    assert "cannot write the annotated copy" in r.stderr
    assert f"{sample_path()}: face 1 [" in r.stdout


def test_command_line_defaults_are_the_library_defaults():
    """Detector settings left out on the command line are the library's own (None: not passed on)."""
    import typer.main

    from emorec import tracking
    from emorec.cli import recognizer_options
    from emorec.detectors import haar

    params = {p.name: p.default for p in typer.main.get_command(app).commands["detect"].params}
    assert params["detector"] == "haar"
    for name in ("margin", "align", "min_size", "scale_factor", "min_neighbors", "turned", "score_threshold",
                 "detector_model"):
        assert params[name] is None, name
    assert recognizer_options() == {"model": "fer2013", "flip_tta": False, "crop_tta": False, "detector": "haar"}
    assert recognizer_options(min_size=30, detector="yunet") == {"model": "fer2013", "flip_tta": False,
                                                                  "crop_tta": False, "detector": "yunet",
                                                                  "min_size": 30}
    rec = EmotionRecognizer(**recognizer_options())
    assert (rec.detector.min_size, rec.detector.scale_factor, rec.detector.min_neighbors, rec.detector.turned) == \
        (None, haar.SCALE_FACTOR, None, True)  # None: the default smallest face, and the checked search
    for command in ("video", "live"):
        params = {p.name: p.default for p in typer.main.get_command(app).commands[command].params}
        assert params["detect_every"] == tracking.DETECT_EVERY and params["smooth"] == tracking.SMOOTH


def test_images_over_the_pixel_limit_are_refused_by_name_and_the_rest_goes_on(tmp_path):
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(sample_path())), (256, 256)))
    args = ["detect", str(sample_path()), str(small), "--json", "--no-save", "--no-progress"]
    r = CliRunner().invoke(app, args + ["--max-megapixels", "0.1"])  # 512x512 is 0.26 Mpx, 256x256 0.07
    assert r.exit_code == 1
    assert f"{sample_path()}: image is 512x512 = 262,144 pixels; the limit is 100,000" in r.stderr
    objs = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert [o["file"] for o in objs if o.get("faces")] == [str(small)]
    r = CliRunner().invoke(app, args + ["--max-megapixels", "0"])  # 0: no limit
    assert r.exit_code == 0 and all(json.loads(ln)["faces"] for ln in r.stdout.splitlines())


def test_serve_refuses_ports_outside_the_tcp_range():
    for port in ("99999", "65536", "-1"):
        r = CliRunner().invoke(app, ["serve", "--port", port])
        assert r.exit_code == 2 and "--port" in r.output, port


def test_min_confidence_prints_unsure_and_null():
    args = ["detect", str(sample_path()), "--no-save", "--no-progress"]
    r = CliRunner().invoke(app, args + ["--min-confidence", "0.999"])
    assert r.exit_code == 0 and " unsure 0.9" in r.stdout
    r = CliRunner().invoke(app, args + ["--min-confidence", "0.999", "--json"])
    assert json.loads(r.stdout)["faces"][0]["emotion"] is None
    r = CliRunner().invoke(app, args + ["--min-confidence", "0.999", "--csv"])
    row = list(csv.DictReader(io.StringIO(r.stdout)))[0]
    assert row["emotion"] == "" and float(row["confidence"]) > 0.9
    assert CliRunner().invoke(app, args + ["--min-confidence", "1.5"]).exit_code == 2


def test_crops_option_averages_over_crops(tmp_path):
    import json as _json

    from typer.testing import CliRunner

    from emorec.cli import app

    plain = CliRunner().invoke(app, ["detect", "--json", "--no-save", "--no-progress"])
    crops = CliRunner().invoke(app, ["detect", "--json", "--no-save", "--no-progress", "--crops"])
    assert plain.exit_code == 0 and crops.exit_code == 0, crops.output
    a, b = (_json.loads(r.stdout.strip().splitlines()[-1])["faces"][0] for r in (plain, crops))
    assert a["box"] == b["box"] and a["emotion"] == b["emotion"] == "happy"
    assert a["scores"] != b["scores"]  # the crops changed the probabilities


def test_a_tilted_head_is_found_and_no_turned_leaves_it(tmp_path):
    """The sample photo turned 30 degrees about its face: Haar finds the face (its search of the picture turned);
    --no-turned is the upright search alone, which finds none; yunet does not take the Haar option."""
    from emorec.samples import SAMPLE_FACE_BOX

    x, y, w, h = SAMPLE_FACE_BOX
    img = cv2.imread(str(sample_path()))
    m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), 30.0, 1.0)
    tilted = tmp_path / "tilted.jpg"
    cv2.imwrite(str(tilted), cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE))
    args = ["detect", str(tilted), "--json", "--no-save", "--no-progress"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    (face,) = json.loads(r.stdout)["faces"]
    bx, by, bw, bh = face["box"]
    assert abs(bx + bw / 2 - (x + w / 2)) < 0.2 * w and abs(by + bh / 2 - (y + h / 2)) < 0.2 * h, face["box"]
    r = CliRunner().invoke(app, args + ["--no-turned"])
    assert r.exit_code == 0 and json.loads(r.stdout)["faces"] == [], r.output
    r = CliRunner().invoke(app, args + ["--detector", "yunet", "--no-turned"])
    assert r.exit_code == 2 and "turned" in r.output
