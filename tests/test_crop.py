"""Face crops: the square around a detector's box (its side, its centre), border pixels repeated where the
square leaves the image, boxes partly outside, and alignment from the eyes (a face turned by a known angle
comes back level)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emorec.crop import aligned_crop, crop_face, crop_faces, eye_angle, square_box
from emorec.samples import SAMPLE_FACE_BOX, sample_image

# the sample's eyes (right eye, left eye: the person's), found with OpenCV's haarcascade_eye.xml in its face box
SAMPLE_EYES = np.array([[202.0, 101.0], [247.5, 103.5]])


def gradient(h: int = 100, w: int = 120) -> np.ndarray:
    """Every pixel tells where it is: value = (row * 7 + col * 3) mod 256, so slices can be compared exactly."""
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy * 7 + xx * 3) % 256).astype(np.uint8)


# ------------------------------------------------------------------------------------------ square geometry
@pytest.mark.parametrize("box, margin", [((10, 20, 40, 40), 0.1), ((10, 20, 40, 20), 0.0), ((10, 20, 20, 40), 0.25),
                                         ((0, 0, 31, 17), 0.25), ((100.4, 50.6, 21, 60), 0.05), ((5, 5, 1, 1), 0.0),
                                         ((-30, 400, 99, 98), 0.45)])
def test_the_square_has_the_larger_side_plus_margin_and_the_box_centre(box, margin):
    x, y, s, s2 = square_box(box, margin)
    bx, by, bw, bh = box
    assert s == s2 == round(max(bw, bh) * (1 + 2 * margin))
    assert abs((x + s / 2) - (bx + bw / 2)) <= 0.5 and abs((y + s / 2) - (by + bh / 2)) <= 0.5
    assert all(isinstance(v, int) for v in (x, y, s, s2))


def test_square_examples():
    assert square_box((10, 20, 40, 40), 0.1) == (6, 16, 48, 48)
    assert square_box((10, 20, 40, 20), 0.0) == (10, 10, 40, 40)  # a wide box: a square around its centre
    assert square_box((10, 20, 20, 40), 0.0) == (0, 20, 40, 40)  # a tall one too
    assert square_box((175, 64, 98, 98), 0.45) == (131, 20, 186, 186)


# ------------------------------------------------------------------------------------------ crops at and past the edges
def test_a_crop_inside_the_image_is_the_square_cut_out():
    g = gradient()
    crop = crop_face(g, (30, 20, 40, 30), 0.1)  # square (26, 11, 48, 48)
    assert crop.shape == (48, 48)
    np.testing.assert_array_equal(crop, g[11:59, 26:74])


@pytest.mark.parametrize("box", [(0, 40, 30, 30), (95, 40, 30, 30), (40, 0, 30, 30), (40, 75, 30, 30),
                                 (-5, -8, 30, 30), (100, 82, 30, 30)])
def test_border_pixels_repeat_where_the_square_leaves_the_image(box):
    g = gradient()
    H, W = g.shape
    x, y, s, _ = square_box(box, 0.25)
    crop = crop_face(g, box, 0.25)
    assert crop.shape == (s, s)
    rows = np.clip(np.arange(y, y + s), 0, H - 1)  # each crop pixel is the nearest image pixel
    cols = np.clip(np.arange(x, x + s), 0, W - 1)
    np.testing.assert_array_equal(crop, g[np.ix_(rows, cols)])
    assert x < 0 or y < 0 or x + s > W or y + s > H  # the case is one at the edge


def test_a_box_mostly_outside_still_gives_a_full_square_and_one_wholly_outside_is_refused():
    g = gradient()
    crop = crop_face(g, (110, 90, 40, 40), 0.0)  # only its 10 x 10 top-left corner lies in the image
    assert crop.shape == (40, 40)
    np.testing.assert_array_equal(crop[:10, :10], g[90:, 110:])
    np.testing.assert_array_equal(crop[10:, :10], np.repeat(g[99:, 110:], 30, axis=0))
    assert (crop[10:, 10:] == g[99, 119]).all()
    with pytest.raises(ValueError, match=r"box \(130, 10, 20, 20\) lies outside the 120x100 image"):
        crop_face(g, (130, 10, 20, 20), 0.0)
    with pytest.raises(ValueError, match="outside"):
        crop_face(g, (-40, -40, 30, 30), 0.1)


def test_crop_faces_gives_one_crop_per_box_in_order():
    g = gradient()
    boxes = [(10, 10, 20, 20), (50, 30, 40, 40), (0, 0, 8, 8)]
    crops = crop_faces(g, boxes, 0.1)
    assert [c.shape for c in crops] == [(24, 24), (48, 48), (10, 10)]
    np.testing.assert_array_equal(crops[1], crop_face(g, boxes[1], 0.1))
    assert crop_faces(g, [], 0.1) == []


# ------------------------------------------------------------------------------------------ alignment
def test_eye_angle():
    assert eye_angle([[10, 20], [30, 20]]) == 0.0
    assert eye_angle([[10, 20], [30, 40]]) == pytest.approx(45.0)  # the left eye lower: turned clockwise
    assert eye_angle([[10, 20], [30, 0]]) == pytest.approx(-45.0)


def test_level_eyes_give_the_plain_crop():
    g = gradient()
    for box in ((30, 20, 40, 30), (0, 40, 30, 30), (100, 82, 30, 30)):
        x, y, w, h = box
        level = [[x + 0.3 * w, y + 0.4 * h], [x + 0.7 * w, y + 0.4 * h], [0, 0], [0, 0], [0, 0]]
        np.testing.assert_array_equal(aligned_crop(g, box, level, 0.25), crop_face(g, box, 0.25))


@pytest.mark.parametrize("tilt", [-25.0, 12.0, 30.0])
def test_two_eyes_turned_by_a_known_angle_come_back_level(tilt):
    """Two bright eyes on a dark image, turned by ``tilt`` degrees about the face's centre: in the aligned crop
    they lie on one row, the same distance apart, the person's right eye (the first landmark) on the left."""
    box, c = (60, 60, 80, 80), np.array([100.0, 100.0])
    t = np.radians(tilt)
    along = np.array([np.cos(t), np.sin(t)])  # the line from the right eye to the left eye, in image x/y
    eyes = np.array([c - 20 * along, c + 20 * along])
    img = np.zeros((200, 200), np.uint8)
    for ex, ey in eyes:
        cv2.circle(img, (round(ex), round(ey)), 4, 255, -1)
    assert eye_angle(eyes) == pytest.approx(tilt, abs=1e-6)
    crop = aligned_crop(img, box, eyes, 0.0)
    assert crop.shape == (80, 80)
    n, _, _, centres = cv2.connectedComponentsWithStats((crop > 127).astype(np.uint8))
    assert n == 3, "two eyes in the crop"
    (rx, ry), (lx, ly) = sorted(centres[1:].tolist())
    assert abs(ry - ly) < 1.0  # level
    assert lx - rx == pytest.approx(40, abs=1.0) and (rx + lx) / 2 == pytest.approx(40, abs=1.0)
    # the plain crop leaves them tilted
    _, _, _, plain = cv2.connectedComponentsWithStats((crop_face(img, box, 0.0) > 127).astype(np.uint8))
    (_, py0), (_, py1) = sorted(plain[1:].tolist())
    assert abs(py0 - py1) > 5


