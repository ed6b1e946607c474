"""Refresh the vendored ONNX Runtime Web (the in-browser mode's runtime) from the npm package.

    python scripts/vendor_onnxruntime_web.py                 # the pinned VERSION below
    python scripts/vendor_onnxruntime_web.py --version 1.23.2

Runs ``npm pack onnxruntime-web@VERSION`` in a temporary folder (npm's own cache and registry settings
apply; the tarball's integrity is checked by npm), extracts it, and copies only what the page's WebAssembly
backend loads into ``src/emorec/static/vendor/onnxruntime-web/``:

* ``ort.wasm.min.mjs``: the ES-module API with the WASM backend only (no WebGL, no WebGPU);
* ``ort-wasm-simd-threaded.mjs`` + ``.wasm``: the Emscripten glue and the runtime (SIMD; it runs
  multi-threaded where the page is cross-origin isolated, single-threaded elsewhere);

plus ``LICENSE`` (MIT; the npm package ships none, so the licence text of the onnxruntime repository, which
the package's ``"license": "MIT"`` names, is written beside the files) and ``VENDORED.json`` (version,
tarball integrity, each file's sha256 and size). The WebGPU/JSEP builds (about 2x the size) are left out on
purpose: the WASM backend is the one that runs everywhere. Needs ``npm`` on the PATH and the npm registry.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.22.0"  # the pinned release (see bench/bench_browser.py for why this one)
PACKAGE = "onnxruntime-web"
FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
DEST = Path(__file__).resolve().parents[1] / "src" / "emorec" / "static" / "vendor" / "onnxruntime-web"

# https://github.com/microsoft/onnxruntime/blob/main/LICENSE (the package.json says "license": "MIT")
MIT_LICENSE = """MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def npm_pack(spec: str, folder: Path) -> dict:
    """``npm pack SPEC`` into ``folder``; npm's JSON record of the tarball (filename, integrity, ...)."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is not on the PATH (install Node.js)")
    out = subprocess.run([npm, "pack", spec, "--json", "--pack-destination", str(folder)], cwd=folder,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"npm pack {spec} failed:\n{out.stderr.strip()}")
    return json.loads(out.stdout)[0]


def vendor(version: str = VERSION, dest: Path = DEST) -> dict:
    """Replace ``dest`` with the WASM backend files of ``onnxruntime-web@version``; returns VENDORED.json's data."""
    with tempfile.TemporaryDirectory(prefix="ortweb-") as tmp:
        tmp = Path(tmp)
        record = npm_pack(f"{PACKAGE}@{version}", tmp)
        with tarfile.open(tmp / record["filename"]) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("package/")]
            try:  # regular files under package/ only; the "data" filter where this Python has it
                tar.extractall(tmp / "x", members=members, filter="data")
            except TypeError:
                tar.extractall(tmp / "x", members=members)  # noqa: S202
        pkg = tmp / "x" / "package"
        meta = json.loads((pkg / "package.json").read_text())
        if meta.get("license") != "MIT":
            raise SystemExit(f"{PACKAGE}@{version} says its licence is {meta.get('license')!r}, not MIT: check it")
        missing = [f for f in FILES if not (pkg / "dist" / f).is_file()]
        if missing:
            raise SystemExit(f"{PACKAGE}@{version} has no dist/{', dist/'.join(missing)}: its layout changed")
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for f in FILES:
            shutil.copyfile(pkg / "dist" / f, dest / f)
        shipped = [p for p in pkg.iterdir() if p.name.lower().startswith(("license", "licence"))]
        if shipped:
            shutil.copyfile(shipped[0], dest / "LICENSE")
        else:
            (dest / "LICENSE").write_text(MIT_LICENSE)
    info = {"package": PACKAGE, "version": meta["version"], "license": "MIT",
            "source": f"npm pack {PACKAGE}@{meta['version']}", "integrity": record.get("integrity"),
            "files": {f: {"bytes": (dest / f).stat().st_size, "sha256": sha256(dest / f)} for f in FILES}}
    (dest / "VENDORED.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--version", default=VERSION, help=f"onnxruntime-web release (default {VERSION})")
    ap.add_argument("--dest", type=Path, default=DEST, help="folder to write (replaced)")
    args = ap.parse_args(argv)
    info = vendor(args.version, args.dest)
    total = sum(f["bytes"] for f in info["files"].values())
    print(f"vendored {PACKAGE} {info['version']} into {args.dest}: {len(info['files'])} files, {total:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
