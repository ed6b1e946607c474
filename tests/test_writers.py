"""Where results go: text lines, JSON lines and records, CSV rows, annotated copies of photos (the folder
structure kept, an unwritable place named), a video's per-frame CSV and its timeline PNG."""

from __future__ import annotations

import csv
import io
import json
import shutil

import cv2
import numpy as np
import pytest

from emorec.errors import OutputError, VideoError
from emorec.recognizer import Face
from emorec.samples import SAMPLE_FACE_BOX, sample_image, sample_path
from emorec.sources import FrameItem, ImageSource
from emorec.writers import AnnotatedImages, CsvRows, FrameCsv, JsonLines, Records, TextLines, Timeline, json_record

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def scores(top: str, p: float) -> dict:
    rest = (1.0 - p) / (len(CLASSES) - 1)
    return {c: (p if c == top else rest) for c in CLASSES}


HAPPY = Face((10, 20, 30, 40), "happy", scores("happy", 0.93))
UNSURE = Face((50, 60, 24, 24), None, scores("sad", 0.31))  # label withheld (below min_confidence)
PHOTO = FrameItem("party.jpg", image=np.zeros((100, 100, 3), np.uint8))
FRAME = FrameItem("clip.mp4", index=7, time=7 / 30, image=np.zeros((100, 100, 3), np.uint8))
UNREADABLE = FrameItem("bad.jpg", error="bad.jpg: truncated or corrupt JPEG")


@pytest.fixture(scope="module")
def sample_faces(rec):
    return rec.analyze(sample_image())


def collect():
    lines = []
    return lines, lambda line, to_stderr: lines.append((line, to_stderr))


# ------------------------------------------------------------------------------------------ text
def test_text_lines_one_per_face_and_no_face_lines():
    lines, emit = collect()
    w = TextLines(emit, no_face_to_stderr=True)
    w.write(PHOTO, [HAPPY, UNSURE])
    w.write(PHOTO, [])
    w.write(FRAME, [Face((1, 2, 3, 4), "sad", scores("sad", 0.5), id=4)])
    w.write(FRAME, [])
    assert lines == [("party.jpg: face 1 [10, 20, 30, 40] happy 0.93", False),
                     ("party.jpg: face 2 [50, 60, 24, 24] unsure 0.31", False),
                     ("party.jpg: no face found", True),
                     ("clip.mp4 frame 7: face 4 [1, 2, 3, 4] sad 0.50", False),  # a tracked face: its id
                     ("clip.mp4 frame 7: no face found", True)]
    lines, emit = collect()
    quiet = TextLines(emit, faces=False)  # only the images without a face are named
    quiet.write(PHOTO, [HAPPY])
    quiet.write(PHOTO, [])
    assert lines == [("party.jpg: no face found", False)]


def test_text_lines_of_the_real_sample(sample_faces):
    lines, emit = collect()
    TextLines(emit).write(FrameItem(str(sample_path())), sample_faces)
    (line, err), = lines
    assert not err and line.startswith(f"{sample_path()}: face 1 [175, 65, 98, 98] happy 0.")


# ------------------------------------------------------------------------------------------ JSON
def test_json_record_shapes():
    photo = json_record("party.jpg", [HAPPY])
    assert list(photo) == ["file", "faces"]
    assert photo == {"file": "party.jpg", "faces": [HAPPY.to_dict()]}
    assert photo["faces"][0]["box"] == [10, 20, 30, 40] and photo["faces"][0]["emotion"] == "happy"
    frame = json_record("clip.mp4", [], frame=7, time=7 / 30)
    assert list(frame) == ["file", "frame", "time", "faces"]
    assert frame == {"file": "clip.mp4", "frame": 7, "time": 0.233, "faces": []}
    failed = json_record("bad.jpg", [], error="bad.jpg: truncated")
    assert list(failed) == ["file", "faces", "error"] and failed["faces"] == []
    json.dumps([photo, frame, failed])  # plain JSON types only


