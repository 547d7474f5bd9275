"""Header names and typed header views (RFC 3261 §7.3, §20).

Views are parsed on demand from the header's text by :class:`softswitch.sip.message.Message` and
cached there; each parser raises :class:`RemoteProtocolError` with a reason naming the header, so a
malformed mandatory header turns into a 400 whose phrase tells the sender what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.grammar import (
    NameAddr,
    Params,
    format_params,
    is_digits,
    is_token,
    param_value,
    parse_name_addr,
    parse_params,
    split_commas,
)
from softswitch.sip.memo import Memo

__all__ = [
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "MAX_VIAS",
    "CSeq",
    "Challenge",
    "MediaType",
    "SessionExpires",
    "Via",
    "canonical_name",
    "header_key",
    "parse_auth",
    "parse_contacts",
    "parse_cseq",
    "parse_delta",
    "parse_media_type",
    "parse_option_tags",
    "parse_session_expires",
    "parse_via",
]

MAX_UINT32 = 2**32 - 1

# Compact forms (RFC 3261 §7.3.3 and later RFCs: o=Event, u=Allow-Events, x=Session-Expires ...).
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

_CANONICAL: dict[str, str] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "min-se": "Min-SE",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
}

# Headers whose grammar is a comma-separated list (§7.3.1), so repeated lines and commas are the
# same thing. Authorization-style headers are absent on purpose: their commas separate parameters.
LIST_HEADERS = frozenset(
    {
        "via",
        "contact",
        "route",
        "record-route",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "allow-events",
        "content-encoding",
        "content-language",
        "in-reply-to",
        "path",
        "service-route",
        "warning",
        "call-info",
        "alert-info",
        "error-info",
    }
)


def header_key(name: str) -> str:
    """Lower-case long form of a header name: the key used for every lookup."""
    key = name.lower()
    if len(key) == 1:
        return COMPACT_FORMS.get(key, key)
    return key


def _spell(name: str) -> str:
    key = header_key(name)
    special = _CANONICAL.get(key)
    return special or "-".join(part[:1].upper() + part[1:] for part in key.split("-"))


canonical_name: Memo[str, str] = Memo(_spell, 4096)
"""The conventional spelling of a header name, used when *we* write a header (memoized: every
header of every message we build passes here, and the same few dozen names come back)."""


def _split_host_port(text: str, what: str) -> tuple[str, int | None]:
    """Split ``host[:port]``; IPv6 references keep their brackets (RFC 5118 §4.2)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise RemoteProtocolError(f"Malformed IPv6 reference in {what}")
        host, rest = text[: end + 1], text[end + 1 :]
        if not rest:
            return host, None
        if rest[0] != ":":
            raise RemoteProtocolError(f"Malformed host in {what}")
        port_text = rest[1:]
    else:
        host, colon, port_text = text.partition(":")
        if not colon:
            port_text = ""
        elif not port_text:
            raise RemoteProtocolError(f"Empty port in {what}")
    if not host or any(c in host for c in ' \t<>"@'):
        raise RemoteProtocolError(f"Malformed host in {what}")
    if not port_text:
        return host, None
    if not is_digits(port_text) or not 0 < int(port_text) <= 65535:
        raise RemoteProtocolError(f"Malformed port in {what}")
    return host, int(port_text)


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value (§20.42, §18.2.1; RFC 3581 rport)."""

    transport: str
    host: str
    port: int | None
    params: Params = ()
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return param_value(self.params, "branch")

    @property
    def received(self) -> str | None:
        return param_value(self.params, "received")

    @property
    def rport(self) -> int | bool | None:
        """None when absent, True when asked for (``;rport``), the port number when filled in."""
        for key, value in self.params:
            if key.lower() == "rport":
                if value is None:
                    return True
                if not is_digits(value) or not 0 < int(value) <= 65535:
                    raise RemoteProtocolError("Malformed rport in Via")
                return int(value)
        return None

    @property
    def maddr(self) -> str | None:
        return param_value(self.params, "maddr")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_param(self, name: str, value: str | None) -> Via:
        lname = name.lower()
        replaced = False
        params: list[tuple[str, str | None]] = []
        for key, old in self.params:
            if key.lower() == lname:
                if not replaced:
                    params.append((key, value))
                    replaced = True
                continue
            params.append((key, old))
        if not replaced:
            params.append((name, value))
        return Via(self.transport, self.host, self.port, tuple(params), self.protocol)

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"


MAX_VIAS = 70
"""Via values accepted in one message: Max-Forwards starts at 70, so more hops is loop or abuse."""


def parse_via(value: str) -> list[Via]:
    """Parse a Via header value (possibly several comma-separated hops)."""
    return list(_parse_via_memo(value))


def _parse_via(value: str) -> tuple[Via, ...]:
    vias: list[Via] = []
    items = split_commas(value)
    if len(items) > MAX_VIAS:
        raise RemoteProtocolError("Too many Via values")
    for item in items:
        if not item:
            raise RemoteProtocolError("Empty Via value")
        parts = item.split("/", 2)
        if len(parts) != 3:
            raise RemoteProtocolError("Malformed Via sent-protocol")
        name, version, rest = parts[0].strip(), parts[1].strip(), parts[2].lstrip()
        # rest = "UDP host:port;params" with LWS allowed between transport and sent-by.
        cut = 0
        while cut < len(rest) and rest[cut] not in " \t":
            cut += 1
        transport = rest[:cut]
        sent = rest[cut:].lstrip()
        if not is_token(name) or not is_token(version) or not is_token(transport):
            raise RemoteProtocolError("Malformed Via sent-protocol")
        semi = sent.find(";")
        hostport, params = (sent, "") if semi < 0 else (sent[:semi], sent[semi:])
        host, port = _split_host_port(hostport.strip(), "Via")
        vias.append(Via(transport.upper(), host, port, parse_params(params), f"{name}/{version}"))
    return tuple(vias)


_parse_via_memo: Memo[str, tuple[Via, ...]] = Memo(_parse_via)


@dataclass(frozen=True, slots=True)
class CSeq:
    """CSeq (§20.16): sequence number and method."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(value: str) -> CSeq:
    number, _, method = value.strip().partition(" ")
    method = method.strip()
    if not is_token(method):
        raise RemoteProtocolError("Malformed CSeq")
    return CSeq(parse_delta(number, "CSeq number"), method)


