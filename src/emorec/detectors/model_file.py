"""Finding the YuNet model file the way users expect, in this order:

1. a path given (``--detector-model PATH`` / ``detector_model=PATH``);
2. the ``EMOREC_YUNET`` environment variable;
3. a cached copy in the user's cache folder (``$EMOREC_CACHE``, else ``$XDG_CACHE_HOME/emorec``, else
   ``~/.cache/emorec``; ``%LOCALAPPDATA%\\emorec`` on Windows, ``~/Library/Caches/emorec`` on macOS);
4. a one-time download from its official OpenCV Zoo location (``EMOREC_YUNET_URL`` overrides it, for a
   mirror), checked against its sha256 before it is moved into the cache (never a half-written file).

When none works, :class:`emorec.errors.ModelError` says exactly these options. The file is the OpenCV Zoo's
``face_detection_yunet_2023mar.onnx`` (MIT licence, Shiqi Yu and contributors; 232,589 bytes).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from ..errors import ModelError
from ..files import sha256

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
YUNET_BYTES = 232_589
YUNET_URL = ("https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
             "face_detection_yunet_2023mar.onnx")
ENV_PATH = "EMOREC_YUNET"
ENV_URL = "EMOREC_YUNET_URL"
ENV_CACHE = "EMOREC_CACHE"
DOWNLOAD_TIMEOUT_S = 30.0


def cache_dir() -> Path:
    """The user's cache folder for emorec (not created here)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "emorec"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "emorec"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "emorec"


def _how_to_fix(cached: Path) -> str:
    return (f"To use YuNet, do one of: pass --detector-model PATH (detector_model=PATH in Python) or set "
            f"{ENV_PATH}=PATH to a copy of {YUNET_FILE}; or put that file at {cached}; or let emorec download "
            f"it once from {YUNET_URL} (sha256 {YUNET_SHA256}). Or use --detector haar, which needs no file")


def check_model_file(path, what: str) -> Path:
    """``path`` exists, is a file and is not empty; else ModelError naming it and ``what`` gave it."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelError(f"{p}: no such YuNet model file (given by {what}). {_how_to_fix(cache_dir() / YUNET_FILE)}")
    if p.is_dir():
        raise ModelError(f"{p}: is a folder, not the YuNet model file {YUNET_FILE} (given by {what})")
    if p.stat().st_size == 0:
        raise ModelError(f"{p}: empty file (0 bytes), not the YuNet model (given by {what}). "
                         f"{_how_to_fix(cache_dir() / YUNET_FILE)}")
    return p


def download(url: str, target: Path, *, sha256: str = YUNET_SHA256, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Fetch ``url`` (http(s):// or file://) into ``target`` atomically, checked against ``sha256``.

    The bytes go to a temporary file beside ``target`` and replace it only once their sha256 is right; on
    any failure the temporary file is removed and :class:`ModelError` says what happened.
    """
    import urllib.request

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != sha256:
            raise ModelError(f"downloaded {url} but its sha256 is {h.hexdigest()}, not the expected {sha256}: "
                             "not the YuNet model file (a wrong or damaged download); nothing was kept")
        os.replace(tmp, target)
        return target
    except ModelError:
        raise
    except Exception as e:  # URLError, HTTPError, timeouts, OSError while writing
        raise ModelError(f"could not download {url}: {getattr(e, 'reason', None) or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def resolve_yunet(path=None, *, download_missing: bool = True) -> Path:
    """The YuNet model file to use (see the module docstring for the order). Raises :class:`ModelError`."""
    if path is not None:
        return check_model_file(path, "detector_model / --detector-model")
    if os.environ.get(ENV_PATH):
        return check_model_file(os.environ[ENV_PATH], f"${ENV_PATH}")
    cached = cache_dir() / YUNET_FILE
    if cached.is_file():
        if cached.stat().st_size == YUNET_BYTES and sha256(cached) == YUNET_SHA256:
            return cached
        problem = f"the cached {cached} is damaged (sha256 differs); "
    else:
        problem = f"no cached copy at {cached}; "
    url = os.environ.get(ENV_URL) or YUNET_URL
    if not download_missing:
        raise ModelError(f"YuNet model not found: {problem}downloads are off. {_how_to_fix(cached)}")
    try:
        return download(url, cached)
    except ModelError as e:
        raise ModelError(f"YuNet model not found: {problem}{e}. {_how_to_fix(cached)}") from None
