"""Following faces over a video (FaceTracker with the real recogniser): ids that stay on their face, smoothed
probabilities, the full detector only every ``detect_every`` frames, and a face that leaves dropped after
``max_missed`` frames (shown for ``hold`` of them)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emorec.pipeline import run
from emorec.samples import background, moving_faces_video, sample_face
from emorec.sources import VideoSource
from emorec.tracking import FaceTracker, iou
from emorec.writers import Records

FRAMES, SIZE, SIDE = 30, (480, 360), 90


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("tracking") / "moving.mp4"
    truth = moving_faces_video(path, frames=FRAMES, size=SIZE, side=SIDE)
    return path, truth


@pytest.fixture(scope="module")
def frames(clip):
    with VideoSource(clip[0]) as src:
        return [item.image for item in src]


def centre_in(box, square) -> bool:
    x, y, w, h = box
    sx, sy, s, _ = square
    return sx <= x + w / 2 <= sx + s and sy <= y + h / 2 <= sy + s


# ------------------------------------------------------------------------------------------ a real moving-face video
def test_ids_stay_on_their_face_through_the_pipeline(clip, rec):
    """Two faces glide past each other: each keeps its id on its own face in every frame, and the full detector
    ran on frames 0, 3, 6, ... only."""
    path, truth = clip
    tracker = FaceTracker(rec, detect_every=3)
    records = Records()
    with VideoSource(path) as src:
        summary = run(src, rec, [records], tracker=tracker)
    assert summary.frames == FRAMES and summary.errors == []
    assert summary.tracks == 2 and summary.full_detections == math.ceil(FRAMES / 3) == tracker.full_detections
    owner = {}
    for t, r in enumerate(records.records):
        assert r["frame"] == t and sorted(f["id"] for f in r["faces"]) == [1, 2], (t, r["faces"])
        for f in r["faces"]:
            (k,) = [k for k, sq in enumerate(truth[t]) if centre_in(f["box"], sq)]
            assert owner.setdefault(f["id"], k) == k, f"frame {t}: face {f['id']} jumped to the other face"
    assert summary.faces == 2 * FRAMES


def test_smoothed_probabilities_change_less_from_frame_to_frame(frames, rec):
    def steps(smooth):
        tracker = FaceTracker(rec, detect_every=1, smooth=smooth)
        series = {}
        for frame in frames:
            for f in tracker.update(frame):
                series.setdefault(f.id, []).append(list(f.scores.values()))
        assert sorted(series) == [1, 2] and all(len(s) == FRAMES for s in series.values())
        return {k: np.abs(np.diff(np.array(s), axis=0)).sum(axis=1).mean() for k, s in series.items()}

    raw, smoothed = steps(0.0), steps(0.6)
    for k in (1, 2):
        assert raw[k] > 0.005  # the unsmoothed scores do move (a real face, resampled as it moves)
        assert smoothed[k] < 0.6 * raw[k], (k, raw[k], smoothed[k])


# ------------------------------------------------------------------------------- scenes with faces that come and go
BG = background(360, 480, seed=3)
FACE = sample_face(SIDE)
A, B = (40, 40), (320, 220)  # where the faces are pasted: top left, bottom right


def scene(*places):
    img = BG.copy()
    for x, y in places:
        img[y:y + SIDE, x:x + SIDE] = FACE
    return img


def ids(faces):
    return sorted(f.id for f in faces)


def test_the_full_detector_runs_every_detect_every_frames(rec):
    """A face that appears between two full detections is found at the next one; a frame with no face to
    follow is searched in full, so a face entering an empty scene is found at once."""
    tracker = FaceTracker(rec, detect_every=4)
    seen = [ids(tracker.update(scene(A) if t == 0 else scene(A, B))) for t in range(9)]
    assert seen == [[1]] * 4 + [[1, 2]] * 5  # B, there from frame 1, is found by the full search of frame 4
    assert tracker.full_detections == 3  # frames 0, 4 and 8

    tracker = FaceTracker(rec, detect_every=4)
    seen = [ids(tracker.update(scene() if t < 5 else scene(B))) for t in range(8)]
    assert seen == [[]] * 5 + [[1]] * 3
    assert tracker.full_detections == 6  # every empty frame and frame 5, where the face came; not 6 and 7


@pytest.mark.parametrize("away, same_id", [(3, True), (4, False)])
def test_a_face_that_leaves_is_dropped_after_max_missed(rec, away, same_id):
    """B leaves for ``away`` frames and comes back at its place. For ``hold`` (1) frame its last box is still
    shown; after ``max_missed`` (3) frames its track ends, and on its return it is a new face (id 3)."""
    tracker = FaceTracker(rec, detect_every=1, max_missed=3, hold=1)
    before = [tracker.update(scene(A, B)) for _ in range(3)]
    assert [ids(f) for f in before] == [[1, 2]] * 3
    (a,) = [f.id for f in before[0] if centre_in(f.box, (*A, SIDE, SIDE))]
    (b, last_box), = [(f.id, f.box) for f in before[-1] if centre_in(f.box, (*B, SIDE, SIDE))]
    gone = [tracker.update(scene(A)) for _ in range(away)]
    assert [ids(f) for f in gone] == [[1, 2]] + [[a]] * (away - 1)
    assert [f.box for f in gone[0] if f.id == b] == [last_box]  # held where it was last seen
    back = {f.id: f.box for f in tracker.update(scene(A, B))}
    assert sorted(back) == sorted([a, b if same_id else 3])
    assert centre_in(back[b if same_id else 3], (*B, SIDE, SIDE))
    assert tracker.tracks_started == (2 if same_id else 3)


def test_a_tracked_box_follows_the_face_between_full_detections(frames, clip, rec):
    """With the full detector only every 10 frames, the boxes of the frames between (a local search around
    each face) still sit on the moving faces."""
    _, truth = clip
    tracker = FaceTracker(rec, detect_every=10)
    for t, frame in enumerate(frames):
        faces = tracker.update(frame)
        assert len(faces) == 2, t
        for f in faces:
            best = max(iou(f.box, sq) for sq in truth[t])
            assert best > 0.2 and any(centre_in(f.box, sq) for sq in truth[t]), (t, f.box, truth[t])
    assert tracker.full_detections == 3


def test_a_tilted_head_is_followed_between_full_detections(rec):
    """The sample photo with its head tilted 25-35 degrees, sliding left and right: the full detector finds it
    through its search of the picture turned, and the local search between full detections finds it the same
    way, so the face is shown on every frame, with one id, its box on the face."""
    import cv2

    from emorec.samples import SAMPLE_FACE_BOX, sample_image

    x, y, w, h = SAMPLE_FACE_BOX
    img = sample_image()
    tracker = FaceTracker(rec, detect_every=10)
    shown = []
    for t in range(30):
        dx = 20 * math.sin(t / 5)
        m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), 30 + 5 * math.sin(t / 4), 1.0)
        m[0, 2] += dx
        frame = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        faces = tracker.update(frame)
        shown.append([f.id for f in faces])
        for f in faces:
            fx, fy, fw, fh = f.box
            assert math.hypot(fx + fw / 2 - (x + w / 2 + dx), fy + fh / 2 - (y + h / 2)) < 0.3 * w, (t, f.box)
    assert shown == [[1]] * 30
    assert tracker.full_detections == 3  # frames 0, 10 and 20: the frames between were followed
