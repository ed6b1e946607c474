"""HTTP API and web page: ``POST /v1/analyze``, ``GET /v1/models``, ``GET /healthz``, ``GET /`` (FastAPI).

The package: :mod:`.config` (limits), :mod:`.hosts` (Host check), :mod:`.uploads` (the body and the
image header, checked before decoding), :mod:`.workers` (the analysis pool), :mod:`.schemas` (the shapes
of the answers), :mod:`.app` (routes and error handlers), :mod:`.run` (uvicorn, :class:`BackgroundServer`).

>>> from emorec.server import create_app, ServerConfig
>>> app = create_app(ServerConfig(max_upload_bytes=5 << 20))     # serve with uvicorn, or ``emorec serve``

Every request the server refuses gets a JSON ``{"error": code, "detail": reason}`` and a 4xx status
(503 only when the server itself is saturated or an analysis overran its time limit; 500 only for a bug,
with a generic message: the traceback goes to the server log, never to the client):

* a connection must deliver its request line and headers within ``header_timeout_s`` (slow-loris), or it
  is closed; ``max_connections`` caps open connections (uvicorn answers 503 past it);
* the ``Host`` header must be one the server answers to (``allowed_hosts``; DNS rebinding), else 400;
* a request takes an analysis slot *before* its body is read: past ``max_pending`` slots it gets 503 at
  once, so at most ``max_pending`` uploads are ever held in memory, each held once;
* the body is parsed as it streams in and refused (413) as soon as the file passes the upload limit;
  408 if it arrives too slowly;
* the image type comes from the file's own header (magic bytes), not the client's content-type (415);
* the pixel count and the decoded size (width x height x channels x bytes per sample) are read from the
  header before anything is decoded (413), and checked again after;
* analysis runs in a bounded thread pool. A request that waits longer than ``queue_timeout_s`` for a
  thread gets 503 ``busy`` with Retry-After and its analysis never runs (nor does one whose client left);
  ``analysis_timeout_s`` counts from when its analysis starts (503 ``timeout``).

Images are decoded exactly as ``emorec detect`` decodes files, so each face's JSON is the same.
One recogniser per (model, detector) is shared by all threads: its ONNX Runtime session is thread-safe
and its detector keeps one OpenCV object per thread. ONNX Runtime's and OpenCV's own thread pools are
sized so that the analysis threads together use the CPUs once (no oversubscription).
"""

from .app import create_app, public_card
from .config import ServerConfig, cpus
from .errors import Refused
from .hosts import allowed_hosts_for, is_loopback
from .run import BackgroundServer, bind, serve

__all__ = ["create_app", "public_card", "ServerConfig", "cpus", "Refused", "allowed_hosts_for", "is_loopback",
           "BackgroundServer", "bind", "serve"]
