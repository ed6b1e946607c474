"""How the server refuses a request: :class:`Refused`, answered as ``{"error": code, "detail": reason}``."""

from __future__ import annotations

from typing import Optional


class Refused(Exception):
    """A request the server turns down: becomes ``{"error": code, "detail": detail}`` with ``status``."""

    def __init__(self, status: int, code: str, detail: str, headers: Optional[dict] = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers
