"""The page's in-browser mode (issue 20): YuNet and the emotion model run in a real headless Chromium with ONNX
Runtime Web, and nothing is sent anywhere.

* the webcam (Chromium's fake camera playing a 640x480 Y4M made here from the sample photo) is analysed in
  the page: the face gets a box, a label and a track id, the label holds still, and the emorec server
  receives no analysis request (``/healthz`` ``served`` stays 0, and the page fetched no ``/v1/analyze``);
* the static site (:func:`emorec.web.build_site`) served by Python's plain ``http.server`` on loopback, no
  emorec process, does the same; only GET requests for the site's own files reach it;
* the browser and Python agree: the same 48x48 crops (cut from the sample photo by emorec's Python code)
  give the same probabilities within 1e-3, both models, with and without the mirror; the page's crop
  (square, margin, turned level from YuNet's eyes, grey, 48x48) of the same pixels is Python's, pixel for
  pixel; an uploaded photo gives Python's boxes and (nearly) its probabilities;
* without YuNet's file, the page says how to supply it and sends nothing to the server instead;
* the server serves the page's model files and the cross-origin isolation headers; the static build's
  layout, manifest, refusals and ``python -m emorec.web``;
* one table per fact: the manifest carries YuNet's settings, the crop margin, the tracker's settings, the
  accepted upload types and the palette as emorec's Python code defines them, the page's scripts keep no copy
  of them, and the page draws with the manifest's colours (in both modes; tests/test_browser.py for the server's).

Tests that need YuNet's file (``/work/shared/models/yunet/`` or ``$EMOREC_YUNET``) skip without it; browser
tests skip without Chromium, as tests/test_browser.py does.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "emorec" / "assets" / "astronaut.jpg"
from chromium import CHROMEDRIVER, CHROMIUM, launch, write_y4m  # noqa: E402
SHARED_YUNET = ROOT.parent / "shared" / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"
TIMEOUT = 120  # seconds: the first in-browser result needs the runtime and models loaded on a busy machine
# the page's scripts (src/emorec/static/), in index.html's order: the engine's files (engine.js, the one entry Node
# requires, gathers the others into EmorecEngine), the in-browser runtime, then the page's own (app.js starts it)
ENGINE_FILES = ("numeric.js", "settings.js", "preprocess.js", "classifier.js", "yunet.js", "onnxshape.js", "tracker.js",
                "engine.js")
PAGE_SCRIPTS = (*ENGINE_FILES, "browser.js", "draw.js", "analyze.js", "camera.js", "app.js")


def _yunet():
    env = os.environ.get("EMOREC_YUNET")
    for p in ([Path(env)] if env else []) + [SHARED_YUNET]:
        if p.is_file():
            return p
    return None


YUNET = _yunet()
needs_yunet = pytest.mark.skipif(YUNET is None, reason=f"YuNet's model file is absent ({SHARED_YUNET}, $EMOREC_YUNET)")
_chromium_absent = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                      reason=f"{CHROMIUM} or {CHROMEDRIVER} is absent (apt-get install chromium "
                                             "chromium-driver)")


def needs_chromium(test):
    """A test in a real headless Chromium: slow, and skipped where Chromium or chromedriver is absent."""
    return pytest.mark.slow(_chromium_absent(test))
ANALYZE_KEYS = {"file", "format", "model", "detector", "flip", "min_confidence", "width", "height", "faces",
                "elapsed_ms"}


# ---------------------------------------------------------------- helpers
def webdriver():
    return pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")


def write_webcam(path: Path, frames: int = 30) -> Path:
    """640x480 YUV4MPEG2 at 30 frames/s: the sample photo at 480x480 in the middle of a grey frame."""
    import cv2

    face = cv2.resize(cv2.imread(str(SAMPLE)), (480, 480), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 80:560] = face
    return write_y4m(path, [frame] * frames, 30)


def chromium(tmp_path: Path, *extra):
    webdriver()  # skips where selenium is missing
    return launch(tmp_path, *extra, timeout=TIMEOUT)


def with_webcam(tmp_path: Path):
    video = write_webcam(tmp_path / "webcam.y4m")
    return chromium(tmp_path, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={video}", "--autoplay-policy=no-user-gesture-required")


def wait(driver, script: str, timeout: float = TIMEOUT, poll: float = 0.2):
    """Poll ``script`` until it returns something truthy; fail with the page's state otherwise."""
    end = time.time() + timeout
    while time.time() < end:
        got = driver.execute_script(script)
        if got:
            return got
        time.sleep(poll)
    pytest.fail(f"timed out waiting for: {script}\npage state: {driver.execute_script(PAGE_STATE)}")


PAGE_STATE = """const s = window.emorec || {};
return {runsIn: s.runsIn, mode: s.mode, frames: s.frames, fps: s.fps, browser: s.browser,
        error: document.getElementById('error').textContent, notice: document.getElementById('notice').textContent,
        status: document.getElementById('status').textContent, last: s.lastResult};"""
REQUESTS = """return [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
  .map(e => [e.initiatorType, e.name]);"""
