"""SIP messages as immutable values: typed views and serialization (RFC 3261 §7, §20, §25).

Every typed view (Via, CSeq, From ...) is parsed the first time it is asked for and cached. A
proxy-like path that only reads the top Via and Call-ID never pays for the rest, which is what
makes tens of thousands of parses per second per core possible in pure Python. Parsing bytes into
these values is :mod:`softswitch.sip.parser`.

Each header keeps the exact text it arrived with, so a message that is not modified serializes back
byte for byte, including folded lines, compact names and odd spacing. A B2BUA builds the other leg's
messages from these values; it never mutates an inbound message (there is no way to).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar

from softswitch.sip.errors import LocalProtocolError, RemoteProtocolError
from softswitch.sip.grammar import NameAddr, parse_name_addr, split_commas
from softswitch.sip.headers import (
    MAX_VIAS,
    Challenge,
    CSeq,
    MediaType,
    SessionExpires,
    Via,
    canonical_name,
    header_key,
    parse_auth,
    parse_contacts,
    parse_cseq,
    parse_delta,
    parse_media_type,
    parse_option_tags,
    parse_session_expires,
    parse_via,
)

__all__ = [
    "ENCODING",
    "ENCODING_ERRORS",
    "SIP_VERSION",
    "URI_FORBIDDEN",
    "HeaderField",
    "Message",
    "MessageError",
    "Request",
    "Response",
]

ENCODING = "utf-8"
ENCODING_ERRORS = "surrogateescape"
"""Header text is UTF-8 decoded with surrogateescape, so any bytes round-trip losslessly."""
SIP_VERSION = "SIP/2.0"
URI_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
"""Characters that never appear in a Request-URI: whitespace and controls (§25.1)."""


class MessageError(RemoteProtocolError):
    """A message that could be read far enough to answer, but is refused.

    ``message`` is what could be parsed (for a request: enough to copy Via/From/To/Call-ID/CSeq into
    the error response), or None when not even the header block was readable.
    """

    def __init__(
        self, reason: str, status_hint: int = 400, message: Request | Response | None = None
    ) -> None:
        super().__init__(reason, status_hint)
        self.message = message


class HeaderField(NamedTuple):
    """One header line: the name as written, its unfolded value, its lookup key, its original text.

    A named tuple rather than a frozen dataclass: tens of these are built per parsed message and a
    tuple is several times cheaper to create, while still immutable.
    """

    name: str
    value: str
    key: str
    raw: str | None = None

    @staticmethod
    def make(name: str, value: str) -> HeaderField:
        """A header we write ourselves (no original text: it serializes in canonical form).

        A CR or LF in ``value`` would let text copied from one leg inject header lines into the
        other: that is a bug of ours, refused here.
        """
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise LocalProtocolError(f"CR or LF in header {name!r}")
        return HeaderField(canonical_name(name), value, header_key(name))

    def wire(self) -> str:
        return self.raw if self.raw is not None else f"{self.name}: {self.value}"


_MISSING = object()
V = TypeVar("V")
_INDEX = " index"  # the header index's entry in the view cache (no header key has a space)


class Message:
    """Common part of requests and responses: ordered headers, body, lazily parsed views."""

    __slots__ = ("_cache", "body", "headers")

    headers: tuple[HeaderField, ...]
    body: bytes

    def __init__(self, headers: Iterable[HeaderField], body: bytes = b"") -> None:
        object.__setattr__(self, "headers", tuple(headers))
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "_cache", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SIP messages are immutable; use the with_* methods")

    # ----------------------------------------------------------------- raw access
    def _index(self) -> dict[str, list[str]]:
        """Header values by lookup key, built on the first lookup: a B2BUA reads a message's
        headers dozens of times (validation, matching, the other leg), and one pass over the
        lines beats a scan per lookup."""
        cache: dict[str, Any] = self._cache  # type: ignore[attr-defined]
        index: dict[str, list[str]] | None = cache.get(_INDEX)
        if index is None:
            index = {}
            for field in self.headers:
                found = index.get(field.key)
                if found is None:
                    index[field.key] = [field.value]
                else:
                    found.append(field.value)
            cache[_INDEX] = index
        return index

    def get(self, name: str) -> str | None:
        """Value of the first header called ``name`` (any form: compact or long, any case)."""
        found = self._index().get(header_key(name))
        return found[0] if found else None

    def get_all(self, name: str) -> list[str]:
        """Values of every line of header ``name``, in order (commas not split)."""
        found = self._index().get(header_key(name))
        return list(found) if found else []

    def values(self, name: str) -> list[str]:
        """Every element of a list header, across repeated lines and commas (§7.3.1)."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(split_commas(value))
        return out

    def has(self, name: str) -> bool:
        return header_key(name) in self._index()

    def forget_views(self) -> None:
        """Drop the parsed views (they are rebuilt on demand): for messages kept long but rarely
        read again, such as those of a lingering transaction."""
        self._cache.clear()  # type: ignore[attr-defined]

    def _view(self, key: str, build: Callable[[Message], V]) -> V:
        """The view ``key``: ``build(self)`` once, then cached. The views read on every message
        pass module-level builders, so an access that finds the view allocates nothing."""
        cache: dict[str, Any] = self._cache  # type: ignore[attr-defined]
        found = cache.get(key, _MISSING)
        if found is _MISSING:
            found = cache[key] = build(self)
        return found  # type: ignore[no-any-return]

    def _single(self, name: str) -> str:
        values = self.get_all(name)
        if not values:
            raise RemoteProtocolError(f"Missing {canonical_name(name)} header")
        if len(values) > 1:
            raise RemoteProtocolError(f"Multiple {canonical_name(name)} headers")
        return values[0]

    # ----------------------------------------------------------------- typed views
    @property
    def vias(self) -> list[Via]:
        return self._view("via", _vias)

    @property
    def top_via(self) -> Via:
        return self.vias[0]

    @property
    def from_(self) -> NameAddr:
        return self._view("from", _from)

    @property
    def to(self) -> NameAddr:
        return self._view("to", _to)

    @property
    def call_id(self) -> str:
        return self._view("call-id", _call_id)

    @property
    def cseq(self) -> CSeq:
        return self._view("cseq", _cseq)

    @property
    def max_forwards(self) -> int | None:
        return self._view("max-forwards", _max_forwards)

    @property
    def contacts(self) -> list[NameAddr] | None:
        """Contact addresses; ``None`` for the wildcard ``Contact: *``; [] when absent."""
        return self._view("contact", _contacts)

    def _addresses(self, name: str) -> list[NameAddr]:
        def build(msg: Message) -> list[NameAddr]:
            out: list[NameAddr] = []
            for item in msg.values(name):
                if not item:
                    raise RemoteProtocolError(f"Empty {canonical_name(name)} value")
                out.append(_address(item, canonical_name(name)))
            return out

        return self._view(name, build)

    @property
    def routes(self) -> list[NameAddr]:
        return self._addresses("route")

    @property
    def record_routes(self) -> list[NameAddr]:
        return self._addresses("record-route")

    @property
    def expires(self) -> int | None:
        return self._view("expires", _expires)

    @property
    def content_type(self) -> MediaType | None:
        return self._view("content-type", _content_type)

    def option_tags(self, name: str) -> tuple[str, ...]:
        """Option tags of Supported / Require / Proxy-Require / Unsupported."""
        key = header_key(name)

        def build(msg: Message) -> tuple[str, ...]:
            tags: list[str] = []
            for value in msg.get_all(key):
                tags.extend(parse_option_tags(value))
            return tuple(tags)

        return self._view(key, build)

    @property
    def supported(self) -> tuple[str, ...]:
        return self.option_tags("supported")

    @property
    def require(self) -> tuple[str, ...]:
        return self.option_tags("require")

    @property
    def session_expires(self) -> SessionExpires | None:
        return self._view("session-expires", _session_expires)

    @property
    def min_se(self) -> int | None:
        return self._view("min-se", _min_se)

    def auth(self, name: str) -> list[Challenge]:
        """Parsed WWW-Authenticate / Proxy-Authenticate / Authorization / Proxy-Authorization."""
        key = header_key(name)
        return self._view(key, lambda msg: [parse_auth(v) for v in msg.get_all(key)])

    # ----------------------------------------------------------------- building copies
    def _copy(self, headers: Iterable[HeaderField], body: bytes | None = None) -> Any:
        raise NotImplementedError

    def with_header(self, name: str, value: str) -> Any:
        """A copy with one more header line, appended (before nothing: order among others kept)."""
        return self._copy((*self.headers, HeaderField.make(name, value)))

    def with_header_first(self, name: str, value: str) -> Any:
        """A copy with a header line put before every existing line of the same header (Via, RR)."""
        key = header_key(name)
        new = HeaderField.make(name, value)
        out: list[HeaderField] = []
        placed = False
        for field in self.headers:
            if not placed and field.key == key:
                out.append(new)
                placed = True
            out.append(field)
        if not placed:
            out.insert(0, new)
        return self._copy(out)

    def replacing(self, name: str, *values: str) -> Any:
        """A copy where header ``name`` has exactly ``values`` (at the place of its first line)."""
        key = header_key(name)
        out: list[HeaderField] = []
        placed = False
        for field in self.headers:
            if field.key == key:
                if not placed:
                    out.extend(HeaderField.make(name, v) for v in values)
                    placed = True
                continue
            out.append(field)
        if not placed:
            out.extend(HeaderField.make(name, v) for v in values)
        return self._copy(out)

    def without(self, *names: str) -> Any:
        keys = {header_key(n) for n in names}
        return self._copy(f for f in self.headers if f.key not in keys)

    def with_body(self, body: bytes, content_type: str | None = None) -> Any:
        """A copy with a new body; Content-Length (and Content-Type when given) follow it."""
        msg = self._copy(self.headers, body)
        if content_type is not None:
            msg = msg.replacing("content-type", content_type)
        elif not body:
            msg = msg.without("content-type")
        return msg.replacing("content-length", str(len(body)))

    # ----------------------------------------------------------------- serialization
    def start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        parts = [self.start_line()]
        parts.extend(f.wire() for f in self.headers)
        head = "\r\n".join(parts) + "\r\n\r\n"
        return head.encode(ENCODING, ENCODING_ERRORS) + self.body

    def serialize(self) -> bytes:
        return bytes(self)

    @property
    def content_length(self) -> int:
        return len(self.body)


