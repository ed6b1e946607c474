"""The output of ``emorec batch``: a folder of Parquet parts, each written atomically, and a manifest of
the options used, so that a rerun skips what is done and refuses other options."""

from __future__ import annotations

import json
import os

from ..errors import EmorecError
from .inputs import _from_uri, _is_uri

MANIFEST = "_emorec_batch.json"
FORMAT = "emorec-batch/1"
COMPARED = ("format", "model", "classes", "detector", "every_seconds", "settings")  # a rerun must match these


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