# the overlay's alpha on the box's left edge and in the label tag above it (the webcam view is mirrored)
OVERLAY = """const r = window.emorec.lastResult, c = document.getElementById('overlay');
if (!r || !r.faces.length) return null;
const f = r.faces[0], s = c.clientWidth / r.width, dpr = c.width / c.clientWidth;
let [x, y, w, h] = f.box.map(v => v * s);
if (window.emorec.mode === 'camera') x = c.clientWidth - x - w;
const a = (px, py) => c.getContext('2d').getImageData(Math.round(px * dpr), Math.round(py * dpr), 1, 1).data[3];
return {edge: Math.max(...[0.25, 0.5, 0.75].map(t => a(x, y + t * h))), inside: a(x + w / 2, y + h / 2),
        tag: a(x + 4, y > 20 ? y - 10 : y + 10)};"""


def expected_face_box():
    """YuNet's box of the sample's face in the 640x480 webcam frame, from emorec's Python detector."""
    from emorec.detectors.yunet import YuNetDetector

    import cv2

    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 80:560] = cv2.resize(cv2.imread(str(SAMPLE)), (480, 480), interpolation=cv2.INTER_AREA)
    return YuNetDetector(model=YUNET).detect(frame).boxes[0].tolist()


def assert_labels_the_webcam_face(driver, classes):
    """Frames analysed in the page: the face boxed where Python's YuNet finds it, labelled, tracked, steady,
    drawn on the overlay."""
    wait(driver, "return window.emorec.frames >= 12 || document.getElementById('error').textContent")
    st = driver.execute_script(PAGE_STATE)
    assert not st["error"], st
    assert st["runsIn"] == "browser" and st["mode"] == "camera", st
    r = st["last"]
    assert set(r) == ANALYZE_KEYS, r  # POST /v1/analyze's shape
    assert (r["width"], r["height"], r["detector"], r["file"]) == (640, 480, "yunet", "webcam"), r
    assert len(r["faces"]) == 1, r
    face = r["faces"][0]
    assert face["emotion"] in classes and set(face["scores"]) == set(classes), face
    assert abs(sum(face["scores"].values()) - 1) < 1e-3 and face["id"] == 1, face
    # where Python's YuNet finds the face in the frame (the camera's YUV 4:2:0 round trip and the tracker's
    # local searches move the box by a few pixels)
    from emorec.tracking import iou

    want = expected_face_box()
    assert iou(face["box"], want) > 0.7, (face["box"], want)
    assert st["fps"] > 0, st
    # the label holds still over the next frames: one track, one emotion
    seen = set()
    for _ in range(10):
        last = driver.execute_script("return window.emorec.lastResult.faces")
        seen |= {(f["id"], f["emotion"]) for f in last}
        time.sleep(0.15)
    assert seen == {(1, face["emotion"])}, seen
    px = wait(driver, "const p = (() => {" + OVERLAY + "})(); return p && p.edge > 200 && p.tag > 200 ? p : null")
    assert px["inside"] == 0, px  # an outline: the face stays visible


# the photo's first face: its emotion, its colour in the list, and the overlay's pixel on its box's left edge
DRAWN = """const r = window.emorec.lastResult, c = document.getElementById('overlay');
const f = r.faces[0], s = c.clientWidth / r.width, dpr = c.width / c.clientWidth;
const [x, y, w, h] = f.box.map(v => v * s);
const px = c.getContext('2d').getImageData(Math.round(x * dpr), Math.round((y + h / 2) * dpr), 1, 1).data;
return {emotion: f.emotion, rgb: [px[0], px[1], px[2]], alpha: px[3], site: window.emorec.site,
        listed: document.querySelector('#faces .face').style.getPropertyValue('--c').trim(),
        bars: [...document.querySelectorAll('#faces .face .bar')].map(b =>
          [b.querySelector('.name').textContent, b.style.getPropertyValue('--c').trim()]),
        accept: document.getElementById('file').accept};"""


def assert_drawn_in_the_manifests_colours(driver):
    """The page read emorec.drawing's palette from the manifest and draws the shown photo's face with it: the box
    on the overlay, the face's border and every probability bar in the list (the colours of the annotated images)."""
    from emorec.drawing import color_of, css_color, css_palette
    from emorec.server.uploads import ALLOWED_FORMATS

    got = driver.execute_script(DRAWN)
    assert got["site"]["colors"] == css_palette()["colors"] and got["site"]["fallback_color"] == css_palette()["fallback"]
    want = css_color(color_of(got["emotion"]))
    assert got["listed"].lower() == want, got
    assert got["bars"] and all(c.lower() == css_color(color_of(n)) for n, c in got["bars"]), got["bars"]
    b, g, r = color_of(got["emotion"])
    assert got["alpha"] > 200 and max(abs(u - v) for u, v in zip(got["rgb"], (r, g, b))) < 40, (got["rgb"], want)
    assert got["accept"] == ",".join(ALLOWED_FORMATS.values()), got["accept"]


@contextlib.contextmanager
def static_server(folder: Path):
    """Python's plain file server on loopback, recording every request (method, path)."""
    seen = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(folder), **k)

        def log_message(self, fmt, *args):
            seen.append((self.command, self.path))

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from emorec.server import BackgroundServer, ServerConfig

    cfg = ServerConfig(detector_model=str(YUNET) if YUNET else None)
    with BackgroundServer(cfg) as srv:
        yield srv


def served(srv) -> int:
    import httpx

    return httpx.get(srv.url + "/healthz").json()["served"]


def classes_of(model="fer2013"):
    from emorec.web import manifest

    return next(m for m in manifest(server=False, yunet=False)["models"] if m["name"] == model)["classes"]


