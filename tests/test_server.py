"""The HTTP API: FastAPI's TestClient for the endpoints and each refusal, and a real uvicorn server on
127.0.0.1 for what only a socket shows (slow uploads, declared sizes, concurrency, `emorec serve`)."""

import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("multipart", reason="python-multipart is not installed")
pytest.importorskip("PIL", reason="pillow (serve extra) is not installed")

import cv2  # noqa: E402
import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from emorec.server import BackgroundServer, ServerConfig, create_app  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "emorec" / "assets" / "astronaut.jpg"
SAMPLE_BYTES = SAMPLE.read_bytes()
BASE = "http://localhost"  # a Host the server answers to (TestClient's default 'testserver' is refused)


def encode(img: np.ndarray, ext: str = ".png", *params) -> bytes:
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return buf.tobytes()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (tiny file: one empty IDAT)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def png_header(width: int, height: int, depth: int = 8, color_type: int = 0) -> bytes:
    """A PNG whose IHDR claims width x height at ``depth`` bits, ``color_type`` (0 grey, 2 RGB, 6 RGBA)."""
    data = bytearray(png_header_only(width, height))
    data[24], data[25] = depth, color_type
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def post(client, data: bytes, name="image.jpg", ctype="image/jpeg", params=None, form=None):
    return client.post("/v1/analyze", params=params or {}, data=form or {}, files={"file": (name, data, ctype)})


def assert_refused(resp, status: int, code: str):
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error", "detail"}, body
    assert body["error"] == code, body
    assert isinstance(body["detail"], str) and len(body["detail"]) > 10, body
    return body


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), base_url=BASE) as c:
        yield c


def small_client(**limits):
    return TestClient(create_app(ServerConfig(**limits)), base_url=BASE)


# ---------------------------------------------------------------- good requests
def test_good_image_returns_the_faces_as_detect_does(client):
    from emorec import EmotionRecognizer
    from emorec.model_card import list_models

    r = post(client, SAMPLE_BYTES, name="astronaut.jpg")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["file"] == "astronaut.jpg" and body["model"] == "fer2013" and body["flip"] is False
    assert (body["width"], body["height"]) == (512, 512) and body["format"] == "image/jpeg"
    assert len(body["faces"]) == 1
    face = body["faces"][0]
    assert set(face) == {"box", "emotion", "scores"}
    classes = next(c for c in list_models() if c["name"] == "fer2013")["classes"]
    assert list(face["scores"]) == classes
    assert abs(sum(face["scores"].values()) - 1) < 1e-4
    assert face["emotion"] == max(face["scores"], key=face["scores"].get)
    x, y, w, h = face["box"]
    assert 100 < x < 300 and 20 < y < 200 and 40 < w < 200 and w == h  # the astronaut's face
    # the same JSON per face as the library (and so `emorec detect --json`) gives for the same file
    expected = [f.to_dict() for f in EmotionRecognizer("fer2013").analyze(SAMPLE)]
    assert body["faces"] == expected


def test_no_face_gives_an_empty_list(client):
    rng = np.random.default_rng(0)
    blank = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (31, 31), 0)
    r = post(client, encode(blank), name="blank.png", ctype="image/png")
    assert r.status_code == 200, r.text
    assert r.json()["faces"] == [] and r.json()["format"] == "image/png"


def test_model_option_ferplus_query_and_form(client):
    from emorec import EmotionRecognizer

    for kwargs in ({"params": {"model": "ferplus"}}, {"form": {"model": "ferplus"}}):
        r = post(client, SAMPLE_BYTES, **kwargs)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == "ferplus"
        assert len(body["faces"][0]["scores"]) == 8 and "contempt" in body["faces"][0]["scores"]
        assert body["faces"] == [f.to_dict() for f in EmotionRecognizer("ferplus").analyze(SAMPLE)]


