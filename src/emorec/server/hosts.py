"""Which ``Host`` headers a server answers (DNS rebinding), and the middleware that checks them."""

from __future__ import annotations

import ipaddress
import json
import socket

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """A host as a ``Host`` header carries it: IPv6 literals in brackets, lower case."""
    host = host.strip().lower()
    try:
        if ipaddress.ip_address(host.strip("[]")).version == 6:
            return f"[{host.strip('[]')}]"
    except ValueError:
        pass
    return host


def allowed_hosts_for(bind: str, extra=()) -> tuple:
    """The ``Host`` headers a server bound to ``bind`` answers: the loopback names, the bound address,
    and ``extra`` (``--allowed-hosts``). A wildcard bind (0.0.0.0, ::) without ``extra`` adds this
    machine's name and addresses. Any other name (a DNS name pointing here) must be listed in ``extra``;
    ``"*"`` there turns the check off."""
    names = list(LOOPBACK_HOSTS)
    wildcard = bind in ("0.0.0.0", "::", "")
    if not wildcard:
        names.append(bind)
    elif not extra:
        names.append(socket.gethostname())
        names.append(socket.getfqdn())
        try:
            names += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)]
        except OSError:
            pass
    names += list(extra)
    out = []
    for n in names:
        n = "*" if n.strip() == "*" else host_name(n)
        if n and n not in out:
            out.append(n)
    return tuple(out)


class HostCheck:
    """ASGI middleware: answer only requests whose ``Host`` header names this server (DNS rebinding:
    a web page's own name pointing at 127.0.0.1 must not reach a loopback server). 400 for others."""

    def __init__(self, app, allowed):
        self.app, self.allowed = app, {host_name(h) if h != "*" else "*" for h in allowed}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or "*" in self.allowed:
            return await self.app(scope, receive, send)
        raw = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1").strip().lower()
        host = raw[: raw.index("]") + 1] if raw.startswith("[") and "]" in raw else raw.rsplit(":", 1)[0]
        if host in self.allowed:
            return await self.app(scope, receive, send)
        body = json.dumps({"error": "bad_host", "detail": (
            f"this server does not answer to the host name {host[:100]!r}; use one of "
            f"{', '.join(sorted(self.allowed))} (start it with --allowed-hosts NAME for another)")}).encode()
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
