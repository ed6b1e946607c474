"""Reading PNGs: corrupt files get emorec's own message and nothing from libpng on stderr; data after the
IEND chunk (added by some tools) is accepted; truncated files are still refused."""

import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from emorec.errors import ImageError
from emorec.images import decode_image, png_check, png_is_complete
from emorec.samples import sample_path


@pytest.fixture(scope="module")
def png() -> bytes:
    """The bundled sample photo (a real photograph) as PNG bytes."""
    ok, buf = cv2.imencode(".png", cv2.imread(str(sample_path())))
    assert ok
    return buf.tobytes()


def chunk(kind: bytes, body: bytes, crc_ok: bool = True) -> bytes:
    crc = zlib.crc32(kind + body) ^ (0 if crc_ok else 1)
    return len(body).to_bytes(4, "big") + kind + body + crc.to_bytes(4, "big")


def flip_idat_byte(data: bytes) -> bytes:
    i = data.index(b"IDAT") + 100
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]


def with_text_chunk(data: bytes, crc_ok: bool) -> bytes:
    i = data.index(b"IHDR") + 4 + 13 + 4  # after IHDR's data and CRC
    return data[:i] + chunk(b"tEXt", b"Comment\x00made by a tool", crc_ok) + data[i:]


def test_trailing_data_after_iend_is_accepted(png):
    original = decode_image(png)
    for trailer in (b"\x00" * 10, b"x" * 5000, b"IEND" + b"junk" * 100, png):
        data = png + trailer
        assert png_is_complete(data)
        np.testing.assert_array_equal(decode_image(data, "t.png"), original)


def test_truncated_and_corrupt_pngs_are_refused_with_a_reason(png):
    for cut in (30, len(png) // 2, len(png) - 1):
        assert not png_is_complete(png[:cut])
        with pytest.raises(ImageError, match=r"cut\.png: truncated PNG"):
            decode_image(png[:cut], "cut.png")
    with pytest.raises(ImageError, match=r"bad\.png: corrupt PNG \(CRC error in the IDAT chunk"):
        decode_image(flip_idat_byte(png), "bad.png")


def test_an_ancillary_chunk_with_a_bad_crc_is_dropped_not_fatal(png):
    good, bad = with_text_chunk(png, True), with_text_chunk(png, False)
    assert png_check(good) == (good, None)
    cleaned, problem = png_check(bad)
    assert problem is None and cleaned == png  # the bad text chunk removed, the rest intact
    np.testing.assert_array_equal(decode_image(bad), decode_image(png))


def test_no_libpng_message_reaches_the_user(png, tmp_path):
    """`emorec detect` on corrupt PNGs prints emorec's message for each, and nothing of libpng's own."""
    files = {"crc.png": flip_idat_byte(png), "cut.png": png[:len(png) // 2],
             "text.png": with_text_chunk(png, False), "trailer.png": png + b"\x00" * 100}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    r = subprocess.run([sys.executable, "-m", "emorec", "detect", *files, "--no-save", "--no-progress"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 1, r.stderr  # two of the four fail
    assert "libpng" not in r.stderr and "libpng" not in r.stdout, r.stderr
    assert "error: crc.png: corrupt PNG (CRC error in the IDAT chunk" in r.stderr, r.stderr
    assert "error: cut.png: truncated PNG" in r.stderr, r.stderr
    assert "text.png: face 1" in r.stdout and "trailer.png: face 1" in r.stdout, r.stdout


def test_corrupt_jpeg_scan_data_prints_no_libjpeg_text(tmp_path):
    """libjpeg writes "Corrupt JPEG data" straight to file descriptor 2; emorec detect keeps it out of the output."""
    import subprocess
    import sys

    from emorec.samples import sample_path

    data = bytearray(sample_path().read_bytes())
    sos = data.index(b"\xff\xda")
    for k in range(sos + 400, sos + 4000, 97):  # damage the scan data (no markers written)
        data[k] = 0x00 if data[k] == 0xFF else data[k] ^ 0x5A
    bad = tmp_path / "damaged.jpg"
    bad.write_bytes(bytes(data))
    probe = subprocess.run([sys.executable, "-c", "import cv2, sys; cv2.imread(sys.argv[1])", str(bad)],
                           capture_output=True, text=True)
    assert "Corrupt JPEG data" in probe.stderr  # the library does print it, so the test below can fail
    r = subprocess.run([sys.executable, "-m", "emorec", "detect", str(bad), "--no-save"], capture_output=True,
                       text=True)
    assert "Corrupt JPEG data" not in r.stderr and "libjpeg" not in r.stderr, r.stderr
    assert "image(s)" in r.stderr  # emorec's own summary still reaches stderr