# ---------------------------------------------------------------- the webcam, in the browser
@needs_chromium
@needs_yunet
def test_webcam_is_analysed_in_the_browser_and_nothing_reaches_the_server(server, tmp_path):
    before = served(server)
    driver = with_webcam(tmp_path)
    try:
        driver.get(server.url + "/?run=browser")
        assert_labels_the_webcam_face(driver, classes_of())
        st = driver.execute_script(PAGE_STATE)
        assert st["browser"]["ready"] and st["browser"]["yunet"] and st["browser"]["backend"] == "wasm", st
        assert st["browser"]["isolated"] is True, st  # emorec serve sends COOP/COEP
        assert "in this browser" in st["status"], st
        assert driver.find_element("id", "privacy").text.startswith("Images and webcam frames are analysed in this "
                                                                     "browser"), driver.find_element("id", "privacy").text
        # no frame, image or result left the page: no analysis on the server, no request but the page's files
        assert served(server) == before
        urls = [u for _, u in driver.execute_script(REQUESTS)]
        assert not [u for u in urls if "/v1/analyze" in u], urls
        assert all(u.startswith(server.url) for u in urls), urls
        assert {u.split("?")[0].rsplit("/", 1)[-1] for u in urls} >= {"ort-wasm-simd-threaded.wasm", "fer2013.onnx",
                                                                     "yunet.onnx", "index.json"}, urls

        # another model mid-stream: its classes (FER+'s 8), its own track
        driver.execute_script("const m = document.getElementById('model'); m.value = 'ferplus';"
                              "m.dispatchEvent(new Event('change'));")
        r = wait(driver, "const r = window.emorec.lastResult; return r.model === 'ferplus' && r.faces.length ? r : null")
        assert set(r["faces"][0]["scores"]) == set(classes_of("ferplus")) and len(r["faces"][0]["scores"]) == 8, r
        assert served(server) == before

        # switching to the server mode sends the frames there (the selector works both ways)
        driver.execute_script("const r = document.getElementById('runs-in'); r.value = 'server';"
                              "r.dispatchEvent(new Event('change'));")
        wait(driver, "const r = window.emorec.lastResult; return window.emorec.runsIn === 'server' && r && "
                     "r.file === 'webcam.jpg'")
        assert served(server) > before
        assert driver.find_element("id", "privacy").text.startswith("Images are analysed by this server")
    finally:
        driver.quit()


@needs_chromium
def test_without_yunet_the_page_says_how_to_supply_it_and_sends_nothing(tmp_path, monkeypatch):
    """A server without YuNet's file: ``/?run=browser`` explains, and does not fall back to the server (the
    frames would leave the device)."""
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from emorec.server import BackgroundServer, ServerConfig

    monkeypatch.delenv("EMOREC_YUNET", raising=False)
    monkeypatch.setenv("EMOREC_CACHE", str(tmp_path / "empty-cache"))
    with BackgroundServer(ServerConfig()) as srv:
        driver = with_webcam(tmp_path)
        try:
            driver.get(srv.url + "/?run=browser")
            notice = wait(driver, "return document.getElementById('notice').textContent")
            assert "YuNet" in notice and "--detector-model" in notice, notice
            error = wait(driver, "return document.getElementById('error').textContent")
            assert "cannot find faces" in error, error
            time.sleep(1.5)
            st = driver.execute_script(PAGE_STATE)
            assert st["runsIn"] == "browser" and st["frames"] == 0 and st["last"] is None, st
            assert served(srv) == 0
        finally:
            driver.quit()


# ---------------------------------------------------------------- the static site, no emorec process
@needs_chromium
@needs_yunet
def test_static_site_from_a_plain_file_server(tmp_path):
    from emorec.web import build_site

    info = build_site(tmp_path / "site", YUNET)
    assert info["yunet"] and not info["problem"], info
    with static_server(Path(info["out"])) as (url, requests):
        driver = with_webcam(tmp_path)
        try:
            driver.get(url + "/?run=browser")
            assert_labels_the_webcam_face(driver, classes_of())
            st = driver.execute_script(PAGE_STATE)
            assert st["browser"]["isolated"] is False and st["browser"]["threads"] == 1, st  # no headers: 1 thread
            # no server here: its mode is offered disabled, its links hidden
            assert driver.execute_script("return document.querySelector('#runs-in option[value=server]').disabled")
            assert not driver.find_element("id", "api").is_displayed()
            # an uploaded photo is analysed in the page too
            driver.find_element("id", "file").send_keys(str(SAMPLE))
            wait(driver, "const r = window.emorec.lastResult; return r && r.file === 'astronaut.jpg'")
            r = driver.execute_script("return window.emorec.lastResult")
            assert (r["width"], r["height"], len(r["faces"])) == (512, 512, 1), r
            assert r["format"] == "image/jpeg" and r["faces"][0]["emotion"] in classes_of(), r
            assert_drawn_in_the_manifests_colours(driver)
        finally:
            driver.quit()
    assert requests and all(m == "GET" for m, _ in requests), requests
    paths = {p.split("?")[0] for _, p in requests}
    assert all((Path(info["out"]) / p.lstrip("/")).is_file() or p == "/" or p == "/favicon.ico" for p in paths), paths