def test_flip_option_averages_with_the_mirror(client):
    from emorec import EmotionRecognizer

    plain = post(client, SAMPLE_BYTES).json()
    flipped = post(client, SAMPLE_BYTES, params={"flip": "true"}).json()
    assert plain["flip"] is False and flipped["flip"] is True
    assert flipped["faces"][0]["box"] == plain["faces"][0]["box"]
    assert flipped["faces"] == [f.to_dict() for f in EmotionRecognizer("fer2013").analyze(SAMPLE, flip=True)]
    assert flipped["faces"][0]["scores"] != plain["faces"][0]["scores"]
    assert post(client, SAMPLE_BYTES, form={"flip": "1"}).json()["flip"] is True


def test_other_image_forms_are_accepted(client):
    img = cv2.imread(str(SAMPLE))
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    rgba = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    deep = img.astype(np.uint16) * 257
    for data, name in [(encode(grey), "grey.png"), (encode(rgba), "rgba.png"), (encode(deep), "deep16.png"),
                       (encode(img, ".webp"), "a.webp"), (encode(img, ".bmp"), "a.bmp"),
                       (encode(img, ".tiff"), "a.tiff")]:
        r = post(client, data, name=name, ctype="application/octet-stream")  # the content decides, not the type
        assert r.status_code == 200, (name, r.text)
        assert len(r.json()["faces"]) == 1, name


def test_large_tiff_with_its_directory_at_the_end_is_read(client):
    """Pillow reads headers from the first MB of an upload; a TIFF's directory can lie past it."""
    img = cv2.imread(str(SAMPLE))
    big = cv2.resize(img, (1100, 1100))
    big = np.clip(big.astype(np.int16) + np.random.default_rng(0).integers(-3, 4, big.shape), 0, 255).astype(np.uint8)
    data = encode(big, ".tiff")
    assert len(data) > 1 << 20 and struct.unpack("<I", data[4:8])[0] > 1 << 20  # the directory after 1 MB
    r = post(client, data, name="big.tiff")
    assert r.status_code == 200, r.text
    from emorec import EmotionRecognizer

    assert r.json()["format"] == "image/tiff" and r.json()["width"] == 1100
    assert r.json()["faces"] == [f.to_dict() for f in EmotionRecognizer("fer2013").analyze(big)]
    assert len(r.json()["faces"]) >= 1


def test_detector_option_query_form_and_models_listing(client):
    from emorec.detectors import available

    for kwargs in ({}, {"params": {"detector": "haar"}}, {"form": {"detector": "haar"}}):
        r = post(client, SAMPLE_BYTES, **kwargs)
        assert r.status_code == 200, r.text
        assert r.json()["detector"] == "haar" and len(r.json()["faces"]) == 1
    body = assert_refused(post(client, SAMPLE_BYTES, form={"detector": "mtcnn"}), 422, "unknown_detector")
    assert all(name in body["detail"] for name in available())  # the choices
    m = client.get("/v1/models").json()
    from emorec.detectors.model_file import resolve_yunet
    from emorec.errors import ModelError

    try:  # YuNet is listed where its model file can be had without a download (../shared, $EMOREC_YUNET, cache)
        resolve_yunet(None, download_missing=False)
        usable = available()
    except ModelError:
        usable = ["haar"]
    assert [d["name"] for d in m["detectors"]] == usable and m["default_detector"] == "haar"
    assert "fer2013" in [c["name"] for c in m["models"]]  # the existing keys stay
    assert ("fer2013", "haar") in client.app.state.analyzer._recognizers  # shared per (model, detector)


YUNET = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"


