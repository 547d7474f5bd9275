"""Cutting a byte stream (TCP, TLS) into SIP messages by Content-Length (RFC 3261 §18.3).

The framer is fed whatever the socket delivered - one byte or many messages at once - and hands back
complete message byte strings. It never waits unboundedly: a header block or a body that would pass
``max_size`` is a :class:`FramingError`, after which the connection must be closed (there is no way
to find the next message boundary again).
"""

from __future__ import annotations

import re

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.headers import header_key

__all__ = ["MAX_STREAM_MESSAGE", "FramingError", "StreamFramer", "head_end", "parse_length"]

MAX_STREAM_MESSAGE = 64 * 1024
"""Largest message accepted on a stream (headers and body): nothing legitimate comes near it."""


_LENGTH_RE = re.compile(rb"[0-9]{1,10}")


class FramingError(RemoteProtocolError):
    """The stream cannot be framed any further; close the connection."""


def head_end(data: bytes | bytearray, start: int = 0) -> tuple[int, int]:
    """Where the header block of the message at ``start`` ends: ``(index, separator length)``.

    The empty line is CRLF CRLF, or LF LF from liberal senders (§7.5), whichever comes first; the
    parser and the stream framer both use this, so they can never disagree on where a body starts
    (a disagreement would let a request be smuggled inside another's body). ``(-1, 0)`` if absent.
    """
    crlf = data.find(b"\r\n\r\n", start)
    # Only the part before a CRLF CRLF can hold an earlier LF LF: the body is never scanned.
    lf = data.find(b"\n\n", start, crlf if crlf >= 0 else len(data))
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, 2
    return (crlf, 4) if crlf >= 0 else (-1, 0)


def parse_length(text: bytes | str) -> int:
    """A Content-Length value: ASCII digits only, at most ten (no sign, no Unicode digits)."""
    raw = text.strip().encode("latin-1", "replace") if isinstance(text, str) else text.strip()
    if _LENGTH_RE.fullmatch(raw) is None:
        raise FramingError("Malformed Content-Length")
    return int(raw)


class StreamFramer:
    """Accumulates stream bytes and yields complete messages (headers + Content-Length body)."""

    __slots__ = ("_buffer", "_crlfs", "_need", "_pings", "max_size")

    def __init__(self, max_size: int = MAX_STREAM_MESSAGE) -> None:
        self._buffer = bytearray()
        self._need: int | None = None  # total length of the message being completed, once known
        self._crlfs = 0  # CRLFs seen in a row between messages
        self._pings = 0
        self.max_size = max_size

    def take_pings(self) -> int:
        """Keep-alive pings (a double CRLF between messages) seen since the last call.

        RFC 5626 §3.5.1: the server answers each with a single CRLF (the pong); the caller sends it.
        """
        pings, self._pings = self._pings, 0
        return pings

    @property
    def pending(self) -> int:
        """Bytes held for an incomplete message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return every message it completes (possibly none)."""
        self._buffer += data
        out: list[bytes] = []
        while True:
            msg = self._next()
            if msg is None:
                break
            out.append(msg)
        return out

    def _next(self) -> bytes | None:
        buf = self._buffer
        if self._need is None:
            # Keep-alive CRLFs between messages (RFC 5626 §3.5.1 "double CRLF") are dropped.
            strip = 0
            while buf[strip : strip + 2] == b"\r\n":
                strip += 2
            if strip:
                del buf[:strip]
                self._crlfs += strip // 2
                self._pings += self._crlfs // 2
                self._crlfs %= 2
            if buf:
                self._crlfs = 0
            end, sep = head_end(buf)
            if end < 0:
                if len(buf) > self.max_size:
                    raise FramingError("Header block too large", 513)
                return None
            self._need = end + sep + self._content_length(bytes(buf[:end]))
            if self._need > self.max_size:
                raise FramingError("Message too large", 513)
        if len(buf) < self._need:
            return None
        msg = bytes(buf[: self._need])
        del buf[: self._need]
        self._need = None
        return msg

    @staticmethod
    def _content_length(head: bytes) -> int:
        """Content-Length of a header block; absent means no body (§18.3 requires it on streams)."""
        found: int | None = None
        # Lines split as the parser splits them: on LF, with an optional CR before it.
        for line in head.split(b"\n")[1:]:
            line = line.rstrip(b"\r")
            if not line or line[0] in b" \t":
                continue
            name, colon, value = line.partition(b":")
            if not colon:
                continue
            if header_key(name.strip().decode("latin-1")) != "content-length":
                continue
            length = parse_length(value)
            if found is not None and found != length:
                raise FramingError("Conflicting Content-Length headers")
            found = length
        return found or 0