def _address(value: str, what: str) -> NameAddr:
    try:
        return parse_name_addr(value)
    except RemoteProtocolError as exc:
        raise RemoteProtocolError(f"{exc.reason} in {what}", exc.status_hint) from None


# Builders of the views read on every message: module functions, so an access that finds the
# view cached allocates nothing (a closure per access was a measurable share of a message).


def _vias(msg: Message) -> list[Via]:
    out: list[Via] = []
    for value in msg.get_all("via"):
        out.extend(parse_via(value))
        if len(out) > MAX_VIAS:
            raise RemoteProtocolError("Too many Via values")
    if not out:
        raise RemoteProtocolError("Missing Via header")
    return out


def _from(msg: Message) -> NameAddr:
    return _address(msg._single("from"), "From")


def _to(msg: Message) -> NameAddr:
    return _address(msg._single("to"), "To")


def _call_id(msg: Message) -> str:
    value = msg._single("call-id").strip()
    if not value or any(c in value for c in " \t"):
        raise RemoteProtocolError("Malformed Call-ID")
    return value


def _cseq(msg: Message) -> CSeq:
    return parse_cseq(msg._single("cseq"))


def _max_forwards(msg: Message) -> int | None:
    values = msg.get_all("max-forwards")
    if not values:
        return None
    return parse_delta(values[-1], "Max-Forwards", 255)