def parse_delta(value: str, what: str, maximum: int = MAX_UINT32) -> int:
    """Parse a delta-seconds / integer header (Expires, Max-Forwards, Min-SE ...)."""
    text = value.strip()
    if not is_digits(text):
        too_long = text.isascii() and text.isdigit()
        raise RemoteProtocolError(f"{what} out of range" if too_long else f"Malformed {what}")
    number = int(text)
    if number > maximum:
        raise RemoteProtocolError(f"{what} out of range")
    return number


def parse_contacts(value: str) -> list[NameAddr] | None:
    """Contact values (§20.10); ``None`` means the wildcard ``*`` (only valid in REGISTER)."""
    if value.strip() == "*":
        return None
    contacts: list[NameAddr] = []
    for item in split_commas(value):
        if not item:
            raise RemoteProtocolError("Empty Contact value")
        contact = parse_name_addr(item)
        expires = contact.param("expires")
        if expires is not None:
            parse_delta(expires, "Contact expires")
        contacts.append(contact)
    return contacts


@dataclass(frozen=True, slots=True)
class Challenge:
    """An auth header value (WWW-/Proxy-Authenticate, Authorization, Proxy-Authorization, §20).

    ``params`` keep their quotes as sent; :meth:`get` unquotes.
    """

    scheme: str
    params: Params

    def get(self, name: str) -> str | None:
        return param_value(self.params, name)

    def __str__(self) -> str:
        return self.scheme + " " + ", ".join(k if v is None else f"{k}={v}" for k, v in self.params)


def parse_auth(value: str) -> Challenge:
    """Parse ``Scheme a=b, c="d"`` (auth-param list, §25.1 / RFC 7616 §3.3-3.4)."""
    text = value.strip()
    cut = 0
    while cut < len(text) and text[cut] not in " \t":
        cut += 1
    scheme = text[:cut]
    if not is_token(scheme):
        raise RemoteProtocolError("Malformed authentication scheme")
    params: list[tuple[str, str | None]] = []
    for item in split_commas(text[cut:]):
        if not item:
            continue
        name, eq, val = item.partition("=")
        name = name.strip()
        if not is_token(name) or not eq:
            raise RemoteProtocolError(f"Malformed authentication parameter {item[:30]!r}")
        params.append((name, val.strip()))
    return Challenge(scheme, tuple(params))


@dataclass(frozen=True, slots=True)
class SessionExpires:
    """Session-Expires (RFC 4028 §4): interval and who refreshes (uac/uas/None)."""

    delta: int
    refresher: str | None
    params: Params = ()

    def __str__(self) -> str:
        return f"{self.delta}{format_params(self.params)}"


def parse_session_expires(value: str) -> SessionExpires:
    number, semi, rest = value.strip().partition(";")
    delta = parse_delta(number, "Session-Expires")
    params = parse_params(semi + rest)
    refresher = param_value(params, "refresher")
    if refresher is not None:
        refresher = refresher.lower()
        if refresher not in ("uac", "uas"):
            raise RemoteProtocolError("Session-Expires refresher must be uac or uas")
    return SessionExpires(delta, refresher, params)


@dataclass(frozen=True, slots=True)
class MediaType:
    """Content-Type (§20.15): type/subtype and parameters, compared case-insensitively."""

    type: str
    subtype: str
    params: Params = ()

    @property
    def mime(self) -> str:
        return f"{self.type}/{self.subtype}".lower()

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{format_params(self.params)}"


def parse_media_type(value: str) -> MediaType:
    main, semi, rest = value.strip().partition(";")
    kind, slash, sub = main.partition("/")
    kind, sub = kind.strip(), sub.strip()
    if not slash or not is_token(kind) or not is_token(sub):
        raise RemoteProtocolError("Malformed Content-Type")
    return MediaType(kind, sub, parse_params(semi + rest))


def parse_option_tags(value: str) -> tuple[str, ...]:
    """Supported / Require / Proxy-Require / Unsupported option tags (§20.37)."""
    tags: list[str] = []
    for item in split_commas(value):
        if not item:
            continue
        if not is_token(item):
            raise RemoteProtocolError(f"Malformed option tag {item[:30]!r}")
        tags.append(item)
    return tuple(tags)
