"""SIP and SIPS URIs (RFC 3261 §19.1.1, §25.1): the value, its accessors and its parser.

:func:`softswitch.sip.uri.parse_uri` dispatches here for ``sip:``/``sips:``; import from
:mod:`softswitch.sip.uri`, which re-exports :class:`SipUri` and :class:`HostKind`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING

from softswitch.sip.uri_lexical import (
    _DIGITS_DOTS,
    _SIP_BAD,
    Header,
    Param,
    UriError,
    _check_host,
    _check_port,
    _find_param,
    _format_params,
    _param_key,
    _parse_headers,
    _parse_params,
    _reject_char,
    _split_hostport,
    _updated_params,
)

if TYPE_CHECKING:
    from softswitch.sip.uri import Uri

__all__ = ["HostKind", "SipUri"]


class HostKind(Enum):
    """What the host part of a URI names (RFC 3261 §25.1 ``host``)."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DOMAIN = "domain"


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
        # Function-local: softswitch.sip.uri imports this module, so a module-level import
        # would be a cycle.
        from softswitch.sip.uri import parse_uri

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
        # Function-local: uri_compare imports this module (it needs every URI class), so a
        # module-level import would be a cycle.
        from softswitch.sip.uri_compare import uri_equal

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
