"""The bundled sample photo, and scenes made from its face (for demos, tests and benchmarks).

``sample_path()`` is the public-domain NASA portrait of astronaut Eileen Collins shipped with emorec;
``emorec detect`` with no path runs on it. ``face_scene`` pastes its face N times on a plain
background; ``moving_faces_video`` writes a short video of faces gliding across a background, with
the ground-truth square of every face in every frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ASSETS = Path(__file__).parent / "assets"
SAMPLE = ASSETS / "astronaut.jpg"
SAMPLE_FACE_BOX = (175, 64, 98, 98)  # where the Haar cascade finds the face (x, y, w, h)


def sample_path() -> Path:
    return SAMPLE


def sample_image() -> np.ndarray:
    from .images import read_image

    return read_image(SAMPLE)


def sample_face(side: int = 120, margin: float = 0.45) -> np.ndarray:
    """The sample's face with ``margin`` of context on each side, as a BGR square of ``side`` pixels."""
    import cv2

    from .crop import crop_face

    img = sample_image()
    x, y, w, h = SAMPLE_FACE_BOX
    s = int(w * (1 + 2 * margin))
    cx, cy = x + w // 2, y + h // 2
    crop = img[max(0, cy - s // 2):cy + s // 2, max(0, cx - s // 2):cx + s // 2]
    if crop.shape[0] != crop.shape[1]:  # at an edge: fall back to the padded grey crop
        crop = cv2.cvtColor(crop_face(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), SAMPLE_FACE_BOX, margin),
                            cv2.COLOR_GRAY2BGR)
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def background(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, face-free BGR background (gradients and soft blobs)."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([80 + 60 * xx / width, 90 + 50 * yy / height, 110 + 40 * (xx + yy) / (width + height)], -1)
    noise = cv2.GaussianBlur(rng.normal(0, 25, (height, width, 1)).astype(np.float32), (0, 0), 9)
    return np.clip(base + noise[..., None] if noise.ndim == 2 else base + noise, 0, 255).astype(np.uint8)


def face_scene(n_faces: int = 5, size=(640, 480), side: int = 110, seed: int = 0):
    """A BGR image (height, width) = ``size[::-1]`` with ``n_faces`` copies of the sample face on a grid;
    returns ``(image, squares)`` with each pasted square (x, y, side, side)."""
    width, height = size
    img = background(height, width, seed)
    face = sample_face(side)
    cols = max(1, min(n_faces, (width - 10) // (side + 10)))
    squares = []
    for k in range(n_faces):
        r, c = divmod(k, cols)
        x, y = 10 + c * (side + (width - 10 - cols * side) // cols), 10 + r * (side + 20)
        if x + side > width or y + side > height:
            raise ValueError(f"{n_faces} faces of {side} px do not fit in {width}x{height}")
        img[y:y + side, x:x + side] = face
        squares.append((x, y, side, side))
    return img, squares


def moving_faces_video(path, *, frames: int = 60, size=(640, 480), side: int = 110, fps: float = 30.0,
                       seed: int = 0, tilt: float = 0.0) -> list[list[tuple[int, int, int, int]]]:
    """Write an mp4 (``mp4v``) where two faces glide across a background: one left to right along the
    top, one right to left along the bottom; ``tilt``: each face turned this many degrees in its square (a
    tilted head). Returns per frame the list of pasted squares (ground truth, in the order face 1, face 2)."""
    import cv2

    width, height = size
    bg = background(height, width, seed)
    face = sample_face(side)
    if tilt:
        m = cv2.getRotationMatrix2D((side / 2, side / 2), tilt, 1.0)
        face = cv2.warpAffine(face, m, (side, side), borderMode=cv2.BORDER_REPLICATE)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"{path}: cannot write a video")
    truth = []
    try:
        for t in range(frames):
            a = t / max(1, frames - 1)
            img = bg.copy()
            x1 = int(10 + a * (width - side - 20))
            x2 = int(width - side - 10 - a * (width - side - 20))
            y1, y2 = 15, height - side - 15
            img[y1:y1 + side, x1:x1 + side] = face
            img[y2:y2 + side, x2:x2 + side] = face
            writer.write(img)
            truth.append([(x1, y1, side, side), (x2, y2, side, side)])
    finally:
        writer.release()
    return truth
