"""Lexical pieces of the SIP grammar (RFC 3261 §25.1) shared by every header view.

Everything here works on already unfolded header values (``str``, UTF-8 decoded with
surrogateescape) and is written with ``str.find``/``partition`` rather than regular expressions:
header values are parsed lazily, but when they are parsed it happens once per message on the hot
path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.memo import Memo

__all__ = [
    "TOKEN_CHARS",
    "NameAddr",
    "Params",
    "format_params",
    "has_param",
    "is_digits",
    "is_token",
    "param_value",
    "parse_name_addr",
    "parse_params",
    "quote",
    "split_commas",
    "unquote",
]

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")  (RFC 3261 §25.1)
TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
# A parameter value is a token, a quoted string (handled apart) or a host; ':' and '[' ']' appear
# in IPv6 received=/maddr= values (RFC 5118 §4.5).
_PARAM_VALUE_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~\[\]:]+")
_WS = " \t"

Params = tuple[tuple[str, str | None], ...]
"""Ordered ``(name, value)`` pairs; ``value`` is None for a parameter written without ``=``."""


_DIGITS_RE = re.compile(r"[0-9]{1,10}")


def is_digits(text: str) -> bool:
    """ASCII digits only, at most ten of them.

    ``str.isdigit`` would also pass Unicode digits (``²``, ``٣``) that ``int`` refuses or reads as
    another number, and thousands of digits that ``int`` refuses: every number a peer sends goes
    through this check first.
    """
    return _DIGITS_RE.fullmatch(text) is not None


_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")


def is_token(text: str) -> bool:
    """Whether ``text`` is a non-empty RFC 3261 token."""
    return _TOKEN_RE.fullmatch(text) is not None


def _scan_quoted(text: str, start: int) -> int:
    """Return the index just past the quoted string opening at ``text[start] == '"'``.

    A backslash escapes the next character (quoted-pair, §25.1). An unterminated string is an error:
    RFC 4475 §3.1.2.6 (quotbal) asks for a 400 rather than a guess.
    """
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    raise RemoteProtocolError("Unterminated quoted string")


def split_commas(value: str) -> list[str]:
    """Split a header value at top-level commas (not inside quotes or angle brackets).

    Empty elements are kept as empty strings so callers can refuse stray separators
    (RFC 4475 §3.1.2.1, badinv01) instead of silently skipping them.
    """
    if "," not in value:
        return [value.strip()]
    parts: list[str] = []
    depth = 0
    begin = 0
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == '"':
            i = _scan_quoted(value, i)
            continue
        if c == "<":
            depth += 1
        elif c == ">":
            depth = max(0, depth - 1)
        elif c == "," and depth == 0:
            parts.append(value[begin:i].strip())
            begin = i + 1
        i += 1
    parts.append(value[begin:].strip())
    return parts


def unquote(text: str) -> str:
    """Remove the quotes and quoted-pair escapes of a quoted string; plain tokens pass unchanged."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        out: list[str] = []
        i = 0
        while i < len(inner):
            c = inner[i]
            if c == "\\" and i + 1 < len(inner):
                out.append(inner[i + 1])
                i += 2
                continue
            out.append(c)
            i += 1
        return "".join(out)
    return text


