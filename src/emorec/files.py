"""Files: a file's checksum, and output places checked before any long work, with an error that names the
path and says why it cannot be written (a file in the way, no permission, a read-only place).

Light on purpose (standard library only): model cards, the YuNet model file, the writers, the video writer
and evaluation all use it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import EmorecError


def sha256(path) -> str:
    """The sha256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _make_folder(folder: Path, path: Path, what: str, error: type[Exception]) -> None:
    """``folder`` made (parents too) for ``path`` (the folder itself or a file in it), or ``error`` naming ``path``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise error(f"{path}: cannot write the {what} there: a part of that path is a file, not a folder") from None
    except OSError as e:
        where = f"cannot make folder {folder}: " if folder != path else ""
        raise error(f"{path}: cannot write the {what} there: {where}{e.strerror or e}") from None


def writable_folder(path, what: str = "output folder", *, error: type[Exception] = EmorecError) -> Path:
    """Make the folder ``path`` (parents too) and check a file can be written there; ``error`` (an exception
    class) naming it and ``what`` it was for otherwise."""
    import tempfile

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise error(f"{path}: cannot write the {what} there: it is a file, not a folder")
    _make_folder(path, path, what, error)
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise error(f"{path}: cannot write the {what} there: {e.strerror or e}") from None
    return path


def writable_parent(path, what: str = "output", *, error: type[Exception] = EmorecError,
                    create: bool = False) -> Path:
    """Make the folder of the file ``path`` (parents too); with ``create``, also check the file itself can be
    opened for writing (it is created empty when missing; an existing one is left as it is). ``error`` (an
    exception class) naming ``path`` and ``what`` it was for otherwise."""
    path = Path(path)
    _make_folder(path.parent, path, what, error)
    if create:
        try:
            with open(path, "ab"):
                pass
        except OSError as e:
            raise error(f"{path}: cannot write the {what} there: {e.strerror or e}") from None
    return path
