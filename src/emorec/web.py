"""The web page as a static site: everything the page's in-browser mode needs, in one folder that any static
file server can serve, with no emorec process behind it.

>>> from emorec.web import build_site
>>> info = build_site("site")               # or: python -m emorec.web --out site
>>> info["files"], info["yunet"]            # 18 files, 17.7 MB with YuNet and both models
(18, True)

The folder holds:

* ``index.html`` and ``static/`` (the page, its scripts, and ONNX Runtime Web's WebAssembly build, vendored
  under ``static/vendor/onnxruntime-web/`` with its licence; see ``scripts/vendor_onnxruntime_web.py``);
* ``models/``: the emotion models (``.onnx``) with their public cards (``.json``), YuNet's file as
  ``models/yunet.onnx`` when emorec finds one on this machine (``yunet=`` path, ``$EMOREC_YUNET``, or the
  user's cache: :func:`emorec.detectors.model_file.resolve_yunet`; never downloaded here), and
  ``models/index.json``, the manifest the page reads (which models, their classes and calibration, where
  the detector is and what to do when it is missing, YuNet's and the tracker's settings, the accepted upload
  types, the colours of the emotions: the values of emorec's Python tables, which the page does not repeat);
* ``_headers``: the cross-origin isolation headers for hosts that read such a file (Netlify, Cloudflare
  Pages). Where they are set, ONNX Runtime may use WebAssembly threads; elsewhere the page runs
  single-threaded. ``emorec serve`` sets them itself.

Without YuNet's file the site still builds: the page says how to supply it (copy it to
``models/yunet.onnx`` and reload), since face detection in the browser needs it.

The same manifest, with ``"server": true``, is what ``emorec serve`` answers at ``/models/index.json``
(:func:`manifest`), so the page runs in the browser the same way from both.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional, Sequence, Union

from . import __version__
from .errors import EmorecError, ModelError
from .model_card import public_card

STATIC_DIR = Path(__file__).resolve().parent / "static"
RUNTIME_DIR = STATIC_DIR / "vendor" / "onnxruntime-web"
# the page's files: index.html (first: the site's root), then what goes under static/ (its <script> tags load them)
PAGE_FILES = ("index.html", "style.css", "numeric.js", "settings.js", "preprocess.js", "classifier.js", "yunet.js",
              "onnxshape.js", "tracker.js", "engine.js", "browser.js", "draw.js", "analyze.js", "camera.js", "app.js")
# The headers that make a page cross-origin isolated (SharedArrayBuffer, hence WebAssembly threads).
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
YUNET_SITE_PATH = "models/yunet.onnx"
MANIFEST_PATH = "models/index.json"
GENERATOR = f"emorec {__version__}"

PathLike = Union[str, Path]


def runtime_version() -> Optional[str]:
    """The vendored ONNX Runtime Web release (from its VENDORED.json), or None when it is missing."""
    try:
        return json.loads((RUNTIME_DIR / "VENDORED.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def runtime_files() -> list[Path]:
    """The vendored runtime's files; :class:`EmorecError` when the installation lacks them."""
    files = sorted(p for p in RUNTIME_DIR.glob("*") if p.is_file()) if RUNTIME_DIR.is_dir() else []
    needed = {"ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"}
    missing = needed - {p.name for p in files}
    if missing:
        raise EmorecError(f"the installation lacks ONNX Runtime Web ({', '.join(sorted(missing))} in {RUNTIME_DIR}); "
                          "run scripts/vendor_onnxruntime_web.py in a source checkout")
    return files


def model_entry(card: dict) -> dict:
    """The manifest's entry for one emotion model: what the page needs to run it as EmotionClassifier does."""
    from .labels import common_names

    name = card["name"]
    calibration = card.get("calibration") or {}
    return {"name": name, "onnx": f"models/{name}.onnx", "card": f"models/{name}.json",
            "classes": common_names(card["classes"]), "input_size": int(card.get("input_size", 48)),
            "scaling": card.get("scaling", "x/255*2-1"),
            "temperature": float(calibration.get("temperature", 1.0)),
            "accuracy": ((card.get("evaluation") or {}).get("PublicTest") or {}).get("accuracy")}