@needs_chromium
def test_static_site_without_yunet_explains_then_works_once_the_file_is_copied(tmp_path, monkeypatch):
    import shutil

    from emorec.web import build_site

    monkeypatch.delenv("EMOREC_YUNET", raising=False)
    monkeypatch.setenv("EMOREC_CACHE", str(tmp_path / "empty-cache"))
    info = build_site(tmp_path / "site")
    assert not info["yunet"] and "models/yunet.onnx" in info["problem"], info
    with static_server(Path(info["out"])) as (url, _):
        driver = chromium(tmp_path)
        try:
            driver.get(url + "/")
            notice = wait(driver, "return document.getElementById('notice').textContent")
            assert "models/yunet.onnx" in notice and "emorec web" in notice, notice
            driver.find_element("id", "file").send_keys(str(SAMPLE))
            error = wait(driver, "return document.getElementById('error').textContent")
            assert "astronaut.jpg" in error and "cannot find faces" in error, error
            if YUNET is not None:  # the page's advice works: copy the file, reload
                shutil.copyfile(YUNET, Path(info["out"]) / "models" / "yunet.onnx")
                driver.get(url + "/")
                wait(driver, "return window.emorec.browser.ready")
                assert not driver.find_element("id", "notice").is_displayed()
                driver.find_element("id", "file").send_keys(str(SAMPLE))
                wait(driver, "const r = window.emorec.lastResult; return r && r.faces.length === 1")
        finally:
            driver.quit()


