"""The one inference loop: every writer is closed, and a writer's failure to close never hides the error that
stopped the run; a fatal writer's failure stops the run, another's is reported and the run goes on; early stops
(on_frame, max_frames, Ctrl-C); unreadable frames reported and handed to the writers; a tracked video's counts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest

from emorec import EmotionRecognizer
from emorec.errors import EmorecError, OutputError, VideoError
from emorec.pipeline import run
from emorec.samples import moving_faces_video, sample_image, sample_path
from emorec.sources import ImageSource, VideoSource
from emorec.tracking import FaceTracker
from emorec.writers import AnnotatedImages, AnnotatedVideo, FrameCsv, JsonLines, Records, Writer


class Broken(Writer):
    """A video file that fails while frames are written, and again when it is closed."""

    fatal = True

    def __init__(self, fail_write: bool):
        self.fail_write, self.closed = fail_write, False

    def write(self, item, faces):
        if self.fail_write:
            raise VideoError("disk full while writing frame 1")

    def close(self):
        self.closed = True
        raise OutputError("cannot finish the mp4: disk full")


def test_a_close_failure_does_not_hide_the_error_that_stopped_the_run():
    errors = []
    w = Broken(fail_write=True)
    with pytest.raises(VideoError, match="frame 1"):
        run(ImageSource([sample_path()]), EmotionRecognizer(), [w], on_error=errors.append)
    assert w.closed and errors == ["cannot finish the mp4: disk full"]


def test_a_close_failure_alone_is_raised():
    w = Broken(fail_write=False)
    with pytest.raises(OutputError, match="cannot finish"):
        run(ImageSource([sample_path()]), EmotionRecognizer(), [w])
    assert w.closed


# ------------------------------------------------------------------------------------------ more of the loop
@pytest.fixture
def photos(tmp_path):
    """Three small copies of the sample photo (its face found in each), in a folder."""
    folder = tmp_path / "photos"
    folder.mkdir()
    small = cv2.resize(sample_image(), (256, 256), interpolation=cv2.INTER_AREA)
    for name in ("1.png", "2.png", "3.png"):
        cv2.imwrite(str(folder / name), small)
    return folder


class Closing(Writer):
    """A writer that only notes what it was given and whether it was closed."""

    def __init__(self):
        self.frames, self.errors, self.closed = [], [], False

    def write(self, item, faces):
        self.frames.append((item.source, len(faces)))

    def write_error(self, item):
        self.errors.append(item.error)

    def close(self):
        self.closed = True


def test_a_fatal_writers_failure_stops_the_run_and_every_writer_is_closed(rec, photos, tmp_path):
    """A video file that cannot be written (a file where its folder should be) stops the run at the first frame with
    its error; the writers before and after it are closed (the CSV's header is on disk)."""
    (tmp_path / "blocked").write_text("a file in the way\n")
    target = tmp_path / "blocked" / "out.mp4"
    records, after, csv_path = Records(), Closing(), tmp_path / "frames.csv"
    frames = FrameCsv(csv_path, rec.classes)
    errors = []
    with pytest.raises(VideoError, match="cannot write the video there") as e:
        run(ImageSource([photos]), rec, [records, AnnotatedVideo(target, 30.0), frames, after], on_error=errors.append)
    assert str(target) in str(e.value)
    assert len(records.records) == 1 and after.frames == []  # nothing after the failing frame
    assert after.closed and errors == []
    assert csv_path.read_text().splitlines() == [",".join(["frame", "time_s", "face_id", "x", "y", "w", "h",
                                                          "emotion", *rec.classes])]


def test_a_non_fatal_writers_failure_is_reported_and_the_run_goes_on(rec, photos, tmp_path):
    """Annotated copies that cannot be written (a file where their folder should be): each failure is reported
    and counted, every photo is still analysed and given to the other writers."""
    blocker = tmp_path / "out"
    blocker.write_text("a file in the way\n")
    records, reported = Records(), []
    s = run(ImageSource([photos]), rec, [AnnotatedImages(blocker), records], on_error=reported.append)
    assert s.frames == 3 and s.faces == 3 and not s.stopped and not s.interrupted
    assert len(s.errors) == 3 and reported == s.errors
    for name, msg in zip(("1.png", "2.png", "3.png"), s.errors):
        assert str(blocker / "photos" / name) in msg and "cannot write the annotated copy" in msg
    assert [len(r["faces"]) for r in records.records] == [1, 1, 1]


def test_a_close_failure_is_raised_after_every_writer_is_closed(rec):
    after = Closing()
    with pytest.raises(OutputError, match="cannot finish"):
        run(ImageSource([sample_path()]), rec, [Broken(fail_write=False), after])
    assert after.closed and after.frames == [(str(sample_path()), 1)]


def test_on_frame_returning_false_stops_early(rec, photos):
    seen, out = [], Closing()

    def on_frame(item, faces):
        seen.append(len(faces))
        return len(seen) < 2  # stop after the second photo

    s = run(ImageSource([photos]), rec, [out], on_frame=on_frame)
    assert s.stopped and not s.interrupted and s.frames == 2 and seen == [1, 1]
    assert [Path(src).name for src, _ in out.frames] == ["1.png", "2.png"] and out.closed


def test_max_frames_stops_after_that_many_frames_analysed(rec, photos):
    out = Closing()
    s = run(ImageSource([photos]), rec, [out], max_frames=2)
    assert s.frames == 2 and len(out.frames) == 2 and not s.stopped and out.closed
    assert run(ImageSource([photos]), rec, [Closing()], max_frames=0).frames == 3  # 0: no limit


def test_ctrl_c_stops_early_with_every_writer_closed(rec, photos):
    out = Closing()

    def on_frame(item, faces):
        raise KeyboardInterrupt

    s = run(ImageSource([photos]), rec, [out], on_frame=on_frame)
    assert s.interrupted and s.frames == 1 and out.closed


def test_unreadable_frames_are_reported_passed_to_write_error_and_the_rest_goes_on(rec, photos, tmp_path):
    data = (photos / "2.png").read_bytes()
    (photos / "2.png").write_bytes(data[: len(data) // 2])  # a truncated PNG between two good ones
    lines, reported, out = [], [], Closing()

    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    bar = Bar()
    s = run(ImageSource([photos]), rec, [JsonLines(lambda line, err: lines.append(json.loads(line))), out],
            on_error=reported.append, progress=bar)
    assert s.frames == 2 and s.faces == 2 and bar.n == 3  # the bar counts the bad frame too
    (msg,) = s.errors
    assert reported == [msg] and str(photos / "2.png") in msg and "truncated" in msg
    assert out.errors == [msg] and [Path(src).name for src, _ in out.frames] == ["1.png", "3.png"]
    assert [Path(r["file"]).name for r in lines] == ["1.png", "2.png", "3.png"]
    assert lines[1] == {"file": str(photos / "2.png"), "faces": [], "error": msg}
    assert len(lines[0]["faces"]) == len(lines[2]["faces"]) == 1


def test_options_reach_every_analysis(rec):
    """The server's per-request settings: min_confidence=1 withholds every label (the scores are kept)."""
    records = Records()
    run(ImageSource([sample_path(), sample_path()]), rec, [records], options={"min_confidence": 1.0})
    faces = [f for r in records.records for f in r["faces"]]
    assert len(faces) == 2 and all(f["emotion"] is None and max(f["scores"].values()) > 0.5 for f in faces)
    plain = Records()
    run(ImageSource([sample_path()]), rec, [plain])
    assert plain.records[0]["faces"][0]["emotion"] == "happy"


def test_a_tracked_video_reports_full_detections_and_tracks(rec, tmp_path):
    path = tmp_path / "clip.mp4"
    moving_faces_video(path, frames=24, size=(360, 270), side=80)  # faces ~11 px a frame
    csv_path = tmp_path / "clip.csv"
    with VideoSource(path) as src:
        s = run(src, rec, [FrameCsv(csv_path, rec.classes)], tracker=FaceTracker(rec, detect_every=5))
    assert s.frames == 24 and s.faces == 48 and s.tracks == 2 and s.full_detections == 5  # frames 0, 5, ..., 20
    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 48 and {r["face_id"] for r in rows} == {"1", "2"}


def test_a_writer_failing_to_close_with_an_os_error_does_not_keep_the_others_open(rec, tmp_path):
    """An OSError a writer does not turn into its own error (a disk that fails at the end) is reported as an
    emorec error, and the writers after it are still closed: the frame CSV keeps every row."""
    path = tmp_path / "clip.mp4"
    moving_faces_video(path, frames=8, size=(320, 240), side=80)

    class DiskGone(Writer):
        outputs: list = []

        def write(self, item, faces):
            pass

        def close(self):
            raise PermissionError(13, "Permission denied", str(tmp_path / "gone.png"))

    csv_path = tmp_path / "clip.csv"
    with pytest.raises(EmorecError, match="Permission denied"):
        with VideoSource(path) as src:
            run(src, rec, [DiskGone(), FrameCsv(csv_path, rec.classes)], tracker=FaceTracker(rec))
    with open(csv_path) as fh:
        assert len(list(csv.DictReader(fh))) >= 8  # closed, so flushed
