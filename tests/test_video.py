"""Videos and the live view on a synthetic video where two faces move (positions known)."""

import csv

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from emorec.cli import app
from emorec.errors import VideoError
from emorec.live import gui_problem, run_live
from emorec.samples import moving_faces_video
from emorec.tracking import FaceTracker, iou, match
from emorec.video import process_video

FRAMES, SIZE, SIDE = 40, (480, 360), 90
CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "moving.mp4"
    truth = moving_faces_video(path, frames=FRAMES, size=SIZE, side=SIDE)
    return path, truth


def frames_of(path):
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            return out
        out.append(f)


def inside(box, sq):
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return sq[0] <= cx <= sq[0] + sq[2] and sq[1] <= cy <= sq[1] + sq[3]


def test_iou_and_matching():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 50 / 150) < 1e-9
    a = [(0, 0, 10, 10), (100, 100, 10, 10)]
    b = [(101, 101, 10, 10), (1, 0, 10, 10), (50, 50, 10, 10)]
    assert sorted(match(a, b, 0.3)) == [(0, 1), (1, 0)]
    assert match(a, [(50, 50, 10, 10)], 0.3) == []


@pytest.mark.parametrize("every", [1, 5, 10])
def test_tracked_ids_follow_each_face(clip, rec, every):
    path, truth = clip
    tracker = FaceTracker(rec, detect_every=every)
    owner = {}  # id -> index of the true face it sits on
    found = np.zeros((FRAMES, 2), bool)
    for t, frame in enumerate(frames_of(path)):
        for f in tracker.update(frame):
            hits = [k for k, sq in enumerate(truth[t]) if inside(f.box, sq)]
            assert len(hits) == 1, f"frame {t}: box {f.box} is on no face"
            assert owner.setdefault(f.id, hits[0]) == hits[0], f"frame {t}: id {f.id} jumped to another face"
            found[t, hits[0]] = True
            assert abs(sum(f.scores.values()) - 1) < 1e-4
    assert sorted(owner) == [1, 2]  # two faces, two ids, kept to the end
    assert found.all(), f"frames without their face: {np.argwhere(~found).tolist()}"
    assert tracker.full_detections == -(-FRAMES // every)  # the full-frame detector ran only every k frames


def test_probabilities_are_smoothed_by_a_moving_average(clip, rec):
    path, _ = clip
    f0, f1 = frames_of(path)[:2]
    raw = FaceTracker(rec, detect_every=1, smooth=0.0)
    smooth = FaceTracker(rec, detect_every=1, smooth=0.7)
    r0, r1 = raw.update(f0), raw.update(f1)
    smooth.update(f0)
    s1 = smooth.update(f1)
    for a, b, s in zip(r0, r1, s1):
        assert a.id == b.id == s.id
        pa, pb, ps = (np.array(list(x.scores.values())) for x in (a, b, s))
        np.testing.assert_allclose(ps, 0.7 * pa + 0.3 * pb, atol=1e-5)
    with pytest.raises(ValueError):
        FaceTracker(rec, smooth=1.0)
    with pytest.raises(ValueError):
        FaceTracker(rec, detect_every=0)


def test_video_writes_mp4_csv_and_timeline(clip, rec, tmp_path):
    path, truth = clip
    out = tmp_path / "out" / "annotated.mp4"
    s = process_video(path, out, recognizer=rec, detect_every=5, progress=False)
    assert s.frames == FRAMES and s.tracks == 2 and not s.interrupted and not s.warnings
    written = frames_of(out)
    assert len(written) == FRAMES and written[0].shape == (SIZE[1], SIZE[0], 3)
    with open(tmp_path / "out" / "annotated.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["frame", "time_s", "face_id", "x", "y", "w", "h", "emotion", *CLASSES]
    assert len(rows) == 2 * FRAMES
    assert {r["face_id"] for r in rows} == {"1", "2"}
    assert [float(r["time_s"]) for r in rows[::2]] == pytest.approx([i / 30 for i in range(FRAMES)], abs=1e-3)
    for r in rows:
        p = [float(r[c]) for c in CLASSES]
        assert abs(sum(p) - 1) < 2e-3 and r["emotion"] == CLASSES[int(np.argmax(p))]
        t = int(r["frame"])
        assert any(inside([int(r[k]) for k in "xywh"], sq) for sq in truth[t])
    png = cv2.imread(str(tmp_path / "out" / "annotated_timeline.png"))
    assert png is not None and png.shape[0] > 200 and png.shape[1] > 500


def test_interrupted_video_keeps_what_was_processed(clip, rec, tmp_path):
    path, _ = clip

    def stop(i, frame, faces):
        if i == 9:
            raise KeyboardInterrupt

    s = process_video(path, tmp_path / "cut.mp4", recognizer=rec, progress=False, on_frame=stop)
    assert s.interrupted and s.frames == 10
    assert len(frames_of(tmp_path / "cut.mp4")) == 10
    with open(tmp_path / "cut.csv") as fh:
        assert {int(r["frame"]) for r in csv.DictReader(fh)} == set(range(10))
    assert (tmp_path / "cut_timeline.png").exists()


def test_bad_videos_raise_clear_errors(rec, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("this is no video\n" * 20)
    w = cv2.VideoWriter(str(tmp_path / "noframes.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    w.release()
    cases = {"missing.mp4": "no such file", "empty.mp4": "empty file", "text.mp4": "cannot open|no frames",
             "noframes.mp4": "cannot open|no frames|empty file"}
    for name, why in cases.items():
        with pytest.raises(VideoError, match=why) as e:
            process_video(tmp_path / name, tmp_path / "o.mp4", recognizer=rec, progress=False)
        assert name in str(e.value)
    with pytest.raises(VideoError, match="is a folder"):
        process_video(tmp_path, tmp_path / "o.mp4", recognizer=rec, progress=False)


def test_video_command_batch(clip, tmp_path):
    path, _ = clip
    (tmp_path / "broken.mp4").write_text("no video here")
    out = tmp_path / "results"
    r = CliRunner().invoke(app, ["video", str(tmp_path / "broken.mp4"), str(path), "--out", str(out),
                                 "--no-progress", "--max-frames", "12"])
    assert r.exit_code == 1
    assert f"{tmp_path / 'broken.mp4'}" in r.stderr and "1 of 2 video(s) failed" in r.stderr
    assert "12 frames, 2 face(s) tracked" in r.stdout  # the good video was still done
    assert len(frames_of(out / "moving.mp4")) == 12
    assert (out / "moving.csv").exists() and (out / "moving_timeline.png").exists()
    r = CliRunner().invoke(app, ["video", str(path), "--out", str(tmp_path / "one.mp4"), "--no-progress",
                                 "--max-frames", "3"])
    assert r.exit_code == 0 and (tmp_path / "one.csv").exists()
    r = CliRunner().invoke(app, ["video", str(path), str(path), "--out", str(tmp_path / "one.mp4")])
    assert r.exit_code == 2 and "give a folder" in r.stderr


def test_live_with_a_video_file_writes_the_live_view(clip, rec, tmp_path):
    path, _ = clip
    out = tmp_path / "live.mp4"
    r = CliRunner().invoke(app, ["live", "--source", str(path), "--no-window", "--out", str(out), "--max-frames", "15"])
    assert r.exit_code == 0, r.output
    frames = frames_of(out)
    assert len(frames) == 15
    assert frames[0].shape == (SIZE[1], SIZE[0] + 260, 3)  # the frame and the probability panel beside it
    panel = frames[5][:, SIZE[0]:]
    assert (panel.max(axis=2) > 150).sum() > 500  # bars and text were drawn on the dark panel
    s = run_live(path, recognizer=rec, window=False, out=tmp_path / "all.mp4")
    assert s.frames == FRAMES and len(frames_of(tmp_path / "all.mp4")) == FRAMES


def test_live_without_gui_or_camera_says_what_to_do(clip, tmp_path):
    path, _ = clip
    problem = gui_problem()
    r = CliRunner().invoke(app, ["live", "--source", str(path), "--max-frames", "1"])
    if problem is None:  # a GUI build with a display: the window path runs
        assert r.exit_code == 0, r.output
    else:
        assert r.exit_code == 2
        assert problem in r.stderr and "emorec serve" in r.stderr and "--no-window" in r.stderr
    r = CliRunner().invoke(app, ["live", "--source", "97", "--no-window", "--out", str(tmp_path / "x.mp4")])
    assert r.exit_code == 1 and "cannot open camera 97" in r.stderr and "emorec serve" in r.stderr
    r = CliRunner().invoke(app, ["live", "--source", str(tmp_path / "nope.mp4"), "--no-window",
                                 "--out", str(tmp_path / "x.mp4")])
    assert r.exit_code == 1 and "nope.mp4: no such file" in r.stderr
    r = CliRunner().invoke(app, ["live", "--source", str(path), "--no-window"])
    assert r.exit_code == 2 and "--out" in r.stderr


@pytest.mark.parametrize("command", ["video", "live"])
def test_unwritable_video_outputs_give_a_message_not_a_traceback(clip, tmp_path, command):
    path, _ = clip
    blocker = tmp_path / "afile"
    blocker.write_text("a file where a folder should be")
    for target in (blocker / "y.mp4", "/proc/emorec-no/y.mp4"):
        args = (["video", str(path), "--out", str(target)] if command == "video" else
                ["live", "--source", str(path), "--no-window", "--out", str(target)])
        r = CliRunner().invoke(app, args + ["--max-frames", "3"])
        assert r.exit_code == 1, r.output
        assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
        assert str(target) in r.stderr and "cannot write" in r.stderr, r.stderr


def test_video_written_as_h264_that_browsers_play(clip, rec, tmp_path):
    path, _ = clip
    s = process_video(path, tmp_path / "o.mp4", recognizer=rec, progress=False, max_frames=5)
    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("ascii", "replace").lower()
    cap.release()
    assert fourcc in ("avc1", "h264"), fourcc
    assert not s.warnings


def test_video_pipeline_runs_with_the_yunet_detector(clip, tmp_path):
    from pathlib import Path

    model = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "yunet" / \
        "face_detection_yunet_2023mar.onnx"
    if not model.is_file():
        pytest.skip(f"YuNet model file not present at {model}")
    path, truth = clip
    out = tmp_path / "y.mp4"
    r = CliRunner().invoke(app, ["video", str(path), "--out", str(out), "--detector", "yunet",
                                 "--detector-model", str(model), "--no-progress"])
    assert r.exit_code == 0, r.output
    with open(tmp_path / "y.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["face_id"] for r in rows} == {"1", "2"}
    assert len(rows) >= 2 * FRAMES - 4
    r = CliRunner().invoke(app, ["video", str(path), "--out", str(out), "--detector", "haar",
                                 "--detector-model", str(model)])
    assert r.exit_code == 2 and "applies to the yunet detector only" in r.stderr
