"""`emorec batch` on Ray Data: the same results as `detect --json`, a row for every input (no face, corrupt,
missing), resumable after a kill, and clear refusals. One local Ray (2 CPUs, loopback) for the module."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

ray = pytest.importorskip("ray", reason='emorec batch needs the extra: pip install ".[ray]"')
pd = pytest.importorskip("pandas")

from emorec.batch import OutputFolder, run_batch, start_ray  # noqa: E402
from emorec.cli import app  # noqa: E402
from emorec.errors import EmorecError  # noqa: E402
from emorec.recognizer import EmotionRecognizer  # noqa: E402
from emorec.samples import face_scene, moving_faces_video, sample_path  # noqa: E402

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos"
REAL = ["two_people.jpg", "test_obama_and_biden.jpg", "obama_small.jpg"]  # a few: the suite must stay fast
CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


@pytest.fixture(scope="module")
def local_ray():
    r, started = start_ray(num_cpus=2)
    yield r
    if started:
        r.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A folder of photos (sample, 5-face scene, no face, corrupt, real photos when present) and a video,
    plus lists (.txt with file:// URIs, .csv with a relative path) naming files outside the folder."""
    root = tmp_path_factory.mktemp("batch_in")
    photos = root / "photos"
    (photos / "sub").mkdir(parents=True)
    data = sample_path().read_bytes()
    (photos / "astronaut.jpg").write_bytes(data)
    cv2.imwrite(str(photos / "sub" / "five.png"), face_scene(5)[0])
    cv2.imwrite(str(photos / "sub" / "nobody.png"), np.full((200, 300, 3), 90, np.uint8))
    (photos / "sub" / "corrupt.jpg").write_bytes(data[: len(data) // 2])
    for name in REAL:
        if (PHOTOS / name).exists():
            shutil.copy(PHOTOS / name, photos / name)
    moving_faces_video(photos / "clip.mp4", frames=45, fps=30.0)
    extra = root / "extra"
    extra.mkdir()
    cv2.imwrite(str(extra / "by_uri.png"), face_scene(2, size=(320, 240), side=100)[0])
    cv2.imwrite(str(extra / "by_csv.jpg"), face_scene(1, size=(240, 240), side=150)[0])
    (root / "list.txt").write_text(f"# a comment\n{(extra / 'by_uri.png').as_uri()}\n"
                                   f"{(extra / 'nope.png').as_uri()}\n")
    (root / "list.csv").write_text("path,note\nextra/by_csv.jpg,relative to the list\n")
    cv2.imwrite(str(extra / "by_parquet.png"), face_scene(1, size=(240, 240), side=150)[0])
    pd.DataFrame({"id": [7], "uri": [str(extra / "by_parquet.png")]}).to_parquet(root / "list.parquet")
    return root


def read(out) -> pd.DataFrame:
    return pd.read_parquet(out)


def row_sets(df):
    """file -> its rows as comparable tuples (order of faces kept)."""
    cols = ["frame", "face", "x", "y", "w", "h", "emotion", "error"]
    return {f: [tuple(None if pd.isna(v) else v for v in r) for r in g[cols].itertuples(index=False)]
            for f, g in df.groupby("file", sort=False)}


@pytest.fixture(scope="module")
def first_run(local_ray, inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch_out") / "results"
    files = [str(inputs / "photos"), str(inputs / "photos" / "missing.jpg"), str(inputs / "list.txt"),
             str(inputs / "list.csv"), str(inputs / "list.parquet"), str(inputs / "extra" / "*.jpg"),
             str(inputs / "extra" / "*.webp")]
    s = run_batch(files, out, workers=2, every_seconds=0.5, files_per_part=3)
    return files, out, s


def test_local_ray_listens_on_loopback_only(local_ray):
    nodes = [n for n in local_ray.nodes() if n["Alive"]]
    assert nodes and all(n["NodeManagerAddress"] == "127.0.0.1" for n in nodes)
    assert os.environ.get("RAY_USAGE_STATS_ENABLED") == "0"


def test_results_equal_detect_json(first_run, inputs):
    _, out, s = first_run
    df = read(out)
    r = CliRunner().invoke(app, ["detect", str(inputs / "photos"), "--json", "--no-save", "--no-progress"])
    expected = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert len(expected) >= 4 + sum((PHOTOS / n).exists() for n in REAL)
    for obj in expected:
        rows = df[df.file == obj["file"]]
        assert len(rows), f"{obj['file']} has no row"
        if obj.get("error"):
            assert list(rows.error) == [obj["error"]]
            continue
        faces = rows[rows.face > 0].sort_values(["x", "y"])
        assert len(faces) == len(obj["faces"]), obj["file"]
        if obj["faces"]:
            assert list(rows.face) == list(range(1, len(rows) + 1)) and rows.error.isna().all()
        else:
            assert list(rows.face) == [0] and rows.error.isna().all()
        # faces of equal size may come in another order (OpenCV's threads): match them by position
        for (_, row), face in zip(faces.iterrows(), sorted(obj["faces"], key=lambda f: f["box"][:2])):
            assert [row.x, row.y, row.w, row.h] == face["box"]
            assert row.emotion == face["emotion"]
            got = np.array([row[c] for c in CLASSES], np.float32)
            want = np.array([face["scores"][c] for c in CLASSES], np.float32)
            # equal to float32 precision (the classifier's batch of crops may be ordered differently)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
            np.testing.assert_allclose(row.confidence, face["scores"][face["emotion"]], rtol=1e-6)
            assert row.detector == "haar" and row.model == "fer2013"


def test_every_input_has_its_rows(first_run, inputs):
    _, out, s = first_run
    df = read(out)
    photos = inputs / "photos"
    nobody = df[df.file == str(photos / "sub" / "nobody.png")]
    assert list(nobody.face) == [0] and nobody.error.isna().all()
    corrupt = df[df.file == str(photos / "sub" / "corrupt.jpg")]
    assert len(corrupt) == 1 and "truncated" in corrupt.error.iloc[0] and corrupt.face.isna().all()
    missing = df[df.file == str(photos / "missing.jpg")]
    assert len(missing) == 1 and missing.error.iloc[0] == f"{photos / 'missing.jpg'}: no such file"
    by_uri = df[df.file == (inputs / "extra" / "by_uri.png").as_uri()]
    assert list(by_uri.face) == [1, 2] and by_uri.error.isna().all()
    nope = df[df.file == (inputs / "extra" / "nope.png").as_uri()]
    assert len(nope) == 1 and "no such file" in nope.error.iloc[0]
    by_csv = df[df.file == str(inputs / "extra" / "by_csv.jpg")]  # in the .csv list and the glob: once
    assert list(by_csv.face) == [1]
    assert list(df[df.file == str(inputs / "extra" / "by_parquet.png")].face) == [1]
    assert s.problems == [f"{inputs / 'extra' / '*.webp'}: no file matches"]
    assert s.errors == 3 and s.files == df.file.nunique() and s.skipped == 0
    assert s.faces == int((df.face > 0).sum())


def test_video_gives_a_row_set_per_sampled_frame(first_run, inputs):
    _, out, _ = first_run
    df = read(out)
    clip = df[df.file == str(inputs / "photos" / "clip.mp4")]
    assert sorted(set(clip.frame)) == [0, 15, 30]  # 45 frames at 30 fps, every 0.5 s
    np.testing.assert_allclose(clip.time_s, clip.frame / 30.0)
    rec, cap, i, n_faces = EmotionRecognizer(), cv2.VideoCapture(str(inputs / "photos" / "clip.mp4")), 0, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % 15 == 0:  # the same frames, analysed here one by one
            want = sorted(f.box for f in rec.analyze(frame))
            rows = clip[clip.frame == i]
            got = sorted(tuple(int(v) for v in r) for r in rows[rows.face > 0][["x", "y", "w", "h"]].values)
            assert got == want and (len(want) or list(rows.face) == [0]), i
            n_faces += len(want)
        i += 1
    cap.release()
    assert i == 45 and n_faces >= 3


def test_rerun_skips_what_is_written_and_retries_errors(first_run):
    files, out, s = first_run
    before = read(out)
    again = run_batch(files, out, workers=2, every_seconds=0.5, files_per_part=3)
    after = read(out)
    failed = set(before.file[before.error.notna()])
    # the inputs that failed (missing, truncated) are analysed again, their error rows replaced; the rest skipped
    assert again.files == again.retried == len(failed) == s.errors and again.skipped == s.inputs - len(failed)
    assert len(after) == len(before)
    assert row_sets(after) == row_sets(before)


def test_a_failed_input_is_retried_and_replaced_once_it_can_be_read(local_ray, tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    shutil.copy(sample_path(), photos / "a.jpg")
    late = photos / "late.jpg"  # named in a list, not there yet (a transient error, a file still copying)
    (tmp_path / "list.txt").write_text(f"{photos / 'a.jpg'}\n{late}\n")
    out = tmp_path / "out"
    argv = ["batch", str(tmp_path / "list.txt"), "--out", str(out), "--workers", "1", "--no-progress"]
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 1, r.output
    assert list(read(out).query("file == @late.__str__()").error) == [f"{late}: no such file"]
    r = CliRunner().invoke(app, argv)  # still missing: still an error, still a failing exit code
    assert r.exit_code == 1 and "1 to analyse (1 that failed before)" in r.stderr
    shutil.copy(sample_path(), late)
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 0, r.output
    df = read(out)
    assert df.error.isna().all() and list(df[df.file == str(late)].face) == [1]
    assert df.file.value_counts().to_dict() == {str(photos / "a.jpg"): 1, str(late): 1}


def test_a_run_that_writes_nothing_leaves_nothing_that_refuses_the_next(local_ray, tmp_path):
    out = tmp_path / "out"
    OutputFolder(out).open({"format": "emorec-batch/1", "model": "fer2013"})  # e.g. the cluster then failed
    assert list(out.iterdir()) == []
    run_batch([str(sample_path())], out, recognizer_kwargs={"model": "ferplus"}, workers=1)
    assert list(read(out).model) == ["ferplus"]


def test_killed_run_then_rerun_gives_each_input_once(first_run, tmp_path):
    files, full_out, _ = first_run
    out = tmp_path / "killed"

    def kill_after_first_part(done, total, summary):
        if summary.parts == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(files, out, workers=2, every_seconds=0.5, files_per_part=3, on_progress=kill_after_first_part)
    assert len(OutputFolder(out).parts()) == 1
    part = read(out)
    first = set(part.file[part.error.isna()])  # done; an input whose row is an error is analysed again
    (out / ".part-killed-mid-write.parquet.tmp").write_bytes(b"PAR1 half a part")  # a kill during a write
    r = CliRunner().invoke(app, ["batch", *files, "--out", str(out), "--workers", "2", "--every-seconds", "0.5",
                                 "--files-per-part", "3", "--no-progress"])
    df = read(out)
    assert r.exit_code == (1 if df.error.notna().any() else 0), r.output  # 1 while error rows remain
    assert f"{len(first)} already in {out}" in r.stderr
    assert f"{df.file.nunique() - len(first)} file(s) analysed" in r.stderr and "images/s" in r.stderr
    assert not list(out.glob(".*.tmp"))
    want = row_sets(read(full_out))
    assert set(row_sets(df)) == set(want)
    assert row_sets(df) == want  # exactly one row set per input: nothing missing, nothing twice


def test_output_folder_holding_other_things_is_refused(tmp_path, inputs, first_run):
    img = str(sample_path())
    other = tmp_path / "holiday"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(EmorecError, match="not an emorec batch output"):
        run_batch([img], other)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(EmorecError, match="is a file"):
        run_batch([img], a_file)
    with pytest.raises(EmorecError, match="cannot write the output folder"):
        run_batch([img], a_file / "sub")
    _, out, _ = first_run
    n = len(read(out))
    with pytest.raises(EmorecError, match="other options: model 'fer2013' \\(now 'ferplus'\\)"):
        run_batch([img], out, recognizer_kwargs={"model": "ferplus"})
    assert len(read(out)) == n


def test_unreachable_address_is_a_quick_clear_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = time.perf_counter()
    r = CliRunner().invoke(app, ["batch", str(sample_path()), "--out", str(tmp_path / "o"),
                                 "--address", f"127.0.0.1:{port}", "--no-progress"])
    assert time.perf_counter() - t < 10
    assert r.exit_code == 1
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in r.stderr
    assert not (tmp_path / "o").exists()  # nothing written


def test_without_ray_the_message_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from emorec.cli import main; "
            f"sys.argv = ['emorec', 'batch', {str(sample_path())!r}, '--out', {str(tmp_path / 'o')!r}]; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert 'pip install ".[ray]"' in r.stderr and "Traceback" not in r.stderr


def test_an_image_over_the_pixel_limit_is_an_error_row_naming_it():
    from emorec.batch import Analyzer

    a = Analyzer(max_pixels=100_000)  # the sample is 512x512: 262,144 pixels
    rows = a.analyze(str(sample_path()), str(sample_path()), False)
    assert len(rows) == 1 and f"{sample_path()}: image is 512x512 = 262,144 pixels" in rows[0]["error"]
    assert Analyzer().analyze(str(sample_path()), str(sample_path()), False)[0]["face"] == 1


def test_without_an_address_a_local_ray_of_its_own_starts_past_a_stale_cluster_file(tmp_path):
    """A file left by a Ray cluster that is gone (or a cluster running on the machine) must not make batch try
    to join it: without --address it starts its own."""
    code = ("import os, tempfile\n"
            "from ray._private.utils import get_ray_address_file\n"
            "from emorec.batch import start_ray\n"
            "path = get_ray_address_file(None)\n"
            "os.makedirs(os.path.dirname(path), exist_ok=True)\n"
            "old = open(path).read() if os.path.exists(path) else None\n"
            "open(path, 'w').write('127.0.0.1:1')\n"
            "try:\n"
            "    ray, started = start_ray(num_cpus=1)\n"
            "    assert started and ray.cluster_resources().get('CPU') == 1\n"
            "    ray.shutdown()\n"
            "finally:\n"
            "    (open(path, 'w').write(old) if old is not None else os.remove(path)) if os.path.exists(path) else None\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                       env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
