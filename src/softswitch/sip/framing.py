"""Cutting a byte stream (TCP, TLS) into SIP messages by Content-Length (RFC 3261 §18.3).

The framer is fed whatever the socket delivered - one byte or many messages at once - and hands back
complete message byte strings. It never waits unboundedly: a header block or a body that would pass
``max_size`` is a :class:`FramingError`, after which the connection must be closed (there is no way
to find the next message boundary again).
"""

from __future__ import annotations

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.headers import header_key

__all__ = ["MAX_STREAM_MESSAGE", "FramingError", "StreamFramer"]

MAX_STREAM_MESSAGE = 64 * 1024
"""Largest message accepted on a stream (headers and body): nothing legitimate comes near it."""


class FramingError(RemoteProtocolError):
    """The stream cannot be framed any further; close the connection."""


class StreamFramer:
    """Accumulates stream bytes and yields complete messages (headers + Content-Length body)."""

    __slots__ = ("_buffer", "_need", "max_size")

    def __init__(self, max_size: int = MAX_STREAM_MESSAGE) -> None:
        self._buffer = bytearray()
        self._need: int | None = None  # total length of the message being completed, once known
        self.max_size = max_size

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
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self.max_size:
                    raise FramingError("Header block too large", 513)
                return None
            self._need = end + 4 + self._content_length(bytes(buf[:end]))
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
        for line in head.split(b"\r\n")[1:]:
            if not line or line[0] in b" \t":
                continue
            name, colon, value = line.partition(b":")
            if not colon:
                continue
            if header_key(name.strip().decode("latin-1")) != "content-length":
                continue
            text = value.strip()
            if not text.isdigit():
                raise FramingError("Malformed Content-Length")
            length = int(text)
            if found is not None and found != length:
                raise FramingError("Conflicting Content-Length headers")
            found = length
        return found or 0
