"""The one inference loop: every writer is closed, and a writer's failure to close never hides the error that
stopped the run."""

from __future__ import annotations

import pytest

from emorec import EmotionRecognizer
from emorec.errors import OutputError, VideoError
from emorec.pipeline import run
from emorec.sources import ImageSource
from emorec.samples import sample_path
from emorec.writers import Writer


class Broken(Writer):
    """A video file that fails while frames are written, and again when it is closed."""

    fatal = True

    def __init__(self, fail_write: bool):
        self.fail_write, self.closed = fail_write, False

    def write(self, item, faces):
        if self.fail_write:
            raise VideoError("disk full while writing frame 1")

    def close(self):
        self.closed = True
        raise OutputError("cannot finish the mp4: disk full")


def test_a_close_failure_does_not_hide_the_error_that_stopped_the_run():
    errors = []
    w = Broken(fail_write=True)
    with pytest.raises(VideoError, match="frame 1"):
        run(ImageSource([sample_path()]), EmotionRecognizer(), [w], on_error=errors.append)
    assert w.closed and errors == ["cannot finish the mp4: disk full"]


def test_a_close_failure_alone_is_raised():
    w = Broken(fail_write=False)
    with pytest.raises(OutputError, match="cannot finish"):
        run(ImageSource([sample_path()]), EmotionRecognizer(), [w])
    assert w.closed
