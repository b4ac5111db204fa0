"""Errors of the SIP core. :class:`ParseError` is the only exception the parser lets escape."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .message import Headers

__all__ = ["ParseError", "SipError"]


class SipError(Exception):
    """Base class of the SIP core's errors."""


class ParseError(SipError, ValueError):
    """A SIP message, header or URI is malformed.

    ``status`` is the response a server should send when the message is a request it can identify
    (400 Bad Request by default, 413 when too large, 505 for an unknown SIP version). ``method`` and
    ``headers`` carry what could be read before the error, so that the endpoint can build that
    response (RFC 3261 §8.2 / §21.4); they are ``None`` when nothing usable was read.
    """

    def __init__(self, reason: str, status: int = 400, *, method: str | None = None,
                 headers: Headers | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.method = method
        self.headers = headers