def crop_settings(cards: Sequence[dict]) -> dict:
    """YuNet's crop geometry from the first card that records it (its ``preprocess.crop.yunet``), else the
    detector's defaults."""
    from .crop import MARGIN
    from .detectors.yunet import ALIGN

    for card in cards:
        yunet = (((card.get("preprocess") or {}).get("crop") or {}).get("yunet")) or {}
        if yunet:
            return {"margin": float(yunet.get("margin", MARGIN)), "align": bool(yunet.get("align", ALIGN))}
    return {"margin": MARGIN, "align": ALIGN}


def detector_settings() -> dict:
    """YuNet's search as :class:`emorec.detectors.yunet.YuNetDetector` runs it by default (its module's
    constants): thresholds, the sizes of the searched copies, the passes for large faces, the network's strides."""
    from .detectors import yunet as Y

    return {"score_threshold": Y.SCORE_THRESHOLD, "nms_threshold": Y.NMS_THRESHOLD, "top_k": Y.TOP_K,
            "min_size": Y.MIN_SIZE, "work_size": Y.WORK_SIZE, "min_input": Y.MIN_INPUT, "min_px": Y.YuNetDetector.min_px,
            "small_image": Y.SMALL_IMAGE, "upscale": Y.UPSCALE, "largest": Y.LARGEST, "next_pass": Y.NEXT_PASS,
            "min_pass": Y.MIN_PASS, "strides": list(Y.STRIDES)}


def tracking_settings() -> dict:
    """:class:`emorec.tracking.FaceTracker`'s defaults (its signature: ``detect_every``, ``smooth``,
    ``iou_threshold``, ``max_missed``, ``search``, ``hold``), which the page's webcam tracker uses."""
    import inspect

    from .tracking import FaceTracker

    return {name: p.default for name, p in inspect.signature(FaceTracker.__init__).parameters.items()
            if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}


def upload_settings() -> dict:
    """The image types the server accepts (:data:`emorec.server.uploads.ALLOWED_FORMATS`): format name ->
    media type, for the page's file input and its message."""
    from .server.uploads import ALLOWED_FORMATS

    return {"formats": dict(ALLOWED_FORMATS)}


def palette() -> dict:
    """The page's colours: :data:`emorec.drawing.EMOTION_COLORS` as CSS hex (``colors``, ``fallback_color``)
    and the other spellings of the emotions (:data:`emorec.labels.SYNONYMS`, ``synonyms``), so that the page
    colours each face as the annotated images do."""
    from .drawing import css_palette
    from .labels import SYNONYMS

    css = css_palette()
    return {"colors": css["colors"], "fallback_color": css["fallback"], "synonyms": dict(SYNONYMS)}


def yunet_help(server: bool) -> str:
    """What the page says when the site has no YuNet file: how to supply it."""
    from .detectors.model_file import YUNET_BYTES, YUNET_FILE, YUNET_URL

    if server:
        return (f"this emorec server has no YuNet model file ({YUNET_FILE}), which the in-browser mode needs to find "
                f"faces. Restart it with `emorec serve --detector-model PATH` or EMOREC_YUNET=PATH; or use the "
                f"server mode (frames are then sent to this server).")
    return (f"this site has no YuNet model file, which the in-browser mode needs to find faces. Download "
            f"{YUNET_FILE} ({YUNET_BYTES:,} bytes, MIT licence) from {YUNET_URL} and copy it to "
            f"{YUNET_SITE_PATH} in this site's folder, then reload; or rebuild the site with "
            f"`emorec web --out DIR --yunet PATH` (or EMOREC_YUNET=PATH).")


