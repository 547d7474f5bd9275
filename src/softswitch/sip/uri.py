"""SIP, SIPS, tel and other URIs: parse, serialize, compare.

RFC 3261 §19.1 and §25.1 (SIP/SIPS), RFC 3966 (tel), RFC 5118 (IPv6 hosts).

Design choices, and why:

* Components are kept *escaped, as on the wire*. A B2BUA relays URIs it does not understand; it
  must not re-escape them, and an unmodified parsed URI serializes back to exactly the input text
  (the original text is remembered, so even ``SIP:`` or a port of ``05060`` survive).
* Parsing is a handful of ``find``/``partition`` calls plus one pre-compiled character check: the
  Request-URI and the URIs in To, From and Contact are parsed on the hot path.
* Dataclass ``==`` is structural (same fields). The RFC 3261 §19.1.4 equivalence, which is not
  transitive and so cannot be ``__eq__``, is :func:`uri_equal` / :meth:`SipUri.matches`.
* Schemes other than sip, sips and tel become :class:`AbsoluteUri`, opaque, so that the message
  layer can answer 416 Unsupported URI Scheme (RFC 3261 §8.2.2.1, RFC 4475 §3.3.2) instead of 400.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import ClassVar, TypeAlias

from softswitch.sip.uri_escape import (
    canonical,
    escape_header,
    escape_param,
    escape_password,
    escape_user,
    unescape,
)

__all__ = [
    "AbsoluteUri",
    "HostKind",
    "SipUri",
    "TelUri",
    "Uri",
    "UriError",
    "escape_header",
    "escape_param",
    "escape_password",
    "escape_user",
    "parse_uri",
    "unescape",
    "uri_equal",
]

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


class HostKind(Enum):
    """What the host part of a URI names (RFC 3261 §25.1 ``host``)."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DOMAIN = "domain"


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
_VISUAL_SEPARATORS = str.maketrans("", "", "-.()")

# RFC 3261 §19.1.4: these parameters make two URIs unequal when only one of them has it.
_STRICT_PARAMS = frozenset({"transport", "ttl", "user", "method", "maddr"})


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