def _contacts(msg: Message) -> list[NameAddr] | None:
    out: list[NameAddr] = []
    values = msg.get_all("contact")
    for value in values:
        parsed = parse_contacts(value)
        if parsed is None:
            if len(values) > 1:
                raise RemoteProtocolError("Contact '*' combined with other contacts")
            return None
        out.extend(parsed)
    return out


def _expires(msg: Message) -> int | None:
    value = msg.get("expires")
    return None if value is None else parse_delta(value, "Expires")


def _content_type(msg: Message) -> MediaType | None:
    value = msg.get("content-type")
    return None if value is None else parse_media_type(value)


def _session_expires(msg: Message) -> SessionExpires | None:
    value = msg.get("session-expires")
    return None if value is None else parse_session_expires(value)


def _min_se(msg: Message) -> int | None:
    value = msg.get("min-se")
    return None if value is None else parse_delta(value.partition(";")[0], "Min-SE")


class Request(Message):
    """A SIP request. ``uri`` is the Request-URI text; :meth:`ruri` parses it."""

    __slots__ = ("method", "uri", "version")

    method: str
    uri: str
    version: str

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Iterable[HeaderField] = (),
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        if URI_FORBIDDEN.search(uri):
            raise LocalProtocolError("Whitespace or control character in a Request-URI")
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "uri", uri)
        object.__setattr__(self, "version", version)
        super().__init__(headers, body)

    def _copy(self, headers: Iterable[HeaderField], body: bytes | None = None) -> Request:
        return Request(
            self.method, self.uri, headers, self.body if body is None else body, self.version
        )

    def with_uri(self, uri: str) -> Request:
        return Request(self.method, uri, self.headers, self.body, self.version)

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    """A SIP response."""

    __slots__ = ("reason", "status", "version")

    status: int
    reason: str
    version: str

    def __init__(
        self,
        status: int,
        reason: str,
        headers: Iterable[HeaderField] = (),
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        object.__setattr__(self, "status", status)
        if "\r" in reason or "\n" in reason:
            raise LocalProtocolError("CR or LF in a reason phrase")
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "version", version)
        super().__init__(headers, body)

    def _copy(self, headers: Iterable[HeaderField], body: bytes | None = None) -> Response:
        return Response(
            self.status, self.reason, headers, self.body if body is None else body, self.version
        )

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"