# ---------------------------------------------------------------- the browser and Python agree
def python_crops():
    """48x48 grey crops of the sample photo's face made by emorec's Python code: its detector's crop, and
    crops shifted, scaled and turned around it (16 faces the model sees differently)."""
    import cv2

    from emorec import crop as C
    from emorec.detectors.haar import HaarDetector
    from emorec.preprocess import to_uint8_face

    grey = cv2.cvtColor(cv2.imread(str(SAMPLE)), cv2.COLOR_BGR2GRAY)
    x, y, w, h = (int(v) for v in HaarDetector().detect(grey).boxes[0])
    crops = []
    for k in range(16):
        dx, dy, grow = (k % 4 - 1.5) * 6, (k // 4 - 1.5) * 6, 1 + 0.1 * (k % 3)
        box = [x + dx, y + dy, w * grow, h * grow]
        lm = np.array([[x + 0.3 * w, y + 0.4 * h], [x + 0.7 * w, y + 0.4 * h + (k - 8) * 1.5]] + [[0, 0]] * 3)
        face = C.aligned_crop(grey, box, lm) if k % 2 else C.crop_face(grey, box)
        crops.append(to_uint8_face(face, 48))
    return np.stack(crops)


CLASSIFY = """const [model, crops, flip] = arguments, done = arguments[arguments.length - 1];
const rt = window.emorec.engine;
rt.serial(() => rt.classify(model, crops.map(c => Uint8Array.from(c)), flip))
  .then(p => done(p.map(r => Array.from(r))), e => done({error: String(e)}));"""


@needs_chromium
def test_browser_and_python_give_the_same_probabilities_for_the_same_crops(server, tmp_path):
    from emorec import EmotionClassifier

    crops = python_crops()
    driver = chromium(tmp_path)
    try:
        driver.get(server.url + "/?")
        wait(driver, "return document.body.dataset.ready === 'true'")
        driver.execute_script("const r = document.getElementById('runs-in'); r.value = 'browser';"
                              "r.dispatchEvent(new Event('change'));")
        wait(driver, "return window.emorec.browser.ready || window.emorec.browser.error")
        for model in ("fer2013", "ferplus", "fer2013-ensemble"):
            clf = EmotionClassifier(model)
            for flip in (False, True):
                got = driver.execute_async_script(CLASSIFY, model, crops.reshape(len(crops), -1).tolist(), flip)
                assert not isinstance(got, dict), got
                want = clf.predict(crops, flip=flip)
                assert np.asarray(got).shape == want.shape
                diff = np.abs(np.asarray(got) - want).max()
                assert diff < 1e-3, (model, flip, diff)
                assert (np.argmax(got, 1) == np.argmax(want, 1)).all()
    finally:
        driver.quit()


PREPROCESS = """const [b64, width, height, faces, margin] = arguments;
const bin = atob(b64), rgba = new Uint8ClampedArray(bin.length);
for (let i = 0; i < bin.length; i++) rgba[i] = bin.charCodeAt(i);
const E = window.EmorecEngine, grey = E.greyFromRGBA(rgba, width, height);
return {aligned: E.faceCrops(grey, width, height, faces, {margin, align: true}).map(c => Array.from(c)),
        plain: E.faceCrops(grey, width, height, faces, {margin, align: false}).map(c => Array.from(c)),
        grey: Array.from(grey.subarray(0, 4096))};"""


@needs_chromium
def test_the_page_crops_faces_as_python_does(tmp_path):
    """The model card's preprocessing in the page: square crop with the margin, border repeated, turned level
    from the eyes, BGR2GRAY, 48x48 by area / linear interpolation: Python's pixels exactly, on the same image."""
    import cv2

    from emorec import crop as C
    from emorec.preprocess import to_uint8_face

    bgr = cv2.imread(str(SAMPLE))
    h, w = bgr.shape[:2]
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    rgba = np.dstack([bgr[:, :, ::-1], np.full((h, w), 255, np.uint8)])
    rng = np.random.default_rng(0)
    faces = []  # boxes of many sizes (crops enlarged and shrunk), some past the image's edge; tilted eyes
    for side in (20, 30, 46, 48, 60, 90, 96, 130, 200, 350):
        x, y = float(rng.integers(-30, w - side + 30)), float(rng.integers(-30, h - side + 30))
        hh = side * float(rng.uniform(1.0, 1.3))
        lm = np.array([[x + 0.3 * side, y + 0.4 * hh], [x + 0.7 * side, y + 0.4 * hh + rng.normal(0, side * 0.1)],
                       [x + 0.5 * side, y + 0.6 * hh], [x + 0.35 * side, y + 0.8 * hh], [x + 0.65 * side, y + 0.8 * hh]],
                      np.float32)
        faces.append({"box": [int(x), int(y), side, int(hh)], "landmarks": lm.tolist()})
    driver = chromium(tmp_path, "--allow-file-access-from-files")
    try:
        page = tmp_path / "page.html"
        page.write_text("<!doctype html><title>engine</title>" + "".join(
            f"<script src='{(ROOT / 'src/emorec/static' / name).as_uri()}'></script>" for name in ENGINE_FILES))
        driver.get(page.as_uri())
        got = driver.execute_script(PREPROCESS, base64.b64encode(rgba.tobytes()).decode(), w, h, faces, 0.05)
    finally:
        driver.quit()
    assert got["grey"] == grey.reshape(-1)[:4096].tolist()
    for f, aligned, plain in zip(faces, got["aligned"], got["plain"]):
        lm = np.asarray(f["landmarks"], np.float32)
        want_a = to_uint8_face(C.aligned_crop(grey, f["box"], lm, 0.05), 48)
        want_p = to_uint8_face(C.crop_face(grey, f["box"], 0.05), 48)
        assert np.array_equal(np.asarray(aligned, np.uint8).reshape(48, 48), want_a), f["box"]
        assert np.array_equal(np.asarray(plain, np.uint8).reshape(48, 48), want_p), f["box"]


def upload_in_browser(driver, server, path) -> dict:
    """The page's result for the photo at ``path``, uploaded in the in-browser mode (window.emorec.lastResult)."""
    driver.get(server.url + "/")
    wait(driver, "return document.body.dataset.ready === 'true'")
    driver.execute_script("const r = document.getElementById('runs-in'); r.value = 'browser';"
                          "r.dispatchEvent(new Event('change'));")
    driver.find_element("id", "file").send_keys(str(path))
    wait(driver, f"const r = window.emorec.lastResult; return r && r.file === {json.dumps(Path(path).name)} "
                 "&& r.detector === 'yunet' && r.faces.length")
    return driver.execute_script("return window.emorec.lastResult")


@needs_chromium
@needs_yunet
def test_an_uploaded_photo_gives_pythons_faces(server, tmp_path):
    """The sample photo uploaded in the in-browser mode: YuNet's box as Python's YuNet gives it (the page decodes
    the JPEG itself), the same 48x48 crop (within a grey level or two: JPEG decoders), and probabilities within
    1e-3 of Python's (EmotionRecognizer with YuNet)."""
    from emorec import EmotionRecognizer

    driver = chromium(tmp_path)
    try:
        r = upload_in_browser(driver, server, SAMPLE)
        crops = driver.execute_async_script("""const done = arguments[arguments.length - 1];
            const f = document.getElementById('file');  // the decoded photo, analysed again with its crops
            window.EmorecBrowser.decodeImage(window.emorec.file).then(img => window.emorec.engine.analyze(
              img.rgba, img.width, img.height, {model: 'fer2013', crops: true})).then(x => done(x.crops), e => done(String(e)));""")
    finally:
        driver.quit()
    rec = EmotionRecognizer("fer2013", detector="yunet", detector_model=str(YUNET))
    faces = rec.analyze(str(SAMPLE))
    assert set(r) == ANALYZE_KEYS and r["file"] == "astronaut.jpg" and r["format"] == "image/jpeg", r
    assert len(r["faces"]) == len(faces) == 1, (r, faces)
    got, want = r["faces"][0], faces[0]
    assert max(abs(a - b) for a, b in zip(got["box"], want.box)) <= 1, (got["box"], want.box)
    assert got["emotion"] == want.emotion, (got, want)
    diff = max(abs(got["scores"][k] - want.scores[k]) for k in want.scores)
    assert diff < 1e-3, (got["scores"], want.scores)
    import cv2

    frame = rec.frame(cv2.imread(str(SAMPLE)))
    py_crop = rec.crops(frame, rec.detect(frame))[0]
    from emorec.preprocess import to_uint8_face

    py48 = to_uint8_face(py_crop, 48).astype(int)
    js48 = np.asarray(crops[0]).reshape(48, 48)
    assert np.abs(py48 - js48).max() <= 3 and np.abs(py48 - js48).mean() < 0.5, np.abs(py48 - js48).max()


@needs_chromium
@needs_yunet
def test_a_thumbnail_is_searched_enlarged_in_the_page_as_in_python(server, tmp_path):
    """A 150x150 PNG (under YuNet's SMALL_IMAGE): the page searches it enlarged as Python does and finds the same
    face, box within a pixel, probabilities within 1e-3."""
    import cv2

    from emorec import EmotionRecognizer

    thumb = tmp_path / "thumb.png"
    cv2.imwrite(str(thumb), cv2.resize(cv2.imread(str(SAMPLE)), (150, 150), interpolation=cv2.INTER_AREA))
    driver = chromium(tmp_path)
    try:
        r = upload_in_browser(driver, server, thumb)
    finally:
        driver.quit()
    faces = EmotionRecognizer("fer2013", detector="yunet", detector_model=str(YUNET)).analyze(str(thumb))
    assert len(r["faces"]) == len(faces) == 1, (r, faces)
    assert max(abs(a - b) for a, b in zip(r["faces"][0]["box"], faces[0].box)) <= 1, (r["faces"][0], faces[0])
    assert max(abs(r["faces"][0]["scores"][k] - faces[0].scores[k]) for k in faces[0].scores) < 1e-3


# ---------------------------------------------------------------- the server's page files, the static build
def test_the_server_serves_the_page_files_with_isolation_headers(server):
    import httpx

    from emorec.model_card import MODELS_DIR

    page = httpx.get(server.url + "/?run=browser")
    assert page.status_code == 200
    assert page.headers["cross-origin-opener-policy"] == "same-origin"
    assert page.headers["cross-origin-embedder-policy"] == "require-corp"
    wasm = httpx.get(server.url + "/static/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm")
    assert wasm.status_code == 200 and wasm.headers["content-type"] == "application/wasm"
    assert wasm.headers["cross-origin-embedder-policy"] == "require-corp"
    mjs = httpx.get(server.url + "/static/vendor/onnxruntime-web/ort.wasm.min.mjs")
    assert mjs.headers["content-type"].startswith("text/javascript")
    site = httpx.get(server.url + "/models/index.json").json()
    assert site["server"] is True and site["default"] == "fer2013"
    assert [m["name"] for m in site["models"]] == ["fer2013", "ferplus", "fer2013-ensemble"]
    assert site["models"][1]["classes"][1] == "happy"  # ferplus's 'happiness', in the common vocabulary
    assert site["models"][0]["temperature"] == json.loads((MODELS_DIR / "fer2013.json").read_text())["calibration"][
        "temperature"]
    assert site["detector"]["present"] is (YUNET is not None) and site["detector"]["align"] is True
    model = httpx.get(server.url + "/models/fer2013.onnx")
    assert model.content == (MODELS_DIR / "fer2013.onnx").read_bytes()
    card = httpx.get(server.url + "/models/ferplus.json").json()
    assert card["name"] == "ferplus" and "recipe" not in card and "/work" not in json.dumps(card)
    yunet = httpx.get(server.url + "/models/yunet.onnx")
    if YUNET is not None:
        assert yunet.status_code == 200 and yunet.content == YUNET.read_bytes()
    else:
        assert yunet.status_code == 404
    for bad in ("/models/nope.onnx", "/models/../pyproject.toml", "/models/fer2013.md"):
        r = httpx.get(server.url + bad)
        assert r.status_code == 404 and r.json()["error"] == "not_found", bad
    assert "/models/{filename}" not in httpx.get(server.url + "/openapi.json").json()["paths"]
    # the API's answers are not isolated (only the page and its files are)
    assert "cross-origin-embedder-policy" not in httpx.get(server.url + "/healthz").headers


def test_build_site_writes_a_self_contained_site(tmp_path, monkeypatch):
    from emorec.errors import EmorecError, ModelError
    from emorec.web import RUNTIME_DIR, build_site

    monkeypatch.delenv("EMOREC_YUNET", raising=False)
    monkeypatch.setenv("EMOREC_CACHE", str(tmp_path / "empty-cache"))
    out = tmp_path / "site"
    info = build_site(out, YUNET)
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    runtime = {f"static/vendor/onnxruntime-web/{n}" for n in ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs",
                                                              "ort-wasm-simd-threaded.wasm", "LICENSE")}
    assert {"index.html", "_headers", "static/style.css", *(f"static/{n}" for n in PAGE_SCRIPTS),
            "models/index.json", "models/fer2013.onnx", "models/fer2013.json", "models/ferplus.onnx"} | runtime <= names
    import re

    assert re.findall(r'<script src="static/([^"]+)"', (out / "index.html").read_text()) == list(PAGE_SCRIPTS)
    assert "MIT" in (out / "static/vendor/onnxruntime-web/LICENSE").read_text()
    assert not any(n.endswith((".jsep.wasm", ".jspi.wasm", ".asyncify.wasm", ".map")) for n in names), names
    assert info["files"] == len(names) and info["bytes"] == sum((out / n).stat().st_size for n in names)
    assert info["runtime"] == json.loads((RUNTIME_DIR / "VENDORED.json").read_text())["version"]
    assert "Cross-Origin-Embedder-Policy: require-corp" in (out / "_headers").read_text()
    site = json.loads((out / "models/index.json").read_text())
    assert site["server"] is False and site["detector"]["present"] is (YUNET is not None)
    assert "recipe" not in json.loads((out / "models/fer2013.json").read_text())
    # the page loads nothing from elsewhere: every URL in it is relative
    html = (out / "index.html").read_text()
    assert "http://" not in html and "https://" not in html and 'src="/' not in html and 'href="/' not in html
    if YUNET is not None:
        assert (out / "models/yunet.onnx").read_bytes() == YUNET.read_bytes() and info["yunet_source"] == str(YUNET)
    # rebuilt over itself: fine, and a YuNet copy already in the site is kept when none is found
    again = build_site(out)
    assert again["yunet"] is (YUNET is not None) and again["files"] == info["files"]
    # refusals: another non-empty folder, a file, an unknown model, a YuNet path that is not a file
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(EmorecError, match="not empty"):
        build_site(other)
    assert build_site(other, force=True)["files"] > 1 and (other / "notes.txt").read_text() == "mine"
    with pytest.raises(EmorecError, match="is a file"):
        build_site(other / "notes.txt")
    with pytest.raises(ModelError, match="unknown model"):
        build_site(tmp_path / "s2", models=["nope"])
    with pytest.raises(ModelError, match="no such YuNet model file"):
        build_site(tmp_path / "s3", tmp_path / "missing.onnx")
    # only fer2013: the manifest lists it alone
    one = build_site(tmp_path / "s4", models=["fer2013"])
    assert one["models"] == ["fer2013"] and not (tmp_path / "s4/models/ferplus.onnx").exists()


