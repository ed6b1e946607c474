"""The web page's live view in headless Chromium: frames analysed per second in-browser vs server mode,
time to the first result after page load, and the bytes the page downloads.

    EMOREC_YUNET=/path/to/face_detection_yunet_2023mar.onnx .venv/bin/python bench/bench_browser.py
    .venv/bin/python bench/bench_browser.py --seconds 20 --json bench/bench_browser_results.json

Chromium's fake webcam plays a 640x480 Y4M (30 frames/s) made from src/emorec/assets/astronaut.jpg (one
face; the photo scaled to 480x480 in the middle of a grey frame). Each run is a fresh headless Chromium
(empty profile: a cold cache) and a fresh page:

* in-browser (``/?run=browser``, served by emorec's own server, which sends the cross-origin isolation
  headers): YuNet + the emotion model in the page with ONNX Runtime Web's WebAssembly backend, with its
  default thread count (1 on a 2-core machine) and, for comparison, ``?threads=2``. The server's
  ``/healthz`` ``served`` counter must stay 0 (no analysis request);
* the static site (``emorec web --out DIR``) served by Python's ``http.server`` (no isolation
  headers: single-threaded), the deployment with no emorec process;
* server mode (``/?run=server``): each frame JPEG-encoded and posted to ``POST /v1/analyze``, one request
  in flight; as shipped (at most 4 frames/s) and uncapped (``?max_fps=0``), with the server's default
  detector (Haar) and with YuNet (the detector the in-browser mode runs).

"fps" is frames analysed per second over ``--seconds`` after the first result (``window.emorec.frames``);
"first result" is ``window.emorec.firstResultMs`` (ms after navigation start, camera start included);
"bytes" are the Performance API's resource timing sizes of everything the page fetched until then
(``transferSize``: on the wire with headers; ``encodedBodySize``: bodies), page included; per-step times
are the in-browser runtime's own (``window.emorec.engine.timings``), averaged over the frames sampled.
Needs /usr/bin/chromium + chromedriver, selenium and the serve extra; YuNet's file for the in-browser runs.

Measured 2026-12-05 on the 2-core x86_64 dev machine, Chromium 150 headless (no GPU), ONNX Runtime Web 1.22.0,
fer2013, while a training job (nice 5) kept both cores busy (load average 4.9-5.2), with
``python bench/bench_browser.py --seconds 20``:

    run                                    fps    first result  downloaded       per frame (page's own)
    in-browser (emorec serve), 1 thread    26.6   1.19 s        14.63 MB / 14    19 ms: YuNet 5.7, crop 1.7, model 10.1
    in-browser, 2 threads                  20.6   1.28 s        14.63 MB / 15    31 ms (slower: the cores are busy)
    in-browser, full search every frame    16.9   1.30 s        14.63 MB / 14    45 ms: YuNet 32 (resize 9.5)
    in-browser, static site (http.server)  28.1   0.87 s        14.62 MB / 12    17 ms (1 thread: no COOP/COEP)
    server mode, Haar, as shipped (4/s)     4.0   0.66 s         0.09 MB / 10    46 ms on the server
    server mode, Haar, uncapped             8.8   0.51 s         0.09 MB / 10    45 ms on the server
    server mode, YuNet, as shipped (4/s)    4.0   0.57 s         0.09 MB / 10    12 ms on the server
    server mode, YuNet, uncapped           12.8   0.56 s         0.09 MB / 10    12 ms on the server

The in-browser runs are held to the camera's 30 frames/s; with ``--camera-fps 60`` they reach 32 fps (31 for
the static site). The in-browser download is ONNX Runtime Web's WebAssembly (11.2 MB), fer2013.onnx (3.0 MB),
YuNet (0.23 MB) and the page (0.09 MB), uncompressed on these servers (a host that compresses sends the
WebAssembly gzipped in 2.9 MB); a second visit takes them from the browser's cache. Server mode downloads only the
page, but uploads every frame (a 640x480 JPEG each). The server's analyses counter stayed at 0 during the
in-browser runs, and the static server saw only GET requests.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "emorec" / "assets" / "astronaut.jpg"
CHROMIUM = Path(os.environ.get("EMOREC_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("EMOREC_CHROMEDRIVER", "/usr/bin/chromedriver"))

STATE = """const s = window.emorec, rt = s.engine;
return {frames: s.frames, fps: s.fps, first: s.firstResultMs, runsIn: s.runsIn, browser: s.browser,
        error: document.getElementById('error').textContent, notice: document.getElementById('notice').textContent,
        elapsed: s.lastResult && s.lastResult.elapsed_ms, faces: s.lastResult ? s.lastResult.faces.length : null,
        timings: rt && rt.timings, isolated: self.crossOriginIsolated, now: performance.now()};"""
BYTES = """const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
return entries.map(e => ({name: e.name, transfer: e.transferSize, body: e.encodedBodySize,
                          decoded: e.decodedBodySize, end: e.responseEnd}));"""


def webcam_y4m(path: Path, fps: int = 30, frames: int = 30) -> Path:
    """640x480 4:2:0 Y4M at ``fps`` frames/s: the sample photo at 480x480 in a grey frame (one face)."""
    import cv2

    face = cv2.resize(cv2.imread(str(SAMPLE)), (480, 480), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 80:560] = face
    yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W640 H480 F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            fh.write(b"FRAME\n" + yuv)
    return path


def chromium(tmp: Path, video: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-extensions",
                "--window-size=1280,1000", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}", "--autoplay-policy=no-user-gesture-required",
                f"--user-data-dir={tempfile.mkdtemp(dir=tmp, prefix='profile-')}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(120)
    return driver


def measure(url: str, tmp: Path, video: Path, seconds: float, label: str) -> dict:
    """Open ``url`` (which starts the webcam), wait for the first result, then count frames for ``seconds``."""
    try:
        return _measure(url, tmp, video, seconds, label)
    except Exception as e:  # noqa: BLE001  (a browser that died: reported, the other runs go on)
        return {"label": label, "url": url, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}


def _measure(url: str, tmp: Path, video: Path, seconds: float, label: str) -> dict:
    driver = chromium(tmp, video)
    try:
        driver.get(url)
        deadline = time.time() + 180
        while True:
            st = driver.execute_script(STATE)
            if st["frames"] >= 1 or st["error"] or time.time() > deadline:
                break
            time.sleep(0.05)
        if st["error"] or st["frames"] < 1:
            return {"label": label, "url": url, "error": st["error"] or st["notice"] or "no result in 180 s"}
        downloads = driver.execute_script(BYTES)
        first = st["first"]
        start, samples = st, []
        t_end = time.time() + seconds
        while time.time() < t_end:
            time.sleep(0.5)
            st = driver.execute_script(STATE)
            samples.append(st)
        fps = (st["frames"] - start["frames"]) / ((st["now"] - start["now"]) / 1000)
        until_first = [d for d in downloads if d["end"] <= first + 1]
        out = {"label": label, "url": url, "fps": round(fps, 2), "page_fps": st["fps"],
               "first_result_ms": round(first), "frames": st["frames"], "faces_last": st["faces"],
               "elapsed_ms_median": statistics.median([s["elapsed"] for s in samples if s["elapsed"] is not None]),
               "isolated": st["isolated"], "runtime": st["browser"] if st["runsIn"] == "browser" else None,
               "bytes_transfer": sum(d["transfer"] for d in until_first),
               "bytes_body": sum(d["body"] for d in until_first), "requests": len(until_first),
               "largest": sorted(((d["body"], d["name"].rsplit("/", 1)[-1]) for d in until_first), reverse=True)[:4]}
        steps = [s["timings"] for s in samples if s.get("timings")]
        if steps:
            out["steps_ms"] = {k: round(statistics.mean(t[k] for t in steps if k in t), 1) for k in steps[-1]}
        return out
    finally:
        driver.quit()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list = []

    def log_message(self, fmt, *args):
        QuietHandler.requests.append((self.command, self.path))


@contextlib.contextmanager
def static_server(folder: Path):
    handler = lambda *a, **k: QuietHandler(*a, directory=str(folder), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="measuring window per run (after the first result)")
    ap.add_argument("--only", default="", help="comma-separated runs: browser, browser-2t, browser-full, static, "
                    "server-haar, "
                    "server-haar-uncapped, server-yunet, server-yunet-uncapped (default: all)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--camera-fps", type=int, default=30, help="frames per second the fake webcam delivers "
                    "(the in-browser mode cannot analyse more)")
    ap.add_argument("--yunet", type=Path, default=None,
                    help="YuNet's .onnx (default: $EMOREC_YUNET, emorec's cache, or /work/shared/models/yunet/)")
    args = ap.parse_args(argv)

    import httpx

    from emorec.detectors.model_file import resolve_yunet
    from emorec.server import BackgroundServer, ServerConfig
    from emorec.web import build_site

    shared = Path("/work/shared/models/yunet/face_detection_yunet_2023mar.onnx")
    try:
        yunet = resolve_yunet(args.yunet or (shared if shared.is_file() and not os.environ.get("EMOREC_YUNET")
                                             else None), download_missing=False)
    except Exception as e:  # noqa: BLE001
        print(f"YuNet's file is needed for the in-browser runs: {e}", file=sys.stderr)
        return 1
    os.environ.setdefault("EMOREC_YUNET", str(yunet))
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    want = lambda key: not only or key in only  # noqa: E731
    results = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    video = webcam_y4m(tmp / "webcam.y4m", args.camera_fps)
    print(f"load average before: {load_average()}  (2 cores: {os.cpu_count()} CPUs seen)", flush=True)

    def report(r):
        results.append(r)
        if "error" in r:
            print(f"{r['label']:<34} ERROR {r['error']}", flush=True)
            return
        steps = " ".join(f"{k}={v}" for k, v in (r.get("steps_ms") or {}).items())
        print(f"{r['label']:<34} {r['fps']:6.2f} fps  first result {r['first_result_ms']:6d} ms  "
              f"{r['bytes_transfer'] / 1e6:6.2f} MB in {r['requests']} requests  per frame "
              f"{r['elapsed_ms_median']:.0f} ms  {steps}", flush=True)

    for detector in ("haar", "yunet"):
        cfg = ServerConfig(default_detector=detector)
        with BackgroundServer(cfg) as srv:
            if detector == "haar":
                for key, label, query in (("browser", "in-browser (emorec serve)", "?run=browser"),
                                          ("browser-2t", "in-browser, 2 threads", "?run=browser&threads=2"),
                                          ("browser-full", "in-browser, full search every frame",
                                           "?run=browser&detect_every=1")):
                    if want(key):
                        r = measure(srv.url + "/" + query, tmp, video, args.seconds, label)
                        r["server_analyses"] = httpx.get(srv.url + "/healthz").json()["served"]
                        report(r)
            for key, label, query in ((f"server-{detector}", f"server mode, {detector}, as shipped", "?run=server"),
                                      (f"server-{detector}-uncapped", f"server mode, {detector}, uncapped",
                                       "?run=server&max_fps=0")):
                if want(key):
                    report(measure(srv.url + "/" + query, tmp, video, args.seconds, label))

    label = "in-browser, static site (http.server)"
    if want("static"):
        site = build_site(tmp / "site", yunet)
        QuietHandler.requests = []
        with static_server(Path(site["out"])) as url:
            r = measure(url + "/?run=browser", tmp, video, args.seconds, label)
            r["posts"] = sum(1 for m, _ in QuietHandler.requests if m != "GET")
            r["site_bytes"] = site["bytes"]
        report(r)

    chromium_version = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True).stdout.strip()
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "chromium": chromium_version,
            "load_average_after": load_average(), "command": "python bench/bench_browser.py " + " ".join(argv or sys.argv[1:]),
            "frames": f"640x480 fake webcam (Y4M, {args.camera_fps} frames/s), one face"}
    print(f"load average after: {meta['load_average_after']}; {chromium_version}")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
