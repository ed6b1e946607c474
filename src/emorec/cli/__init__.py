"""The ``emorec`` command line. Each command turns library exceptions into a message and an exit code.

The commands register on one typer ``app`` (:mod:`.common`) in the order ``emorec --help`` lists them:
:mod:`.training` (train, evaluate, export, ensemble, models), :mod:`.media` (detect, video, live), then
:mod:`.serving` (serve, web, batch). Nothing heavy (OpenCV, ONNX Runtime, PyTorch, FastAPI) is imported here:
each command imports what it needs when it runs.
"""

from __future__ import annotations

from .common import app, recognizer_options
from .training import ensemble, evaluate, export, models, train  # noqa: F401  (each import registers its commands,
from .media import detect, live, video  # noqa: F401     in the order --help lists them)
from .serving import batch, serve, web  # noqa: F401

__all__ = ["app", "main", "recognizer_options",
           "train", "evaluate", "export", "ensemble", "models", "detect", "video", "live", "serve", "web", "batch"]


def main():
    app()


if __name__ == "__main__":
    main()
