"""The one preprocessing function, shared by training and inference.

A face crop of any size becomes a float32 tensor ``(N, 1, size, size)``: grey, resized with
area interpolation, scaled to [0, 1] and then to [-1, 1] (``x / 255 * 2 - 1``), as mini-XCEPTION's
reference pipeline does. Model cards record ``input_size`` and this scaling so a model never sees
at run time what it did not see in training.
"""

from __future__ import annotations

import numpy as np

SCALING = "x/255*2-1"  # the scaling below, as every model card records it
SCALE = 2.0 / 255.0  # ... as a factor: x * SCALE - 1 (training applies it to tensors: emorec.training.train)


def scaled(grey: np.ndarray) -> np.ndarray:
    """uint8 pixels to the network's float32 input range [-1, 1]: ``x / 255 * 2 - 1`` (:data:`SCALING`)."""
    return np.asarray(grey).astype(np.float32) * np.float32(SCALE) - np.float32(1.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Any image of uint8/uint16/bool/float (0-1 or 0-255) to uint8, channels untouched; (H, W, 1) -> (H, W)."""
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif np.issubdtype(img.dtype, np.floating):
        img = np.clip(img * 255.0 if img.size and float(np.nanmax(img)) <= 1.0 else img, 0, 255)
        img = np.nan_to_num(img).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))):
        raise ValueError(f"expected a grey (H, W) or colour (H, W, 3|4) image, got shape {np.shape(image)}")
    return img


def to_grey_uint8(image: np.ndarray) -> np.ndarray:
    """Any 2-D grey or 3-D BGR/BGRA image of uint8/uint16/float to a 2-D uint8 grey image."""
    import cv2

    img = to_uint8(image)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    return img


def to_bgr_uint8(image: np.ndarray) -> np.ndarray:
    """Any grey, BGR or BGRA image of uint8/uint16/float to a 3-channel BGR uint8 image (no copy when it is one)."""
    import cv2

    img = to_uint8(image)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img


def preprocess(faces, size: int = 48) -> np.ndarray:
    """Face crops to model input.

    ``faces``: one crop ``(H, W)``/``(H, W, C)`` or a batch ``(N, H, W)``/``(N, H, W, C)`` (or a list
    of crops of any sizes), uint8 grey or BGR; other dtypes are converted.
    Returns float32 ``(N, 1, size, size)`` in [-1, 1].
    """
    return scaled(uint8_faces(faces, size))[:, None]


CROP_KEEP = 44 / 48  # test-time crops keep this part of the face's side (bench/bench_tta.py: 44 px of 48)


def uint8_faces(faces, size: int = 48) -> np.ndarray:
    """Face crops (as :func:`preprocess` takes them) to grey uint8 ``(N, size, size)``: the faces the network
    sees, before scaling."""
    if isinstance(faces, np.ndarray):
        if faces.ndim == 2 or (faces.ndim == 3 and faces.shape[-1] in (3, 4) and faces.shape[0] > 4):
            faces = faces[None]
        if faces.ndim == 4 and faces.shape[-1] == 1:
            faces = faces[..., 0]
        if faces.ndim not in (3, 4):
            raise ValueError(f"expected face crops (N, H, W) or (N, H, W, C), got shape {faces.shape}")
        if faces.dtype == np.uint8 and faces.ndim == 3 and faces.shape[1:] == (size, size):
            return faces  # the common case, training included: no per-face work
    out = np.empty((len(faces), size, size), dtype=np.uint8)
    for i, face in enumerate(faces):
        if np.size(face) == 0:
            raise ValueError(f"face {i} is empty (shape {np.shape(face)})")
        out[i] = to_uint8_face(face, size)
    return out


def crop_views(faces: np.ndarray, keep: float = CROP_KEEP) -> list[np.ndarray]:
    """Five tighter framings of grey uint8 faces ``(N, S, S)``: squares of ``keep`` of the side at the centre and
    the four corners, each brought back to S px by :func:`to_uint8_face` (Khaireddin & Chen 2021's ten-crop
    with their mirror images)."""
    n = faces.shape[1]
    c = int(round(keep * n))
    d = n - c
    spots = [(d // 2, d // 2), (0, 0), (0, d), (d, 0), (d, d)]
    return [np.stack([to_uint8_face(f[y:y + c, x:x + c], n) for f in faces]) for y, x in spots]


def to_uint8_face(face, size: int = 48) -> np.ndarray:
    """One crop of any size, colour or grey, to the grey uint8 ``(size, size)`` face the network sees (before
    scaling): area interpolation when shrinking, linear when enlarging. Training data read from image files
    goes through this too."""
    import cv2

    grey = to_grey_uint8(face)
    if grey.shape != (size, size):
        interp = cv2.INTER_AREA if min(grey.shape) >= size else cv2.INTER_LINEAR
        grey = cv2.resize(grey, (size, size), interpolation=interp)
    return grey
