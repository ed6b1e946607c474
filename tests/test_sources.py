"""Where frames come from: photos in files and folders (searched recursively, the bad ones reported, named,
and the rest read), video files (frames in order with their index and time), and how a source is named."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from emorec.errors import VideoError
from emorec.samples import moving_faces_video, sample_face, sample_image, sample_path
from emorec.sources import ImageSource, VideoSource, parse_source


def small_sample(side: int = 96) -> np.ndarray:
    return cv2.resize(sample_image(), (side, side), interpolation=cv2.INTER_AREA)


@pytest.fixture
def tree(tmp_path) -> Path:
    """photos/ with images two folders deep, non-image files, a hidden file and a truncated JPEG."""
    root = tmp_path / "photos"
    (root / "trip" / "day2").mkdir(parents=True)
    shutil.copy(sample_path(), root / "a.jpg")
    cv2.imwrite(str(root / "trip" / "b.png"), small_sample(80))
    cv2.imwrite(str(root / "trip" / "day2" / "c.jpg"), small_sample(64))
    data = sample_path().read_bytes()
    (root / "trip" / "day2" / "broken.jpg").write_bytes(data[: len(data) // 2])  # cut off mid-image
    (root / "notes.txt").write_text("not a photo\n")
    (root / "trip" / "day2" / "faces.csv").write_text("a,b\n")
    shutil.copy(sample_path(), root / ".hidden.jpg")  # hidden files are neither read nor counted
    return root


# ------------------------------------------------------------------------------------------ photos
def test_a_folder_is_searched_recursively_and_non_images_are_counted(tree):
    src = ImageSource([tree])
    assert len(src) == 4
    items = list(src)
    names = [Path(i.source).relative_to(tree).as_posix() for i in items]
    assert names == ["a.jpg", "trip/b.png", "trip/day2/broken.jpg", "trip/day2/c.jpg"]
    assert all(i.root == tree for i in items)  # so outputs can keep the folder structure
    assert all(i.index == 0 and i.time is None for i in items)  # photos, not video frames
    assert src.skipped == [(tree, 2)]  # notes.txt and faces.csv; the hidden file is not counted
    assert src.problems == []
    shapes = {n: None if i.image is None else i.image.shape for n, i in zip(names, items)}
    assert shapes == {"a.jpg": (512, 512, 3), "trip/b.png": (80, 80, 3), "trip/day2/broken.jpg": None,
                      "trip/day2/c.jpg": (64, 64, 3)}


def test_a_corrupt_file_gives_an_item_naming_it_and_the_rest_goes_on(tree, tmp_path):
    text = tmp_path / "letter.jpg"
    text.write_text("Dear reader,\n" * 20)
    missing = tmp_path / "gone.png"
    items = list(ImageSource([text, tree / "trip" / "day2", missing, tree / "a.jpg"]))
    assert [Path(i.source).name for i in items] == ["letter.jpg", "broken.jpg", "c.jpg", "gone.png", "a.jpg"]
    bad = {Path(i.source).name: i.error for i in items if i.error is not None}
    assert set(bad) == {"letter.jpg", "broken.jpg", "gone.png"}
    assert str(text) in bad["letter.jpg"] and "text file" in bad["letter.jpg"]
    assert str(tree / "trip" / "day2" / "broken.jpg") in bad["broken.jpg"] and "truncated" in bad["broken.jpg"]
    assert str(missing) in bad["gone.png"] and "no such file" in bad["gone.png"]
    assert all(i.image is None for i in items if i.error is not None)
    good = [i for i in items if i.error is None]
    assert [i.image.shape for i in good] == [(64, 64, 3), (512, 512, 3)]
    # a file named on its own has no root folder; one found in a folder has that folder
    assert items[0].root is None and items[2].root == tree / "trip" / "day2" and items[4].root is None


def test_a_folder_without_images_is_reported(tmp_path):
    empty = tmp_path / "scans"
    empty.mkdir()
    (empty / "readme.txt").write_text("nothing here\n")
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    src = ImageSource([empty, nothing, sample_path()])
    assert src.problems == [f"{empty}: no image files in this folder", f"{nothing}: no image files in this folder"]
    assert src.skipped == [(empty, 1)]
    assert [i.source for i in src] == [str(sample_path())]


def test_max_pixels_refuses_a_large_image_naming_it(tmp_path):
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((400, 300), np.uint8))  # 120,000 pixels
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((100, 100), np.uint8))
    refused, fine = list(ImageSource([big, small], max_pixels=100_000))
    assert refused.image is None and str(big) in refused.error
    assert "300x400 = 120,000 pixels" in refused.error and "limit is 100,000" in refused.error
    assert fine.error is None and fine.image.shape == (100, 100)
    # 0 lifts the limit; the default (40 megapixels) lets both through
    assert [i.error for i in ImageSource([big, small], max_pixels=0)] == [None, None]
    assert [i.error for i in ImageSource([big, small])] == [None, None]


# ------------------------------------------------------------------------------------------ videos
FRAMES, FPS, SIZE, SIDE = 12, 25.0, (200, 150), 56


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "moving.mp4"
    truth = moving_faces_video(path, frames=FRAMES, size=SIZE, side=SIDE, fps=FPS)
    return path, truth


def test_a_video_gives_its_frames_in_order_with_index_and_time(clip):
    path, truth = clip
    face = sample_face(SIDE).astype(np.int16)
    with VideoSource(path) as src:
        assert src.fps == FPS and src.frame_count == FRAMES and src.size == SIZE and src.name == str(path)
        assert not src.is_camera and src.is_file
        items = list(src)
        assert src.decoded == FRAMES
    assert [i.index for i in items] == list(range(FRAMES))
    assert [i.time for i in items] == pytest.approx([k / FPS for k in range(FRAMES)])
    assert all(i.source == str(path) and i.error is None and i.image.shape == (150, 200, 3) for i in items)
    for t, item in enumerate(items):  # each frame is the one written at that place: the faces where they were
        for x, y, w, h in truth[t]:
            on_face = np.abs(item.image[y:y + h, x:x + w].astype(np.int16) - face).mean()
            assert on_face < 20, (t, on_face)
    (x, y, w, h) = truth[0][0]
    gone = np.abs(items[-1].image[y:y + h, x:x + w].astype(np.int16) - face).mean()
    assert gone > 30  # by the last frame the top face has moved away from where it started


def test_a_video_that_cannot_be_opened_raises_naming_it(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("not a video\n" * 50)
    cases = {tmp_path / "missing.mp4": "no such file", tmp_path / "empty.mp4": "empty file",
             tmp_path / "notes.mp4": "cannot open as a video|no frames", tmp_path: "is a folder"}
    for path, why in cases.items():
        with pytest.raises(VideoError, match=why) as e:
            VideoSource(path)
        assert str(path) in str(e.value)


@pytest.mark.parametrize("given, wanted", [("0", 0), ("2", 2), (1, 1), ("clip.mp4", "clip.mp4"),
                                           (Path("videos/0"), "videos/0"), ("-1", "-1"),
                                           ("rtsp://cam.local/stream", "rtsp://cam.local/stream")])
def test_parse_source_makes_camera_indices_of_digits_only(given, wanted):
    got = parse_source(given)
    assert got == wanted and type(got) is type(wanted)