def manifest(*, server: bool, yunet: bool, models: Optional[Sequence[str]] = None,
             default: Optional[str] = None) -> dict:
    """The page's ``models/index.json``: the models (paths relative to the site), the detector (its file, crop
    geometry and search settings), the webcam tracker's settings, the upload types, the colours, the runtime.
    Every value comes from the Python table that defines it (yunet.py, crop.py or the card, tracking.py,
    server/uploads.py, drawing.py and labels.py): the page keeps no copy.

    ``server``: whether an emorec server answers beside the page (its server mode can be offered);
    ``yunet``: whether the site serves YuNet's file at ``models/yunet.onnx``; ``models``: built-in model
    names (default: all); ``default``: the page's default model (default: the first).
    """
    from .model_card import BUILTIN, MODELS_DIR

    names = list(BUILTIN if models is None else models)
    if not names:
        raise ModelError("no models for the page: name at least one")
    cards = []
    for name in names:
        path = MODELS_DIR / f"{name}.json"
        if not path.is_file() or not (MODELS_DIR / f"{name}.onnx").is_file():
            raise ModelError(f"built-in model {name!r} is missing from the installation ({MODELS_DIR})")
        cards.append(json.loads(path.read_text()))
    return {"generator": GENERATOR, "server": bool(server), "default": default if default in names else names[0],
            "models": [model_entry(c) for c in cards],
            "detector": {"name": "yunet", "onnx": YUNET_SITE_PATH, "present": bool(yunet),
                         "problem": "" if yunet else yunet_help(server), **crop_settings(cards),
                         **detector_settings()},
            "tracking": tracking_settings(), "uploads": upload_settings(), **palette(),
            "runtime": {"name": "onnxruntime-web", "version": runtime_version(), "backend": "wasm",
                        "path": "static/vendor/onnxruntime-web/"}}


def find_yunet(path: Optional[PathLike] = None) -> Optional[Path]:
    """YuNet's file as emorec finds it on this machine (``path``, ``$EMOREC_YUNET``, the user's cache), never
    downloaded; None when there is none. A ``path`` given that is not a usable file raises :class:`ModelError`."""
    from .detectors.model_file import resolve_yunet

    if path is not None:
        return resolve_yunet(path, download_missing=False)
    try:
        return resolve_yunet(None, download_missing=False)
    except ModelError:
        return None


def _is_site(folder: Path) -> bool:
    try:
        return json.loads((folder / MANIFEST_PATH).read_text()).get("generator", "").startswith("emorec")
    except (OSError, ValueError, AttributeError):
        return False


