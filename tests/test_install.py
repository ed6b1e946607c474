"""Fresh-install checks: the OpenCV that emorec depends on has the Haar cascade, and the package ships
what the first command needs: the wheel that ``pip install .`` builds is installed into a new virtual
environment and run from outside the source tree (the suite itself runs on an editable install).

OpenCV 5.0 wheels dropped cv2.CascadeClassifier and the cascade XML files from the main build (the
`fer` package breaks on a fresh install for that reason); emorec pins opencv-python-headless<5.
"""

import os
import re
import shutil
import site
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import cv2
import pytest

from emorec.detectors import haar as detector
from emorec.errors import ModelError
from emorec.samples import sample_path


def test_installed_opencv_has_the_haar_cascade():
    assert hasattr(cv2, "CascadeClassifier")
    xml = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    assert xml.is_file() and xml.stat().st_size > 100_000
    cascade = cv2.CascadeClassifier(str(xml))
    assert not cascade.empty()
    assert detector.cascade_path() == xml
    assert not detector.load_cascade().empty()


def test_dependency_pins_opencv_4():
    reqs = metadata.requires("emorec") or []
    opencv = [r for r in reqs if r.lower().startswith("opencv")]
    assert opencv, reqs
    assert all(re.search(r"<\s*5", r) for r in opencv), opencv
    assert int(cv2.__version__.split(".")[0]) == 4


def test_missing_cascade_gives_a_clear_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path) + os.sep)
    with pytest.raises(ModelError, match=r'pip install "opencv-python-headless>=4.8,<5"'):
        detector.cascade_path()
    monkeypatch.delattr(cv2, "CascadeClassifier")
    with pytest.raises(ModelError, match="no cv2.CascadeClassifier"):
        detector.cascade_path()


def test_the_sample_is_where_the_package_says():
    assert sample_path().is_file() and sample_path().stat().st_size > 10_000  # (the wheel's data: the test below)


def test_a_fresh_process_finds_the_sample_face():
    code = ("from emorec import EmotionRecognizer; from emorec.samples import sample_path; "
            "print(len(EmotionRecognizer().analyze(sample_path())))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


ROOT = Path(__file__).resolve().parents[1]
# what a user's first commands need, relative to the installed package
PACKAGE_DATA = ["models/fer2013.onnx", "models/fer2013.json", "models/fer2013.md", "models/ferplus.onnx",
                "models/ferplus.json", "models/ferplus.md", "assets/astronaut.jpg", "static/index.html",
                "static/style.css", *(f"static/{name}" for name in (
                    "numeric.js", "settings.js", "preprocess.js", "classifier.js", "yunet.js", "onnxshape.js",
                    "tracker.js", "engine.js", "browser.js", "draw.js", "analyze.js", "camera.js", "app.js")),
                "static/vendor/onnxruntime-web/ort.wasm.min.mjs", "static/vendor/onnxruntime-web/ort-wasm-simd-threaded.mjs",
                "static/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm", "static/vendor/onnxruntime-web/LICENSE"]


def build_wheel(out: Path) -> Path:
    """The wheel ``pip install .`` would install, built from a clean copy of the project (no stale build/)."""
    if os.environ.get("EMOREC_WHEEL"):
        return Path(os.environ["EMOREC_WHEEL"])
    tree = out / "project"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    shutil.copy(ROOT / "README.md", tree)
    shutil.copytree(ROOT / "src" / "emorec", tree / "src" / "emorec",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.new"))
    try:
        import setuptools
        isolated = int(setuptools.__version__.split(".")[0]) < 77  # else build offline with this one
    except ImportError:
        isolated = True
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out / "dist"), str(tree)]
    r = subprocess.run(cmd + ([] if isolated else ["--no-build-isolation"]), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = (out / "dist").glob("emorec-*.whl")
    return wheel


def test_the_wheel_installs_with_its_data_and_runs_outside_the_source_tree(tmp_path):
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                        str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    # the dependencies come from this environment (a path line in a .pth: this environment's own .pth files,
    # the editable install of emorec among them, are not read), emorec only from the wheel
    venv_site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                             text=True).strip())
    (venv_site / "emorec_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    check = textwrap.dedent(f"""
        import json, emorec
        from importlib import metadata
        from pathlib import Path
        pkg = Path(emorec.__file__).parent
        files = [str(f) for f in metadata.files("emorec")]
        print(json.dumps({{"pkg": str(pkg), "missing": [p for p in {PACKAGE_DATA!r} if not (pkg / p).is_file()],
                          "unlisted": [p for p in {PACKAGE_DATA!r} if not any(f.endswith(p) for f in files)]}}))
    """)
    r = subprocess.run([str(py), "-c", check], capture_output=True, text=True, cwd=away, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    import json

    found = json.loads(r.stdout)
    assert Path(found["pkg"]).resolve().is_relative_to(venv.resolve()), found  # the wheel's copy, not src/
    assert found["missing"] == [] and found["unlisted"] == [], found
    # the README's first command, from the wheel's console script
    r = subprocess.run([str(venv / "bin" / "emorec"), "detect", "--no-save"], capture_output=True, text=True,
                       cwd=away, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(r"astronaut\.jpg: face 1 \[[\d, ]+\] \w+ [01]\.\d\d", r.stdout), r.stdout
    # the static site from the installed package: the page, its scripts and the vendored runtime
    r = subprocess.run([str(venv / "bin" / "emorec"), "web", "--out", "site"], capture_output=True, text=True,
                       cwd=away, env={**env, "EMOREC_CACHE": str(tmp_path / "cache")}, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (away / "site" / "static" / "vendor" / "onnxruntime-web" / "ort-wasm-simd-threaded.wasm").is_file()
    assert (away / "site" / "models" / "fer2013.onnx").is_file() and (away / "site" / "index.html").is_file()
