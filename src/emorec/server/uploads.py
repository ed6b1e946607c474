"""An upload, checked before anything is decoded: its multipart body parsed as it streams in (413 as
soon as it passes the limit), its image type from its own header (415), its pixel count and decoded size
from the header (413), then decoded as ``emorec detect`` decodes files."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .errors import Refused

MULTIPART_SLACK = 64 * 1024  # boundaries, part headers and the small form fields around the file
ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "BMP": "image/bmp",
                   "TIFF": "image/tiff"}  # what `emorec detect` reads as images (GIF is a video there)


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"



def sniff_image(data, max_pixels: int, max_decoded_bytes: Optional[int] = None) -> tuple[str, int, int]:
    """Format, width and height from the file's header (:func:`emorec.images.read_header`), without
    decoding the pixels.

    Raises :class:`Refused`: 415 for anything that is not a supported image type, 413 for too many pixels
    or (``max_decoded_bytes``) an image that would decode to more bytes than that.
    """
    from ..images import describe_bytes, image_magic, read_header

    if not data:
        raise Refused(400, "empty_file", "the uploaded file is empty")
    header = read_header(data)
    if header is None:  # UnidentifiedImageError, or a header too broken to parse
        fmt = image_magic(data)
        if fmt:
            raise Refused(422, "corrupt_image", f"the file starts like a {fmt} image but its header is corrupt")
        raise Refused(415, "unsupported_type", f"not an image of a supported type: {describe_bytes(bytes(data[:512]))}; "
                                               f"send one of {', '.join(sorted(ALLOWED_FORMATS))}")
    fmt, w, h, channels, depth = header
    if fmt not in ALLOWED_FORMATS:
        raise Refused(415, "unsupported_type",
                      f"{fmt} images are not accepted; send one of {', '.join(sorted(ALLOWED_FORMATS))}")
    if w * h > max_pixels:
        size = f"{w}x{h} = {w * h:,} pixels" if w < 2 ** 31 else "over 178 million pixels"
        raise Refused(413, "too_many_pixels", f"image is {size}; the limit is {max_pixels:,}")
    if w < 1 or h < 1:
        raise Refused(422, "corrupt_image", f"image header gives an empty size {w}x{h}")
    decoded = w * h * channels * depth
    if max_decoded_bytes is not None and decoded > max_decoded_bytes:
        raise Refused(413, "too_large_decoded",
                      f"image is {w}x{h} with {channels} channel{'s' * (channels > 1)} of {8 * depth} bits: "
                      f"{mb(decoded)} once decoded; the limit is {mb(max_decoded_bytes)}")
    return fmt, w, h


def decode_image(data: bytes, max_pixels: int, name: str = "upload",
                 max_decoded_bytes: Optional[int] = None) -> np.ndarray:
    """Decode as ``emorec detect`` does (:func:`emorec.images.decode_image`: EXIF orientation applied,
    16-bit kept, truncated JPEG/PNG refused); 422 if the pixels are corrupt, 413 if the header lied."""
    from ..images import decode_image as decode

    img = decode(data, name)  # ImageError -> 422 corrupt_image (see create_app)
    if img.shape[0] * img.shape[1] > max_pixels:
        raise Refused(413, "too_many_pixels", f"image decodes to {img.shape[1]}x{img.shape[0]} pixels; "
                                              f"the limit is {max_pixels:,}")
    if max_decoded_bytes is not None and img.nbytes > max_decoded_bytes:
        raise Refused(413, "too_large_decoded", f"image decodes to {mb(img.nbytes)}; the limit is "
                                                f"{mb(max_decoded_bytes)}")
    return img



class UploadForm:
    """``multipart/form-data`` fed chunk by chunk (python-multipart's streaming parser): the part named
    ``file`` is kept once, in one buffer, and refused (413) as soon as it passes ``max_file`` bytes; other
    parts are small text fields (at most ``max_fields``, ``max_field`` bytes each) or ignored files."""

    def __init__(self, content_type: str, max_file: int, max_fields: int = 16, max_field: int = 1024):
        from python_multipart.multipart import MultipartParser, parse_options_header

        self._options = parse_options_header
        boundary = self.check(content_type)
        self.max_file, self.max_fields, self.max_field = max_file, max_fields, max_field
        self.fields: dict[str, str] = {}
        self.file: Optional[bytearray] = None
        self.filename = "upload"
        self._head = b""
        self._name, self._value, self._buf, self._keep = b"", b"", None, False
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done, "on_part_data": self._data, "on_part_end": self._end})

    @staticmethod
    def check(content_type: str) -> bytes:
        """The boundary of a multipart/form-data Content-Type; 415 for another type, 400 without one."""
        from python_multipart.multipart import parse_options_header

        ctype, params = parse_options_header(content_type or "")
        if ctype != b"multipart/form-data":
            raise Refused(415, "not_multipart", "send the image as multipart/form-data in a field named 'file' "
                                                f"(got Content-Type {content_type[:100] or 'none'!r})")
        if not params.get(b"boundary"):
            raise Refused(400, "bad_multipart", "the multipart Content-Type has no boundary")
        return params[b"boundary"]

    def _begin(self):
        self._disposition, self._name, self._value, self._buf, self._keep = b"", b"", b"", None, False

    def _header_field(self, data, start, end):
        self._name += data[start:end]

    def _header_value(self, data, start, end):
        self._value += data[start:end]
        if len(self._value) > 4096:
            raise Refused(400, "bad_multipart", "a multipart part header is over 4 kB")

    def _header_end(self):
        if self._name.lower() == b"content-disposition":
            self._disposition = self._value
        self._name, self._value = b"", b""

    def _headers_done(self):
        _, opts = self._options(self._disposition)
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in opts:
            if name != "file":
                return  # another file field: its data is ignored (it still counts towards the body limit)
            if self.file is not None:
                raise Refused(400, "bad_multipart", "more than one part named 'file'; send one image a request")
            self.file, self._buf, self._keep = bytearray(), None, True
            self.filename = opts[b"filename"].decode("utf-8", "replace") or "upload"
            self._field = None
            return
        if len(self.fields) >= self.max_fields:
            raise Refused(400, "bad_multipart", f"more than {self.max_fields} form fields")
        self._field, self._buf, self._keep = name, bytearray(), True

    def _data(self, data, start, end):
        if not self._keep:
            return
        if self._buf is None:  # the file
            if len(self.file) + (end - start) > self.max_file:
                raise Refused(413, "too_large", f"the file is over the {mb(self.max_file)} limit")
            self.file += memoryview(data)[start:end]
        else:
            self._buf += memoryview(data)[start:end]
            if len(self._buf) > self.max_field:
                raise Refused(400, "bad_multipart", f"form field {self._field!r} is over {self.max_field} bytes")

    def _end(self):
        if self._keep and self._buf is not None:
            self.fields[self._field] = self._buf.decode("utf-8", "replace")
        self._keep, self._buf = False, None

    def feed(self, chunk: bytes):
        from python_multipart.exceptions import FormParserError

        try:
            self._parser.write(chunk)
        except FormParserError as e:
            raise Refused(400, "bad_multipart", f"cannot parse the multipart body: {e}") from None

    def finish(self):
        from python_multipart.exceptions import FormParserError

        try:
            self._parser.finalize()
        except FormParserError as e:
            raise Refused(400, "bad_multipart", f"cannot parse the multipart body: {e}") from None

    @classmethod
    async def receive(cls, request, max_file: int, timeout_s: float) -> "UploadForm":
        """The multipart body of a Starlette ``request``, parsed as it streams in: 413 as soon as it passes
        ``max_file`` (plus the form's own bytes), 408 if it takes longer than ``timeout_s``, 400 if the
        client leaves."""
        import asyncio

        from starlette.requests import ClientDisconnect

        limit = max_file + MULTIPART_SLACK
        form = cls(request.headers.get("content-type", ""), max_file)
        received = 0

        async def collect():
            nonlocal received
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise Refused(413, "too_large", f"upload is over the {mb(max_file)} limit")
                form.feed(chunk)
            form.finish()

        try:
            await asyncio.wait_for(collect(), timeout_s)
        except asyncio.TimeoutError:
            raise Refused(408, "upload_timeout", f"the upload did not arrive within {timeout_s:g} s") from None
        except ClientDisconnect:
            raise Refused(400, "client_disconnected", "the client closed the connection during the upload") \
                from None
        return form

    def take_file(self) -> bytearray:
        """The file's bytes (the one buffer they were received into: the upload is held once)."""
        data, self.file = self.file, None
        return data

