"""Reading images from files, with a clear :class:`ImageError` naming the file for every bad case:
missing, empty, not an image, truncated (JPEG and PNG), corrupt PNG chunks, or a format OpenCV cannot decode.
PNG chunks are checked here before OpenCV decodes them, so libpng's own messages (printed on stderr, out of
Python's reach) do not reach the user for those cases.

16-bit images keep their depth and EXIF orientation is applied; the alpha channel is dropped
(faces are found on the colour pixels). HEIC/HEIF photos (the iPhone's format, which OpenCV cannot decode) are
read through Pillow with pi-heif's decoder (libheif), their own rotation applied, and so are formats this
OpenCV build cannot decode where Pillow can.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import ImageError, TooManyPixels

# File types by extension (lower case), for every part of emorec that picks files by name:
# images read from folders (OpenCV decodes these) ...
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".pgm",
                    ".ppm", ".pbm", ".pnm", ".pxm", ".sr", ".ras", ".jp2", ".exr", ".hdr", ".pic", ".avif",
                    ".heic", ".heif"}  # (HEIC/HEIF through pi-heif: decode_with_pillow)
# ... the ones an annotated copy keeps (others are written as .png) ...
WRITABLE_IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
# ... and videos (emorec.video_writer.CONTAINERS: the ones it writes).
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".gif", ".ts"}

HEADER_BYTES = 256 * 1024  # an image's size is read from its first bytes (EXIF and colour profiles included)
MAX_PIXELS = 40_000_000  # largest image accepted (width x height), as the server's default: a 30000x30000 PNG
# of 1 MB would otherwise decode to GBs; 40 Mpx holds every phone and most camera photos (overridable everywhere)

# the ftyp brands of HEIF images coded in HEVC (HEIC: iPhones' photos since iOS 11); AVIF is HEIF coded in AV1,
# which OpenCV decodes itself
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}

_ENTROPY_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")  # a marker inside JPEG scan data (not stuffing/RSTn)


def jpeg_is_complete(data: bytes) -> bool:
    """True when a JPEG stream reaches its end-of-image marker (data after it, e.g. a motion-photo
    trailer, is allowed). Walks the segments, so a thumbnail's EOI inside APP1 does not count."""
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            return True
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next real marker
            m = _ENTROPY_END.search(data, pos)
            while m and data[m.start() + 1] == 0xFF:  # fill bytes before a marker
                m = _ENTROPY_END.search(data, m.start() + 1)
            if not m:
                return False
            pos = m.start()
    return pos + 2 <= n and data[pos:pos + 2] == b"\xff\xd9"


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_check(data: bytes) -> tuple[bytes, str | None]:
    """Walk a PNG's chunks and check each one's CRC before OpenCV sees it: libpng would print its own
    ``libpng error: ...`` on stderr (out of reach of Python) for what is caught here.

    Returns ``(data, problem)``: ``problem`` is None or why the file cannot be decoded (truncated, CRC
    error in a critical chunk); ancillary chunks (text, colour profile, ...) with a bad CRC are dropped
    from the returned data, as libpng would after a warning. Data after the IEND chunk is allowed.
    """
    pos, n, bad = len(PNG_SIGNATURE), len(data), []
    view = memoryview(data)  # CRCs over the chunks without copying them
    while True:
        if pos + 12 > n:
            return data, "truncated PNG (the data ends before the IEND chunk)"
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if length > 0x7FFFFFFF or not kind.isalpha():
            return data, f"corrupt PNG (no valid chunk at byte {pos})"
        end = pos + 12 + length
        if end > n:
            return data, f"truncated PNG (the data ends inside the {kind.decode()} chunk at byte {pos})"
        if zlib.crc32(view[pos + 4:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
            if kind[:1].isupper():  # critical: IHDR, PLTE, IDAT, IEND
                return data, f"corrupt PNG (CRC error in the {kind.decode()} chunk at byte {pos})"
            bad.append((pos, end))
        if kind == b"IEND":
            break
        pos = end
    for start, stop in reversed(bad):
        data = data[:start] + data[stop:]
    return data, None


def png_is_complete(data: bytes) -> bool:
    """True when a PNG stream reaches its IEND chunk (data after it is allowed)."""
    return not (png_check(data)[1] or "").startswith("truncated")


def is_heif(data) -> bool:
    """Whether encoded bytes are a HEIC/HEIF image: an ISO-BMFF ``ftyp`` box whose major or compatible brands name
    HEVC-coded HEIF (an AVIF, or a video, is not one)."""
    head = bytes(data[:64])
    if head[4:8] != b"ftyp":
        return False
    box = head[8:max(16, min(int.from_bytes(head[:4], "big"), 64))]  # major brand, minor version, compatible brands
    brands = {box[:4]} | {box[i:i + 4] for i in range(8, len(box) - 3, 4)}
    return bool(brands & HEIF_BRANDS) and b"avif" not in brands


def pil_to_array(img) -> np.ndarray:
    """A PIL image as a numpy array in RGB(A) or grey order (palettes, CMYK and other modes converted)."""
    if img.mode.startswith("I"):  # 16-bit grey (PIL reads 16-bit PNGs as "I" or "I;16")
        return np.clip(np.asarray(img), 0, 65535).astype(np.uint16)
    if img.mode not in ("L", "F", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
    return np.asarray(img)


def upright(img):
    """A PIL image turned as its EXIF orientation says (as viewers show it, and as emorec reads files), or
    ``img`` itself where it has no orientation to apply."""
    from PIL import ImageOps

    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # an unreadable EXIF block: the pixels as they are
        return img
    return ImageOps.exif_transpose(img) if orientation not in (None, 1) else img


def heif_opener() -> None:
    """Let Pillow open HEIC/HEIF images (pi-heif: libheif's decoder, LGPL); ImageError where it is missing."""
    try:
        import pi_heif
    except ImportError:
        raise ImageError("HEIC/HEIF photos are read with pi-heif, which is not installed: pip install pi-heif "
                         "(or convert the photo to JPEG)") from None
    pi_heif.register_heif_opener()


def decode_with_pillow(data: bytes, name: str) -> np.ndarray:
    """Encoded bytes decoded by Pillow, as a BGR(A) or grey array turned upright as its EXIF says: for HEIC/HEIF
    photos (through pi-heif: libheif applies the file's own rotation and sets its EXIF orientation to 1) and formats
    this OpenCV build cannot decode (AVIF without libavif, ICO, ...)."""
    import io

    from PIL import Image

    heif = is_heif(data)
    if heif:
        try:
            heif_opener()
        except ImageError as e:
            raise ImageError(f"{name}: a HEIC/HEIF photo (the iPhone's format): {e}") from None
    try:
        with Image.open(io.BytesIO(data)) as im:
            img = pil_to_array(upright(im))
    except Exception as e:  # Pillow's UnidentifiedImageError names no cause
        if not heif:
            raise ImageError(f"{name}: cannot read as an image ({describe_bytes(data)})") from e
        why = "libheif cannot read it" if type(e).__name__ == "UnidentifiedImageError" else f"{type(e).__name__}: {e}"
        raise ImageError(f"{name}: corrupt or truncated HEIC/HEIF photo ({why})") from e
    if img.ndim == 3:
        img = np.ascontiguousarray(img[:, :, [2, 1, 0, 3][:img.shape[2]]])
    return img


def describe_bytes(data: bytes) -> str:
    """A guess at what a non-image file is, for the error message."""
    head = data[:16]
    if is_heif(data):
        return "a HEIC/HEIF photo"
    if head[4:8] == b"ftyp" or head[:4] in (b"RIFF", b"\x1aE\xdf\xa3"):
        return "a video or container file (use 'emorec video' for videos)"
    if head[:5] == b"%PDF-":
        return "a PDF document"
    if head[:2] == b"PK":
        return "a zip archive"
    try:
        data[:512].decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return "not an image format OpenCV can decode"


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, ...) to a numpy image (BGR, grey, or 16-bit); an image of more
    than ``max_pixels`` is refused from its header, before its pixels are decoded (:class:`TooManyPixels`)."""
    import cv2

    if len(data) == 0:
        raise ImageError(f"{name}: empty file (0 bytes)")
    size = header_size(data) if max_pixels else None
    if size:
        check_pixels(*size, max_pixels, name)
    if data[:3] == b"\xff\xd8\xff" and not jpeg_is_complete(data):
        raise ImageError(f"{name}: truncated or corrupt JPEG (the data ends before the image does)")
    if data[:8] == PNG_SIGNATURE:
        data, problem = png_check(data)
        if problem:
            raise ImageError(f"{name}: {problem}")
    img = None
    if not is_heif(data):
        try:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
        except cv2.error as e:  # e.g. an image over OpenCV's pixel limit
            raise ImageError(f"{name}: OpenCV cannot decode it: {str(e).strip().splitlines()[-1]}") from e
    if img is None or img.size == 0:  # HEIC, or a format this OpenCV build lacks: Pillow's decoders
        img = decode_with_pillow(data, name)
    check_pixels(img.shape[1], img.shape[0], max_pixels, name)
    return img


class ImageHeader(NamedTuple):
    """What an encoded image's header says, before its pixels are decoded."""

    format: str  # Pillow's name: JPEG, PNG, WEBP, BMP, TIFF, GIF, ...
    width: int
    height: int
    channels: int  # as decoded (a palette image decodes to 3)
    bytes_per_sample: int  # 2 for 16-bit PNG/TIFF


def sample_layout(im, data) -> tuple[int, int]:
    """(channels, bytes per sample) of an opened (lazy) Pillow image, from its file header: PNG's IHDR
    and TIFF's tags give the stored depth (Pillow's mode says 'RGB' for a 16-bit PNG)."""
    if im.format == "PNG" and len(data) >= 26:
        depth, color_type = data[24], data[25]
        return {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(color_type, 4), 2 if depth > 8 else 1
    if im.format == "TIFF":
        tags = getattr(im, "tag_v2", {})
        bits = tags.get(258, 8)
        bits = max(bits) if isinstance(bits, (tuple, list)) and bits else (bits or 8)
        channels = 3 if tags.get(262) == 3 else int(tags.get(277, len(im.getbands())) or 1)  # palette -> BGR
        return max(1, channels), max(1, (int(bits) + 7) // 8)
    return (3 if im.mode == "P" else len(im.getbands())), 1


def read_header(data) -> ImageHeader | None:
    """The header of encoded image bytes (``bytes`` or ``bytearray``), without decoding the pixels; None
    where Pillow cannot read it (OpenCV may still decode the file: its size is checked after decoding then).
    Reads the first 256 kB (EXIF and colour profiles included), the whole file only where the header lies
    further in (a TIFF directory at its end). An image over Pillow's own bomb limit (2x 89 Mpx) has no
    readable size: it is reported as 2^31 x 1 pixels."""
    import io
    import warnings

    try:
        from PIL import Image
    except ImportError:  # Pillow comes with matplotlib; without it the size is checked after decoding
        return None
    if is_heif(data):
        try:
            heif_opener()
        except ImageError:  # decode_image says so, naming the file
            return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning: emorec applies its own limit
        for part in ((data[:HEADER_BYTES], data) if len(data) > HEADER_BYTES else (data,)):
            try:
                with Image.open(io.BytesIO(bytes(part))) as im:  # lazy: reads the header only
                    return ImageHeader(im.format, *im.size, *sample_layout(im, data))
            except Image.DecompressionBombError:
                return ImageHeader(image_magic(data) or "?", 2 ** 31, 1, 1, 1)
            except Exception:
                continue
    return None


def image_magic(data) -> str | None:
    """The image format a file's first bytes announce (JPEG, PNG, WEBP, BMP, TIFF), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == PNG_SIGNATURE:
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM":
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an encoded image's header (:func:`read_header`), or None."""
    if data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR":  # the commonest bomb: read its size directly
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    header = read_header(data)
    return (header.width, header.height) if header else None


def check_pixels(w: int, h: int, max_pixels: int | None, name: str) -> None:
    if max_pixels and w * h > max_pixels:
        size = f"{w}x{h} = {w * h:,} pixels" if w < 2 ** 31 else "over 178 million pixels"
        raise TooManyPixels(f"{name}: image is {size}; the limit is {max_pixels:,} "
                            f"({max_pixels / 1e6:g} megapixels; raise it with max_pixels / --max-megapixels)")


def read_image(path, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Read an image file; raises :class:`ImageError` naming the file if it cannot be used, and
    :class:`TooManyPixels` if it holds more than ``max_pixels`` (None: no limit)."""
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as e:
        raise ImageError(f"{path}: cannot read: {e.strerror or e}") from e
    return decode_image(data, str(path), max_pixels)


def find_images(paths, recursive: bool = True) -> tuple[list[Path], list[Path]]:
    """Expand files and folders into image files (sorted within each folder).

    Returns ``(images, skipped)``: files named explicitly are always kept (and fail later with a
    clear message if they are not images); inside folders only image extensions are taken and the
    other files are returned in ``skipped``.
    """
    images, skipped = [], []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in (p.rglob("*") if recursive else p.iterdir()) if f.is_file())
            for f in files:
                if f.name.startswith("."):
                    continue
                (images if f.suffix.lower() in IMAGE_EXTENSIONS else skipped).append(f)
        else:
            images.append(p)
    return images, skipped
