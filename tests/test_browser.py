"""The web page in a real headless Chromium (Debian's /usr/bin/chromium driven by Selenium + chromedriver),
against a real uvicorn server started here on 127.0.0.1.

* upload: the bundled sample photo goes through the page's file input; a face box and label must
  appear in the page (results list) and on the overlay canvas (its pixels are read back).
* webcam: Chromium's fake camera plays a short Y4M video made here from the sample, the face
  panning across the frame; the overlay must follow it (several frames analysed, boxes at different
  places, never more than one request in flight, none after the camera is stopped).
* no broken-image icon: the image area stays hidden before an upload and after an error.
* the colours and the accepted upload types are those the server's manifest (/models/index.json) gives:
  emorec.drawing's palette and emorec.server.uploads's types.
* videos: the mp4 that emorec writes (emorec.video_writer, H.264) plays in Chromium, frame by frame.

Screenshots go to pytest's tmp dir; set EMOREC_SCREENSHOT_DIR to keep copies elsewhere.
"""

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

from chromium import CHROMEDRIVER, CHROMIUM, launch, write_y4m  # noqa: E402
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "emorec" / "assets" / "astronaut.jpg"
TIMEOUT = 90  # seconds to wait for results: CI machines can be slow and busy

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium chromium-driver)", allow_module_level=True)
if not CHROMEDRIVER.exists():
    pytest.skip(f"{CHROMEDRIVER} is absent (apt-get install chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
pytest.importorskip("fastapi", reason="the serve extra is not installed")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from emorec.server import BackgroundServer  # noqa: E402


def panning_face_frames(n: int = 16, size=(640, 480)):
    """640x480 frames with the sample's face sliding left to right and back."""
    import cv2

    w, h = size
    face = cv2.resize(cv2.imread(str(SAMPLE)), (400, 400), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        x = int(round((w - 400) * (1 - abs(2 * i / n - 1))))  # 0 -> 240 -> 0
        frame = np.full((h, w, 3), 90, np.uint8)
        frame[40:440, x:x + 400] = face
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def server():
    with BackgroundServer() as srv:
        yield srv


def chromium(tmp_path: Path, *extra):
    return launch(tmp_path, *extra, timeout=TIMEOUT)


def keep(shot: Path):
    if os.environ.get("EMOREC_SCREENSHOT_DIR"):
        dest = Path(os.environ["EMOREC_SCREENSHOT_DIR"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, dest / shot.name)


def open_page(driver, server):
    driver.get(server.url + "/")
    WebDriverWait(driver, TIMEOUT).until(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
    assert driver.title.startswith("emorec")


# Reads the overlay canvas back: the alpha of the pixels on the box's left edge and in the label tag above it.
OVERLAY_PIXELS = """
const r = window.emorec.lastResult, c = document.getElementById('overlay');
const f = r.faces[0], s = c.clientWidth / r.width, dpr = c.width / c.clientWidth;
let [x, y, w, h] = f.box.map(v => v * s);
if (window.emorec.mode === 'camera') x = c.clientWidth - x - w;
const ctx = c.getContext('2d');
const pixel = (px, py) => [...ctx.getImageData(Math.round(px * dpr), Math.round(py * dpr), 1, 1).data];
const alphaAt = (px, py) => pixel(px, py)[3];
const edge = [0.25, 0.5, 0.75].map(t => alphaAt(x, y + t * h));
const inside = alphaAt(x + w / 2, y + h / 2);
const tag = alphaAt(x + 4, y > 20 ? y - 10 : y + 10);
const rgb = pixel(x, y + 0.5 * h).slice(0, 3);
return {edge, inside, tag, rgb, canvas: [c.clientWidth, c.clientHeight], media: [r.width, r.height]};
"""


def test_page_upload_shows_face_box_and_label(server, tmp_path):
    import httpx

    classes = {c for card in httpx.get(server.url + "/v1/models").json()["models"] for c in card["classes"]}
    driver = chromium(tmp_path)
    try:
        open_page(driver, server)
        assert_no_image_area(driver)  # nothing uploaded yet: no empty frame, no broken-image icon
        driver.find_element(By.ID, "file").send_keys(str(SAMPLE))
        WebDriverWait(driver, TIMEOUT).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#faces .face") or d.find_element(By.ID, "error").is_displayed())
        assert driver.find_element(By.ID, "photo").is_displayed()
        assert not driver.find_element(By.ID, "error").is_displayed(), driver.find_element(By.ID, "error").text
        faces = driver.find_elements(By.CSS_SELECTOR, "#faces .face")
        assert len(faces) == 1  # the sample has one face
        label = faces[0].find_element(By.CSS_SELECTOR, ".face-label").text
        emotion = faces[0].get_attribute("data-emotion")
        assert emotion in classes and emotion in label, label
        assert len(faces[0].find_elements(By.CSS_SELECTOR, ".bar")) == 7  # fer2013: one bar per class

        result = driver.execute_script("return window.emorec.lastResult")
        assert result["file"] == SAMPLE.name and result["width"] == 512 and result["height"] == 512
        x, y, w, h = result["faces"][0]["box"]
        assert 100 < x < 300 and 20 < y < 200 and 40 < w < 200, result["faces"][0]["box"]  # the astronaut's face

        px = driver.execute_script(OVERLAY_PIXELS)
        assert px["canvas"][0] > 100 and px["canvas"][1] > 100, px
        assert max(px["edge"]) > 200, px   # the box is drawn ...
        assert px["inside"] == 0, px       # ... as an outline, the face stays visible
        assert px["tag"] > 200, px         # the label tag
        assert "1 face" in driver.find_element(By.ID, "status").text

        shot = tmp_path / "emorec_page_upload.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        keep(shot)

        # the model option re-analyses the same image with the other model (8 classes)
        driver.execute_script("const m = document.getElementById('model'); m.value = 'ferplus';"
                              "m.dispatchEvent(new Event('change'));")
        WebDriverWait(driver, TIMEOUT).until(
            lambda d: d.execute_script("const r = window.emorec.lastResult; return r && r.model === 'ferplus'"))
        WebDriverWait(driver, TIMEOUT).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#faces .face .bar")) == 8)
        # one vocabulary and every class in its own colour, none in the page's default blue
        bars = driver.execute_script(
            "return [...document.querySelectorAll('#faces .face .bar')].map(b => "
            "[b.querySelector('.name').textContent, b.style.getPropertyValue('--c')])")
        names = [n for n, _ in bars]
        assert set(names) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt"}, names
        colours = [c.strip().lower() for _, c in bars]
        assert "#2f6fde" not in colours and len(set(colours)) == 8, bars
        # the colours are emorec.drawing's palette (those of the annotated images), read from the manifest the
        # server answers at /models/index.json
        from emorec.drawing import color_of, css_color, css_palette

        site_colors = driver.execute_script("return window.emorec.site.colors")
        assert site_colors == httpx.get(server.url + "/models/index.json").json()["colors"] == css_palette()["colors"]
        assert [css_color(color_of(n)) for n in names] == colours, bars
        # the file input and the note under it offer the types the server accepts (server/uploads.py)
        from emorec.server.uploads import ALLOWED_FORMATS

        assert driver.find_element(By.ID, "file").get_attribute("accept") == ",".join(ALLOWED_FORMATS.values())
        assert all(f in driver.find_element(By.ID, "limits").text for f in ALLOWED_FORMATS)
        # the box is drawn in its emotion's colour
        px = driver.execute_script(OVERLAY_PIXELS)
        face_colour = driver.execute_script(
            "return document.querySelector('#faces .face').style.getPropertyValue('--c')").strip()
        expected = [int(face_colour[k:k + 2], 16) for k in (1, 3, 5)]
        assert max(px["edge"]) > 200 and max(abs(a - b) for a, b in zip(px["rgb"], expected)) < 40, (px, face_colour)

        # "unsure below": the server withholds the label, the page says unsure and keeps the bars
        driver.execute_script("document.getElementById('model').value = 'fer2013';"  # happy 0.96 there
                              "const m = document.getElementById('min-confidence'); m.value = '0.999';"
                              "m.dispatchEvent(new Event('change'));")
        WebDriverWait(driver, TIMEOUT).until(
            lambda d: d.execute_script("const r = window.emorec.lastResult; return r && r.min_confidence === 0.999"))
        face = driver.find_element(By.CSS_SELECTOR, "#faces .face")
        assert driver.execute_script("return window.emorec.lastResult.faces[0].emotion") is None
        assert face.get_attribute("data-emotion") == "unsure" and "unsure" in face.text
        assert len(face.find_elements(By.CSS_SELECTOR, ".bar")) == 7
    finally:
        driver.quit()


def assert_no_image_area(driver):
    """The image area (photo, video, overlay) is not shown: no empty frame, no broken-image icon."""
    stage = driver.find_element(By.ID, "stage")
    assert not stage.is_displayed(), stage.rect
    assert driver.execute_script("return document.getElementById('stage').getBoundingClientRect().height") == 0


def test_page_shows_server_error_for_a_non_image(server, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a picture\n")
    driver = chromium(tmp_path)
    try:
        open_page(driver, server)
        driver.find_element(By.ID, "file").send_keys(str(bad))
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_element(By.ID, "error").is_displayed())
        text = driver.find_element(By.ID, "error").text
        assert "notes.jpg" in text and "not an image" in text, text
        assert driver.execute_script("return window.emorec.lastError.status") == 415
        assert not driver.find_elements(By.CSS_SELECTOR, "#faces .face")
        assert_no_image_area(driver)  # the file could not be shown: no broken-image icon
        # after a good image, an error hides that image too (its boxes would describe another file)
        driver.find_element(By.ID, "file").send_keys(str(SAMPLE))
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#faces .face"))
        assert driver.find_element(By.ID, "stage").is_displayed()
        assert not driver.find_element(By.ID, "error").is_displayed()
        driver.find_element(By.ID, "file").send_keys(str(bad))
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_element(By.ID, "error").is_displayed())
        assert_no_image_area(driver)
    finally:
        driver.quit()


def test_page_webcam_overlay_follows_the_face(server, tmp_path):
    video = write_y4m(tmp_path / "face.y4m", panning_face_frames(), fps=8)
    driver = chromium(tmp_path, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                      f"--use-file-for-fake-video-capture={video}", "--autoplay-policy=no-user-gesture-required")
    try:
        open_page(driver, server)
        driver.find_element(By.ID, "camera").click()
        # several frames analysed, the face found in them at different places
        WebDriverWait(driver, TIMEOUT, poll_frequency=0.25).until(lambda d: d.execute_script(
            "const s = window.emorec; return s.frames >= 8 && new Set(s.boxes.map(b => Math.round(b[0] / 20))).size >= 3"
        ) or d.find_element(By.ID, "error").is_displayed())
        assert not driver.find_element(By.ID, "error").is_displayed(), driver.find_element(By.ID, "error").text
        state = driver.execute_script("return {mode: window.emorec.mode, frames: window.emorec.frames, "
                                      "boxes: window.emorec.boxes, maxInFlight: window.emorec.maxInFlight}")
        assert state["mode"] == "camera"
        assert state["maxInFlight"] == 1, state  # one request at a time
        xs = [b[0] for b in state["boxes"]]
        assert max(xs) - min(xs) > 60, xs  # the face moved ~240 px; the boxes followed it
        assert len(state["boxes"]) >= 0.5 * state["frames"], state  # the face is found in most frames

        # the overlay of a frame with a face: box edge and label drawn over the live video. The result and the
        # canvas are read in one script (the page draws a result as it stores it), at a frame that has a face.
        seen = []

        def overlay_of_a_face(d):
            seen.append(d.execute_script("if (!window.emorec.lastResult.faces.length) return null;" + OVERLAY_PIXELS))
            return seen[-1] is not None and max(seen[-1]["edge"]) > 200 and seen[-1]["tag"] > 200

        try:
            WebDriverWait(driver, TIMEOUT, poll_frequency=0.1).until(overlay_of_a_face)
        except Exception:
            pytest.fail(f"no frame with a face showed its box and label on the overlay; last reads: {seen[-5:]}")
        shot = tmp_path / "emorec_page_webcam.png"
        driver.save_screenshot(str(shot))
        keep(shot)

        # stop: the request in flight (if any) ends, no new one is sent, the image area goes away
        driver.execute_script("""
            const s = window.emorec, f = window.fetch;
            s.fetchTimes = [];
            window.fetch = (...a) => { s.fetchTimes.push(performance.now()); return f(...a); };
            // runs before the page's own click handler (capture phase, on the document)
            document.addEventListener('click', (e) => { if (e.target.id === 'camera') s.stopAt = performance.now(); },
                                      true);""")
        driver.find_element(By.ID, "camera").click()
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.emorec.mode") == "idle")
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.execute_script("return window.emorec.inFlight") == 0)
        frames = driver.execute_script("return window.emorec.frames")
        time.sleep(1.5)  # six camera periods at 4 frames/s
        after = driver.execute_script("const s = window.emorec; "
                                      "return [s.fetchTimes.filter((t) => t >= s.stopAt).length, s.frames, s.inFlight]")
        assert after == [0, frames, 0], after  # no request sent after the click, no frame counted
        assert_no_image_area(driver)
    finally:
        driver.quit()


# Plays a video file in a <video> and, at three times, reads back one row of pixels of the frame the element
# presents (requestVideoFrameCallback: called once the frame sought is shown, with its media time).
PLAY_VIDEO = """
const [src, times, row] = arguments, done = arguments[arguments.length - 1];
const v = document.createElement('video');
v.muted = true;
document.body.append(v);
const at = (t) => new Promise((resolve) => {
  v.requestVideoFrameCallback((now, meta) => {
    const c = document.createElement('canvas');
    c.width = v.videoWidth; c.height = v.videoHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(v, 0, 0);
    resolve({time: meta.mediaTime, row: [...ctx.getImageData(0, row, c.width, 1).data].filter((_, k) => k % 4 === 0)});
  });
  v.currentTime = t;
});
v.onloadeddata = async () => {
  const frames = [];
  for (const t of times) frames.push(await at(t));
  done({width: v.videoWidth, height: v.videoHeight, duration: v.duration, frames});
};
v.onerror = () => done({error: v.error && v.error.code});
v.src = src;
"""


def test_the_videos_emorec_writes_play_in_chromium(tmp_path):
    """emorec's VideoWriter output (H.264) plays in the browser; OpenCV's mp4v, which it replaced, does not."""
    from emorec.video_writer import VideoWriter, h264_encoder

    assert h264_encoder() is not None, "no H.264 encoder: is PyAV (a dependency) installed? pip install av"
    w, h, fps = 160, 120, 10
    for codec in ("auto", "mp4v"):
        with VideoWriter(tmp_path / f"{codec}.mp4", fps, (w, h), codec=codec) as out:
            for i in range(20):  # a white square moving 4 px right per frame, on row 30-45
                f = np.full((h, w, 3), 40, np.uint8)
                f[30:46, 4 * i: 4 * i + 16] = 255
                out.write(f)
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><title>video</title><body></body>")
    driver = chromium(tmp_path, "--allow-file-access-from-files", "--autoplay-policy=no-user-gesture-required")
    try:
        driver.set_script_timeout(TIMEOUT)
        driver.get(page.as_uri())
        got = driver.execute_async_script(PLAY_VIDEO, (tmp_path / "auto.mp4").as_uri(), [0.05, 0.55, 1.05], 38)
        assert "error" not in got, got
        assert (got["width"], got["height"]) == (w, h) and got["duration"] == pytest.approx(2.0, abs=0.15), got
        # frames 0, 5 and 10 were shown, with the square's left edge at x = 0, 20, 40
        assert [round(f["time"] * fps) for f in got["frames"]] == [0, 5, 10], got
        assert [next((x for x, v in enumerate(f["row"]) if v > 200), None) for f in got["frames"]] == [0, 20, 40], got
        old = driver.execute_async_script(PLAY_VIDEO, (tmp_path / "mp4v.mp4").as_uri(), [0.05], 38)
        assert old.get("error") == 4, old  # MEDIA_ERR_SRC_NOT_SUPPORTED: why emorec no longer writes mp4v
    finally:
        driver.quit()
