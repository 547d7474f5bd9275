"""Parsing SIP messages from bytes (RFC 3261 §7, §18.3, §25).

Deliberately shallow: the start line and the header *lines* are split at once; every typed view is
parsed later, on demand, by :class:`softswitch.sip.message.Message`. Each header keeps the exact
text it arrived with, so an unmodified message serializes back byte for byte.

The parser is also the first line of defence: it bounds the work a message can cost (header lines,
fields), refuses bare CRs and control characters that could smuggle header lines past another
element, and when it refuses a request it still hands back what it could read, so the 400 can be
addressed (:class:`MessageError` carries it).
"""

from __future__ import annotations

import re

from softswitch.sip.framing import head_end
from softswitch.sip.grammar import is_digits, is_token
from softswitch.sip.headers import header_key
from softswitch.sip.message import (
    ENCODING,
    ENCODING_ERRORS,
    SIP_VERSION,
    URI_FORBIDDEN,
    HeaderField,
    MessageError,
    Request,
    Response,
)

__all__ = ["MAX_HEADERS", "MAX_LINES", "parse_message"]

MAX_HEADERS = 256
"""More header fields than this is no real device's message, only an attack on our memory."""
MAX_LINES = 1024
"""Header lines, folded continuations included: bounds the work one message can cost."""

# Control characters that may not appear in a header line: CR and LF anywhere (the line ends are
# already split off, so one left inside a line is a bare CR or LF), the others unless escaped as a
# quoted-pair (§25.1: "\\" followed by any character but CR and LF; RFC 4475 intmeth).
_BAD_CONTROL = re.compile(r"\r|(?<!\\)[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_KEYS: dict[str, str] = {}
"""Memo of header name -> key; bounded so that a peer inventing names cannot grow it."""


def _key(name: str) -> str:
    key = _KEYS.get(name)
    if key is None:
        key = header_key(name)
        if len(_KEYS) < 512:
            _KEYS[name] = key
    return key


def _split_lines(head: str) -> list[str]:
    if head.count("\n") == head.count("\r\n"):
        return head.split("\r\n")
    # Bare LF line ends, alone or mixed with CRLF: be liberal in what we accept (§7.5).
    return [part.rstrip("\r") for part in head.split("\n")]


def _parse_start_line(line: str) -> tuple[str, str, str] | tuple[int, str, str]:
    if line.startswith("SIP/"):
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if version.upper() != SIP_VERSION or len(code) != 3 or not is_digits(code):
            raise MessageError("Malformed status line", 400)
        status = int(code)
        if not 100 <= status <= 699:
            raise MessageError("Status code out of range", 400)
        if _BAD_CONTROL.search(reason):
            raise MessageError("Control character in the reason phrase", 400)
        return status, reason, version
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise MessageError("Malformed request line", 400)
    method, uri, version = parts
    if not is_token(method):
        raise MessageError("Malformed method", 400)
    if not version.upper().startswith("SIP/"):
        raise MessageError("Malformed request line", 400)
    if version.upper() != SIP_VERSION:
        raise MessageError("Version Not Supported", 505)
    if uri[0] == "<" or URI_FORBIDDEN.search(uri):
        raise MessageError("Malformed Request-URI", 400)
    return method, uri, version


def _parse_headers(lines: list[str], dirty: bool) -> tuple[list[HeaderField], str | None]:
    """Header fields of a message, and the first problem met (None when all lines were good).

    A malformed line is skipped rather than ending the parse: the rest is still needed to address
    and match the 400 that names the problem (§8.2.6 copies Via, From, To, Call-ID, CSeq).
    ``dirty`` says the header block holds control characters, so each line is checked for them:
    a bare CR or a NUL is no line end here, but some element downstream may take it for one.
    """
    if len(lines) > MAX_LINES:
        raise MessageError("Too many header lines", 400)
    fields: list[HeaderField] = []
    problem: str | None = None
    folded: list[str] = []  # continuation lines of the last field, joined once (no quadratic cost)
    for line in lines:
        if not line:
            continue
        if dirty and _BAD_CONTROL.search(line):
            problem = problem or "Control character in a header field"
            continue
        if line[0] in " \t":
            # Line folding (§7.3.1): the continuation joins the previous value with one SP.
            if not fields:
                problem = problem or "Folded line before any header"
                continue
            folded.append(line)
            continue
        if folded:
            _fold(fields, folded)
        name, colon, value = line.partition(":")
        key = _KEYS.get(name)
        if key is None or not colon:
            name = name.rstrip(" \t")
            if not colon or not is_token(name):
                problem = problem or "Malformed header line"
                continue
            key = _key(name)
        fields.append(HeaderField(name, value.strip(" \t"), key, line))
        if len(fields) > MAX_HEADERS:
            raise MessageError("Too many header fields", 400)
    if folded:
        _fold(fields, folded)
    return fields, problem


def _fold(fields: list[HeaderField], folded: list[str]) -> None:
    """Join continuation lines into the last field (§7.3.1: folding is one SP)."""
    prev = fields[-1]
    value = " ".join([prev.value, *(part.strip(" \t") for part in folded)]).strip(" \t")
    fields[-1] = HeaderField(prev.name, value, prev.key, "\r\n".join([prev.raw or "", *folded]))
    folded.clear()


def parse_message(data: bytes, *, stream: bool = False) -> Request | Response:
    """Parse one whole SIP message.

    On a datagram (``stream=False``) the body is framed by Content-Length when present and extra
    octets after it are ignored (§18.3; RFC 4475 dblreq); a Content-Length larger than what arrived
    is an error (clerr). On a stream the framer has already cut the message, so the body is exact.
    Raises :class:`MessageError` with the status to answer and, when possible, the parsed message.
    """
    # Leading CRLFs are keep-alives or stream garbage between messages (§7.5).
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end, sep = head_end(data, start)
    if end < 0:
        raise MessageError("No empty line after the header fields", 400)
    raw_head = data[start:end]
    # Control characters are rare: one C-speed pass over the bytes says whether lines need checks.
    dirty = len(raw_head.translate(None, _CONTROL_BYTES)) != len(raw_head) or raw_head.count(
        b"\r"
    ) != raw_head.count(b"\r\n")
    head = raw_head.decode(ENCODING, ENCODING_ERRORS)
    body = data[end + sep :]
    lines = _split_lines(head)
    first = _parse_start_line(lines[0])
    fields, problem = _parse_headers(lines[1:], dirty)

    def build(body: bytes = b"") -> Request | Response:
        if isinstance(first[0], int):
            return Response(first[0], first[1], fields, body, first[2])
        method, uri, version = first
        return Request(method, uri, fields, body, version)

    if problem is not None:
        raise MessageError(problem, 400, build())
    lengths = [f.value for f in fields if f.key == "content-length"]
    if lengths:
        if len(set(lengths)) > 1:
            raise MessageError("Conflicting Content-Length headers", 400, build())
        text = lengths[0].strip()
        if not is_digits(text):
            raise MessageError("Malformed Content-Length", 400, build())
        length = int(text)
        if length > len(body):
            raise MessageError("Content-Length larger than the message", 400, build())
        if length < len(body):
            if stream:
                raise MessageError("Content-Length smaller than the body", 400, build())
            body = body[:length]
    elif stream and body:
        raise MessageError("Missing Content-Length on a stream", 400, build())
    return build(body)
