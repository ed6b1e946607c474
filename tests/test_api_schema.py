"""The published API schema is the real one: a schema-driven fuzzer (schemathesis, every check) finds no
answer that the schema does not describe, no valid request refused and no invalid one accepted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("schemathesis")

from emorec.server import BackgroundServer  # noqa: E402

HERE = Path(__file__).parent


def test_the_published_schema_describes_every_answer():
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    assert st, "schemathesis is installed with the test extra but its command is missing"
    with BackgroundServer() as srv:
        r = subprocess.run([st, "--config-file", str(HERE / "schemathesis.toml"), "run", srv.url + "/openapi.json",
                            "--checks", "all", "--max-examples", "60", "--seed", "1", "--no-color"],
                           capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "No issues found" in r.stdout


def test_the_schema_names_the_values_a_request_may_choose():
    import httpx

    with BackgroundServer() as srv:
        schema = httpx.get(srv.url + "/openapi.json").json()
        usable = httpx.get(srv.url + "/healthz").json()["detectors"]
    op = schema["paths"]["/v1/analyze"]["post"]
    params = {p["name"]: p["schema"] for p in op["parameters"]}
    assert params["model"]["enum"] == ["fer2013", "ferplus", "fer2013-ensemble"]
    assert params["detector"]["enum"] == usable  # only detectors this server can run
    body = op["requestBody"]["content"]["multipart/form-data"]
    assert "image/png" in body["encoding"]["file"]["contentType"]
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for status in ("400", "413", "415", "422", "500", "503"):  # every refusal has the JSON error shape
        assert op["responses"][status]["content"]["application/json"]["schema"] == error
    assert "HTTPValidationError" not in str(op)