@pytest.mark.parametrize("turn", [-20.0, 20.0])
def test_a_turned_real_face_comes_back_like_the_upright_one(turn):
    """The sample photo turned by ``turn`` degrees about its face, its eyes turned with it: the aligned crop
    matches the aligned crop of the photo as it is (the face level in both); the plain crop does not."""
    grey = cv2.cvtColor(sample_image(), cv2.COLOR_BGR2GRAY)
    x, y, w, h = SAMPLE_FACE_BOX
    m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), turn, 1.0)
    turned = cv2.warpAffine(grey, m, (grey.shape[1], grey.shape[0]), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    eyes = np.hstack([SAMPLE_EYES, np.ones((2, 1))]) @ m.T
    assert eye_angle(eyes) == pytest.approx(eye_angle(SAMPLE_EYES) - turn, abs=1e-6)  # image y points down

    def similarity(a, b):
        return np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1]

    upright = aligned_crop(grey, SAMPLE_FACE_BOX, SAMPLE_EYES, 0.1)
    straightened = aligned_crop(turned, SAMPLE_FACE_BOX, eyes, 0.1)
    plain = crop_face(turned, SAMPLE_FACE_BOX, 0.1)
    assert straightened.shape == upright.shape == plain.shape == (118, 118)
    assert similarity(straightened, upright) > 0.98
    assert similarity(plain, upright) < similarity(straightened, upright) - 0.3
