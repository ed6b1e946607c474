"""Photos as phones write them: HEIC (iPhones' own format, which OpenCV cannot decode) and JPEGs stored sideways
with an EXIF orientation. Each is read upright, the same face found, from a file, from bytes and as a PIL image.

``data/astronaut_sideways.heic`` is the bundled sample photo at 256x256, stored turned a quarter and with the
rotation that turns it back in the file (an ``irot`` transform, as iPhones write it; made with pillow-heif)."""

import io
import sys
from pathlib import Path

import pytest
import numpy as np
from PIL import Image

from emorec import EmotionRecognizer
from emorec.errors import ImageError
from emorec.images import decode_image, find_images, is_heif, read_image
from emorec.samples import SAMPLE_FACE_BOX, sample_path

HEIC = Path(__file__).parent / "data" / "astronaut_sideways.heic"


@pytest.fixture(scope="module")
def rec():
    return EmotionRecognizer()


def near(box, expected, tol):
    """Whether two (x, y, w, h) boxes have centres and sides within ``tol`` px."""
    (x, y, w, h), (ex, ey, ew, eh) = box, expected
    return abs(x + w / 2 - ex - ew / 2) <= tol and abs(y + h / 2 - ey - eh / 2) <= tol and abs(w - ew) <= tol


def sideways_jpeg(orientation: int = 6) -> bytes:
    """The sample stored turned a quarter (as a phone held upright stores it), its EXIF orientation saying how to
    turn it back: 6, a quarter clockwise; 8, anticlockwise."""
    turn = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]  # PIL turns anticlockwise
    stored = Image.open(sample_path()).convert("RGB").transpose(turn)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


def test_a_heic_photo_is_read_upright_with_its_face(rec, tmp_path):
    data = HEIC.read_bytes()
    assert is_heif(data)
    half = tuple(v / 2 for v in SAMPLE_FACE_BOX)  # the sample at 256 px
    for image in (str(HEIC), data):
        img = read_image(HEIC) if isinstance(image, str) else decode_image(data)
        assert img.shape == (256, 256, 3)
        (face,) = rec.analyze(image)
        assert near(face.box, half, 6) and face.emotion == "happy"
    (tmp_path / "IMG_0001.HEIC").write_bytes(data)  # a folder of phone photos: the upper-case name too
    assert find_images([tmp_path])[0] == [tmp_path / "IMG_0001.HEIC"]


def test_a_broken_heic_and_a_missing_decoder_name_the_file(monkeypatch, tmp_path):
    cut = tmp_path / "cut.heic"
    cut.write_bytes(HEIC.read_bytes()[:4000])
    with pytest.raises(ImageError, match="cut.heic: corrupt or truncated HEIC"):
        read_image(cut)
    monkeypatch.setitem(sys.modules, "pi_heif", None)  # as without pi-heif installed
    with pytest.raises(ImageError, match=r"photo.heic: a HEIC/HEIF photo .*pip install pi-heif"):
        decode_image(HEIC.read_bytes(), "photo.heic")


def test_is_heif_tells_heic_from_avif_and_video():
    assert is_heif(HEIC.read_bytes())
    assert not is_heif(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf")  # AVIF: OpenCV decodes it
    assert not is_heif(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")  # an mp4
    assert not is_heif(b"\xff\xd8\xff\xe0")


@pytest.mark.parametrize("orientation", [6, 8])
def test_a_sideways_jpeg_is_read_upright_from_a_file_bytes_and_pil(rec, tmp_path, orientation):
    data = sideways_jpeg(orientation)
    path = tmp_path / "phone.jpg"
    path.write_bytes(data)
    assert Image.open(path).getexif()[0x0112] == orientation  # stored sideways, as a phone does
    boxes = {kind: [f.box for f in rec.analyze(image)]
             for kind, image in (("file", str(path)), ("bytes", data), ("PIL", Image.open(path)))}
    assert boxes["file"] == boxes["bytes"] == boxes["PIL"]
    assert len(boxes["file"]) == 1 and near(boxes["file"][0], SAMPLE_FACE_BOX, 6)


def test_a_format_opencv_cannot_decode_is_read_by_pillow(rec):
    """An icon file (OpenCV has no ICO decoder; Pillow has): the fallback decodes it, its face found."""
    import cv2

    buf = io.BytesIO()
    Image.open(sample_path()).convert("RGB").resize((256, 256)).save(buf, "ICO", sizes=[(256, 256)])
    data = buf.getvalue()
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is None
    (face,) = rec.analyze(data)
    assert near(face.box, tuple(v / 2 for v in SAMPLE_FACE_BOX), 6)
