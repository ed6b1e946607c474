"""Shared fixtures: small FER2013-format data made on the fly (the real data is not needed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fer2013"
REAL_CSV = SHARED / "fer2013.csv.gz"
REAL_FERPLUS = SHARED / "fer2013new.csv"

needs_real_data = pytest.mark.skipif(not REAL_CSV.exists(), reason=f"real FER2013 data not present at {SHARED}")


def synthetic_faces(n: int, classes: int = 7, seed: int = 0, size: int = 48):
    """Learnable images: class k is a bright bar at a class-specific height on a noisy background."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    img = rng.integers(0, 90, (n, size, size)).astype(np.uint8)
    band = size // (classes + 1)
    for i, k in enumerate(labels):
        img[i, band * k + 2: band * k + 2 + band // 2 + 2, 4:-4] = 230
    return img, labels


def write_fer_csv(path: Path, images, labels, usage) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as fh:
        fh.write("emotion,pixels,Usage\n")
        for img, lab, u in zip(images, labels, usage):
            fh.write(f"{lab},{' '.join(map(str, img.ravel()))},{u}\n")
    return path


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    """600 synthetic rows: 480 Training, 120 PublicTest."""
    images, labels = synthetic_faces(600)
    usage = ["Training"] * 480 + ["PublicTest"] * 120
    return write_fer_csv(tmp_path_factory.mktemp("fer") / "fer2013.csv", images, labels, usage)


@pytest.fixture(scope="session")
def trained_run(tiny_csv, tmp_path_factory):
    """A short real training run on the tiny data (shared by export/evaluate/parity tests)."""
    pytest.importorskip("torch")
    from emorec.training.train import TrainConfig, train

    out = tmp_path_factory.mktemp("run")
    best = train(TrainConfig(data=str(tiny_csv), out=str(out), epochs=3, batch_size=32, lr=3e-3,
                             progress=False, threads=1), log=lambda s: None)
    return out, best


@pytest.fixture(scope="session")
def rec():
    """The default recogniser (Haar, fer2013), loaded once and shared: a test that needs other settings makes its own."""
    from emorec import EmotionRecognizer

    return EmotionRecognizer()