@dataclass(frozen=True, slots=True, kw_only=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 §19.1.1).

    ``user``, ``password``, parameter and header names and values are escaped text as on the wire;
    use :func:`unescape` for the characters they stand for and ``escape_*`` to build them. The
    user part may contain ``;`` (RFC 4475 §3.1.1.9: in ``sip:user;par=u%40example.net@example.com``
    the user is ``user;par=u%40example.net``). IPv6 hosts keep their brackets.
    """

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str
    port: int | None = None
    params: tuple[Param, ...] = ()
    headers: tuple[Header, ...] = ()
    # The wire text this value was parsed from (or last serialized to); never compared.
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Values built in code are checked as strictly as parsed ones; parse() bypasses this.
        if self.scheme not in ("sip", "sips"):
            raise UriError(f"scheme must be 'sip' or 'sips', not {self.scheme!r}")
        if not isinstance(self.params, tuple):
            object.__setattr__(self, "params", tuple(self.params))
        if not isinstance(self.headers, tuple):
            object.__setattr__(self, "headers", tuple(self.headers))
        _check_host(self.host)
        _check_port(self.port)
        at_ok = self.user is not None
        if self.user is not None:
            _check_component(self.user, "user part", ":@")
        elif self.password is not None:
            raise UriError("a password needs a user part")
        if self.password is not None:
            _check_component(self.password, "password", "@", empty=True)
        for name, value in self.params:
            _check_component(name, "parameter name", ";?=" if at_ok else ";?=@", empty=False)
            if value is not None:
                _check_component(value, "parameter value", ";?" if at_ok else ";?@", empty=True)
        for name, hvalue in self.headers:
            _check_component(name, "header name", "&=" if at_ok else "&=@", empty=False)
            _check_component(hvalue, "header value", "&" if at_ok else "&@", empty=True)

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a ``sip:``/``sips:`` URI; another scheme raises UriError with status_hint 416."""
        uri = parse_uri(text)
        if not isinstance(uri, SipUri):
            raise UriError("not a SIP or SIPS URI", text, status_hint=416)
        return uri

    def __str__(self) -> str:
        text = self._text
        if text is None:
            parts = [self.scheme, ":"]
            if self.user is not None:
                parts.append(self.user)
                if self.password is not None:
                    parts += (":", self.password)
                parts.append("@")
            parts.append(self.host_port)
            if self.params:
                parts.append(_format_params(self.params))
            if self.headers:
                parts += ("?", "&".join(f"{n}={v}" for n, v in self.headers))
            text = "".join(parts)
            object.__setattr__(self, "_text", text)
        return text

    # -- accessors -------------------------------------------------------------------------

    @property
    def host_port(self) -> str:
        """``host`` or ``host:port``, as in a Via sent-by or a Host-style key."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def is_ipv6(self) -> bool:
        return self.host.startswith("[")

    @property
    def host_kind(self) -> HostKind:
        if self.host.startswith("["):
            return HostKind.IPV6
        if _DIGITS_DOTS.issuperset(self.host):
            return HostKind.IPV4
        return HostKind.DOMAIN

    @property
    def is_secure(self) -> bool:
        """True for ``sips:`` (RFC 3261 §19.1: TLS on every hop)."""
        return self.scheme == "sips"

    def param(self, name: str, default: str | None = None) -> str | None:
        """Value of the first parameter called ``name`` (case-insensitive), escaped as on the wire.

        A flag parameter such as ``;lr`` has the value None; use :meth:`has_param` to tell it from
        an absent one.
        """
        item = _find_param(self.params, name)
        return default if item is None else item[1]

    def has_param(self, name: str) -> bool:
        return _find_param(self.params, name) is not None

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased (RFC 3261 §19.1.1: case-insensitive)."""
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        """Whether the loose-routing flag is present (RFC 3261 §16.12.1.1, §19.1.1)."""
        return self.has_param("lr")

    @property
    def maddr(self) -> str | None:
        return self.param("maddr")

    @property
    def user_param(self) -> str | None:
        """The ``user`` parameter, lower-cased; ``"phone"`` marks a telephone-subscriber user."""
        value = self.param("user")
        return value.lower() if value else None

    @property
    def ttl(self) -> int | None:
        """The ``ttl`` parameter (0-255, RFC 3261 §25.1 ``ttl``); UriError if malformed."""
        value = self.param("ttl")
        if value is None:
            return None
        if not (value.isascii() and value.isdigit() and len(value) <= 3 and int(value) <= 255):
            raise UriError("ttl parameter must be 0-255", str(self))
        return int(value)

    @property
    def method(self) -> str | None:
        """The ``method`` parameter; case-sensitive like every method name (RFC 3261 §7.1)."""
        return self.param("method")

    def matches(self, other: Uri) -> bool:
        """RFC 3261 §19.1.4 equivalence; see :func:`uri_equal`."""
        return uri_equal(self, other)

    # -- copies ----------------------------------------------------------------------------

    def with_params(
        self,
        changes: Mapping[str, str | None] | Iterable[Param] = (),
        /,
        **more: str | None,
    ) -> SipUri:
        """Copy with parameters set: an existing one (case-insensitive) keeps its position,
        a new one is appended. A value of None makes a flag parameter (``lr=None`` -> ``;lr``).
        """
        return replace(self, params=_updated_params(self.params, changes, more))

    def without_params(self, *names: str) -> SipUri:
        """Copy without the named parameters (case-insensitive); with no names, without any."""
        if not names:
            return replace(self, params=())
        keys = {_param_key(n) for n in names}
        return replace(self, params=tuple(p for p in self.params if _param_key(p[0]) not in keys))

    def with_host_port(self, host: str, port: int | None = None) -> SipUri:
        return replace(self, host=host, port=port)

    def with_user(self, user: str | None, password: str | None = None) -> SipUri:
        """Copy with another (escaped) user part and password."""
        return replace(self, user=user, password=password)

    def without_headers(self) -> SipUri:
        """Copy without ``?headers`` (RFC 3261 §19.1.5: they never go into a Request-URI)."""
        return replace(self, headers=())


def _check_component(text: str, what: str, forbidden: str, *, empty: bool = False) -> None:
    if not text and not empty:
        raise UriError(f"empty {what}")
    bad = _SIP_BAD.search(text)
    if bad is not None or not text.isascii():
        raise _reject_char(text, bad, f"the {what}")
    for char in forbidden:
        if char in text:
            raise UriError(f"character {char!r} must be escaped in the {what}", text)


def _build_sip(
    scheme: str,
    user: str | None,
    password: str | None,
    host: str,
    port: int | None,
    params: tuple[Param, ...],
    headers: tuple[Header, ...],
    text: str,
) -> SipUri:
    # The parser has already validated every component against the whole text, so it skips
    # __post_init__ (a quarter of the parse time) by filling the slots directly.
    uri: SipUri = object.__new__(SipUri)
    put = object.__setattr__
    put(uri, "scheme", scheme)
    put(uri, "user", user)
    put(uri, "password", password)
    put(uri, "host", host)
    put(uri, "port", port)
    put(uri, "params", params)
    put(uri, "headers", headers)
    put(uri, "_text", text)
    return uri


