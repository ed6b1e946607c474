"""Dataset readers: Kaggle FER2013 CSV, FER+ votes, and image-folder datasets.

Each reader turns files into arrays: ``images`` uint8 ``(N, H, W)``, ``labels`` int64 ``(N,)``,
optionally ``targets`` float32 ``(N, C)`` (soft labels, FER+), ``votes`` (FER+'s raw vote counts) and
``usage`` (split name per row). FER+ has two evaluation protocols (:data:`FERPLUS_PROTOCOLS`, see
:func:`ferplus_labels`).
Bad rows raise :class:`~emorec.errors.DataError` naming file, row and field, or with
``skip_bad_rows=True`` are dropped and listed in ``Dataset.bad_rows``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError
from .images import IMAGE_EXTENSIONS
from .labels import FER2013_CLASSES, FERPLUS_CLASSES

SPLITS = ("Training", "PublicTest", "PrivateTest")


@dataclass
class Dataset:
    images: np.ndarray  # uint8 (N, H, W)
    labels: np.ndarray  # int64 (N,): hard label (majority vote for FER+)
    classes: list[str]
    targets: np.ndarray | None = None  # float32 (N, C) soft labels, or None for one-hot
    usage: np.ndarray | None = None  # split name per row
    rows: np.ndarray | None = None  # row index in the source file (0 = first data row)
    bad_rows: list[str] = field(default_factory=list)
    source: str = ""
    votes: np.ndarray | None = None  # float32 (N, 10) FER+ vote counts (8 emotions, unknown, NF), or None

    def __len__(self) -> int:
        return len(self.labels)

    def soft_targets(self) -> np.ndarray:
        """Soft targets if the data has them, else one-hot of ``labels``."""
        if self.targets is not None:
            return self.targets
        return np.eye(len(self.classes), dtype=np.float32)[self.labels]

    def subset(self, mask: np.ndarray) -> "Dataset":
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return Dataset(self.images[mask], self.labels[mask], self.classes, pick(self.targets),
                       pick(self.usage), pick(self.rows), self.bad_rows, self.source, pick(self.votes))

    def ferplus_protocol(self, protocol: str) -> "Dataset":
        """The rows of this FER+ data set that ``protocol`` (:data:`FERPLUS_PROTOCOLS`) keeps, labelled as it
        labels them (:func:`ferplus_labels` on ``votes``). The Barsoum rows are a subset of the majority rows,
        with the same labels, so ``read_ferplus(...).ferplus_protocol("barsoum")`` is the Barsoum set."""
        if self.votes is None:
            raise DataError(f"{self.source}: has no FER+ votes; the FER+ protocols need FER+ labels")
        keep, labels = ferplus_labels(self.votes, protocol)
        out = self.subset(keep)
        out.labels = labels[keep]
        return out

    def stratified_split(self, fraction: float, seed: int = 0) -> tuple["Dataset", "Dataset"]:
        """Hold out ``fraction`` of every class: returns ``(rest, held_out)``, both in the original row order.

        In each class, ``round(fraction * rows of the class)`` rows are drawn without replacement by a NumPy
        ``Generator`` seeded with ``seed`` (classes in index order), so the held-out part keeps the class
        proportions (within one row per class) and is the same for the same data and seed on every machine.
        """
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        rng = np.random.default_rng(seed)
        held = np.zeros(len(self), dtype=bool)
        for k in range(len(self.classes)):
            idx = np.flatnonzero(self.labels == k)
            held[rng.permutation(idx)[:int(np.floor(fraction * len(idx) + 0.5))]] = True
        if not held.any() or held.all():
            raise DataError(f"{self.source}: cannot hold out {fraction:g} of {len(self)} rows by class: "
                            f"{'nothing' if not held.any() else 'everything'} would be held out")
        return self.subset(~held), self.subset(held)

    def fingerprint(self) -> str:
        """sha256 of the source row numbers (``rows``): names exactly which rows a part holds."""
        import hashlib

        rows = self.rows if self.rows is not None else np.arange(len(self))
        return hashlib.sha256(np.ascontiguousarray(rows, dtype="<i8").tobytes()).hexdigest()

    def split(self, name: str | None) -> "Dataset":
        """Rows of one split (``Training``, ``PublicTest``, ``PrivateTest``); ``None`` keeps all."""
        if name is None:
            return self
        if self.usage is None:
            raise DataError(f"{self.source}: has no 'Usage' column, cannot select split {name!r}")
        mask = self.usage == name
        if not mask.any():
            found = ", ".join(sorted(set(self.usage.tolist()))) or "none"
            raise DataError(f"{self.source}: no rows in split {name!r} (splits found: {found})")
        return self.subset(mask)


def _read_csv(path: Path):
    import pandas as pd

    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", newline="") as fh:
            return pd.read_csv(fh, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise DataError(f"{path}: cannot read CSV: {e}") from e
    except pd.errors.ParserError as e:
        raise DataError(f"{path}: malformed CSV: {e}") from e
    except pd.errors.EmptyDataError as e:
        raise DataError(f"{path}: empty file") from e


def _need_columns(df, path: Path, columns) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; "
                        f"found {', '.join(map(repr, df.columns))}")


def _fail_or_collect(problems: dict[int, str], path: Path, skip: bool) -> list[str]:
    """Problems by row index to messages; raise on the first one unless skipping."""
    msgs = [f"{path}: row {i + 1} (line {i + 2}), {problems[i]}" for i in sorted(problems)]
    if msgs and not skip:
        more = f" (and {len(msgs) - 1} more bad rows; --skip-bad-rows skips them)" if len(msgs) > 1 else ""
        raise DataError(msgs[0] + more)
    return msgs


def _scan_pixels(column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of whitespace-separated numbers: how many numbers, and whether anything else is there.

    Any run of spaces or tabs separates two numbers. One pass over the bytes of all rows with NumPy
    (regular expressions row by row take ~10 s on FER2013).
    """
    stripped = column.str.strip()
    pix = stripped.to_numpy(dtype=object)
    lens = stripped.str.len().to_numpy(dtype=np.int64)
    counts = np.zeros(len(pix), dtype=np.int64)
    bad = lens == 0
    rows = np.flatnonzero(~bad)
    if len(rows):
        raw = np.frombuffer(" ".join(pix[rows]).encode("ascii", errors="replace"), dtype=np.uint8)
        starts = np.concatenate([[0], np.cumsum(lens[rows] + 1)[:-1]])  # each row plus one separator
        space = (raw == 32) | ((raw >= 9) & (raw <= 13))  # space, tab, CR, LF, VT, FF
        digit = (raw >= 48) & (raw <= 57)
        first = digit.copy()
        first[1:] &= ~digit[:-1]  # the first digit of each number
        counts[rows] = np.add.reduceat(first.astype(np.int64), starts)
        where = np.flatnonzero(~(space | digit))  # bad bytes are rare: find their rows by position
        bad[rows[np.unique(np.searchsorted(starts, where, side="right") - 1)]] = True
    return counts, bad, pix