def test_json_lines_and_records_give_the_same_records(sample_faces):
    lines, emit = collect()
    jl, recs = JsonLines(emit), Records()
    tracked = [Face((1, 2, 3, 4), "sad", scores("sad", 0.5), id=2)]
    photo = FrameItem(str(sample_path()), image=sample_image())
    for w in (jl, recs):
        w.write(photo, sample_faces)
        w.write(FRAME, tracked)
        w.write_error(UNREADABLE)
    parsed = [json.loads(line) for line, _ in lines]
    assert not any(err for _, err in lines)
    assert parsed == recs.records
    first, second, third = parsed
    assert first["file"] == str(sample_path()) and "frame" not in first
    assert [f["box"] for f in first["faces"]] == [[175, 65, 98, 98]] and first["faces"][0]["emotion"] == "happy"
    assert sum(first["faces"][0]["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert second == {"file": "clip.mp4", "frame": 7, "time": 0.233, "faces": [tracked[0].to_dict()]}
    assert second["faces"][0]["id"] == 2
    assert third == {"file": "bad.jpg", "faces": [], "error": "bad.jpg: truncated or corrupt JPEG"}


# ------------------------------------------------------------------------------------------ CSV rows
def test_csv_rows_header_with_class_columns_and_a_row_per_face():
    out = io.StringIO()
    w = CsvRows(out, CLASSES)
    w.write(PHOTO, [HAPPY, UNSURE])
    w.write(FrameItem("empty.jpg", image=np.zeros((9, 9), np.uint8)), [])
    w.write_error(UNREADABLE)
    out.seek(0)
    rows = list(csv.DictReader(out))
    out.seek(0)
    assert next(csv.reader(out)) == ["file", "face", "x", "y", "w", "h", "emotion", "confidence", *CLASSES, "error"]
    assert len(rows) == 4
    a, b, empty, bad = rows
    assert (a["file"], a["face"], a["x"], a["y"], a["w"], a["h"], a["emotion"], a["confidence"]) == \
        ("party.jpg", "1", "10", "20", "30", "40", "happy", "0.9300")
    assert a["happy"] == "0.9300" and a["sad"] == f"{0.07 / 6:.4f}" and a["error"] == ""
    assert b["face"] == "2" and b["emotion"] == "" and b["confidence"] == "0.3100"  # withheld: no label
    assert empty["file"] == "empty.jpg" and empty["face"] == "0" and empty["emotion"] == "" and empty["happy"] == ""
    assert bad["file"] == "bad.jpg" and bad["face"] == "" and bad["error"] == "bad.jpg: truncated or corrupt JPEG"


def test_csv_rows_of_video_frames_carry_frame_and_time():
    out = io.StringIO()
    w = CsvRows(out, CLASSES, frames=True)
    w.write(FRAME, [Face((1, 2, 3, 4), "sad", scores("sad", 0.5), id=5)])
    out.seek(0)
    header, row = list(csv.reader(out))
    assert header[:4] == ["file", "frame", "time_s", "face"]
    assert row[:5] == ["clip.mp4", "7", "0.233", "5", "1"]  # the face column is the track id


# ------------------------------------------------------------------------------------------ annotated copies
def test_annotated_copies_keep_the_folder_structure(rec, tmp_path):
    photos = tmp_path / "in" / "photos"
    (photos / "trip" / "day2").mkdir(parents=True)
    small = cv2.resize(sample_image(), (256, 256), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(photos / "a.png"), small)
    cv2.imwrite(str(photos / "trip" / "b.jpg"), small)
    cv2.imwrite(str(photos / "trip" / "day2" / "c.pgm"), cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    shutil.copy(sample_path(), tmp_path / "x" / "same.jpg")
    shutil.copy(sample_path(), tmp_path / "y" / "same.jpg")
    out = tmp_path / "out"
    w = AnnotatedImages(out)
    src = ImageSource([photos, tmp_path / "x" / "same.jpg", tmp_path / "y" / "same.jpg"])
    for item in src:
        w.write(item, rec.analyze(item.image))
    wanted = [out / "photos" / "a.png", out / "photos" / "trip" / "b.jpg",
              out / "photos" / "trip" / "day2" / "c.pgm.png",  # a format it does not write: a PNG beside
              out / "same.jpg", out / "same_2.jpg"]  # two files of one name: neither overwritten
    assert w.outputs == [str(p) for p in wanted]
    for p, shape in zip(wanted, [(256, 256, 3)] * 3 + [(512, 512, 3)] * 2):
        assert cv2.imread(str(p)).shape == shape, p


def test_an_annotated_copy_shows_the_face_box(rec, tmp_path):
    src = tmp_path / "face.png"
    cv2.imwrite(str(src), sample_image())
    (item,) = ImageSource([src])
    faces = rec.analyze(item.image)
    w = AnnotatedImages(tmp_path / "out")
    w.write(item, faces)
    copy = cv2.imread(w.outputs[0]).astype(np.int16)
    diff = np.abs(copy - item.image).sum(axis=2)
    x, y, bw, bh = SAMPLE_FACE_BOX
    assert diff[y + 10:y + bh - 10, x - 1:x + 2].mean() > 100  # the box's left side is drawn
    assert diff[y + 10:y + bh - 10, x + 10:x + bw - 10].max() == 0  # the face inside it is left as it was
    assert diff[300:, :].max() == 0  # and so is the rest of the photo


def test_an_unwritable_output_is_reported_naming_it(rec, tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be\n")
    w = AnnotatedImages(blocker)
    (item,) = ImageSource([sample_path()])
    with pytest.raises(OutputError) as e:
        w.write(item, [])
    assert str(blocker / "astronaut.jpg") in str(e.value) and str(sample_path()) in str(e.value)
    assert w.outputs == []


# ------------------------------------------------------------------------------------------ a video's CSV and timeline
def tracked(*ids) -> list[Face]:
    return [Face((10 * k, 5, 40, 40), "happy", scores("happy", 0.6), id=k) for k in ids]


def test_frame_csv_rows_and_flushing(tmp_path):
    path = tmp_path / "csv" / "video.csv"  # its folder is made
    w = FrameCsv(path, CLASSES)
    assert w.outputs == [str(path)]
    for i in range(30):
        w.write(FrameItem("clip.mp4", index=i, time=i / 30), tracked(1, 2) if i < 20 else tracked(2))
    with open(path) as fh:  # flushed every 30 frames: an interrupted run keeps them without a close
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 * 2 + 10
    w.write(FrameItem("clip.mp4", index=30, time=1.0), [])
    w.close()
    with open(path) as fh:
        reader = csv.reader(fh)
        assert next(reader) == ["frame", "time_s", "face_id", "x", "y", "w", "h", "emotion", *CLASSES]
        rows = list(reader)
    assert len(rows) == 50  # a frame without faces writes no row
    probs = [f"{v:.4f}" for v in scores("happy", 0.6).values()]
    assert rows[0] == ["0", "0.000", "1", "10", "5", "40", "40", "happy", *probs]
    assert rows[-1][:3] == ["29", "0.967", "2"]


@pytest.mark.parametrize("cls, what", [(FrameCsv, "CSV"), (Timeline, "timeline")])
def test_a_video_output_under_a_file_is_refused_before_any_frame(cls, what, tmp_path):
    (tmp_path / "out").write_text("in the way\n")
    target = tmp_path / "out" / "video.csv"
    with pytest.raises(VideoError, match=f"cannot write the {what} there") as e:
        cls(target, CLASSES)
    assert str(target) in str(e.value)


def test_a_frame_csv_at_a_folder_is_refused_naming_it(tmp_path):
    (tmp_path / "video.csv").mkdir()
    with pytest.raises(VideoError, match="cannot write the CSV there") as e:
        FrameCsv(tmp_path / "video.csv", CLASSES)
    assert str(tmp_path / "video.csv") in str(e.value)


def test_a_timeline_at_a_folder_is_refused_naming_it(tmp_path):
    (tmp_path / "timeline.png").mkdir()
    with pytest.raises(VideoError, match="timeline") as e:
        w = Timeline(tmp_path / "timeline.png", CLASSES)
        w.write(FrameItem("clip.mp4", index=0, time=0.0), tracked(1))
        w.close()
    assert str(tmp_path / "timeline.png") in str(e.value)


def test_timeline_draws_one_row_per_tracked_face(tmp_path):
    """The PNG is 1000 px wide and (1 + 2 x rows) x 100 px high: one row per tracked face, at most 8 (the
    longest), untracked faces left out, a single row saying so when no face was tracked."""
    def height(path, frames):
        w = Timeline(path, CLASSES, title="test")
        for i, faces in enumerate(frames):
            w.write(FrameItem("clip.mp4", index=i, time=i / 30), faces)
        w.close()
        assert w.outputs == [str(path)]
        img = cv2.imread(str(path))
        assert img.shape[1] == 1000
        return img.shape[0]

    untracked = Face((0, 0, 9, 9), "sad", scores("sad", 0.9))
    assert height(tmp_path / "two.png", [tracked(1, 2) + [untracked]] * 12) == 500
    assert height(tmp_path / "none.png", [[untracked]] * 5) == 300
    many = [tracked(*range(1, 11))] * 6
    assert height(tmp_path / "many.png", many) == 1700
