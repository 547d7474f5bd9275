"""The one exception of the SDP core.

A malformed body is a remote protocol problem: the caller answers it with 400 (or 488 when the
body parses but cannot be used), so the exception is a ``ValueError`` that says what is wrong and
on which line, and nothing more elaborate is needed.
"""

from __future__ import annotations

__all__ = ["SdpError"]


class SdpError(ValueError):
    """A session description is malformed (RFC 8866 §5) or cannot be built as asked."""
