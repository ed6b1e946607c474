"""What ``emorec batch`` analyses: files, folders, globs and lists of paths or URIs, expanded into items
``{"file", "src", "video"}``."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Optional

from ..errors import EmorecError
from ..images import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, find_images

LIST_SUFFIXES = (".txt", ".csv", ".parquet")
LIST_COLUMNS = ("file", "path", "uri", "url")


def _is_uri(s: str) -> bool:
    return "://" in s


def _has_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def _ext(s: str) -> str:
    return os.path.splitext(s.split("?")[0])[1].lower()


def _item(file: str, src: Optional[str] = None) -> dict:
    """One input: ``file`` (as named, the key of its rows), ``src`` (where a worker reads it), ``video``."""
    if src is None:
        src = file if _is_uri(file) else os.path.abspath(file)
    return {"file": file, "src": src, "video": _ext(file) in VIDEO_EXTENSIONS}


def _from_uri(uri: str):
    from pyarrow import fs as pafs

    try:
        return pafs.FileSystem.from_uri(uri)
    except Exception as e:  # pyarrow raises ArrowInvalid / OSError for bad or unsupported URIs
        raise EmorecError(f"{uri}: {str(e).strip().splitlines()[0]}") from e


def _list_uri_folder(uri: str, pattern: Optional[str] = None) -> list[str]:
    """Image and video files under a URI folder (recursive), optionally matching a glob ``pattern``."""
    import fnmatch

    from pyarrow import fs as pafs

    fs, path = _from_uri(uri)
    scheme = uri.split("://", 1)[0]
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    except Exception as e:
        raise EmorecError(f"{uri}: cannot list: {str(e).strip().splitlines()[0]}") from e
    out = []
    for info in infos:
        if info.type != pafs.FileType.File or info.base_name.startswith("."):
            continue
        full = f"{scheme}://{info.path}" if scheme != "file" else f"file://{info.path}"
        if pattern is not None:
            if fnmatch.fnmatchcase(full, pattern):
                out.append(full)
        elif _ext(info.path) in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
            out.append(full)
    return sorted(out)


def _read_list(name: str) -> list[str]:
    """The paths or URIs a ``.txt`` (one a line, ``#`` comments), ``.csv`` or ``.parquet`` list names;
    relative local paths are taken relative to the list's folder."""
    import io

    ext = _ext(name)
    try:
        if _is_uri(name):
            fs, path = _from_uri(name)
            with fs.open_input_file(path) as fh:
                data = fh.read()
        else:
            data = Path(name).read_bytes()
    except FileNotFoundError:
        raise EmorecError(f"{name}: no such file") from None
    except OSError as e:
        raise EmorecError(f"{name}: cannot read: {getattr(e, 'strerror', None) or e}") from e
    try:
        if ext == ".txt":
            entries = [ln.strip() for ln in data.decode("utf-8-sig").splitlines()]
            entries = [e for e in entries if e and not e.startswith("#")]
        else:
            if ext == ".csv":
                import pandas as pd

                table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
                columns = list(table.columns)
                get = lambda c: table[c].tolist()  # noqa: E731
            else:
                import pyarrow.parquet as pq

                table = pq.read_table(io.BytesIO(data))
                columns = table.column_names
                get = lambda c: [None if v is None else str(v) for v in table.column(c).to_pylist()]  # noqa: E731
            lowered = {c.strip().lower(): c for c in columns}
            col = next((lowered[c] for c in LIST_COLUMNS if c in lowered), columns[0] if columns else None)
            if col is None:
                raise EmorecError(f"{name}: the list has no columns")
            entries = [str(e).strip() for e in get(col) if e is not None and str(e).strip()]
    except EmorecError:
        raise
    except Exception as e:  # a malformed CSV / Parquet / text file
        raise EmorecError(f"{name}: cannot read as a {ext[1:]} list of paths: {str(e).strip().splitlines()[0]}") from e
    if _is_uri(name):
        base = name.rsplit("/", 1)[0]
        return [e if _is_uri(e) or e.startswith("/") else f"{base}/{e}" for e in entries]
    base = os.path.dirname(name)
    return [e if _is_uri(e) or os.path.isabs(e) else os.path.join(base, e) for e in entries]


def expand_inputs(inputs, _depth: int = 0) -> tuple[list[dict], list[str]]:
    """INPUT strings -> ``(items, problems)``: each item ``{"file", "src", "video"}`` once, in order;
    ``problems`` are messages for inputs that gave nothing (an empty folder, a glob without a match,
    an unreadable list). A named file that is missing stays an item: its row will hold the error."""
    items: list[dict] = []
    problems: list[str] = []
    for raw in map(str, inputs):
        s = raw.strip()
        try:
            if _is_uri(s):
                if _ext(s) in LIST_SUFFIXES and _depth == 0:
                    sub, probs = expand_inputs(_read_list(s), _depth + 1)
                    items += sub
                    problems += probs
                elif _has_glob(s):
                    prefix = s[:min(s.index(c) for c in "*?[" if c in s)].rsplit("/", 1)[0]
                    found = _list_uri_folder(prefix, pattern=s)
                    items += [_item(f) for f in found]
                    if not found:
                        problems.append(f"{s}: no file matches")
                elif _ext(s) in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
                    items.append(_item(s))
                else:
                    from pyarrow import fs as pafs

                    fs, path = _from_uri(s)
                    if fs.get_file_info(path).type == pafs.FileType.Directory:
                        found = _list_uri_folder(s)
                        items += [_item(f) for f in found]
                        if not found:
                            problems.append(f"{s}: no image or video files in this folder")
                    else:
                        items.append(_item(s))
                continue
            p = Path(s)
            if p.is_dir():
                found, skipped = find_images([p])
                found += [f for f in skipped if f.suffix.lower() in VIDEO_EXTENSIONS]
                items += [_item(str(f)) for f in sorted(found)]
                if not found:
                    problems.append(f"{s}: no image or video files in this folder")
            elif p.suffix.lower() in LIST_SUFFIXES and _depth == 0:
                sub, probs = expand_inputs(_read_list(s), _depth + 1)
                items += sub
                problems += probs
            elif _has_glob(s) and not p.exists():
                matches = sorted(glob.glob(s, recursive=True))
                if not matches:
                    problems.append(f"{s}: no file matches")
                sub, probs = expand_inputs(matches, _depth + 1) if matches else ([], [])
                items += sub
                problems += probs
            else:
                items.append(_item(s))
        except EmorecError as e:
            problems.append(str(e))
    seen: set = set()
    unique = []
    for it in items:
        if it["file"] not in seen:
            seen.add(it["file"])
            unique.append(it)
    return unique, problems
