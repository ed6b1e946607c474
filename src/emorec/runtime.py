"""ONNX Runtime settings shared by emorec's models: the emotion classifier's and the YuNet face detector's."""

from __future__ import annotations


def session_options(threads: int | None = None):
    """ONNX Runtime options for emorec's models: quiet, no busy-waiting threads between runs (they took the
    CPU from the face detector running in the same process, bench/bench_recognizer.py), ``threads`` intra-op
    threads (None: one per core)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads is not None:  # e.g. the server: its analysis threads share the CPUs out
        opts.intra_op_num_threads = max(1, int(threads))
    return opts
