"""The lexical layer shared by every URI kind: errors, character classes, host, port, parameters.

RFC 3261 §25.1 (SIP/SIPS), RFC 3966 §3 (tel), RFC 5118 (IPv6 hosts).

The URI modules build on this one and it imports none of them, so ``uri_sip``, ``uri_tel`` and
``uri_compare`` can share these helpers without an import cycle. Everything here works on text
*escaped, as on the wire* (see :mod:`softswitch.sip.uri`); the helpers are private to the URI
modules, and only :class:`UriError` and the ``Param``/``Header`` shapes are meant for others,
through :mod:`softswitch.sip.uri`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping

from softswitch.sip.uri_escape import canonical

__all__ = ["Header", "Param", "UriError"]

Param = tuple[str, str | None]
Header = tuple[str, str]


class UriError(ValueError):
    """A URI that breaks the grammar of RFC 3261 §25.1 or RFC 3966 §3.

    ``status_hint`` is the response a UAS should send when this URI was the Request-URI: 400 Bad
    Request, or 416 Unsupported URI Scheme when a SIP URI was required and another scheme came.
    """

    status_hint: int = 400

    def __init__(self, message: str, text: str | None = None, *, status_hint: int = 400) -> None:
        if text is not None:
            shown = text if len(text) <= 100 else text[:97] + "..."
            message = f"{message}: {shown!r}"
        super().__init__(message)
        self.text = text
        self.status_hint = status_hint


# Characters no SIP URI may carry unescaped anywhere: whitespace and controls (RFC 4475 §3.1.2.8
# "lwsruri" must be rejected), the delimiters of name-addr and quoted strings, and the "unwise"
# set of RFC 2396 §2.4.3. "#" is tolerated: phones send "*21#" unescaped in user parts. A "%"
# must start a full escape.
_SIP_BAD = re.compile(r'[\x00-\x20\x7f"<>\\^`{|}]|%(?![0-9A-Fa-f]{2})')
_TEL_BAD = re.compile(r'[\x00-\x20\x7f"<>\\^`{|}?@]|%(?![0-9A-Fa-f]{2})')
_HOSTNAME = re.compile(r"[A-Za-z0-9_.-]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_DIGITS_DOTS = frozenset("0123456789.")
_IPV4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")


def _reject_char(text: str, match: re.Match[str] | None, what: str) -> UriError:
    if match is None:  # only non-ASCII text gets here
        pos = next(i for i, ch in enumerate(text) if not ch.isascii())
        return UriError(f"non-ASCII character at position {pos} of {what}; escape it", text)
    pos = match.start()
    char = text[pos]
    if char == "%":
        return UriError(f"'%' at position {pos} of {what} does not start a %HH escape", text)
    if char in " \t\r\n":
        return UriError(f"whitespace at position {pos} of {what}", text)
    if char < " " or char == "\x7f":
        return UriError(f"control character {char!r} at position {pos} of {what}", text)
    return UriError(f"character {char!r} at position {pos} is not allowed in {what}", text)


def _check_host(host: str, uri: str | None = None) -> None:
    """Validate ``host`` (RFC 3261 §25.1 ``host``; RFC 5118 §4.1 and §4.5 for IPv6).

    ``uri`` is the whole text, quoted in the error message when the host came from a parse.
    """
    shown = host if uri is None else uri
    if not host:
        raise UriError("missing host", uri)
    if host[0] == "[":
        if host[-1] != "]":
            raise UriError("unterminated '[' in IPv6 reference", shown)
        _ipv6_key(host, shown)
        return
    match = _IPV4.fullmatch(host)
    if match is not None:
        for octet in match.groups():
            if len(octet) == 3 and octet > "255":  # same-length digit strings sort numerically
                raise UriError("invalid IPv4 address", shown)
        return
    if _HOSTNAME.fullmatch(host) is None:
        if "@" in host:
            raise UriError("'@' in the user part must be escaped as %40", shown)
        if ":" in host:
            raise UriError("an IPv6 address must be enclosed in '[' ']' (RFC 5118 §4.10)", shown)
        raise UriError("invalid host", shown)
    if _DIGITS_DOTS.issuperset(host):
        # Only IPv4 addresses are all digits: a domain's top label starts with a letter.
        raise UriError("invalid IPv4 address", shown)


def _ipv6_key(host: str, shown: str | None = None) -> str:
    """Return the compressed form of a bracketed IPv6 ``host``, raising UriError if invalid.

    RFC 5118 §4.5: the ABNF of RFC 3261 admits, and some stacks send, a third colon before an
    embedded IPv4 part (``[2001:db8:::192.0.2.1]``); it is accepted and means the same address as
    the two-colon form. An RFC 6874 zone (``%25eth0``) is accepted too.
    """
    inner = host[1:-1]
    candidate = inner.replace(":::", "::").replace("%25", "%")
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        raise UriError("invalid IPv6 address", host if shown is None else shown) from None
    return address.compressed


def _check_port(port: int | None) -> None:
    if port is not None and not 0 <= port <= 65535:
        raise UriError(f"port {port} out of range 0-65535")


def _parse_port(text: str, uri: str) -> int:
    if not text:
        raise UriError("empty port after ':'", uri)
    if not (text.isascii() and text.isdigit() and len(text) <= 5):
        if text.isascii() and text.isdigit():
            raise UriError(f"port {text[:10]}... out of range 0-65535", uri)
        if ":" in text:
            raise UriError("an IPv6 address must be enclosed in '[' ']' (RFC 5118 §4.10)", uri)
        raise UriError(f"non-numeric port {text!r}", uri)
    port = int(text)
    if port > 65535:
        raise UriError(f"port {port} out of range 0-65535", uri)
    return port


def _split_hostport(hostport: str, uri: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            raise UriError("unterminated '[' in IPv6 reference", uri)
        host = hostport[: close + 1]
        after = hostport[close + 1 :]
        port = None
        if after:
            if after[0] != ":":
                raise UriError("unexpected text after IPv6 reference", uri)
            port = _parse_port(after[1:], uri)
        return host, port
    host, colon, port_text = hostport.partition(":")
    if not host:
        raise UriError("missing host", uri)
    return host, _parse_port(port_text, uri) if colon else None


def _parse_params(text: str, uri: str) -> tuple[Param, ...]:
    params: list[Param] = []
    for item in text.split(";"):
        name, eq, value = item.partition("=")
        if not name:
            raise UriError("empty URI parameter", uri)
        params.append((name, value if eq else None))
    return tuple(params)


def _parse_headers(text: str, uri: str) -> tuple[Header, ...]:
    headers: list[Header] = []
    for item in text.split("&"):
        name, eq, value = item.partition("=")
        if not name:
            raise UriError("empty URI header", uri)
        if not eq:
            raise UriError(f"URI header {name!r} has no '='", uri)
        headers.append((name, value))
    return tuple(headers)


def _param_key(name: str) -> str:
    """Lookup key of a parameter name: case-insensitive, escapes decoded (RFC 4475 esc01)."""
    return canonical(name).lower() if "%" in name else name.lower()


def _find_param(params: tuple[Param, ...], name: str) -> Param | None:
    key = name.lower()
    for item in params:
        if _param_key(item[0]) == key:
            return item
    return None


def _updated_params(
    params: tuple[Param, ...],
    changes: Mapping[str, str | None] | Iterable[Param],
    more: Mapping[str, str | None],
) -> tuple[Param, ...]:
    pairs = list(changes.items() if isinstance(changes, Mapping) else changes)
    pairs.extend(more.items())
    result = list(params)
    for name, value in pairs:
        key = _param_key(name)
        for index, (old, _) in enumerate(result):
            if _param_key(old) == key:
                result[index] = (name, value)
                break
        else:
            result.append((name, value))
    return tuple(result)


def _format_params(params: tuple[Param, ...]) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)
