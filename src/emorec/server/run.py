"""Running the app: uvicorn with a header deadline (slow-loris) and a connection cap, on a socket bound
before anything loads (:func:`serve`), or in a background thread (:class:`BackgroundServer`)."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Optional

from ..errors import EmorecError
from .app import create_app
from .config import ServerConfig
from .hosts import allowed_hosts_for


def header_deadline_protocol(timeout_s: float):
    """uvicorn's HTTP protocol class with a deadline for each request's line and headers (uvicorn has
    none: ``timeout_keep_alive`` stops at the first byte). The deadline starts when the connection opens
    and again when a response is complete; it is cleared when a request's headers are in. A connection
    past it gets a 408 (when it sent part of a request) and is closed."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    body = json.dumps({"error": "header_timeout",
                       "detail": f"the request headers did not arrive within {timeout_s:g} s"}).encode()
    timeout_response = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    class HeaderDeadlineProtocol(AutoHTTPProtocol):
        _deadline = None
        _seen_cycle = None
        _partial = False

        def _arm(self):
            self._disarm()
            self._partial = False
            self._deadline = self.loop.call_later(timeout_s, self._expired)

        def _disarm(self):
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _headers_in(self):
            if self.cycle is not None and self.cycle is not self._seen_cycle:  # a new request started
                self._seen_cycle = self.cycle
                self._disarm()

        def _expired(self):
            self._deadline = None
            if not self.transport.is_closing():
                if self._partial:
                    self.transport.write(timeout_response)
                self.transport.close()

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def data_received(self, data):
            if self._deadline is not None:
                self._partial = True
            super().data_received(data)
            self._headers_in()

        def on_response_complete(self):
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()
                self._headers_in()  # a pipelined request may have started already

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

    return HeaderDeadlineProtocol


def uvicorn_config(app, config: ServerConfig, log_level: str = "info"):
    """uvicorn settings for the app: the header deadline, the connection cap, short keep-alive."""
    import uvicorn

    return uvicorn.Config(app, log_level=log_level, timeout_keep_alive=5, limit_concurrency=config.max_connections,
                          http=header_deadline_protocol(config.header_timeout_s))


def bind(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """A listening socket on host:port, or :class:`EmorecError` naming the port (before anything is
    announced or loaded)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise EmorecError(f"cannot listen on {host}:{port}: unknown host ({e.strerror})") from None
    family, _, _, _, address = sorted(infos, key=lambda i: i[0] != socket.AF_INET)[0]  # IPv4 first (localhost)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host in ("::", ""):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        import errno

        why = {errno.EADDRINUSE: f"port {port} is already in use (another server?); choose another with --port",
               errno.EACCES: f"no permission to use port {port} (ports below 1024 need privileges); "
                             "choose another with --port",
               errno.EADDRNOTAVAIL: f"{host} is not an address of this machine"}.get(e.errno, e.strerror or str(e))
        raise EmorecError(f"cannot listen on {host}:{port}: {why}") from None
    sock.set_inheritable(True)
    return sock


def serve(host: str = "127.0.0.1", port: int = 8000, config: Optional[ServerConfig] = None,
          log_level: str = "info", sock: Optional[socket.socket] = None):
    """Run the app with uvicorn until interrupted (``sock``: a socket from :func:`bind`; else bound here)."""
    import uvicorn

    cfg = config or ServerConfig(allowed_hosts=allowed_hosts_for(host))
    sock = sock or bind(host, port)
    try:
        uvicorn.Server(uvicorn_config(create_app(cfg), cfg, log_level)).run(sockets=[sock])
    finally:
        sock.close()


class BackgroundServer:
    """A real uvicorn server in a daemon thread, on loopback and a free port (tests, notebooks).

    >>> with BackgroundServer() as srv:
    ...     httpx.get(srv.url + "/healthz")
    """

    def __init__(self, config: Optional[ServerConfig] = None, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning"):
        import uvicorn

        self.host = host
        self._sock = bind(host, port)
        self.port = self._sock.getsockname()[1]
        self.config = config or ServerConfig(allowed_hosts=allowed_hosts_for(host))
        self.app = create_app(self.config)
        self._server = uvicorn.Server(uvicorn_config(self.app, self.config, log_level))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="emorec-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{'[' + self.host + ']' if ':' in self.host else self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> "BackgroundServer":
        self._thread.start()
        t0 = time.monotonic()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server stopped while starting (see its log)")
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"the server did not start within {timeout:g} s")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10.0):
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc):
        self.stop()
