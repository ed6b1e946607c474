"""Faces at every size: the scale bench (bench/bench_scales.py) on the bundled sample photo, resized so its face
spans 40 to 2,500 px (images up to 6,000 px), with each detector: one box on the face, no other box. A fresh
clone runs the Haar rows; the YuNet rows need its model file (../shared), and the real-photo sets skip without
../shared. Figures on real photos: bench/RESULTS.md."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import bench_scales  # noqa: E402

from emorec.detectors import get_detector  # noqa: E402

YUNET = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"


def detectors():
    out = [pytest.param("haar", id="haar")]
    out.append(pytest.param("yunet", id="yunet", marks=pytest.mark.skipif(
        not YUNET.is_file(), reason=f"YuNet model file not present at {YUNET}")))
    return out


# the 13 sizes of the bench, and the 39 of its dense grid; Haar's second look without the second cascade took a
# dark, blurred patch of the suit for a face at 320 px and a reflection on the helmet at 220 and 500 px
GRIDS = {"13 sizes": bench_scales.SIZES, "dense": bench_scales.DENSE_SIZES}


@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("name", detectors())
def test_one_box_on_the_face_at_every_size_from_40_to_2500_px(name, grid):
    sizes = GRIDS[grid]
    assert len(sizes) == {"13 sizes": 13, "dense": 39}[grid] and min(sizes) == 40 and max(sizes) == 2500
    det = get_detector(name, **({"model": str(YUNET)} if name == "yunet" else {}))
    table, misses = bench_scales.run({name: det}, bench_scales.sample_set(), sizes)
    found = [table[name][s][0] for s in sizes]
    false = [table[name][s][1] for s in sizes]
    assert found == [1] * len(sizes), misses  # (detector, photo, face px, image w, h, found, false)
    assert false == [0] * len(sizes), misses


def test_the_scaled_photo_holds_the_face_at_the_asked_size_and_at_most_6000_px():
    (_, img, box), = bench_scales.sample_set()
    for size in (40, 900, 2500):
        scaled, truth = bench_scales.at_face_size(img, box, size)
        assert max(scaled.shape[:2]) <= bench_scales.MAX_SIDE
        assert abs(truth[3] - size) < 1
        x, y, w, h = truth
        assert 0 <= x and 0 <= y and x + w <= scaled.shape[1] + 1 and y + h <= scaled.shape[0] + 1
        assert np.isclose(truth[2] / truth[3], box[2] / box[3])


def test_a_stretched_photo_holds_the_face_stretched_by_the_asked_factor():
    (_, img, box), = bench_scales.sample_set()
    for stretch in (0.87, 1.15):
        scaled, truth = bench_scales.at_face_size(img, box, 900, stretch)
        assert abs(truth[3] - 900) < 1
        assert np.isclose(truth[2] / truth[3], stretch * box[2] / box[3])
        assert np.isclose(scaled.shape[1] / scaled.shape[0], stretch * img.shape[1] / img.shape[0], rtol=0.01)