# ---------------------------------------------------------------- one table per fact
PAGE = ROOT / "src" / "emorec" / "static"


def test_the_manifest_carries_pythons_settings_and_colours():
    """models/index.json (both the server's and a static site's: the same function) has YuNet's settings, the crop
    geometry, the tracker's defaults, the accepted upload types and the palette with the values emorec's Python
    modules define: the page takes them from there."""
    import inspect

    from emorec import crop, drawing, labels
    from emorec.detectors import yunet
    from emorec.model_card import MODELS_DIR
    from emorec.server.uploads import ALLOWED_FORMATS
    from emorec.tracking import DETECT_EVERY, SMOOTH, FaceTracker
    from emorec.web import manifest

    for server in (True, False):
        site = json.loads(json.dumps(manifest(server=server, yunet=True)))  # as the page reads it
        d = site["detector"]
        assert {k: d[k] for k in ("score_threshold", "nms_threshold", "top_k", "min_size", "work_size", "min_input",
                                  "largest", "next_pass", "min_pass", "min_px", "strides")} == {
            "score_threshold": yunet.SCORE_THRESHOLD, "nms_threshold": yunet.NMS_THRESHOLD, "top_k": yunet.TOP_K,
            "min_size": yunet.MIN_SIZE, "work_size": yunet.WORK_SIZE, "min_input": yunet.MIN_INPUT,
            "largest": yunet.LARGEST, "next_pass": yunet.NEXT_PASS, "min_pass": yunet.MIN_PASS,
            "min_px": yunet.YuNetDetector.min_px, "strides": list(yunet.STRIDES)}
        card = json.loads((MODELS_DIR / f"{site['default']}.json").read_text())
        geometry = (card.get("preprocess") or {}).get("crop", {}).get("yunet", {})
        assert d["margin"] == geometry.get("margin", crop.MARGIN) and d["align"] is geometry.get("align", yunet.ALIGN)
        defaults = {n: p.default for n, p in inspect.signature(FaceTracker.__init__).parameters.items()
                    if p.kind is p.KEYWORD_ONLY}
        assert site["tracking"] == defaults and set(defaults) == {"detect_every", "smooth", "iou_threshold",
                                                                  "max_missed", "search", "hold"}, site["tracking"]
        assert (site["tracking"]["detect_every"], site["tracking"]["smooth"]) == (DETECT_EVERY, SMOOTH)
        assert site["uploads"]["formats"] == ALLOWED_FORMATS and list(site["uploads"]["formats"]) == list(ALLOWED_FORMATS)
        # the palette: drawing.EMOTION_COLORS (BGR) as CSS hex, the fallback color_of gives, labels' synonyms
        assert site["colors"] == {k: "#%02x%02x%02x" % (r, g, b) for k, (b, g, r) in drawing.EMOTION_COLORS.items()}
        assert site["fallback_color"] == drawing.css_color(drawing.color_of("no-such-emotion"))
        assert site["synonyms"] == labels.SYNONYMS
        for model in site["models"]:  # every class of every model (in any spelling) has its own colour
            assert set(model["classes"]) <= set(site["colors"]), model
            assert len({site["colors"][c] for c in model["classes"]}) == len(model["classes"]), model
        for other, common in labels.SYNONYMS.items():
            assert site["colors"][site["synonyms"][other]] == drawing.css_color(drawing.color_of(other)), other
        assert site["fallback_color"] not in site["colors"].values()


