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

This module is the public face: import URIs from here. The work lives in modules named for what
they own. Module-level imports point one way (lexical, then sip and tel, then compare, then this
one); the classes' ``parse`` and ``matches`` reach back through function-local imports:

* :mod:`~softswitch.sip.uri_lexical`: UriError, character classes, host, port, parameters;
* :mod:`~softswitch.sip.uri_sip`: :class:`SipUri`, :class:`HostKind` and the SIP/SIPS parser;
* :mod:`~softswitch.sip.uri_tel`: :class:`TelUri`, :class:`AbsoluteUri` and the tel parser;
* :mod:`~softswitch.sip.uri_compare`: :func:`uri_equal`;
* :mod:`~softswitch.sip.uri_escape`: percent-escaping.
"""

from __future__ import annotations

from typing import TypeAlias

from softswitch.sip.uri_compare import uri_equal
from softswitch.sip.uri_escape import (
    escape_header,
    escape_param,
    escape_password,
    escape_user,
    unescape,
)
from softswitch.sip.uri_lexical import UriError
from softswitch.sip.uri_sip import HostKind, SipUri, _parse_sip
from softswitch.sip.uri_tel import AbsoluteUri, TelUri, _parse_tel

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
