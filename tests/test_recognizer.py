"""EmotionRecognizer on real images: the bundled sample and images made from it."""

import json
import threading

import cv2
import numpy as np
import pytest

from emorec import EmotionRecognizer
from emorec.crop import crop_face, crop_faces, square_box
from emorec.errors import ImageError, ModelError
from emorec.images import jpeg_is_complete, read_image
from emorec.recognizer import Face
from emorec.samples import face_scene, sample_path

SAMPLE_BOX = np.array([175, 64, 98, 98])  # the face of the bundled photo, brows to chin (checked by eye on the picture)


@pytest.fixture(scope="module")
def sample():
    return read_image(sample_path())


def assert_probabilities(face: Face, classes):
    assert list(face.scores) == classes
    assert abs(sum(face.scores.values()) - 1) < 1e-4
    assert all(0 <= v <= 1 for v in face.scores.values())
    assert face.emotion == max(face.scores, key=face.scores.get)
    assert face.confidence == face.scores[face.emotion]


def near(box, expected, tol):
    return np.abs(np.asarray(box) - np.asarray(expected)).max() <= tol


def test_sample_photo_has_one_face_where_it_is(rec, sample):
    assert sample.shape == (512, 512, 3)
    faces = rec.analyze(sample_path())
    assert len(faces) == 1
    f = faces[0]
    assert all(isinstance(v, int) for v in f.box) and len(f.box) == 4
    assert near(f.box, SAMPLE_BOX, 6), f.box
    assert_probabilities(f, rec.classes)
    assert rec.classes == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


@pytest.mark.parametrize("model, smile", [("fer2013", "happy"), ("ferplus", "happy")])
def test_both_shipped_models_see_the_smile_in_the_sample(model, smile):
    """The README's first command: the smiling astronaut is read as happy, by either model, mirrored too."""
    r = EmotionRecognizer(model)
    for image in (read_image(sample_path()), read_image(sample_path())[:, ::-1]):
        (face,) = r.analyze(np.ascontiguousarray(image))
        assert face.emotion == smile and face.confidence > 0.5, face.scores


def test_to_dict_is_the_json_format(rec):
    d = rec.analyze(sample_path())[0].to_dict()
    assert set(d) == {"box", "emotion", "scores"}
    assert isinstance(d["box"], list) and len(d["box"]) == 4 and all(type(v) is int for v in d["box"])
    assert all(type(v) is float for v in d["scores"].values())
    assert json.loads(json.dumps(d)) == d
    tracked = Face(box=(1, 2, 3, 4), emotion="happy", scores={"happy": 1.0}, id=7).to_dict()
    assert tracked["id"] == 7


def test_every_input_form_gives_the_same_faces(rec, sample):
    ref = rec.analyze(sample)
    grey = cv2.cvtColor(sample, cv2.COLOR_BGR2GRAY)
    same = {
        "str path": str(sample_path()),
        "Path": sample_path(),
        "bytes": sample_path().read_bytes(),
        "grey": grey,
        "grey (H, W, 1)": grey[:, :, None],
        "BGRA": cv2.cvtColor(sample, cv2.COLOR_BGR2BGRA),
        "16-bit": sample.astype(np.uint16) * 257,
        "16-bit grey": grey.astype(np.uint16) * 257,
    }
    for name, img in same.items():
        got = rec.analyze(img)
        assert [f.box for f in got] == [f.box for f in ref], name
        np.testing.assert_allclose(list(got[0].scores.values()), list(ref[0].scores.values()), atol=1e-5,
                                   err_msg=name)
    rgb = rec.analyze(np.ascontiguousarray(sample[:, :, ::-1]), color="rgb")
    assert [f.box for f in rgb] == [f.box for f in ref]
    np.testing.assert_allclose(list(rgb[0].scores.values()), list(ref[0].scores.values()), atol=1e-5)
    for name, img in {"float [0, 1]": sample.astype(np.float32) / 255, "float [0, 255]": sample.astype(np.float64)}.items():
        got = rec.analyze(img)
        assert len(got) == 1 and near(got[0].box, ref[0].box, 3), name
        np.testing.assert_allclose(list(got[0].scores.values()), list(ref[0].scores.values()), atol=0.03)


def test_rgb_order_matters_for_colour_images(rec, sample):
    """Reading BGR as RGB changes the grey image, so the colour argument is really used."""
    g_bgr = rec.frame(sample).grey
    g_rgb = rec.frame(sample, color="rgb").grey
    assert not np.array_equal(g_bgr, g_rgb)
    np.testing.assert_array_equal(rec.frame(np.ascontiguousarray(sample[:, :, ::-1]), color="rgb").grey, g_bgr)


