"""Headless Chromium for the page tests: Debian's /usr/bin/chromium driven by Selenium and chromedriver
(``EMOREC_CHROMIUM`` / ``EMOREC_CHROMEDRIVER`` point elsewhere)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CHROMIUM = Path(os.environ.get("EMOREC_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("EMOREC_CHROMEDRIVER", "/usr/bin/chromedriver"))
ABSENT = (f"{CHROMIUM} or {CHROMEDRIVER} is absent (apt-get install chromium chromium-driver)"
          if not (CHROMIUM.exists() and CHROMEDRIVER.exists()) else "")


def write_y4m(path: Path, frames, fps: int = 30) -> Path:
    """An uncompressed YUV4MPEG2 (4:2:0) video of BGR ``frames``, the format Chromium's fake camera plays
    (``--use-file-for-fake-video-capture``)."""
    import cv2

    h, w = frames[0].shape[:2]
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for bgr in frames:
            fh.write(b"FRAME\n" + cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())  # Y, then U, then V
    return path


def launch(tmp_path: Path, *extra: str, timeout: float = 90):
    """A fresh headless Chromium (its own profile under ``tmp_path``) with ``extra`` switches."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions", "--window-size=1280,1100",
                f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path, prefix='chromium-profile-')}", *extra):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(timeout)
    driver.set_script_timeout(timeout)
    return driver
