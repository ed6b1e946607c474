"""`emorec batch`: the `detect` pipeline over large collections, on Ray Data (``pip install "emorec[ray]"``).

>>> from emorec.batch import run_batch
>>> s = run_batch(["photos/", "more/*.jpg", "s3://bucket/list.txt"], "results/", workers=4)
>>> s.files, s.faces, s.errors, s.images_per_s

Inputs (:func:`expand_inputs`): image and video files, folders (searched like ``detect`` does), globs, and
``.txt`` / ``.csv`` / ``.parquet`` lists of paths or URIs; a URI (``s3://``, ``gs://``, ``file://``...) is read
through pyarrow's file systems. A video gives one row per sampled frame (every ``every_seconds``).

Ray: without ``address`` (nor ``RAY_ADDRESS``) a local Ray is started that listens on loopback only, with
usage statistics and the dashboard off; with one, the same job runs on that cluster. The inputs are split in
blocks of ``files_per_part``; an actor pool of ``workers`` actors (:class:`Analyzer`, each building its
:class:`~emorec.recognizer.EmotionRecognizer` once) turns each block into rows.

Output (:class:`OutputFolder`): a Parquet dataset, ``pandas.read_parquet(DIR)``: one row per face (file,
frame and time for videos, face index from 1, box, emotion, confidence, one column per class, detector, model)
and one row per image without a face (``face`` = 0) or with an error (``error`` holds the message). Each
finished block is written by the driver as its own part, atomically (a temporary name, then a rename), so
a run killed midway loses only the blocks in flight; a rerun reads the ``file`` column of the parts and
skips what is done. ``_emorec_batch.json`` marks the folder as emorec's and records the options used.
"""

from __future__ import annotations

import glob
import json
import math
import os
import socket
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .errors import EmorecError, ImageError
from .images import IMAGE_EXTENSIONS, find_images
from .sources import VIDEO_EXTENSIONS

MANIFEST = "_emorec_batch.json"
FORMAT = "emorec-batch/1"
LIST_SUFFIXES = (".txt", ".csv", ".parquet")
LIST_COLUMNS = ("file", "path", "uri", "url")
INSTALL_HINT = 'pip install "emorec[ray]"'
MIN_RAY = (2, 51)
_LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
COMPARED = ("format", "model", "classes", "detector", "every_seconds", "settings")  # a rerun must match these
FIXED_COLUMNS = ("file", "frame", "time_s", "face", "x", "y", "w", "h", "emotion", "confidence")
TAIL_COLUMNS = ("detection", "detector", "model", "error")


# ---------------------------------------------------------------- Ray, installed or not
def require_ray():
    """The ``ray`` module (with Ray Data), or :class:`EmorecError` saying which extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise EmorecError(f"emorec batch runs on Ray Data, which is not installed ({e.name or 'ray'} is "
                          f"missing): {INSTALL_HINT}; 'emorec detect' analyses photos on this machine without it") from e
    version = tuple(int(p) for p in ray.__version__.split(".")[:2] if p.isdigit())
    if version < MIN_RAY:
        raise EmorecError(f"ray {ray.__version__} is too old for emorec batch (needs ray[data]>="
                          f"{'.'.join(map(str, MIN_RAY))}): {INSTALL_HINT} --upgrade")
    return ray


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail fast (:class:`EmorecError`) when a cluster address's host:port does not answer: ``ray.init``
    would otherwise wait a long time. ``auto`` and addresses without a port are left to Ray."""
    rest = address.split("://", 1)[-1].strip().rstrip("/")
    if address in ("auto", "local") or ":" not in rest:
        return
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit():
        raise EmorecError(f"--address {address}: expected HOST:PORT (e.g. 10.0.0.5:6379 or ray://head:10001)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise EmorecError(f"cannot reach the Ray cluster at {address}: {why}. Start one with 'ray start --head' "
                          "(or check the address and firewall), or leave out --address to run on this machine") from e