def _parse_sip(text: str, scheme: str, colon: int) -> SipUri:
    bad = _SIP_BAD.search(text)
    if bad is not None or not text.isascii():
        raise _reject_char(text, bad, "a SIP URI")
    rest = text[colon + 1 :]
    user = password = None
    # '@' may not appear unescaped in user or password, nor in host, params or headers when the
    # URI has no userinfo: the first '@' ends the userinfo, which itself may hold ';' and '?'
    # (RFC 3261 §25.1 user-unreserved; RFC 4475 §3.1.1.2 and §3.1.1.9).
    at = rest.find("@")
    if at >= 0:
        user, colon_found, pw = rest[:at].partition(":")
        if not user:
            raise UriError("empty user part before '@'", text)
        if colon_found:
            password = pw
        rest = rest[at + 1 :]
    headers: tuple[Header, ...] = ()
    question = rest.find("?")
    if question >= 0:
        headers = _parse_headers(rest[question + 1 :], text)
        rest = rest[:question]
    hostport, semicolon, param_text = rest.partition(";")
    params = _parse_params(param_text, text) if semicolon else ()
    host, port = _split_hostport(hostport, text)
    _check_host(host, text)
    return _build_sip(scheme, user, password, host, port, params, headers, text)


@dataclass(frozen=True, slots=True, kw_only=True)
class TelUri:
    """A ``tel:`` URI (RFC 3966 §3): a global (``+1-201-555-0123``) or local number and params.

    Local numbers should carry ``;phone-context=``; one without it is accepted (devices send
    them) and left for routing to judge.
    """

    scheme: ClassVar[str] = "tel"
    number: str
    params: tuple[Param, ...] = ()
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.params, tuple):
            object.__setattr__(self, "params", tuple(self.params))
        _check_tel_number(self.number, self.number)
        for name, value in self.params:
            if not name or "=" in name:
                raise UriError("invalid tel URI parameter name", name)
            for part in (name, "" if value is None else value):
                bad = _TEL_BAD.search(part)
                if bad is not None or not part.isascii():
                    raise _reject_char(part, bad, "a tel URI parameter")
                if ";" in part:
                    raise UriError("';' must be escaped in a tel URI parameter", part)

    @classmethod
    def parse(cls, text: str) -> TelUri:
        uri = parse_uri(text)
        if not isinstance(uri, TelUri):
            raise UriError("not a tel URI", text, status_hint=416)
        return uri

    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = f"tel:{self.number}{_format_params(self.params)}"
            object.__setattr__(self, "_text", text)
        return text

    @property
    def is_global(self) -> bool:
        return self.number.startswith("+")

    @property
    def phone_context(self) -> str | None:
        return self.param("phone-context")

    def normalized_number(self) -> str:
        """The number without visual separators (RFC 3966 §5.1.1), hex digits upper-cased."""
        return self.number.translate(_VISUAL_SEPARATORS).upper()

    def param(self, name: str, default: str | None = None) -> str | None:
        item = _find_param(self.params, name)
        return default if item is None else item[1]

    def has_param(self, name: str) -> bool:
        return _find_param(self.params, name) is not None

    def matches(self, other: Uri) -> bool:
        """RFC 3966 §4 equivalence; see :func:`uri_equal`."""
        return uri_equal(self, other)


def _check_tel_number(number: str, text: str) -> None:
    digits = number[1:] if number.startswith("+") else number
    allowed = "0123456789-.()" if number.startswith("+") else "0123456789ABCDEFabcdef*#-.()"
    if not digits or not all(ch in allowed for ch in digits):
        raise UriError("invalid telephone number", text)
    if not digits.translate(_VISUAL_SEPARATORS):
        raise UriError("telephone number has no digits", text)


def _parse_tel(text: str, colon: int) -> TelUri:
    bad = _TEL_BAD.search(text)
    if bad is not None or not text.isascii():
        raise _reject_char(text, bad, "a tel URI")
    number, semicolon, param_text = text[colon + 1 :].partition(";")
    _check_tel_number(number, text)
    uri: TelUri = object.__new__(TelUri)
    object.__setattr__(uri, "number", number)
    object.__setattr__(uri, "params", _parse_params(param_text, text) if semicolon else ())
    object.__setattr__(uri, "_text", text)
    return uri


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """A URI of any other scheme (RFC 3261 §25.1 ``absoluteURI``), kept as opaque text.

    The message layer answers 416 Unsupported URI Scheme to a Request-URI of this kind (RFC 4475
    §3.3.2, §3.3.3) and relays it untouched in headers (§3.3.4).
    """

    text: str

    def __post_init__(self) -> None:
        scheme, colon, rest = self.text.partition(":")
        if not colon:
            raise UriError("missing ':' after the URI scheme", self.text)
        if not scheme:
            raise UriError("empty URI scheme", self.text)
        if _SCHEME.fullmatch(scheme) is None:
            raise UriError("invalid URI scheme", self.text)
        if not rest:
            raise UriError("nothing after the URI scheme", self.text)
        bad = _SIP_BAD.search(self.text)
        if bad is not None or not self.text.isascii():
            raise _reject_char(self.text, bad, "a URI")

    @property
    def scheme(self) -> str:
        """The scheme, lower-cased (schemes are case-insensitive, RFC 3986 §3.1)."""
        return self.text.partition(":")[0].lower()

    @property
    def opaque(self) -> str:
        """Everything after the first ``:``."""
        return self.text.partition(":")[2]

    def __str__(self) -> str:
        return self.text

    def matches(self, other: Uri) -> bool:
        return uri_equal(self, other)