def _usage(column, problems: dict[int, str], field_name: str = "Usage") -> np.ndarray:
    """The split name of every row, case-insensitively ('publictest' -> 'PublicTest'); others are problems."""
    canon = {s.lower(): s for s in SPLITS}
    raw = column.str.strip().to_numpy(dtype=object)
    usage = np.array([canon.get(str(v).lower(), "") for v in raw], dtype=object)
    allowed = ", ".join(SPLITS)
    for i in np.flatnonzero(usage == ""):
        problems.setdefault(i, f"field {field_name!r}: empty; expected one of {allowed}" if raw[i] == ""
                            else f"field {field_name!r}: {raw[i]!r} is not one of {allowed}")
    return usage


def read_fer2013_csv(path, *, image_size: int = 48, skip_bad_rows: bool = False) -> Dataset:
    """Read a Kaggle ``fer2013.csv`` (``emotion,pixels,Usage``), plain or ``.gz``.

    All pixel strings are parsed in one vectorised pass. ``Usage`` is optional (then ``usage`` is None).
    """
    path = Path(path)
    df = _read_csv(path)
    _need_columns(df, path, ["emotion", "pixels"])
    n_pix = image_size * image_size
    problems: dict[int, str] = {}

    k = len(FER2013_CLASSES)
    emo = df["emotion"].str.strip()
    is_int = emo.str.fullmatch(r"[+-]?\d+").to_numpy(dtype=bool)
    emo_ok = is_int & (emo.str.len().to_numpy() <= 12)
    labels = np.full(len(df), -1, dtype=np.int64)
    labels[emo_ok] = emo[emo_ok].astype(np.int64).to_numpy()
    for i in np.flatnonzero(~is_int):
        problems[i] = f"field 'emotion': {df['emotion'].iat[i]!r} is not a whole number"
    for i in np.flatnonzero(is_int & ~(emo_ok & (labels >= 0) & (labels < k))):
        problems[i] = f"field 'emotion': {emo.iat[i]} is not a class (0-{k - 1})"

    counts, bad_char, pix = _scan_pixels(df["pixels"])
    for i in np.flatnonzero(bad_char):
        bad = next((t for t in str(pix[i]).split() if not (t.isascii() and t.isdigit())), "")
        problems.setdefault(i, f"field 'pixels': {bad!r} is not a number" if bad else "field 'pixels': empty")
    for i in np.flatnonzero(~bad_char & (counts != n_pix)):
        problems.setdefault(i, f"field 'pixels': expected {n_pix} values ({image_size}x{image_size}), "
                               f"got {counts[i]}")

    ok = ~bad_char & (counts == n_pix)
    values = np.zeros((len(df), n_pix), dtype=np.int32)
    if ok.any():  # one vectorised parse of every good pixel string
        flat = np.fromstring(" ".join(pix[ok].tolist()), dtype=np.int32, sep=" ")
        values[ok] = flat.reshape(-1, n_pix)
    for i in np.flatnonzero(ok & (values.max(axis=1) > 255)):
        problems.setdefault(i, f"field 'pixels': value {values[i].max()} out of range 0..255")

    usage = _usage(df["Usage"], problems) if "Usage" in df.columns else None

    bad = _fail_or_collect(problems, path, skip_bad_rows)
    keep = np.ones(len(df), dtype=bool)
    keep[list(problems)] = False
    images = values[keep].astype(np.uint8).reshape(-1, image_size, image_size)
    return Dataset(images, labels[keep], list(FER2013_CLASSES), None,
                   None if usage is None else usage[keep], np.flatnonzero(keep), bad, str(path))