def quote(text: str) -> str:
    """Quote ``text`` as a quoted-string, escaping backslash and double quote."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _split_semicolons(text: str) -> list[str]:
    """The items of ``;a;b=c`` (text starts with ';'), not splitting inside quoted strings."""
    if '"' not in text:
        return text[1:].split(";")
    items: list[str] = []
    i = 1
    n = len(text)
    while True:
        j = i
        while j < n and text[j] != ";":
            if text[j] == '"':
                j = _scan_quoted(text, j)
                continue
            j += 1
        items.append(text[i:j])
        if j >= n:
            return items
        i = j + 1


def parse_params(text: str) -> Params:
    """Parse ``;name=value;flag`` parameter lists (generic-param, §25.1).

    ``text`` starts at the first ``;`` (or is empty). Values may be tokens, quoted strings (kept
    with their quotes so serialization is exact) or host references. An empty parameter (``;;``) or
    a malformed name is a protocol error: such messages are refused (RFC 4475 badinv01).
    """
    text = text.strip()
    if not text:
        return ()
    if text[0] != ";":
        raise RemoteProtocolError(f"Expected ';' before parameters, got {text[:20]!r}")
    out: list[tuple[str, str | None]] = []
    for item in _split_semicolons(text):
        name, eq, value = item.partition("=")
        name = name.strip(_WS)
        if not is_token(name):
            raise RemoteProtocolError(f"Malformed parameter {item.strip()!r}")
        if eq:
            value = value.strip(_WS)
            if not value:
                raise RemoteProtocolError(f"Parameter {name!r} has an empty value")
            if value[0] == '"':
                if _scan_quoted(value, 0) != len(value):
                    raise RemoteProtocolError(f"Malformed value of parameter {name!r}")
            elif _PARAM_VALUE_RE.fullmatch(value) is None:
                raise RemoteProtocolError(f"Malformed value of parameter {name!r}")
            out.append((name, value))
        else:
            out.append((name, None))
    return tuple(out)


def param_value(params: Params, name: str) -> str | None:
    """Value of the first parameter called ``name`` (case-insensitive), unquoted; '' for a flag."""
    lname = name.lower()
    for key, value in params:
        if key.lower() == lname:
            return "" if value is None else unquote(value)
    return None


def has_param(params: Params, name: str) -> bool:
    """Whether a parameter called ``name`` is present (case-insensitive)."""
    lname = name.lower()
    return any(key.lower() == lname for key, _ in params)


def format_params(params: Params) -> str:
    """Serialize parameters back to ``;name=value`` form."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """A ``name-addr`` or ``addr-spec`` with header parameters (From, To, Contact, Route ...).

    ``uri`` is kept as text: the URI module parses it on demand, so a proxy-like path that only
    needs the tag never pays for URI parsing.
    """

    display_name: str | None
    uri: str
    params: Params = ()
    bracketed: bool = True

    def param(self, name: str) -> str | None:
        return param_value(self.params, name)

    @property
    def tag(self) -> str | None:
        return param_value(self.params, "tag")

    def with_params(self, params: Params) -> NameAddr:
        return NameAddr(self.display_name, self.uri, params, self.bracketed)

    def with_param(self, name: str, value: str | None) -> NameAddr:
        lname = name.lower()
        kept = tuple(p for p in self.params if p[0].lower() != lname)
        return self.with_params((*kept, (name, value)))

    def __str__(self) -> str:
        head = ""
        if self.display_name is not None:
            head = quote(self.display_name) + " "
        if self.bracketed or self.display_name is not None or self.params:
            return f"{head}<{self.uri}>{format_params(self.params)}"
        return self.uri


def parse_name_addr(value: str) -> NameAddr:
    """Parse a name-addr (see :func:`_parse_name_addr`); memoized, for a dialog's From and To
    come back in every one of its messages."""
    return _name_addr_memo(value)


def _parse_name_addr(value: str) -> NameAddr:
    """Parse ``[display-name] <uri> *(;param)`` or ``addr-spec *(;param)`` (§20.10, §25.1).

    In the addr-spec form, a ``;`` ends the URI: its parameters belong to the header, not the URI
    (§20.10; RFC 4475 cparam01). A display name must be quoted unless it is a run of tokens
    (RFC 4475 baddn: ``Bell, Alexander`` unquoted is refused). Spaces just inside the angle brackets
    are tolerated and dropped (RFC 4475 badaspec: be liberal, never forward them).
    """
    text = value.strip()
    if not text:
        raise RemoteProtocolError("Empty address")
    display: str | None = None
    if text[0] == '"':
        end = _scan_quoted(text, 0)
        display = unquote(text[:end])
        rest = text[end:].lstrip(_WS)
        if not rest.startswith("<"):
            raise RemoteProtocolError("Display name not followed by '<'")
    else:
        lt = text.find("<")
        if lt < 0:
            uri, _, params = text.partition(";")
            uri = uri.strip()
            if not uri or any(c in uri for c in ' \t<>"'):
                raise RemoteProtocolError(f"Malformed address {text[:40]!r}")
            return NameAddr(None, uri, parse_params(";" + params) if _ else (), False)
        name = text[:lt].strip(_WS)
        if name:
            words = name.split()
            if not all(is_token(w) for w in words):
                raise RemoteProtocolError("Display name must be quoted")
            display = " ".join(words)
        rest = text[lt:]
    gt = rest.find(">")
    if gt < 0:
        raise RemoteProtocolError("Address has '<' without '>'")
    uri = rest[1:gt].strip(_WS)
    if not uri or any(c in uri for c in " \t<"):
        raise RemoteProtocolError("Malformed URI inside '<>'")
    return NameAddr(display, uri, parse_params(rest[gt + 1 :]), True)


_name_addr_memo: Memo[str, NameAddr] = Memo(_parse_name_addr)
