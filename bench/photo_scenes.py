"""Real photographs for the detection benchmarks (``../shared/data/photos``: 24 photos from the
face_recognition project; not in the repository, so the benches skip without them).

* :func:`letterboxed` — each photo letterboxed to 640x480 (the frames speed is measured on).
* :func:`portraits` — single-person photos in variants (scale, crop offset, mirror, brightness), each
  letterboxed to 640x480: false faces are counted there (each has exactly one face).
* :func:`group_scenes` — composite group pictures: faces cut from the real photos (with their hair and
  shoulders, feathered edges) pasted at 40-200 px, turned up to +-25 degrees, on backgrounds cut from the
  photos' face-free parts. The true box of each pasted face is known.

The face positions in the source photos come from YuNet at full resolution (one reading, used only to
know where to cut; every photo's count was checked by eye: `python bench/photo_scenes.py --show`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

PHOTOS = Path(os.environ.get("EMOREC_PHOTOS", Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"))
YUNET = Path(os.environ.get("EMOREC_YUNET_FILE", Path(__file__).resolve().parents[2] / "shared" / "models" / "yunet"
                            / "face_detection_yunet_2023mar.onnx"))
GROUP = {"two_people.jpg", "test_kit_with_rose.jpg", "test_obama_and_biden.jpg"}


def available() -> bool:
    return PHOTOS.is_dir() and any(PHOTOS.glob("*.jpg"))


def ready() -> bool:
    """Whether the photos are here (says so when not); points emorec at the YuNet file of ../shared."""
    if not available():
        print(f"skipped: the real photos are not at {PHOTOS}")
        return False
    if YUNET.is_file():
        os.environ.setdefault("EMOREC_YUNET", str(YUNET))
    return True


def photo_paths() -> list[Path]:
    return sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def read(p: Path) -> np.ndarray:
    import cv2

    return cv2.imread(str(p), cv2.IMREAD_COLOR)


def letterbox(img: np.ndarray, size=(640, 480), fill=0) -> np.ndarray:
    import cv2

    W, H = size
    h, w = img.shape[:2]
    s = min(W / w, H / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    out = np.full((H, W, 3), fill, np.uint8)
    x, y = (W - nw) // 2, (H - nh) // 2
    out[y:y + nh, x:x + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


def letterboxed() -> list[tuple[str, np.ndarray]]:
    return [(p.name, letterbox(read(p))) for p in photo_paths()]


def reference_faces(img: np.ndarray) -> np.ndarray:
    """YuNet boxes (x, y, w, h) at full resolution, confidence >= 0.8, side >= 30 px."""
    import cv2

    h, w = img.shape[:2]
    det = cv2.FaceDetectorYN.create(str(YUNET), "", (w, h), 0.8, 0.3, 5000)
    _, rows = det.detect(img)
    if rows is None:
        return np.zeros((0, 4))
    rows = rows[np.maximum(rows[:, 2], rows[:, 3]) >= 30]
    return rows[:, :4].astype(np.float64)


def portraits(variants: int = 16, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Single-person photos in ``variants`` versions each, 640x480."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for p in photo_paths():
        if p.name in GROUP:
            continue
        img = read(p)
        H, W = img.shape[:2]
        fx, fy, fw, fh = reference_faces(img)[0]
        for k in range(variants):
            z = rng.uniform(0.55, 1.0)  # crop a window of this fraction of the photo, around the face
            cw, ch = max(int(W * z), int(fw * 1.2)), max(int(H * z), int(fh * 1.2))
            lo_x, hi_x = max(0, fx + fw * 1.1 - cw), min(W - cw, fx - fw * 0.1)
            lo_y, hi_y = max(0, fy + fh * 1.1 - ch), min(H - ch, fy - fh * 0.1)
            x0 = int(rng.uniform(lo_x, max(lo_x, hi_x) + 1))
            y0 = int(rng.uniform(lo_y, max(lo_y, hi_y) + 1))
            v = img[y0:y0 + ch, x0:x0 + cw]
            if k % 2:
                v = v[:, ::-1]
            v = cv2.convertScaleAbs(v, alpha=rng.uniform(0.7, 1.3), beta=rng.uniform(-30, 30))
            out.append((f"{p.stem}#{k}", letterbox(np.ascontiguousarray(v))))
    return out


def _backgrounds(photos) -> list[np.ndarray]:
    """Face-free parts of the photos (below every face), at least 200x200."""
    bgs = []
    for img, faces in photos:
        H = img.shape[0]
        bottom = int(max(y + h * 1.4 for x, y, w, h in faces)) if len(faces) else 0
        if H - bottom >= 200:
            bgs.append(img[bottom:])
    return bgs


def group_scenes(n: int = 20, faces_per_scene: int = 6, size=(1280, 960), min_face: int = 40,
                 max_face: int = 200, max_angle: float = 25.0, seed: int = 0):
    """``n`` composite scenes: list of (name, image, true boxes (k, 4) of the pasted faces)."""
    import cv2

    rng = np.random.default_rng(seed)
    photos = [(read(p), reference_faces(read(p))) for p in photo_paths()]
    patches = []
    for img, faces in photos:
        for x, y, w, h in faces:
            s = 1.8 * max(w, h)  # the face with hair and shoulders around it
            cx, cy = x + w / 2, y + h / 2
            x0, y0 = int(max(0, cx - s / 2)), int(max(0, cy - s / 2))
            x1, y1 = int(min(img.shape[1], cx + s / 2)), int(min(img.shape[0], cy + s / 2))
            patches.append((img[y0:y1, x0:x1], (x - x0, y - y0, w, h)))
    bgs = _backgrounds(photos)
    W, H = size
    scenes = []
    for i in range(n):
        bg = bgs[i % len(bgs)]
        scene = cv2.resize(bg, (W, H), interpolation=cv2.INTER_LINEAR)
        truth = []
        cells = rng.permutation(12)[:faces_per_scene]  # 4x3 grid: faces don't overlap
        for c in cells:
            patch, (fx, fy, fw, fh) = patches[int(rng.integers(len(patches)))]
            target = rng.uniform(min_face, max_face)  # face height in the scene
            z = target / fh
            ph, pw = patch.shape[:2]
            small = cv2.resize(patch, (max(1, int(pw * z)), max(1, int(ph * z))), interpolation=cv2.INTER_AREA)
            ang = rng.uniform(-max_angle, max_angle)
            sh, sw = small.shape[:2]
            fcx, fcy = (fx + fw / 2) * z, (fy + fh / 2) * z
            m = cv2.getRotationMatrix2D((fcx, fcy), ang, 1.0)
            rot = cv2.warpAffine(small, m, (sw, sh), borderMode=cv2.BORDER_REPLICATE)
            alpha = np.zeros((sh, sw), np.float32)
            cv2.ellipse(alpha, (int(sw / 2), int(sh / 2)), (int(sw * 0.46), int(sh * 0.48)), 0, 0, 360, 1.0, -1)
            alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, sw * 0.05))[..., None]
            gx, gy = c % 4, c // 4
            cw, chh = W // 4, H // 3
            ox = int(gx * cw + rng.uniform(0, max(1, cw - sw)))
            oy = int(gy * chh + rng.uniform(0, max(1, chh - sh)))
            sw2, sh2 = min(sw, W - ox), min(sh, H - oy)
            region = scene[oy:oy + sh2, ox:ox + sw2].astype(np.float32)
            a = alpha[:sh2, :sw2]
            scene[oy:oy + sh2, ox:ox + sw2] = (a * rot[:sh2, :sw2] + (1 - a) * region).astype(np.uint8)
            truth.append((ox + fcx - fw * z / 2, oy + fcy - fh * z / 2, fw * z, fh * z))
        scenes.append((f"group{i}", scene, np.array(truth)))
    return scenes


def matches(found: np.ndarray, truth: np.ndarray) -> tuple[int, int]:
    """(true faces found, boxes that are no true face): a box finds a face when its centre lies in the
    face's box and its side is 0.5-2x the face's."""
    hit = np.zeros(len(truth), bool)
    false = 0
    for x, y, w, h in np.asarray(found, np.float64).reshape(-1, 4):
        cx, cy, s = x + w / 2, y + h / 2, max(w, h)
        ok = False
        for k, (tx, ty, tw, th) in enumerate(truth):
            ts = max(tw, th)
            if tx <= cx <= tx + tw and ty <= cy <= ty + th and 0.5 * ts <= s <= 2.0 * ts:
                ok = True
                hit[k] = True
        false += not ok
    return int(hit.sum()), false


if __name__ == "__main__":
    import sys

    import cv2

    out = Path(sys.argv[-1]) if len(sys.argv) > 2 else Path("/tmp/scenes")
    out.mkdir(exist_ok=True)
    for name, img, truth in group_scenes(4):
        for x, y, w, h in truth.astype(int):
            cv2.rectangle(img, (x, y), (x + w, y + h), (0, 255, 0), 2)
        cv2.imwrite(str(out / f"{name}.jpg"), img)
    print("wrote", out)