FERPLUS_VOTE_COLUMNS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
FERPLUS_PROTOCOLS = {  # name -> what it keeps (ferplus_labels has the rules)
    "majority": "every row FER+ keeps, its most-voted emotion",
    "barsoum": "Barsoum et al. 2016: votes of 1 dropped, an emotion with more than half the rest",
}


def ferplus_labels(votes, protocol: str = "majority") -> tuple[np.ndarray, np.ndarray]:
    """Which rows of a FER+ vote table a protocol keeps, and their labels.

    ``votes``: ``(N, 10)`` counts in ``fer2013new.csv`` column order (the 8 emotions of
    :data:`FERPLUS_VOTE_COLUMNS`, then ``unknown``, ``NF``). Returns ``(keep, labels)``: bool ``(N,)`` and
    int64 ``(N,)``, an index into the 8 emotions where kept, -1 elsewhere.

    - ``majority`` (emorec's, the default): a row is kept when its most-voted emotion has more votes than
      ``unknown`` and than ``NF`` (and at least one); its label is that emotion (the first in column order
      on a tie between emotions).
    - ``barsoum`` (Barsoum et al. 2016, "Training deep networks for facial expression recognition with
      crowd-sourced label distribution", and their FERPlus reader's ``majority`` mode): votes of 1 are
      noise and set to 0; a row is kept when one column holds *more* than half of the remaining votes
      (exactly half is not enough; ``unknown`` and ``NF`` count in the total) and that column is an
      emotion, not ``unknown``/``NF``; its label is that emotion.

    Every row ``barsoum`` keeps, ``majority`` keeps with the same label (the Barsoum emotion has at least
    2 votes, more than any other column), so the Barsoum rows are a subset of the majority rows.
    Rows FER+ marks as not-a-face (empty ``Image name``) are dropped by :func:`read_ferplus` under both.
    """
    votes = np.asarray(votes, dtype=np.float64)
    if votes.ndim != 2 or votes.shape[1] != len(FERPLUS_VOTE_COLUMNS) + 2:
        raise ValueError(f"expected FER+ votes (N, {len(FERPLUS_VOTE_COLUMNS) + 2}), got shape {votes.shape}")
    n_emo = len(FERPLUS_VOTE_COLUMNS)
    if protocol == "majority":
        emo = votes[:, :n_emo]
        top = emo.max(axis=1, initial=0)
        keep = (top > 0) & (top > votes[:, n_emo]) & (top > votes[:, n_emo + 1])
        best = emo.argmax(axis=1) if len(votes) else np.zeros(0, dtype=np.int64)
    elif protocol == "barsoum":
        clean = np.where(votes <= 1, 0.0, votes)  # a single vote is noise
        best = clean.argmax(axis=1) if len(votes) else np.zeros(0, dtype=np.int64)
        top = clean[np.arange(len(clean)), best]
        keep = (2 * top > clean.sum(axis=1)) & (best < n_emo)
    else:
        raise ValueError(f"unknown FER+ protocol {protocol!r}; use one of {', '.join(FERPLUS_PROTOCOLS)}")
    return keep, np.where(keep, best, -1).astype(np.int64)


