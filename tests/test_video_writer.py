"""VideoWriter: browser-playable H.264 mp4s (read back and checked), the mp4v fallback, and clear errors
for paths that cannot be written."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from emorec.errors import VideoError
from emorec.video_writer import VideoWriter, h264_encoder

try:  # PyAV is a dependency: where it is installed, its H.264 encoder must work (the tests fail, not skip)
    import av  # noqa: F401
    HAVE_AV = True
except ImportError:
    HAVE_AV = False
needs_h264 = pytest.mark.skipif(not HAVE_AV, reason="PyAV is not installed (pip install av)")


@needs_h264
def test_pyav_has_an_h264_encoder():
    assert h264_encoder() in ("libx264", "libopenh264")


def moving_square(n, w, h):
    """Frames with a white square moving right: frame i has its square at x = 4 * i."""
    frames = []
    for i in range(n):
        f = np.full((h, w, 3), 40, np.uint8)
        f[h // 4: h // 4 + 16, 4 * i: 4 * i + 16] = 255
        frames.append(f)
    return frames


def read_back(path):
    """(fourcc, frames) decoded by OpenCV's own FFmpeg, a reader independent of the writer."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("ascii", "replace").lower()
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return fourcc, frames


def stream_info(path):
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.codec_context.name, s.codec_context.pix_fmt, s.codec_context.profile


@needs_h264
def test_writes_h264_that_decodes_to_the_frames(tmp_path):
    path = tmp_path / "out.mp4"
    frames = moving_square(30, 160, 120)
    with VideoWriter(path, 15, (160, 120)) as w:
        for f in frames:
            w.write(f)
    assert (w.codec, w.warning, w.frames, w.size) == ("h264", None, 30, (160, 120))
    fourcc, back = read_back(path)
    assert fourcc in ("h264", "avc1"), fourcc
    assert len(back) == 30 and back[0].shape == (120, 160, 3)
    # what browsers decode: H.264 in yuv420p, and a profile they all support
    assert stream_info(path)[:2] == ("h264", "yuv420p")
    assert stream_info(path)[2] in ("Constrained Baseline", "Baseline", "Main", "High")
    # the content survives: each frame's square is where it was drawn (lossy codec: by position, not value)
    for i in (0, 10, 29):
        col = back[i][120 // 4 + 8].astype(int).sum(1)
        assert abs(int(np.argmax(col > 400)) - 4 * i) <= 1, i
        assert np.abs(back[i].astype(int) - frames[i]).mean() < 4


@needs_h264
def test_odd_sizes_are_padded_to_even_and_grey_frames_accepted(tmp_path):
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, 10, (99, 71)) as w:
        for f in moving_square(5, 99, 71):
            w.write(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY))
    assert w.size == (100, 72)
    _, back = read_back(path)
    assert len(back) == 5 and back[0].shape == (72, 100, 3)


def test_forced_mp4v_fallback_writes_mp4v(tmp_path):
    path = tmp_path / "old.mp4"
    with VideoWriter(path, 10, (64, 48), codec="mp4v") as w:
        for f in moving_square(7, 64, 48):
            w.write(f)
    assert w.codec == "mp4v" and w.warning is None  # asked for: nothing to warn about
    fourcc, back = read_back(path)
    assert fourcc in ("mp4v", "fmp4") and len(back) == 7 and back[0].shape == (48, 64, 3)


def test_without_an_h264_encoder_it_falls_back_and_says_so(tmp_path):
    """A fresh process where PyAV cannot be imported: the writer still writes, as mp4v, with a warning."""
    out = tmp_path / "fallback.mp4"
    code = ("import sys; sys.modules['av'] = None\n"  # makes 'import av' raise ImportError
            "import numpy as np\nfrom emorec.video_writer import VideoWriter\n"
            f"w = VideoWriter({str(out)!r}, 10, (64, 48))\n"
            "[w.write(np.zeros((48, 64, 3), np.uint8)) for _ in range(3)]\nw.close()\n"
            "print(w.codec); print(w.warning)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    codec, warning = r.stdout.strip().splitlines()
    assert codec == "mp4v" and "H.264" in warning and "pip install av" in warning
    fourcc, back = read_back(out)
    assert fourcc in ("mp4v", "fmp4") and len(back) == 3  # OpenCV names MPEG-4 part 2 FMP4


@pytest.mark.parametrize("codec", ["auto", "mp4v"])
def test_unwritable_paths_give_a_clear_video_error(tmp_path, codec):
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = {
        afile / "y.mp4": "is a file, not a folder",
        tmp_path: "is a folder",
        "/proc/emorec_no_such/y.mp4": "cannot make folder",
    }
    for path, why in cases.items():
        with pytest.raises(VideoError, match=why) as e:
            VideoWriter(path, 10, (64, 48), codec=codec)
        assert str(path) in str(e.value) and "Traceback" not in str(e.value)


def test_no_permission_gives_a_clear_video_error(tmp_path):
    if os.geteuid() != 0:
        target = tmp_path / "ro"
        target.mkdir()
        target.chmod(0o500)
    elif os.path.isdir("/sys/kernel"):  # sysfs refuses new files, to root too
        target = None
    else:
        pytest.skip("running as root without sysfs: no folder refuses to be written")
    path = (target / "y.mp4") if target is not None else "/sys/emorec_test.mp4"
    try:
        with pytest.raises(VideoError, match="Permission denied"):
            VideoWriter(path, 10, (64, 48))
    finally:
        if target is not None:
            target.chmod(0o700)


def test_bad_frames_and_arguments(tmp_path):
    with pytest.raises(VideoError, match="frame rate"):
        VideoWriter(tmp_path / "a.mp4", 0, (64, 48))
    with VideoWriter(tmp_path / "b.mp4", 10, (64, 48)) as w:
        with pytest.raises(VideoError, match="frame 0 is 32x32, the video is 64x48"):
            w.write(np.zeros((32, 32, 3), np.uint8))
        w.write(np.zeros((48, 64, 4), np.uint8))  # BGRA is converted
    assert w.frames == 1
    with pytest.raises(VideoError, match="closed"):
        w.write(np.zeros((48, 64, 3), np.uint8))
