"""The ``emorec`` command line. Each command turns library exceptions into a message and an exit code.

The commands register on one typer ``app`` (:mod:`.common`) in the order ``emorec --help`` lists them:
:mod:`.training` (train, evaluate, export, models), :mod:`.media` (detect, video, live), then
:mod:`.serving` (serve, web, batch). Nothing heavy (OpenCV, ONNX Runtime, PyTorch, FastAPI) is imported here:
each command imports what it needs when it runs.
"""

from __future__ import annotations

from .common import (_MAX_MP_OPT, _RECOGNIZER, _fail, _make_recognizer, _need_torch, _recognizer_option,
                     _with_recognizer_options, app, recognizer_options)
from .training import _config_option, _train, _train_command, evaluate, export, models, train
from .media import (_check_tracking, _detect, _native_stderr_silenced, _new_run_dir, _quiet_opencv, detect, live,
                    video)
from .serving import _SERVER, batch, serve, web

__all__ = ["app", "main", "recognizer_options",
           "train", "evaluate", "export", "models", "detect", "video", "live", "serve", "web", "batch",
           # the helpers, importable from here as before the split
           "_fail", "_need_torch", "_recognizer_option", "_with_recognizer_options", "_make_recognizer", "_RECOGNIZER",
           "_MAX_MP_OPT", "_config_option", "_train", "_train_command", "_check_tracking", "_quiet_opencv",
           "_native_stderr_silenced", "_new_run_dir", "_detect", "_SERVER"]


def main():
    app()


if __name__ == "__main__":
    main()
