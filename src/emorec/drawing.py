"""Annotation: boxes and labels on the image, and a panel of probability bars for each face.

Sizes (line width, font) follow the image size, so labels read the same on a thumbnail and on a
24-megapixel photo. Colours are per emotion, the same for every model's spelling of it (labels.py).
"""

from __future__ import annotations

import numpy as np

from .labels import common_name

# The one palette: a colour per emotion, by the common names (labels.COMMON_CLASSES); other spellings (FER+'s
# 'happiness', 'sadness', 'anger') map to the same colours through labels.common_name. BGR for OpenCV (annotated
# images and videos); the web page gets the same colours as CSS hex (css_palette, in its models/index.json).
# Mid-bright colours, so that the black label text drawn on them reads, and each class its own hue.
EMOTION_COLORS = {
    "angry": (53, 57, 229),  # #e53935 red
    "disgust": (71, 160, 67),  # #43a047 green
    "fear": (188, 71, 171),  # #ab47bc purple
    "happy": (0, 179, 255),  # #ffb300 amber
    "sad": (229, 136, 30),  # #1e88e5 blue
    "surprise": (193, 172, 0),  # #00acc1 cyan
    "neutral": (174, 164, 144),  # #90a4ae blue grey
    "contempt": (47, 102, 161),  # #a1662f brown
    "unsure": (128, 128, 128),  # #808080 grey: a face whose label is withheld (below min_confidence)
}
_FALLBACK = (51, 202, 192)  # #c0ca33 lime: a class of none of these names (a custom model's)


def css_color(bgr) -> str:
    """A BGR colour as CSS writes it: ``"#rrggbb"``."""
    b, g, r = (int(v) for v in bgr)
    return f"#{r:02x}{g:02x}{b:02x}"


def css_palette() -> dict:
    """The palette for the web page: ``{"colors": {emotion: "#rrggbb"}, "fallback": "#rrggbb"}`` (EMOTION_COLORS
    by common name; ``fallback`` for other names, as :func:`color_of` gives)."""
    return {"colors": {name: css_color(c) for name, c in EMOTION_COLORS.items()}, "fallback": css_color(_FALLBACK)}


def color_of(emotion: str) -> tuple[int, int, int]:
    return EMOTION_COLORS.get(common_name(emotion), _FALLBACK)


def display_bgr(image) -> np.ndarray:
    """A displayable 3-channel uint8 BGR copy of a grey/BGR/BGRA, uint8/uint16/float image."""
    import cv2

    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.floating):
        img = np.nan_to_num(img * 255.0 if img.size and float(np.nanmax(img)) <= 1.0 else img)
        img = np.clip(img, 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img.copy()


def _style(shape) -> tuple[int, float]:
    side = min(shape[:2])
    thickness = max(1, int(round(side / 320)))
    return thickness, max(0.4, side / 900)


def label_of(face) -> str:
    prefix = f"#{face.id} " if getattr(face, "id", None) is not None else ""
    return f"{prefix}{face.label} {face.confidence:.0%}"


def draw_faces(image, faces) -> np.ndarray:
    """A BGR copy of ``image`` with each face's box and label (emotion, confidence, track id)."""
    import cv2

    out = display_bgr(image)
    t, scale = _style(out.shape)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for f in faces:
        x, y, w, h = (int(v) for v in f.box)
        col = color_of(f.label)
        cv2.rectangle(out, (x, y), (x + w, y + h), col, t + 1, cv2.LINE_AA)
        text = label_of(f)
        (tw, th), base = cv2.getTextSize(text, font, scale, t)
        ty = y - 4 if y - th - base - 4 >= 0 else y + h + th + 4  # above the box, or below at the top edge
        tx = min(max(0, x), max(0, out.shape[1] - tw - 2))
        cv2.rectangle(out, (tx, ty - th - base), (tx + tw + 2, ty + base // 2), col, -1)
        cv2.putText(out, text, (tx + 1, ty - base // 2), font, scale, (0, 0, 0), t, cv2.LINE_AA)
    return out


def draw_panel(faces, classes, height: int, width: int = 260) -> np.ndarray:
    """A panel (height, width, 3) with one block of probability bars per face (as many as fit)."""
    import cv2

    panel = np.full((height, width, 3), 32, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    # rows shrink (down to 10 px) so that more faces fit; past that, "+N more"
    row = max(10, min(15, ((height - 6) // max(1, len(faces)) - 8) // (len(classes) + 1)))
    scale = 0.42 * row / 15
    block = row * (len(classes) + 1) + 8
    y = 6
    if not faces:
        cv2.putText(panel, "no face", (8, 22), font, 0.5, (200, 200, 200), 1, cv2.LINE_AA)
        return panel
    for n, f in enumerate(faces):
        if y + block > height:
            cv2.putText(panel, f"+{len(faces) - n} more", (8, min(height - 6, y + 14)), font, scale,
                        (200, 200, 200), 1, cv2.LINE_AA)
            break
        head = f"#{f.id}" if getattr(f, "id", None) is not None else f"face {n + 1}"
        cv2.putText(panel, f"{head}: {f.label}", (8, y + row - 4), font, scale * 1.15, color_of(f.label), 1, cv2.LINE_AA)
        y += row
        for c in classes:
            p = float(f.scores.get(c, 0.0))
            cv2.putText(panel, c[:9], (8, y + row - 4), font, scale, (220, 220, 220), 1, cv2.LINE_AA)
            x0, x1 = 80, width - 44
            cv2.rectangle(panel, (x0, y + 3), (x1, y + row - 3), (60, 60, 60), -1)
            cv2.rectangle(panel, (x0, y + 3), (x0 + int(round((x1 - x0) * p)), y + row - 3), color_of(c), -1)
            cv2.putText(panel, f"{p:.0%}", (x1 + 4, y + row - 4), font, scale, (220, 220, 220), 1, cv2.LINE_AA)
            y += row
        y += 8
    return panel


def draw_live(image, faces, classes, panel_width: int = 260) -> np.ndarray:
    """The live view: the annotated frame with the probability panel on its right."""
    frame = draw_faces(image, faces)
    return np.hstack([frame, draw_panel(faces, classes, frame.shape[0], panel_width)])