def test_five_faces_found_and_classified_in_one_batch(rec):
    img, squares = face_scene(5)
    calls = []
    clf = rec.classifier
    real = clf.predict

    def spy(faces, **kw):
        calls.append(len(faces))
        return real(faces, **kw)

    clf.predict = spy
    try:
        faces = rec.analyze(img)
    finally:
        del clf.predict
    assert calls == [5]
    assert len(faces) == 5
    for sq in squares:  # every pasted face has exactly one box whose centre is inside it
        x, y, s, _ = sq
        inside = [f for f in faces if x < f.box[0] + f.box[2] / 2 < x + s and y < f.box[1] + f.box[3] / 2 < y + s]
        assert len(inside) == 1, (sq, [f.box for f in faces])
    areas = [f.box[2] * f.box[3] for f in faces]
    assert areas == sorted(areas, reverse=True)  # largest first
    for f in faces:
        assert_probabilities(f, rec.classes)


def test_zero_face_images_give_an_empty_list(rec):
    assert rec.analyze(np.full((480, 640, 3), 120, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (240, 320), dtype=np.uint8)
    assert rec.analyze(cv2.GaussianBlur(noise, (0, 0), 4)) == []
    assert rec.analyze(np.zeros((10, 10), np.uint8)) == []  # smaller than any face


def test_huge_image_boxes_come_back_in_original_pixels(rec, sample):
    big = cv2.resize(sample, (3072, 3072), interpolation=cv2.INTER_CUBIC)  # 6x, downscaled for detection
    faces = rec.analyze(big)
    assert faces, "the face of the upscaled photo was not found"
    best = max(faces, key=lambda f: f.box[2])
    assert near(best.box, SAMPLE_BOX * 6, 0.1 * 98 * 6), best.box
    copy, scale, _ = rec.detector.search_copy(cv2.cvtColor(big, cv2.COLOR_BGR2GRAY), None)
    assert scale < 0.2 and max(copy.shape) < 600  # the search ran on a downscaled copy (smallest face 122 px)


def test_flip_tta_averages_with_the_mirror_image(rec, sample):
    grey = rec.frame(sample).grey
    boxes = rec.detect(grey).boxes
    crops = crop_faces(grey, boxes, rec.margin)
    plain = rec.classifier.predict(crops, flip=False)
    mirror = rec.classifier.predict([c[:, ::-1] for c in crops], flip=False)
    tta = EmotionRecognizer("fer2013", flip_tta=True).analyze(sample)
    np.testing.assert_allclose(list(tta[0].scores.values()), (plain[0] + mirror[0]) / 2, atol=1e-5)
    assert not np.allclose(plain, mirror, atol=1e-4)  # the mirror really is a different input
    per_call = rec.analyze(sample, flip=True)
    np.testing.assert_allclose(list(per_call[0].scores.values()), list(tta[0].scores.values()), atol=1e-6)


def test_ferplus_model_and_shared_session(sample, tmp_path, monkeypatch):
    from test_classifier import count_sessions, model_copy

    path, made = model_copy(tmp_path, "ferplus"), count_sessions(monkeypatch)
    a, b = EmotionRecognizer(path), EmotionRecognizer(path)
    faces = a.analyze(sample)
    assert len(faces) == 1 and len(faces[0].scores) == 8
    assert b.analyze(sample) == faces
    assert made == [str(path)]  # loaded once per process


def test_model_loads_lazily_and_bad_models_fail_early(sample, tmp_path, monkeypatch):
    from test_classifier import count_sessions, model_copy

    path, made = model_copy(tmp_path), count_sessions(monkeypatch)
    rec = EmotionRecognizer(path)
    assert made == []  # nothing loaded until it is needed
    rec.analyze(sample)
    assert made == [str(path)]
    with pytest.raises(ModelError, match="not found"):
        EmotionRecognizer("no_such_model")
    with pytest.raises(ValueError):
        EmotionRecognizer(margin=-1)
    with pytest.raises(ValueError):
        EmotionRecognizer(scale_factor=1.0)


def test_threads_share_a_recognizer(rec, sample):
    ref = rec.analyze(sample)
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                results.append(rec.analyze(sample))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(r == ref for r in results)


# ------------------------------------------------------------------------------------------ bad input
def test_bad_files_raise_a_clear_error_naming_the_file(rec, tmp_path):
    data = sample_path().read_bytes()
    cases = {
        "missing.jpg": (None, "no such file"),
        "empty.jpg": (b"", "empty file"),
        "notes.png": (b"hello, this is text\n", "cannot read as an image .a text file"),
        "truncated.jpg": (data[: len(data) // 2], "truncated"),
        "random.bin": (bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)), "cannot read as an image"),
    }
    ok, png = cv2.imencode(".png", cv2.imread(str(sample_path())))
    cases["truncated.png"] = (png.tobytes()[:20000], "truncated PNG")
    for name, (content, why) in cases.items():
        p = tmp_path / name
        if content is not None:
            p.write_bytes(content)
        with pytest.raises(ImageError, match=why) as e:
            rec.analyze(p)
        assert str(p) in str(e.value)
    with pytest.raises(ImageError, match="is a folder"):
        rec.analyze(tmp_path)


def test_bad_arrays_raise_image_errors(rec):
    for bad in (np.zeros((0, 0, 3), np.uint8), np.zeros((10, 10, 2), np.uint8), np.zeros((2, 3, 4, 5)),
                np.array([["a", "b"]], dtype=object), np.zeros(7)):
        with pytest.raises(ImageError):
            rec.analyze(bad)
    with pytest.raises(ValueError, match="color"):
        rec.analyze(np.zeros((50, 50), np.uint8), color="hsv")


def test_jpeg_completeness_check():
    data = sample_path().read_bytes()
    assert jpeg_is_complete(data)
    assert jpeg_is_complete(data + b"trailing data after the image, as motion photos have")
    for cut in (100, len(data) // 3, len(data) - 10):
        assert not jpeg_is_complete(data[:cut])


# ------------------------------------------------------------------------------------------ crops
def test_crop_is_square_with_margin_and_padded_at_edges():
    grey = np.arange(100 * 120, dtype=np.uint32).reshape(100, 120).astype(np.uint8)
    assert square_box((10, 20, 40, 40), 0.1) == (6, 16, 48, 48)
    assert square_box((10, 20, 40, 20), 0.0) == (10, 10, 40, 40)  # a wide box becomes a square around its centre
    inner = crop_face(grey, (30, 30, 40, 40), 0.1)
    np.testing.assert_array_equal(inner, grey[26:74, 26:74])
    edge = crop_face(grey, (0, 0, 40, 40), 0.25)  # 60x60 square from (-10, -10)
    assert edge.shape == (60, 60)
    np.testing.assert_array_equal(edge[10:, 10:], grey[:50, :50])
    np.testing.assert_array_equal(edge[:10, 10], np.full(10, grey[0, 0]))  # border pixels repeated
    with pytest.raises(ValueError, match="outside"):
        crop_face(grey, (500, 500, 10, 10))


def test_pil_images_are_read_as_rgb_and_arrays_follow_color(rec, sample):
    """A PIL image is RGB by definition: it gives the BGR array's faces without a colour argument; an RGB
    array gives them with color="rgb"."""
    from PIL import Image

    want = [(f.box, f.emotion, round(f.confidence, 5)) for f in rec.analyze(sample)]
    pil = Image.open(sample_path())
    rgb = np.ascontiguousarray(sample[:, :, ::-1])
    for image, color in ((pil, "bgr"), (pil, "rgb"), (pil.convert("RGBA"), "bgr"), (rgb, "rgb")):
        got = [(f.box, f.emotion, round(f.confidence, 5)) for f in rec.analyze(image, color=color)]
        assert got == want, (getattr(image, "mode", "array"), color)
    (palette,) = rec.analyze(pil.convert("P"))  # 256 colours: other pixels, the same face
    assert near(palette.box, want[0][0], 3) and palette.emotion == want[0][1]
    grey = [(f.box, f.emotion) for f in rec.analyze(pil.convert("L"))]
    assert grey == [(f.box, f.emotion) for f in rec.analyze(cv2.cvtColor(sample, cv2.COLOR_BGR2GRAY))]


def test_boxes_are_clipped_to_the_image(sample):
    """A detector's box may reach past the edge of a face the image cuts (YuNet does on partial faces):
    the faces reported lie inside the image, the crop classified is the detector's whole box."""
    h, w = sample.shape[:2]

    def beyond_the_edges(image):
        return [[-12, 60, 110, 100], [w - 50, h - 40, 90, 80]]

    r = EmotionRecognizer(detector=beyond_the_edges)
    faces = r.analyze(sample)
    assert [f.box for f in faces] == [(0, 60, 98, 100), (w - 50, h - 40, 50, 40)]
    whole = r.classify(r.frame(sample), np.array(beyond_the_edges(sample)))
    np.testing.assert_allclose([list(f.scores.values()) for f in faces], whole, rtol=1e-6)


def test_an_image_over_the_pixel_limit_is_refused_before_it_is_decoded(tmp_path):
    """A small PNG whose header says 30000x30000 (a decompression bomb) is refused from its header, naming
    the file; the limit can be raised or lifted."""
    import struct
    import zlib

    from emorec.errors import TooManyPixels

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\x00" * (1 + 30000) * 8)  # the first 8 rows only: decoding would fail, not refuse
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    with pytest.raises(TooManyPixels, match=r"bomb\.png: image is 30000x30000 = 900,000,000 pixels; the limit is "
                                             r"40,000,000"):
        read_image(bomb)
    with pytest.raises(TooManyPixels, match="the limit is 100,000"):
        read_image(sample_path(), max_pixels=100_000)
    assert read_image(sample_path(), max_pixels=None).shape == (512, 512, 3)