@pytest.mark.skipif(not YUNET.exists(), reason=f"the YuNet model file is not present at {YUNET}")
def test_yunet_detector_through_the_api():
    with small_client(detector_model=str(YUNET)) as c:
        r = post(c, SAMPLE_BYTES, form={"detector": "yunet"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["detector"] == "yunet" and len(body["faces"]) == 1 and "detection" in body["faces"][0]
        assert set(c.app.state.analyzer._recognizers) == {("fer2013", "haar"), ("fer2013", "yunet")}


# ---------------------------------------------------------------- refusals
def test_corrupt_files_get_422(client):
    assert_refused(post(client, SAMPLE_BYTES[: len(SAMPLE_BYTES) // 2]), 422, "corrupt_image")  # truncated JPEG
    png = encode(cv2.imread(str(SAMPLE)))
    assert_refused(post(client, png[:-2000], name="a.png", ctype="image/png"), 422, "corrupt_image")
    assert_refused(post(client, b"\x89PNG\r\n\x1a\n" + os.urandom(200), name="a.png"), 422, "corrupt_image")
    junk = bytearray(SAMPLE_BYTES)
    junk[2000:] = bytes(len(junk) - 2000)  # header intact, scan data zeroed, no end marker
    assert_refused(post(client, bytes(junk)), 422, "corrupt_image")


def test_wrong_types_get_415(client):
    body = assert_refused(post(client, b"hello, I am text\n" * 20, name="notes.jpg"), 415, "unsupported_type")
    assert "text" in body["detail"]
    assert_refused(post(client, b"%PDF-1.7\n" + os.urandom(500), name="doc.jpg"), 415, "unsupported_type")
    gif = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (64, 64)).save(gif, "GIF")
    body = assert_refused(post(client, gif.getvalue(), name="a.gif", ctype="image/gif"), 415, "unsupported_type")
    assert "GIF" in body["detail"]
    assert_refused(post(client, b"", name="empty.jpg"), 400, "empty_file")


def test_too_large_upload_gets_413():
    limit = len(SAMPLE_BYTES) // 2
    with small_client(max_upload_bytes=limit) as c:
        body = assert_refused(post(c, SAMPLE_BYTES), 413, "too_large")
        assert "limit" in body["detail"]
        # a body sent without Content-Length (chunked) is counted while it is read
        boundary = "xYz"
        payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n"
                   f"Content-Type: image/jpeg\r\n\r\n").encode() + os.urandom(limit + 200_000) + \
            f"\r\n--{boundary}--\r\n".encode()

        def chunks():
            for i in range(0, len(payload), 16384):
                yield payload[i:i + 16384]

        r = c.post("/v1/analyze", content=chunks(), headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert_refused(r, 413, "too_large")
        # a file just over the limit inside the multipart slack is refused too
        assert_refused(post(c, SAMPLE_BYTES[: limit + 10]), 413, "too_large")
        assert post(c, encode(np.zeros((100, 100, 3), np.uint8))).status_code == 200


def test_too_many_pixels_gets_413_before_decoding(client):
    for w, h in [(8000, 6000), (50_000, 50_000)]:  # over 40 MP; the second is over Pillow's own bomb limit
        t0 = time.perf_counter()
        body = assert_refused(post(client, png_header_only(w, h), name="huge.png"), 413, "too_many_pixels")
        assert time.perf_counter() - t0 < 2.0  # refused from the header: nothing was decoded
        assert "40,000,000" in body["detail"]
    with small_client(max_pixels=100 * 100) as c:  # a real image over a small limit
        assert_refused(post(c, SAMPLE_BYTES), 413, "too_many_pixels")
        assert post(c, encode(np.zeros((100, 100, 3), np.uint8))).status_code == 200


def test_decoded_size_counts_channels_and_bit_depth(client):
    """40 MP is allowed, but not 30 MP of 16-bit RGBA (240 MB decoded): refused from the header."""
    t0 = time.perf_counter()
    body = assert_refused(post(client, png_header(6000, 5000, 16, 6), name="deep.png"), 413, "too_large_decoded")
    assert time.perf_counter() - t0 < 2.0
    assert "16 bits" in body["detail"] and "160.0 MB" in body["detail"]
    # the same size at 8 bits (120 MB) passes the limits (and is then found to have no pixel data)
    assert_refused(post(client, png_header(6000, 5000, 8, 6), name="rgba.png"), 422, "corrupt_image")
    img = cv2.imread(str(SAMPLE))  # 512x512x3: 786 kB at 8 bits, 1.57 MB at 16
    with small_client(max_decoded_bytes=1_000_000) as c:
        assert_refused(post(c, encode(img.astype(np.uint16) * 257), name="deep.png"), 413, "too_large_decoded")
        assert_refused(post(c, encode(img.astype(np.uint16) * 257, ".tiff"), name="deep.tiff"), 413,
                       "too_large_decoded")
        assert post(c, encode(img), name="plain.png").status_code == 200


def test_upload_is_held_once():
    """An 8 MB upload (a JPEG with a trailer) costs the server about one copy of it, not three or four."""
    import gc
    import tracemalloc

    data = SAMPLE_BYTES + os.urandom(8_000_000)
    with small_client() as c:
        assert post(c, SAMPLE_BYTES).status_code == 200  # warm
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            r = post(c, data)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    assert r.status_code == 200 and len(r.json()["faces"]) == 1
    # the test client's own copy of the request body is one of these: the server holds at most one more
    assert peak < 2.6 * len(data), f"peak {peak / len(data):.2f}x the upload"


def test_errors_are_mapped_precisely_and_never_leak_internals(caplog):
    from emorec.errors import ImageError

    secret = "/home/dev/secret/path.onnx"
    with TestClient(create_app(ServerConfig(detector_model=secret)), base_url=BASE,
                    raise_server_exceptions=False) as c:
        # a detector whose model file this server lacks: not a busy server (503) but a choice it cannot
        # offer: 422 naming what is missing, the path only in the log, and not listed as available
        with caplog.at_level("WARNING", logger="emorec.server"):
            body = assert_refused(post(c, SAMPLE_BYTES, form={"detector": "yunet"}), 422, "detector_unavailable")
        assert secret not in json.dumps(body) and "secret" not in body["detail"]
        assert "yunet" in body["detail"] and "model file" in body["detail"]
        assert secret in caplog.text
        assert c.get("/healthz").json()["detectors"] == ["haar"]
        assert "yunet" in c.get("/healthz").json()["unavailable_detectors"]
        assert [d["name"] for d in c.get("/v1/models").json()["detectors"]] == ["haar"]
        analyzer = c.app.state.analyzer
        real_run = analyzer._run

        def broken_model(*args):
            from emorec.errors import ModelError

            raise ModelError(f"{secret}: cannot be loaded")

        analyzer._run = broken_model  # a model file broken on the server: 500, the path only in the log
        with caplog.at_level("ERROR", logger="emorec.server"):
            body = assert_refused(post(c, SAMPLE_BYTES), 500, "model_unavailable")
        assert "secret" not in body["detail"]

        def bug(*args):
            raise ValueError(f"index 7 out of range in {secret}")

        analyzer._run = bug  # a bug deep inside: 500 with a generic message
        body = assert_refused(post(c, SAMPLE_BYTES), 500, "internal_error")
        assert "secret" not in body["detail"] and "ValueError" not in body["detail"] and "index" not in body["detail"]

        def bad_image(*args):
            raise ImageError("upload: OpenCV cannot decode it")

        analyzer._run = bad_image  # the client's image: 422 with the reason
        body = assert_refused(post(c, SAMPLE_BYTES), 422, "corrupt_image")
        assert "OpenCV cannot decode" in body["detail"]
        analyzer._run = real_run
        assert post(c, SAMPLE_BYTES).status_code == 200
        assert c.get("/healthz").json()["pending"] == 0


def test_host_header_is_checked():
    from emorec.server import allowed_hosts_for

    for base in ("http://evil.example", "http://evil.example:8000", "http://127.0.0.1.nip.io"):
        with TestClient(create_app(), base_url=base) as c:
            for r in (c.get("/"), c.get("/docs"), c.get("/healthz"), post(c, SAMPLE_BYTES)):
                body = assert_refused(r, 400, "bad_host")
                assert "--allowed-hosts" in body["detail"]
    for base in ("http://localhost", "http://127.0.0.1:8000", "http://[::1]:8000", "http://LOCALHOST:1"):
        with TestClient(create_app(), base_url=base) as c:
            assert c.get("/healthz").status_code == 200, base
    hosts = allowed_hosts_for("127.0.0.1", ["emorec.lan"])
    assert set(hosts) == {"localhost", "127.0.0.1", "[::1]", "emorec.lan"}
    assert "[fe80::1]" in allowed_hosts_for("fe80::1") and "192.168.1.5" in allowed_hosts_for("192.168.1.5")
    with TestClient(create_app(ServerConfig(allowed_hosts=hosts)), base_url="http://emorec.lan:8000") as c:
        assert post(c, SAMPLE_BYTES).status_code == 200
    with TestClient(create_app(ServerConfig(allowed_hosts=("*",))), base_url="http://anything") as c:
        assert c.get("/healthz").status_code == 200


def test_bad_options_and_forms(client):
    assert_refused(post(client, SAMPLE_BYTES, params={"model": "nope"}), 422, "unknown_model")
    assert_refused(post(client, SAMPLE_BYTES, params={"model": str(Path(__file__))}), 422, "unknown_model")
    assert_refused(post(client, SAMPLE_BYTES, form={"model": "fer2013.onnx"}), 422, "unknown_model")
    assert_refused(post(client, SAMPLE_BYTES, params={"flip": "maybe"}), 422, "invalid_option")
    assert_refused(client.post("/v1/analyze", data={"model": "fer2013"}, files={"other": ("a.jpg", SAMPLE_BYTES)}),
                   400, "missing_file")
    assert_refused(client.post("/v1/analyze", content=SAMPLE_BYTES, headers={"content-type": "image/jpeg"}),
                   415, "not_multipart")
    assert_refused(client.post("/v1/analyze", content=b"--x\r\ngarbage",
                               headers={"content-type": "multipart/form-data; boundary=x"}), 400, "missing_file")
    assert_refused(client.get("/v1/analyze"), 405, "method_not_allowed")
    assert_refused(client.get("/nowhere"), 404, "not_found")


def test_analysis_timeout_gets_503_and_frees_its_slot():
    with small_client(analysis_timeout_s=0.001) as c:
        body = assert_refused(post(c, SAMPLE_BYTES), 503, "timeout")
        assert "limit" in body["detail"]
        analyzer = c.app.state.analyzer
        t0 = time.time()
        while analyzer.pending and time.time() - t0 < 30:  # the work ends in the background
            time.sleep(0.05)
        assert analyzer.pending == 0
        assert c.get("/healthz").json()["pending"] == 0


# ---------------------------------------------------------------- service endpoints
def test_healthz_models_openapi_docs_and_page(client):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["limits"]["max_upload_bytes"] == 10_000_000
    assert h["limits"]["max_pixels"] == 40_000_000 and h["models"] == ["fer2013", "ferplus", "fer2013-ensemble"]
    m = client.get("/v1/models").json()
    assert m["default"] == "fer2013"
    assert [c["name"] for c in m["models"]] == ["fer2013", "ferplus", "fer2013-ensemble"]
    assert all({"classes", "input_size", "arch"} <= set(c) for c in m["models"])
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/v1/analyze"]["post"]
    assert "file" in op["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"413", "415", "422"} <= set(op["responses"])
    assert {"/healthz", "/v1/models"} <= set(spec["paths"])
    assert "swagger" in client.get("/docs").text.lower()
    assert c_has_no_remote_assets(client, "/docs") and c_has_no_remote_assets(client, "/redoc")
    page = client.get("/")
    assert page.status_code == 200 and 'id="overlay"' in page.text and 'type="file"' in page.text
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200


def c_has_no_remote_assets(client, page: str) -> bool:
    """The page's scripts and styles come from this server (the docs work offline), and are served."""
    import re

    html = client.get(page).text
    assets = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', html)
    assert assets, html
    remote = [a for a in assets if a.startswith(("http:", "https:", "//"))]
    assert not remote, remote
    for a in assets:
        r = client.get(a)
        assert r.status_code == 200, a
        if a.endswith(".js"):
            assert len(r.content) > 100_000  # the real Swagger UI / ReDoc bundle
    return True


def test_models_endpoint_shows_no_local_paths(client):
    from emorec.model_card import list_models

    cards = list_models()
    recipes = [c.get("recipe") or {} for c in cards] + [m.get("recipe") or {} for c in cards for m in c.get("members", [])]
    local = {str(v) for r in recipes for v in r.values() if isinstance(v, str) and "/" in v}
    assert local  # the cards do hold paths of the machine that trained them ...
    text = client.get("/v1/models").text
    assert not [p for p in local if p in text]  # ... and the API shows none of them
    for card in client.get("/v1/models").json()["models"]:
        assert "recipe" not in card
        assert card["evaluation"]["PublicTest"]["accuracy"] > 0.6 and card["parameters"] > 0
        assert {"classes", "input_size", "arch", "name"} <= set(card)
        assert "training" in card or [m["training"]["epochs"] for m in card["members"]]  # an ensemble: its members'
        assert all("recipe" not in m for m in card.get("members", []))


def test_config_is_checked():
    with pytest.raises(ValueError):
        ServerConfig(default_model="mine")
    with pytest.raises(ValueError):
        ServerConfig(max_upload_bytes=0)
    with pytest.raises(ValueError):
        ServerConfig(analysis_timeout_s=0)
    with pytest.raises(ValueError):
        ServerConfig(default_detector="mtcnn")
    with pytest.raises(ValueError):
        ServerConfig(allowed_hosts=())


# ---------------------------------------------------------------- a real server on loopback
@pytest.fixture(scope="module")
def live():
    with BackgroundServer(ServerConfig(upload_timeout_s=1.0, workers=2)) as srv:
        yield srv


def raw_request(port: int, head: bytes, body: bytes = b"", wait: float = 10.0) -> tuple[int, dict, float]:
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            part = s.recv(65536)
            if not part:
                break
            data += part
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1]), time.perf_counter() - t0


def test_declared_oversize_body_is_refused_without_reading_it(live):
    head = (b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 1000000000\r\n\r\n")
    status, body, took = raw_request(live.port, head)
    assert status == 413 and body["error"] == "too_large"
    assert took < 5


def test_slow_upload_gets_408(live):
    head = (b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 100000\r\n\r\n")
    status, body, took = raw_request(live.port, head, b"--b\r\n")  # then nothing more arrives
    assert status == 408 and body["error"] == "upload_timeout"
    assert 0.9 < took < 8


def test_concurrent_requests_share_one_model_safely(live):
    """Mixed models and flip options from 8 threads: every answer equals the one-at-a-time answer."""
    img = cv2.imread(str(SAMPLE))
    variants = {"orig": SAMPLE_BYTES, "small": encode(cv2.resize(img, (300, 300))),
                "pad": encode(cv2.copyMakeBorder(img, 60, 60, 120, 0, cv2.BORDER_CONSTANT, value=(40, 40, 40)))}
    options = [{"model": m, "flip": f} for m in ("fer2013", "ferplus") for f in ("false", "true")]
    jobs = [(v, o) for v in variants for o in options] * 2
    with httpx.Client(base_url=live.url, timeout=60) as c:
        expected = {}
        for v, o in jobs[: len(jobs) // 2]:
            r = c.post("/v1/analyze", params=o, files={"file": (v, variants[v])})
            assert r.status_code == 200, r.text
            expected[v, o["model"], o["flip"]] = r.json()["faces"]

    def one(job):
        v, o = job
        with httpx.Client(base_url=live.url, timeout=60) as c:
            r = c.post("/v1/analyze", params=o, files={"file": (v, variants[v])})
        return job, r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, jobs * 2))
    for (v, o), status, body in results:
        assert status == 200, body
        assert body["faces"] == expected[v, o["model"], o["flip"]], (v, o)
        assert len(body["faces"]) >= 1


def post_sample(srv, timeout: float = 60):
    """POST the sample photo to the server's /v1/analyze."""
    return httpx.post(srv.url + "/v1/analyze", files={"file": ("a.jpg", SAMPLE_BYTES)}, timeout=timeout)


def test_busy_server_answers_503_not_a_hang():
    cfg = ServerConfig(workers=1, max_pending=1)
    with BackgroundServer(cfg) as srv:
        analyzer = srv.app.state.analyzer
        gate = threading.Event()
        real_run = analyzer._run

        def gated_run(*args):  # hold the only slot until the second request was answered
            gate.wait(30)
            return real_run(*args)

        analyzer._run = gated_run
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(post_sample, srv, 60)
            t0 = time.time()
            while analyzer.pending == 0 and time.time() - t0 < 30:
                time.sleep(0.01)
            second = post_sample(srv, 30)
            gate.set()
            assert_refused(second, 503, "busy")
            assert second.headers["retry-after"] == "1"
            assert first.result().status_code == 200


def read_until_closed(sock: socket.socket, wait: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection (or ``wait`` s pass: TimeoutError)."""
    t0 = time.perf_counter()
    sock.settimeout(wait)
    data = b""
    while True:
        part = sock.recv(65536)
        if not part:
            return data, time.perf_counter() - t0
        data += part


def test_stalled_connections_are_closed_and_real_requests_still_answered():
    """Slow-loris: 20 connections that send part of a request line and headers, and one that sends nothing."""
    with BackgroundServer(ServerConfig(header_timeout_s=1.0, workers=1)) as srv:
        stalled = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            stalled.append(s)
        silent = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        r = post_sample(srv, 30)
        assert r.status_code == 200 and len(r.json()["faces"]) == 1
        for s in stalled:
            data, took = read_until_closed(s, 10)  # TimeoutError without the header deadline
            assert data.startswith(b"HTTP/1.1 408") and b"header_timeout" in data, data[:200]
            s.close()
        data, _ = read_until_closed(silent, 10)
        assert data == b""  # a connection that never spoke is just closed
        silent.close()
        # the deadline is armed again after a response: a keep-alive connection that then stalls is closed too
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first = b""
            while b"\r\n\r\n" not in first:
                first += s.recv(65536)
            head, rest = first.split(b"\r\n\r\n", 1)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(rest) < length:
                rest += s.recv(65536)
            assert head.startswith(b"HTTP/1.1 200") and len(rest) == length
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            data, took = read_until_closed(s, 10)
            assert data.startswith(b"HTTP/1.1 408") and took < 5


def gate_analyses(analyzer, hold=None):
    """Wrap the analyzer's work: each call is recorded; the first waits for ``hold`` (an Event) or sleeps
    ``hold`` seconds. Returns (calls, first_started)."""
    calls, first_started = [], threading.Event()
    real_run = analyzer._run

    def gated(*args):
        calls.append(args)
        if len(calls) == 1:
            first_started.set()
            hold.wait(30) if isinstance(hold, threading.Event) else time.sleep(hold)
        return real_run(*args)

    analyzer._run = gated
    return calls, first_started


def test_a_full_server_refuses_before_reading_the_body():
    cfg = ServerConfig(workers=1, max_pending=1)
    with BackgroundServer(cfg) as srv:
        gate = threading.Event()
        calls, first_started = gate_analyses(srv.app.state.analyzer, gate)
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(post_sample, srv, 60)
            assert first_started.wait(30)
            # a 5 MB upload announced: the answer comes before any of its body is sent
            head = (b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000000\r\n\r\n")
            status, body, took = raw_request(srv.port, head, wait=10)  # 408 after 30 s without the fix
            gate.set()
            assert status == 503 and body["error"] == "busy" and took < 5
            assert first.result().status_code == 200
        assert srv.app.state.analyzer.pending == 0


def test_analysis_timeout_counts_from_when_the_analysis_starts():
    """Two requests on one thread, 1 s each allowed: the first runs 1.5 s (503 timeout); the second waited
    1.5 s in the queue but then needs only its own time, so it succeeds."""
    with BackgroundServer(ServerConfig(workers=1, analysis_timeout_s=1.0)) as srv:
        calls, first_started = gate_analyses(srv.app.state.analyzer, 1.5)
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(post_sample, srv, 60)
            assert first_started.wait(30)
            t0 = time.perf_counter()
            second = post_sample(srv, 60)
            waited = time.perf_counter() - t0
            body = assert_refused(first.result(), 503, "timeout")
            assert "took longer" in body["detail"]
        assert second.status_code == 200, second.text
        assert waited > 1.0 and len(second.json()["faces"]) == 1


def test_too_long_in_the_queue_gets_busy_and_never_runs():
    with BackgroundServer(ServerConfig(workers=1, queue_timeout_s=0.5)) as srv:
        analyzer = srv.app.state.analyzer
        gate = threading.Event()
        calls, first_started = gate_analyses(analyzer, gate)
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(post_sample, srv, 60)
            assert first_started.wait(30)
            second = post_sample(srv, 30)
            gate.set()
            body = assert_refused(second, 503, "busy")
            assert "queue" in body["detail"] or "thread" in body["detail"]
            assert int(second.headers["retry-after"]) >= 1
            assert first.result().status_code == 200
        time.sleep(0.3)
        assert len(calls) == 1 and analyzer.skipped == 1 and analyzer.pending == 0


def test_a_queued_analysis_whose_client_left_is_not_run():
    with BackgroundServer(ServerConfig(workers=1)) as srv:
        analyzer = srv.app.state.analyzer
        gate = threading.Event()
        calls, first_started = gate_analyses(analyzer, gate)
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(post_sample, srv, 60)
            assert first_started.wait(30)
            body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n"
                    + SAMPLE_BYTES + b"\r\n--b--\r\n")
            head = (b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                    b"boundary=b\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
            with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
                s.sendall(head + body)
                t0 = time.time()
                while analyzer.pending < 2 and time.time() - t0 < 10:
                    time.sleep(0.01)
                assert analyzer.pending == 2  # received and queued
            t0 = time.time()  # the client has gone
            while analyzer.skipped == 0 and time.time() - t0 < 10:
                time.sleep(0.01)
            gate.set()
            assert first.result().status_code == 200
        time.sleep(0.3)
        assert analyzer.skipped == 1 and len(calls) == 1 and analyzer.pending == 0


def test_thread_pools_are_sized_from_the_worker_count():
    import cv2

    from emorec.server import cpus

    before = cv2.getNumThreads()
    with BackgroundServer(ServerConfig(workers=2)) as srv:
        expected = max(1, cpus() // 2)
        rec = srv.app.state.analyzer.recognizer("fer2013")
        assert rec.classifier.threads == expected
        assert cv2.getNumThreads() == expected
        assert post_sample(srv, 60).status_code == 200
    assert cv2.getNumThreads() == before  # given back when the server stops


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(port: int) -> set:
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in open(table).read().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if int(p, 16) == port and state == "0A":
                found.add(addr)
    return found


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc to read the listening address")
def test_emorec_serve_binds_loopback_by_default():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "emorec", "serve", "--port", str(port), "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0, ok = time.time(), False
        while time.time() - t0 < 60 and proc.poll() is None:
            try:
                ok = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()["status"] == "ok"
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert ok, proc.stderr.read() if proc.poll() is not None else "server did not answer"
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only
        r = httpx.post(f"http://127.0.0.1:{port}/v1/analyze", files={"file": ("a.jpg", SAMPLE_BYTES)}, timeout=60)
        assert r.status_code == 200 and len(r.json()["faces"]) == 1
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert f"http://127.0.0.1:{port}/" in err


def test_emorec_serve_refuses_bad_options_cleanly():
    from typer.testing import CliRunner

    from emorec.cli import app

    r = CliRunner().invoke(app, ["serve", "--model", "nope"])
    assert r.exit_code == 2 and "nope" in r.output
    r = CliRunner().invoke(app, ["serve", "--max-upload-mb", "0"])
    assert r.exit_code == 2 and "max_upload_bytes" in r.output


def test_emorec_serve_on_a_busy_port_fails_before_announcing():
    from typer.testing import CliRunner

    from emorec.cli import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = CliRunner().invoke(app, ["serve", "--port", str(port), "--log-level", "warning"])
    assert r.exit_code == 1, r.output
    assert f"port {port}" in r.output and "in use" in r.output and "--port" in r.output
    assert "serving on" not in r.output and "startup complete" not in r.output.lower()


def test_min_confidence_withholds_labels_in_the_api(client):
    sure = post(client, SAMPLE_BYTES).json()
    assert sure["min_confidence"] == 0.0 and sure["faces"][0]["emotion"] == "happy"
    for kw in ({"form": {"min_confidence": "0.999"}}, {"params": {"min_confidence": "0.999"}}):
        body = post(client, SAMPLE_BYTES, **kw).json()
        (face,) = body["faces"]
        assert body["min_confidence"] == 0.999 and face["emotion"] is None
        assert face["scores"] == sure["faces"][0]["scores"]
    for bad in ("1.5", "-0.1", "often", "nan"):
        assert_refused(post(client, SAMPLE_BYTES, form={"min_confidence": bad}), 422, "invalid_option")