Uri: TypeAlias = SipUri | TelUri | AbsoluteUri


def parse_uri(text: str) -> Uri:
    """Parse any URI: SipUri for sip/sips, TelUri for tel, AbsoluteUri for every other scheme.

    Raises UriError (status_hint 400) for text that is not a URI or breaks its scheme's grammar.
    """
    colon = text.find(":")
    if colon < 0:
        raise UriError("missing ':' after the URI scheme", text)
    if colon == 0:
        raise UriError("empty URI scheme", text)
    if text[0] == "<":
        raise UriError("URI enclosed in '<' '>' where a bare URI belongs", text)
    scheme = text[:colon]
    if scheme == "sip" or scheme == "sips":  # the common case, without lower()
        return _parse_sip(text, scheme, colon)
    lowered = scheme.lower()
    if lowered == "sip" or lowered == "sips":
        return _parse_sip(text, lowered, colon)
    if lowered == "tel":
        return _parse_tel(text, colon)
    return AbsoluteUri(text)


# -- comparison ----------------------------------------------------------------------------


def uri_equal(a: Uri, b: Uri) -> bool:
    """Whether ``a`` and ``b`` are equivalent: RFC 3261 §19.1.4 for SIP/SIPS, RFC 3966 §4 for tel.

    URIs of different kinds are never equal; other schemes compare by lower-cased scheme and
    exact remaining text. This is not ``==``: the relation is not transitive (§19.1.4).
    """
    if isinstance(a, SipUri):
        return isinstance(b, SipUri) and _sip_equal(a, b)
    if isinstance(a, TelUri):
        return isinstance(b, TelUri) and _tel_equal(a, b)
    return isinstance(b, AbsoluteUri) and a.scheme == b.scheme and a.opaque == b.opaque


def _same_userinfo(x: str | None, y: str | None) -> bool:
    # Case-sensitive, but an escaped unreserved character equals the character.
    if x is None or y is None:
        return x is y
    return x == y or canonical(x) == canonical(y)


def _host_key(host: str) -> str:
    return _ipv6_key(host) if host.startswith("[") else host.lower()


def _param_map(params: tuple[Param, ...]) -> dict[str, str | None]:
    # First occurrence wins; values are canonical, case-folded later where the RFC says so.
    result: dict[str, str | None] = {}
    for name, value in params:
        result.setdefault(_param_key(name), None if value is None else canonical(value))
    return result


def _sip_equal(a: SipUri, b: SipUri) -> bool:
    if a.scheme != b.scheme or a.port != b.port:
        return False
    if not (_same_userinfo(a.user, b.user) and _same_userinfo(a.password, b.password)):
        return False
    if a.host.lower() != b.host.lower() and _host_key(a.host) != _host_key(b.host):
        return False
    pa, pb = _param_map(a.params), _param_map(b.params)
    for name in _STRICT_PARAMS:
        if (name in pa) != (name in pb):
            return False
    for name, va in pa.items():
        if name not in pb:
            continue
        vb = pb[name]
        if va is None or vb is None:
            if va is not vb:
                return False
        elif name == "method":
            if va != vb:
                return False
        elif va.lower() != vb.lower():
            return False
    ha = sorted((_param_key(n), canonical(v)) for n, v in a.headers)
    hb = sorted((_param_key(n), canonical(v)) for n, v in b.headers)
    return ha == hb


def _tel_value(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = canonical(value)
    if name == "ext" or (name == "phone-context" and value.startswith("+")):
        value = value.translate(_VISUAL_SEPARATORS)
    return value.lower()


def _tel_equal(a: TelUri, b: TelUri) -> bool:
    if a.is_global != b.is_global:
        return False
    if a.normalized_number() != b.normalized_number():
        return False
    pa = {_param_key(n): _tel_value(_param_key(n), v) for n, v in reversed(a.params)}
    pb = {_param_key(n): _tel_value(_param_key(n), v) for n, v in reversed(b.params)}
    return pa == pb
