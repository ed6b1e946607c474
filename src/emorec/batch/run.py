"""``run_batch``: inputs -> Ray Data actors -> Parquet parts, with a summary of what was done."""

from __future__ import annotations

import json
import math
import os
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import EmorecError
from .cluster import check_address, start_ray
from .inputs import expand_inputs
from .output import FORMAT, OutputFolder
from .rows import Analyzer, output_schema


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
    from ..recognizer import EmotionRecognizer

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