def test_the_page_keeps_no_copy_of_pythons_settings():
    """The page's files do not repeat what the manifest carries: no palette, no synonyms, no upload types, no
    detector or tracker numbers (engine.js's functions take them as arguments or from the manifest)."""
    from emorec import labels
    from emorec.drawing import css_palette
    from emorec.server.uploads import ALLOWED_FORMATS

    files = {name: (PAGE / name).read_text() for name in (*PAGE_SCRIPTS, "index.html")}
    palette = css_palette()
    for name, text in files.items():
        low = text.lower()
        for colour in [*palette["colors"].values(), palette["fallback"], "#d93025", "#2f6fde"]:
            assert colour not in low, (name, colour)
        assert ",".join(ALLOWED_FORMATS.values()) not in low and "image/tiff" not in low, name
        assert not [k for k in labels.SYNONYMS if f'{k}: "' in low or f'"{k}": "' in low], name  # no synonym table
    import re

    names = ("margin|scoreThreshold|nmsThreshold|topK|minSize|workSize|minInput|minPx|largest|nextPass|minPass|"
             "strides|detectEvery|smooth|iouThreshold|maxMissed|search|hold|DETECT_EVERY|MARGIN")
    for name in PAGE_SCRIPTS:  # no default and no table of these settings
        found = re.findall(rf"\b(?:{names})\s*(?:=|:|\|\|)\s*[\[\d.]", files[name])
        assert not found, (name, found)
    assert not [name for name in ENGINE_FILES if "0.85" in files[name] or "5000" in files[name]]
    assert "JPEG, PNG" not in "".join(files[name] for name in PAGE_SCRIPTS[len(ENGINE_FILES):]) + files["index.html"]
    assert not [t for t in ALLOWED_FORMATS.values() if t in files["index.html"]]