def build_site(out: PathLike, yunet: Optional[PathLike] = None, *, models: Optional[Sequence[str]] = None,
               force: bool = False) -> dict:
    """Write the web page as a self-contained static site into the folder ``out``.

    ``yunet``: YuNet's ``face_detection_yunet_2023mar.onnx`` to include (default: the one emorec finds on
    this machine through ``$EMOREC_YUNET`` or its cache; nothing is downloaded). Without one the site is
    built all the same and the page says how to supply the file; a copy already at ``out/models/yunet.onnx``
    is kept. ``models``: the built-in emotion models to include (default: all; the first is the page's
    default). ``out`` may be new, empty, or a site built before (rewritten); another non-empty folder is
    refused unless ``force``.

    Returns a summary: ``out``, ``files``, ``bytes`` (all files), ``yunet`` (whether the site has it),
    ``yunet_source`` (the file copied, or None), ``problem`` (what the page says without YuNet, else ""),
    ``runtime`` (the ONNX Runtime Web release), ``models``. Raises :class:`emorec.errors.EmorecError`
    (:class:`~emorec.errors.ModelError` for a bad ``yunet`` file or a missing model).
    """
    from .model_card import BUILTIN, MODELS_DIR

    out = Path(out).expanduser()
    names = list(BUILTIN if models is None else models)
    if not names:
        raise EmorecError("no models to put in the site: name at least one (fer2013, ferplus, fer2013-ensemble)")
    unknown = [m for m in names if m not in BUILTIN]
    if unknown:
        raise ModelError(f"unknown model {', '.join(unknown)}: the site can hold the built-in {', '.join(BUILTIN)}")
    if out.exists() and not out.is_dir():
        raise EmorecError(f"{out} is a file, not a folder: choose a folder for the site")
    if out.is_dir() and any(out.iterdir()) and not _is_site(out) and not force:
        raise EmorecError(f"{out} is not empty and is not an emorec site: choose a new or empty folder "
                          "(or force=True / --force to write into it)")
    source = find_yunet(yunet)
    runtime = runtime_files()
    for name in PAGE_FILES:
        if not (STATIC_DIR / name).is_file():
            raise EmorecError(f"the installation lacks the page file {STATIC_DIR / name}")

    try:
        (out / "models").mkdir(parents=True, exist_ok=True)
        if (out / "static").exists():
            shutil.rmtree(out / "static")
        (out / "static" / "vendor" / "onnxruntime-web").mkdir(parents=True)
        shutil.copyfile(STATIC_DIR / "index.html", out / "index.html")
        for name in PAGE_FILES[1:]:
            shutil.copyfile(STATIC_DIR / name, out / "static" / name)
        for f in runtime:
            shutil.copyfile(f, out / "static" / "vendor" / "onnxruntime-web" / f.name)
        for name in names:
            shutil.copyfile(MODELS_DIR / f"{name}.onnx", out / "models" / f"{name}.onnx")
            card = json.loads((MODELS_DIR / f"{name}.json").read_text())
            (out / "models" / f"{name}.json").write_text(json.dumps(public_card(card), indent=2) + "\n")
        target = out / YUNET_SITE_PATH
        if source is not None:
            shutil.copyfile(source, target)
            licence = source.parent / "LICENSE"
            notice = (licence.read_text() if licence.is_file() else
                      "YuNet (face_detection_yunet_2023mar.onnx), from the OpenCV Zoo, MIT licence, "
                      "Shiqi Yu and contributors.\n")
            (out / "models" / "yunet.LICENSE.txt").write_text(notice)
        has_yunet = target.is_file() and target.stat().st_size > 0
        site = manifest(server=False, yunet=has_yunet, models=names)
        (out / MANIFEST_PATH).write_text(json.dumps(site, indent=2) + "\n")
        (out / "_headers").write_text("# Cross-origin isolation, so that ONNX Runtime Web may use WebAssembly "
                                      "threads (Netlify, Cloudflare Pages)\n/*\n" +
                                      "".join(f"  {k}: {v}\n" for k, v in ISOLATION_HEADERS.items()))
    except OSError as e:
        raise EmorecError(f"cannot write the site into {out}: {e}") from e

    files = [p for p in out.rglob("*") if p.is_file()]
    return {"out": str(out.resolve()), "files": len(files), "bytes": sum(p.stat().st_size for p in files),
            "yunet": has_yunet, "yunet_source": str(source) if source else None,
            "problem": site["detector"]["problem"], "runtime": site["runtime"]["version"], "models": names}


def main(argv=None) -> int:
    """``python -m emorec.web --out DIR [--yunet PATH] [--force]`` (``emorec web`` does the same)."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m emorec.web", description="Write emorec's web page as a static "
                                 "site (in-browser mode: frames never leave the device).")
    ap.add_argument("--out", required=True, type=Path, help="folder to write the site into")
    ap.add_argument("--yunet", type=Path, default=None,
                    help="YuNet's face_detection_yunet_2023mar.onnx (default: $EMOREC_YUNET or emorec's cache)")
    ap.add_argument("--model", action="append", dest="models", default=None,
                    help="a built-in model to include (repeat; default: all)")
    ap.add_argument("--force", action="store_true", help="write into a non-empty folder that is not a site")
    args = ap.parse_args(argv)
    try:
        info = build_site(args.out, args.yunet, models=args.models, force=args.force)
    except EmorecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {info['files']} files ({info['bytes'] / 1e6:.1f} MB) to {info['out']}")
    if not info["yunet"]:
        print(f"note: {info['problem']}", file=sys.stderr)
    print(f"serve it with any static file server, e.g.: python -m http.server --directory {info['out']} 8000 "
          "--bind 127.0.0.1, then open http://127.0.0.1:8000/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
