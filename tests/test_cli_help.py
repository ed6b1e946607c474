"""`emorec COMMAND --help` for every command: readable, flags shown as flags (no '--json <bool>' as if the
flag took a value), and options that take a value say which."""

import re

import pytest
import typer
from typer.testing import CliRunner

from emorec.cli import app

COMMANDS = sorted(typer.main.get_command(app).commands)


def help_text(*args) -> str:
    r = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "160", "NO_COLOR": "1", "TERM": "dumb"})
    assert r.exit_code == 0, r.output
    return r.output


def test_every_command_is_listed():
    assert {"detect", "video", "live", "serve", "train", "evaluate", "export", "models"} <= set(COMMANDS)
    text = help_text()
    for name in COMMANDS:
        assert re.search(rf"\b{name}\b", text), name


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_flags_without_a_value_type(command):
    text = help_text(command)
    assert "Usage:" in text and "--help" in text
    assert "<bool>" not in text, text
    line = next(ln for ln in text.splitlines() if "--help" in ln)
    assert re.search(r"--help\s+Show this message", line), line  # nothing between the flag and its help
    # options that take a value still say which
    if command == "detect":
        assert re.search(r"-m, --model <str>", text) and re.search(r"--json\s+print one JSON", text), text
