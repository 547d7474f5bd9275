"""URI equivalence: RFC 3261 §19.1.4 for SIP and SIPS, RFC 3966 §4 for tel.

Kept apart from the URI classes because it needs all of them; their ``matches`` methods call
:func:`uri_equal` through a function-local import. Import it from :mod:`softswitch.sip.uri`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from softswitch.sip.uri_escape import canonical
from softswitch.sip.uri_lexical import Param, _ipv6_key, _param_key
from softswitch.sip.uri_sip import SipUri
from softswitch.sip.uri_tel import _VISUAL_SEPARATORS, AbsoluteUri, TelUri

if TYPE_CHECKING:
    from softswitch.sip.uri import Uri

__all__ = ["uri_equal"]

# RFC 3261 §19.1.4: these parameters make two URIs unequal when only one of them has it.
_STRICT_PARAMS = frozenset({"transport", "ttl", "user", "method", "maddr"})


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
