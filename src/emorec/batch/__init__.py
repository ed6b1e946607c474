"""`emorec batch`: the `detect` pipeline over large collections, on Ray Data (``pip install ".[ray]"``).

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

from .cluster import check_address, require_ray, start_ray
from .inputs import expand_inputs
from .output import MANIFEST, OutputFolder
from .rows import Analyzer, face_rows, output_schema
from .run import BatchSummary, run_batch

__all__ = ["run_batch", "BatchSummary", "expand_inputs", "OutputFolder", "MANIFEST", "Analyzer", "face_rows",
           "output_schema", "require_ray", "check_address", "start_ray"]