def start_ray(address: Optional[str] = None, num_cpus: Optional[int] = None):
    """Connect to ``address`` (or ``RAY_ADDRESS``), else start a local Ray on loopback only, usage
    statistics and dashboard off. Returns ``(ray, started_here)``; ``started_here`` when this call
    started Ray (the caller shuts it down). An already initialised Ray is used as it is."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Ray Data's log lines would bury the progress bar and the summary; its errors still come back as
    # exceptions. RAY_DATA_LOG_LEVEL=INFO shows them.
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")
    address = address or os.environ.get("RAY_ADDRESS") or None
    ray = require_ray()
    if address:
        check_address(address)
    if ray.is_initialized():
        return ray, False
    common = dict(include_dashboard=False, logging_level="error", log_to_driver=False, configure_logging=True)
    if address is None:
        # Ray gives its servers the machine's network address unless it believes it is on a laptop without
        # cluster support; this switch (read at import, hence set in both places) makes it use 127.0.0.1,
        # so nothing listens beyond loopback. Put back once Ray runs: its processes have what they need.
        from ray._private import ray_constants

        env, flag = os.environ.get(_LOCAL_ONLY), ray_constants.ENABLE_RAY_CLUSTER
        os.environ[_LOCAL_ONLY], ray_constants.ENABLE_RAY_CLUSTER = "0", False
        try:
            # address="local": always a Ray of its own, never a cluster already running on this machine (nor a
            # stale /tmp/ray/ray_current_cluster left by one that is gone)
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, _node_ip_address="127.0.0.1",
                     object_store_memory=256 * 2**20, **common)
        except Exception as e:  # Ray raises its own types (and RuntimeError) for a start that fails
            raise EmorecError(f"cannot start a local Ray: {e}") from e
        finally:
            ray_constants.ENABLE_RAY_CLUSTER = flag
            if env is None:
                os.environ.pop(_LOCAL_ONLY, None)
            else:
                os.environ[_LOCAL_ONLY] = env
        return ray, True
    try:
        ray.init(address=address, **common)
    except Exception as e:
        raise EmorecError(f"cannot connect to the Ray cluster at {address}: {str(e).strip().splitlines()[0]}") from e
    return ray, True


# ---------------------------------------------------------------- inputs
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


# ---------------------------------------------------------------- rows
def output_schema(classes):
    """The Parquet schema of the rows for a model with these ``classes``."""
    import pyarrow as pa

    clash = set(classes) & set(FIXED_COLUMNS + TAIL_COLUMNS)
    if clash:
        raise EmorecError(f"the model's class names {sorted(clash)} clash with emorec batch's columns")
    i32, f32 = pa.int32(), pa.float32()
    return pa.schema([("file", pa.string()), ("frame", pa.int64()), ("time_s", pa.float64()), ("face", i32),
                      ("x", i32), ("y", i32), ("w", i32), ("h", i32), ("emotion", pa.string()),
                      ("confidence", f32), *[(c, f32) for c in classes], ("detection", f32),
                      ("detector", pa.string()), ("model", pa.string()), ("error", pa.string())])


def face_rows(file: str, faces, frame=None, time_s=None) -> list[dict]:
    """Rows for one image (or video frame): one per face, or one with ``face`` = 0 when there is none."""
    base = {"file": file, "frame": frame, "time_s": time_s}
    if not faces:
        return [dict(base, face=0)]
    rows = []
    for i, f in enumerate(faces, 1):
        x, y, w, h = (int(v) for v in f.box)
        rows.append(dict(base, face=i, x=x, y=y, w=w, h=h, emotion=f.emotion, confidence=f.confidence,
                         detection=f.detection, **f.scores))
    return rows


def _message(e: Exception, file: str, src: str) -> str:
    msg = str(e).replace(src, file) if src != file else str(e)
    if not isinstance(e, (EmorecError, ValueError, OSError, MemoryError)):
        msg = f"{type(e).__name__}: {msg}"
    return msg if file in msg else f"{file}: {msg}"


class Analyzer:
    """Rows for a block of inputs; the Ray actor builds one of these per worker (the recogniser is
    built once, in ``__init__``). Usable without Ray too: ``Analyzer(kwargs)(block)``."""

    def __init__(self, recognizer_kwargs: Optional[dict] = None, every_seconds: float = 1.0, threads: int = 1,
                 max_pixels: Optional[int] = None):
        import cv2

        from .images import MAX_PIXELS
        from .recognizer import EmotionRecognizer

        self.max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
        if threads:
            cv2.setNumThreads(int(threads))  # one process per CPU: no oversubscription by OpenCV's pool
        self.rec = EmotionRecognizer(**(recognizer_kwargs or {}))
        self.classes = self.rec.classes  # loads the model now, once
        self.schema = output_schema(self.classes)
        self.detector = self.rec.detector.name
        self.model = self.rec.classifier.name
        self.every_seconds = float(every_seconds)
        self._fs: dict = {}

    def _read_bytes(self, uri: str) -> bytes:
        scheme, rest = uri.split("://", 1)
        if scheme in ("s3", "gs", "gcs"):  # one file system per bucket (credentials resolved once)
            key = f"{scheme}://{rest.split('/', 1)[0]}"
            if key not in self._fs:
                self._fs[key] = _from_uri(uri)[0]
            fs, path = self._fs[key], rest
        else:
            fs, path = _from_uri(uri)
        try:
            with fs.open_input_file(path) as fh:
                return fh.read()
        except FileNotFoundError:
            raise ImageError(f"{uri}: no such file") from None
        except OSError as e:
            raise ImageError(f"{uri}: cannot read: {str(e).strip().splitlines()[0]}") from e

    def image_rows(self, file: str, src: str) -> list[dict]:
        from .images import decode_image, read_image

        limit = self.max_pixels or None
        image = decode_image(self._read_bytes(src), file, limit) if _is_uri(src) else read_image(src, limit)
        return face_rows(file, self.rec.analyze(image))

    def video_rows(self, file: str, src: str) -> list[dict]:
        """A row set per sampled frame (every ``every_seconds``; 0: every frame), decoded as `emorec video` does."""
        import tempfile

        from .sources import VideoSource

        tmp = None
        if _is_uri(src):  # OpenCV reads local files: fetch the video through pyarrow first
            fd, tmp = tempfile.mkstemp(suffix=_ext(src))
            with os.fdopen(fd, "wb") as fh:
                fh.write(self._read_bytes(src))
        try:
            with VideoSource(tmp or src) as video:
                step = max(1, round(self.every_seconds * video.fps))
                rows = []
                for item in video:
                    if item.index % step == 0:
                        rows += face_rows(file, self.rec.analyze(item.image), frame=item.index, time_s=item.time)
            return rows
        finally:
            if tmp:
                os.unlink(tmp)

    def analyze(self, file: str, src: str, video: bool) -> list[dict]:
        """The rows of one input; an input that fails gives one row holding the error."""
        try:
            return self.video_rows(file, src) if video else self.image_rows(file, src)
        except Exception as e:  # noqa: BLE001 -- one bad input must not stop its block
            return [{"file": file, "error": _message(e, file, src)}]

    def table(self, rows: list[dict]):
        import pyarrow as pa

        for r in rows:
            r.setdefault("detector", self.detector)
            r.setdefault("model", self.model)
        return pa.Table.from_pydict({c: [r.get(c) for r in rows] for c in self.schema.names}, schema=self.schema)

    def __call__(self, block: dict):
        rows: list[dict] = []
        for file, src, video in zip(block["file"], block["src"], block["video"]):
            rows += self.analyze(str(file), str(src), bool(video))
        return self.table(rows)


def _pa_strings(values):
    import pyarrow as pa

    return pa.array(sorted(values), pa.string())


# ---------------------------------------------------------------- the output folder
class OutputFolder:
    """A folder (local path or URI) of Parquet parts plus :data:`MANIFEST`; refuses a folder that holds
    anything else, or emorec batch results made with other options."""

    def __init__(self, out):
        from pyarrow import fs as pafs

        self.name = str(out)
        if _is_uri(self.name):
            self.fs, self.root = _from_uri(self.name)
        else:
            self.fs, self.root = pafs.LocalFileSystem(), os.path.abspath(self.name)
        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        self._pafs = pafs

    def _path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def _listing(self):
        try:
            return self.fs.get_file_info(self._pafs.FileSelector(self.root, recursive=False))
        except Exception as e:
            raise EmorecError(f"{self.name}: cannot list the output folder: {str(e).strip().splitlines()[0]}") from e

    def parts(self) -> list[str]:
        return sorted(i.path for i in self._listing() if i.base_name.startswith("part-")
                      and i.base_name.endswith(".parquet"))

    def open(self, manifest: dict) -> dict:
        """Claim the folder (new or empty), or check it is an earlier run's with the same ``manifest``
        options; leftovers of a killed run (temporary parts) are removed. Returns the manifest in use.
        The manifest is written with the first part: a run that fails before it (a cluster that cannot be
        reached) leaves nothing that would refuse a later run with other options."""
        info = self.fs.get_file_info(self.root)
        if info.type == self._pafs.FileType.File:
            raise EmorecError(f"{self.name}: is a file; --out needs a folder (new, empty, or an earlier emorec batch output)")
        if info.type == self._pafs.FileType.Directory:
            names = {i.base_name for i in self._listing()}
            if names and MANIFEST not in names:
                shown = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
                raise EmorecError(f"{self.name}: holds other files ({shown}), not an emorec batch output: choose a "
                                  "new or empty folder for --out")
        if info.type == self._pafs.FileType.Directory and MANIFEST in names and self.parts():
            old = self._read_manifest()
            diffs = [f"{k} {old.get(k)!r} (now {manifest.get(k)!r})" for k in COMPARED
                     if old.get(k) != manifest.get(k)]
            if len(diffs) > 1:  # the recogniser's full settings only when nothing plainer differs
                diffs = [d for d in diffs if not d.startswith("settings ")]
            if diffs:
                raise EmorecError(f"{self.name}: holds results made with other options: {'; '.join(diffs)}. "
                                  "Use another --out, or the same options to continue that run")
            for i in self._listing():  # parts a killed run left half-written
                if i.base_name.startswith(".part-") and i.base_name.endswith(".tmp"):
                    self.fs.delete_file(i.path)
            return old
        try:
            self.fs.create_dir(self.root, recursive=True)
            self._write(".write-check.tmp", b"")  # an unwritable folder fails now, before any analysis
            self.fs.delete_file(self._path(".write-check.tmp"))
        except OSError as e:
            raise EmorecError(f"{self.name}: cannot write the output folder: {_oserror(e)}") from e
        self._unwritten = manifest
        return manifest

    def _read_manifest(self) -> dict:
        try:
            with self.fs.open_input_stream(self._path(MANIFEST)) as fh:
                data = json.loads(fh.read())
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
            return data
        except Exception as e:
            raise EmorecError(f"{self.name}/{MANIFEST}: not a readable emorec batch manifest ({e})") from e

    def _write(self, name: str, data: bytes) -> None:
        with self.fs.open_output_stream(self._path(name)) as fh:
            fh.write(data)

    def _read_part(self, part: str, columns=None):
        import pyarrow.parquet as pq

        try:
            return pq.read_table(part, columns=columns, filesystem=self.fs)
        except Exception as e:
            raise EmorecError(f"{part}: cannot read this part of an earlier run ({str(e).strip()[:200]}); "
                              "move it out of the folder and rerun (its inputs are then analysed again)") from e

    def done_files(self) -> tuple[set, set]:
        """``(done, failed)``: the files with result rows in a part already, and those whose row is an error
        (a rerun analyses them again)."""
        done: set = set()
        failed: set = set()
        for part in self.parts():
            d = self._read_part(part, ["file", "error"]).to_pydict()
            for f, e in zip(d["file"], d["error"]):
                (failed if e is not None else done).add(f)
        return done, failed - done

    def drop_errors(self, files: set) -> int:
        """Remove the error rows of ``files`` from the parts (each part rewritten whole, atomically; a part
        left empty is deleted), so that their new rows replace them. Returns the rows removed."""
        import pyarrow.compute as pc

        removed = 0
        for part in self.parts():
            table = self._read_part(part)
            drop = pc.and_(pc.is_valid(table["error"]), pc.is_in(table["file"], value_set=_pa_strings(files)))
            n = pc.sum(drop).as_py() or 0
            if not n:
                continue
            kept = table.filter(pc.invert(drop))
            if kept.num_rows:
                self.write_part(kept, part.rsplit("/", 1)[-1])
            else:
                self.fs.delete_file(part)
            removed += n
        return removed

    def write_part(self, table, name: str) -> str:
        """Write ``table`` as part ``name``: all of it or nothing (temporary name, then a rename; on
        object stores an object appears whole when it is closed)."""
        import pyarrow.parquet as pq

        final = self._path(name)
        target = self._path(f".{name}.tmp") if self.local else final
        try:
            if getattr(self, "_unwritten", None) is not None:  # the run's first part: the manifest first
                self._write(MANIFEST, json.dumps(self._unwritten, indent=1).encode())
                self._unwritten = None
            with self.fs.open_output_stream(target) as fh:
                pq.write_table(table, fh)
            if target != final:
                self.fs.move(target, final)
        except OSError as e:
            raise EmorecError(f"{final}: cannot write this part: {_oserror(e)}") from e
        return final


def _oserror(e: OSError) -> str:
    return (getattr(e, "strerror", None) or str(e)).strip().splitlines()[0]


# ---------------------------------------------------------------- the run
@dataclass
class BatchSummary:
    out: str
    inputs: int = 0            # inputs found
    skipped: int = 0           # already in OUT from an earlier run
    retried: int = 0           # inputs whose earlier row was an error, analysed again
    files: int = 0             # inputs analysed in this run
    images: int = 0            # of which images read and analysed (no error)
    frames: int = 0            # video frames analysed
    faces: int = 0
    no_face: int = 0           # images (or frames) without a face
    errors: int = 0            # inputs whose row holds an error
    parts: int = 0             # parts written in this run
    workers: int = 0
    startup_s: float = 0.0     # starting / joining Ray
    seconds: float = 0.0       # analysis: from Ray ready to the last part written
    problems: list = field(default_factory=list)        # inputs that gave nothing (messages)
    error_messages: list = field(default_factory=list)  # the error rows' messages

    @property
    def images_per_s(self) -> float:
        """Images plus video frames analysed per second (Ray's start-up excluded)."""
        return (self.images + self.frames) / self.seconds if self.seconds else 0.0


def run_batch(inputs, out, *, recognizer_kwargs: Optional[dict] = None, workers: int = 0,
              address: Optional[str] = None, every_seconds: float = 1.0, files_per_part: int = 32,
              max_pixels: Optional[int] = None, on_progress: Optional[Callable[[int, int, BatchSummary], None]] = None) -> BatchSummary:
    """Analyse every input on Ray Data and write the rows to the Parquet dataset ``out``.

    ``recognizer_kwargs``: :class:`~emorec.recognizer.EmotionRecognizer`'s arguments (the same as
    ``detect``'s options). ``workers``: actors in the pool (0: one per CPU of the cluster). ``max_pixels``: an
    image of more pixels becomes an error row (default :data:`emorec.images.MAX_PIXELS`; 0: no limit).
    Inputs whose earlier row is an error are analysed again, their new rows replacing it.
    ``on_progress(files_done, files_to_do, summary)`` is called once before Ray starts (``files_done`` 0)
    and after each part is written. Raises
    :class:`EmorecError` for bad options, an unusable output folder or an unreachable cluster; bad
    inputs become error rows and the rest goes on.
    """
    from .recognizer import EmotionRecognizer

    if every_seconds < 0 or files_per_part < 1 or workers < 0:
        raise ValueError("every_seconds must be >= 0, files_per_part >= 1 and workers >= 0")
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        check_address(address)  # before anything is written
    kwargs = {k: str(v) if isinstance(v, Path) else v for k, v in (recognizer_kwargs or {}).items()}
    summary = BatchSummary(out=str(out))
    try:  # the options are checked here, before Ray starts: a bad model fails in a second
        rec = EmotionRecognizer(**kwargs)
        classes = rec.classes
        schema = output_schema(classes)
    except (EmorecError, ValueError, TypeError) as e:
        raise EmorecError(str(e)) from e
    manifest = {"format": FORMAT, "model": rec.classifier.name, "classes": list(classes),
                "detector": rec.detector.name, "settings": repr(rec), "every_seconds": float(every_seconds),
                "recognizer": kwargs, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    manifest = json.loads(json.dumps(manifest))  # plain values, as they are recorded and read back
    folder = OutputFolder(out)
    folder.open(manifest)
    done, failed = folder.done_files()
    items, summary.problems = expand_inputs(inputs)
    summary.inputs = len(items)
    todo = [it for it in items if it["file"] not in done]
    summary.skipped = len(items) - len(todo)
    summary.retried = len({it["file"] for it in todo} & failed)
    if summary.retried:  # inputs that failed before (missing, unreadable, a transient error): try them again
        folder.drop_errors({it["file"] for it in todo} & failed)
    if on_progress is not None:
        on_progress(0, len(todo), summary)
    if not todo:
        return summary

    t0 = time.perf_counter()
    ray, started = start_ray(address, num_cpus=max(workers, os.cpu_count() or 1) if workers else None)
    try:
        from ray.data import ActorPoolStrategy, DataContext

        import logging

        logging.getLogger("ray.data").setLevel(os.environ["RAY_DATA_LOG_LEVEL"])
        ctx = DataContext.get_current()
        ctx.enable_progress_bars = False  # the caller shows progress (on_progress)
        ctx.print_on_execution_start = False
        ctx.verbose_stats_logs = False
        cpus = int(ray.cluster_resources().get("CPU", 1))
        n = max(1, min(workers or cpus, len(todo)))
        blocks = max(math.ceil(len(todo) / files_per_part), n)  # small runs: a block for every worker
        summary.workers = n
        summary.startup_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        ds = ray.data.from_items(todo, override_num_blocks=blocks)
        udf = dict(fn_constructor_kwargs={"recognizer_kwargs": kwargs, "every_seconds": every_seconds,
                                          "max_pixels": max_pixels},
                   compute=ActorPoolStrategy(size=n), batch_size=None, batch_format="numpy", num_cpus=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                # A worker that dies stops the run (a rerun continues it): Ray Data's default, restarting
                # it forever, would loop on an input that kills it, and logs an alarming line per run.
                ds = ds.map_batches(Analyzer, max_restarts=0, **udf)
            except TypeError:  # a Ray without these remote arguments
                ds = ds.map_batches(Analyzer, **udf)
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        files_done = 0
        blocks_out = iter(ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0))
        try:
            while True:
                try:
                    block = next(blocks_out)
                except StopIteration:
                    break
                except Exception as e:  # Ray's own errors: a worker that cannot start or died
                    raise EmorecError(f"the Ray job failed: {_last_line(e)}; the {summary.parts} part(s) written "
                                      f"in this run are kept in {out}: rerun the same command to continue") from e
                if block.num_rows == 0:
                    continue
                block = block.select(schema.names).cast(schema)  # the same schema in every part
                folder.write_part(block, f"part-{run_id}-{summary.parts:05d}.parquet")
                summary.parts += 1
                files_done += _count(block, summary)
                summary.seconds = time.perf_counter() - t1
                if on_progress is not None:
                    on_progress(files_done, len(todo), summary)
        finally:  # stops the pipeline and frees its actors now, also on Ctrl-C or an error
            if hasattr(blocks_out, "close"):
                blocks_out.close()
        summary.seconds = time.perf_counter() - t1
    finally:
        if started:
            ray.shutdown()
    return summary


def _last_line(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(e).__name__


def _count(block, s: BatchSummary) -> int:
    """Add a written block's rows to the summary; returns how many inputs it holds."""
    d = block.select(["file", "frame", "face", "error"]).to_pydict()
    files = set(d["file"])
    errors = [(f, e) for f, e in zip(d["file"], d["error"]) if e is not None]
    s.files += len(files)
    s.errors += len({f for f, _ in errors})
    s.error_messages += [e for _, e in errors]
    s.faces += sum(1 for f in d["face"] if f is not None and f > 0)
    s.no_face += sum(1 for f in d["face"] if f == 0)
    s.frames += len({(f, fr) for f, fr in zip(d["file"], d["frame"]) if fr is not None})
    s.images += len({f for f, fr, e in zip(d["file"], d["frame"], d["error"]) if fr is None and e is None})
    return len(files)