def read_ferplus(fer_csv, ferplus_csv, *, image_size: int = 48, skip_bad_rows: bool = False,
                 fer: Dataset | None = None, protocol: str = "majority") -> Dataset:
    """FER2013 images with FER+ labels (``fer2013new.csv``, row i = row i of ``fer2013.csv``).

    Rows and ``labels`` follow ``protocol`` (:func:`ferplus_labels`: ``majority``, the default, keeps
    every row whose most-voted emotion beats ``unknown`` and ``NF``; ``barsoum`` the rows the FER+
    paper evaluates on); rows FER+ marks as not-a-face (empty ``Image name``) are always dropped.
    ``targets`` are the 8 emotions' vote distributions (all votes, under both protocols); ``votes`` the
    10 raw vote columns, so :meth:`Dataset.ferplus_protocol` can narrow the rows later.
    """
    if protocol not in FERPLUS_PROTOCOLS:
        raise DataError(f"unknown FER+ protocol {protocol!r}; use one of {', '.join(FERPLUS_PROTOCOLS)}")
    ferplus_csv = Path(ferplus_csv)
    if fer is None:
        fer = read_fer2013_csv(fer_csv, image_size=image_size, skip_bad_rows=skip_bad_rows)
    df = _read_csv(ferplus_csv)
    _need_columns(df, ferplus_csv, ["Usage", "Image name", *FERPLUS_VOTE_COLUMNS, "unknown", "NF"])
    n_fer = int(fer.rows.max()) + 1 if len(fer) else 0
    if len(df) < n_fer:
        raise DataError(f"{ferplus_csv}: has {len(df)} rows but {fer.source} has at least {n_fer}; "
                        "row i of the two files must be the same image")
    problems: dict[int, str] = {}
    cols = FERPLUS_VOTE_COLUMNS + ["unknown", "NF"]
    votes = np.zeros((len(df), len(cols)), dtype=np.float32)
    for j, c in enumerate(cols):
        s = df[c].str.strip()
        good = s.str.fullmatch(r"\d+").to_numpy(dtype=bool)
        votes[good, j] = s[good].astype(np.float32).to_numpy()
        for i in np.flatnonzero(~good):
            problems.setdefault(i, f"field {c!r}: {df[c].iat[i]!r} is not a whole number")
    plus_usage = _usage(df["Usage"], problems)
    bad = fer.bad_rows + _fail_or_collect(problems, ferplus_csv, skip_bad_rows)

    emo = votes[:, :8]
    is_face = df["Image name"].str.strip().to_numpy(dtype=object) != ""
    kept, all_labels = ferplus_labels(votes, protocol)
    keep_row = is_face & kept
    keep_row[list(problems)] = False
    keep = keep_row[fer.rows]
    rows = fer.rows[keep]
    targets = emo[rows] / emo[rows].sum(axis=1, keepdims=True)
    labels = all_labels[rows]
    usage = plus_usage[rows]
    return Dataset(fer.images[keep], labels, list(FERPLUS_CLASSES), targets.astype(np.float32),
                   usage, rows, bad, f"{fer.source} + {ferplus_csv}", votes[rows])


