"""Errors of the SIP core.

Each error carries the status code the caller should answer with (``status_hint``), in the manner of
h2's wire-coded errors: the core never sends anything itself, so the driver needs to know whether a
malformed request deserves a 400, a 505 or a 416, and what reason phrase names the problem.
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """A SIP message or action that breaks the protocol.

    ``status_hint`` is the response code that fits (RFC 3261 §21); ``reason`` is a short
    phrase naming the problem, fit to be used as the reason phrase of that response.
    """

    status_hint: int
    reason: str

    def __init__(self, reason: str, status_hint: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint


class RemoteProtocolError(ProtocolError):
    """The peer sent something we cannot accept (malformed message, bad header, bad framing)."""


class LocalProtocolError(ProtocolError):
    """Our own code asked the core for something the protocol forbids (a bug on our side)."""