NODE = Path("/usr/bin/node") if Path("/usr/bin/node").exists() else None


@pytest.mark.skipif(NODE is None, reason="node is absent")
def test_the_engine_runs_with_the_manifests_settings_and_refuses_without_them(tmp_path):
    """engine.js in Node with the manifest's settings: YuNet's search scales are Python's (search_scales: a small
    image enlarged, large faces in halving passes), and an enlarged copy is cv2.resize's to the value; the
    tracker takes the Python FaceTracker's defaults; a setting missing is an error, not a silent default."""
    from emorec.detectors import yunet
    from emorec.web import manifest

    site = manifest(server=False, yunet=True)
    (tmp_path / "site.json").write_text(json.dumps(site))
    small = np.random.default_rng(0).integers(0, 256, (88, 129, 3), dtype=np.uint8)  # a thumbnail, RGB
    (tmp_path / "small.json").write_text(json.dumps(small.ravel().tolist()))
    script = """const E = require(process.argv[1]), site = require(process.argv[2]), small = require(process.argv[3]);
const Y = E.yunetSettings(site.detector), T = new E.FaceTracker(E.trackerSettings(site.tracking));
const refused = (f) => { try { f(); return null; } catch (e) { return e.message; } };
console.log(JSON.stringify({
  scales: SIZES.map(([w, h]) => E.yunetScales(Y, w, h).scales),
  enlarged: (() => { const s = E.yunetScales(Y, 129, 88).scales[0], z = E.yunetSize(129, 88, s);
                     const rgba = new Uint8Array(129 * 88 * 4).map((_, i) => i % 4 === 3 ? 255 : small[(i >> 2) * 3 + i % 4]);
                     return [z.w, z.h, Array.from(E.resizeLinear(Uint8Array.from(small), 129, 88, z.w, z.h, 3)),
                             Array.from(E.resizeLinear(rgba, 129, 88, z.w, z.h, 4, 3))]; })(),
  outputs: E.yunetOutputs(Y),
  tracker: [T.detectEvery, T.smooth, T.iouThreshold, T.maxMissed, T.search, T.hold],
  refused: [refused(() => E.yunetSettings({...site.detector, top_k: undefined})),
            refused(() => new E.FaceTracker({detectEvery: 5})),
            refused(() => E.squareBox([0, 0, 10, 10]))],
}));"""
    sizes = [(640, 480), (4000, 3000), (300, 200), (1920, 1080), (129, 88), (2070, 1407)]
    script = f"const SIZES = {json.dumps(sizes)};\n" + script
    run = subprocess.run([str(NODE), "-e", script, str(PAGE / "engine.js"), str(tmp_path / "site.json"),
                          str(tmp_path / "small.json")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    for (w, h), scales in zip(sizes, got["scales"]):
        want = yunet.search_scales((h, w), max(yunet.YuNetDetector.min_px, yunet.MIN_SIZE), None)
        assert scales == pytest.approx(want), (w, h)
    assert got["scales"][4][0] > 1  # the thumbnail is searched enlarged
    w, h, pixels, from_rgba = got["enlarged"]
    want = yunet.resized(small, got["scales"][4][0])  # the channel order does not matter to the resize
    assert (w, h) == (want.shape[1], want.shape[0]) and np.array_equal(np.asarray(pixels, np.uint8), want.ravel())
    assert from_rgba == pixels  # the page's frames are RGBA: the alpha dropped, the rest as from RGB
    assert got["outputs"] == list(yunet.OUTPUTS)
    t = site["tracking"]
    assert got["tracker"] == [t["detect_every"], t["smooth"], t["iou_threshold"], t["max_missed"], t["search"], t["hold"]]
    assert "top_k" in got["refused"][0] and "smooth" in got["refused"][1] and "margin" in got["refused"][2], got


@pytest.mark.parametrize("command", [["-m", "emorec", "web"], ["-m", "emorec.web"]], ids=["emorec web", "-m emorec.web"])
def test_the_web_command(tmp_path, command):
    env = {**os.environ, "EMOREC_CACHE": str(tmp_path / "empty-cache")}
    env.pop("EMOREC_YUNET", None)
    run = subprocess.run([sys.executable, *command, "--out", str(tmp_path / "site")], capture_output=True,
                         text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout and "http.server" in run.stdout
    assert "models/yunet.onnx" in run.stderr  # no YuNet here: the note says how to supply it
    assert (tmp_path / "site" / "index.html").is_file()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    bad = subprocess.run([sys.executable, *command, "--out", str(tmp_path / "busy")], capture_output=True,
                         text=True, env=env, timeout=120)
    assert bad.returncode == 1 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