_FOLDER_ALIASES = {  # folder names of the image-folder edition and common synonyms
    "angry": "angry", "anger": "angry", "disgust": "disgust", "disgusted": "disgust", "fear": "fear",
    "fearful": "fear", "happy": "happy", "happiness": "happy", "sad": "sad", "sadness": "sad",
    "surprise": "surprise", "surprised": "surprise", "neutral": "neutral", "contempt": "contempt",
}
_FOLDER_SPLITS = {"train": "Training", "training": "Training", "test": "PublicTest", "val": "PublicTest",
                  "validation": "PublicTest", "publictest": "PublicTest", "privatetest": "PrivateTest"}


def read_image_folder(root, *, image_size: int = 48, classes: list[str] | None = None,
                      skip_bad_rows: bool = False) -> Dataset:
    """Read ``root/<split>/<emotion>/*.png|jpg`` (or ``root/<emotion>/*`` for one split).

    Split folders ``train``/``test`` map to ``Training``/``PublicTest``. Classes default to the FER2013
    seven (folder names such as ``happy`` or ``happiness`` both work); images are made grey and resized
    with :func:`emorec.preprocess.to_uint8_face`, as inference does.
    """
    import cv2

    from .preprocess import to_uint8_face

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    classes = list(classes or FER2013_CLASSES)
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    split_dirs = [(p, _FOLDER_SPLITS.get(p.name.lower())) for p in subdirs]
    if not any(s for _, s in split_dirs):
        split_dirs = [(root, None)]
    images, labels, usage, bad = [], [], [], []
    for split_dir, split in split_dirs:
        if split is None and split_dir != root:
            continue
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            name = _FOLDER_ALIASES.get(class_dir.name.lower(), class_dir.name.lower())
            if name not in classes:
                bad.append(f"{class_dir}: folder name is not one of the classes {classes}; skipped")
                continue
            for f in sorted(class_dir.iterdir()):
                if f.suffix.lower() not in IMAGE_EXTENSIONS:
                    continue
                img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
                if img is None or img.size == 0:
                    msg = f"{f}: cannot read image"
                    if not skip_bad_rows:
                        raise DataError(msg + " (--skip-bad-rows skips it)")
                    bad.append(msg)
                    continue
                # the one preprocessing function's resize (area when shrinking, linear when enlarging)
                grey = to_uint8_face(img, image_size)
                images.append(grey)
                labels.append(classes.index(name))
                usage.append(split or "")
    if not images:
        raise DataError(f"{root}: no images found in <split>/<emotion>/ or <emotion>/ folders")
    return Dataset(np.stack(images), np.array(labels, dtype=np.int64), classes, None,
                   np.array(usage, dtype=object) if any(usage) else None,
                   np.arange(len(images)), bad, str(root))


def load_dataset(path, *, labels: str = "fer2013", ferplus_csv=None, image_size: int = 48,
                 skip_bad_rows: bool = False, ferplus_protocol: str = "majority") -> Dataset:
    """A CSV file or an image folder; ``labels='ferplus'`` joins the FER+ votes (``ferplus_csv``,
    default ``fer2013new.csv`` beside the CSV), keeping and labelling rows by ``ferplus_protocol``
    (:func:`ferplus_labels`)."""
    path = Path(path)
    if path.is_dir():
        if labels == "ferplus":
            raise DataError(f"{path}: FER+ labels need the fer2013 CSV, not an image folder")
        return read_image_folder(path, image_size=image_size, skip_bad_rows=skip_bad_rows)
    if labels == "ferplus":
        ferplus_csv = Path(ferplus_csv) if ferplus_csv else path.parent / "fer2013new.csv"
        if not ferplus_csv.exists():
            raise DataError(f"{ferplus_csv}: FER+ votes file not found; FER+ labels need fer2013new.csv beside "
                            f"{path.name} or its path given with --ferplus-csv")
        return read_ferplus(path, ferplus_csv, image_size=image_size, skip_bad_rows=skip_bad_rows,
                            protocol=ferplus_protocol)
    if labels != "fer2013":
        raise DataError(f"unknown label set {labels!r}; use 'fer2013' or 'ferplus'")
    return read_fer2013_csv(path, image_size=image_size, skip_bad_rows=skip_bad_rows)
