"""Fresh-install checks: the OpenCV that emorec depends on has the Haar cascade, and the package ships
what the first command needs (CI runs this in a freshly made virtual environment).

OpenCV 5.0 wheels dropped cv2.CascadeClassifier and the cascade XML files from the main build (the
`fer` package breaks on a fresh install for that reason); emorec pins opencv-python-headless<5.
"""

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import cv2
import pytest

from emorec import detector
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


def test_package_ships_the_sample_and_models():
    assert sample_path().is_file() and sample_path().stat().st_size > 10_000
    files = {str(f) for f in metadata.files("emorec") or []}
    if any(f.endswith(".py") and "emorec/" in f for f in files):  # a regular (non-editable) install lists them
        assert any(f.endswith("assets/astronaut.jpg") for f in files)


def test_a_fresh_process_finds_the_sample_face():
    code = ("from emorec import EmotionRecognizer; from emorec.samples import sample_path; "
            "print(len(EmotionRecognizer().analyze(sample_path())))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"
