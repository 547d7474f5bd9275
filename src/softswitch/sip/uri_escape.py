"""Percent-escaping for SIP, SIPS and tel URIs (RFC 3261 §19.1.2, §25.1; RFC 3966 §3).

URI components are kept escaped exactly as they came off the wire, so that a parsed URI serializes
back to the same text and a B2BUA never re-escapes what it relays. This module holds the three
operations the rest of the stack needs on that escaped text:

* :func:`unescape` turns wire text into the characters it stands for, one level only (RFC 4475
  §3.1.1.3: ``value%2541`` becomes ``value%41``, never ``valueA``). ``%00`` becomes a NUL and does
  not truncate anything (RFC 4475 §3.1.1.4).
* ``escape_*`` do the reverse for one component, leaving unescaped exactly the characters its
  grammar allows there.
* :func:`canonical` produces the comparison form of RFC 3261 §19.1.4: a character outside the
  "reserved" set is equivalent to its ``%HH`` escape, a reserved one is not.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

__all__ = [
    "RESERVED",
    "canonical",
    "escape_header",
    "escape_param",
    "escape_password",
    "escape_user",
    "unescape",
]

#: RFC 3261 §25.1 ``reserved``: escaping one of these changes the meaning of the text.
RESERVED = frozenset(";/?:@&=+$,")

# Characters each component may carry unescaped, beyond ALPHA / DIGIT and "-_.~", which
# urllib's quote() always leaves alone (RFC 3261 §25.1: mark, user-unreserved, param-unreserved,
# hnv-unreserved).
_MARK = "!*'()"
_USER_SAFE = _MARK + "&=+$,;?/"
_PASSWORD_SAFE = _MARK + "&=+$,"
_PARAM_SAFE = _MARK + "[]/:&+$"
_HEADER_SAFE = _MARK + "[]/?:+$"

_HEX = frozenset("0123456789abcdefABCDEF")


def unescape(text: str) -> str:
    """Decode every ``%HH`` in ``text`` once (RFC 3261 §19.1.2).

    Escaped octets are read as UTF-8; octets that are not valid UTF-8 survive as surrogate
    escapes so that :func:`escape_user` and friends restore them exactly.
    """
    if "%" not in text:
        return text
    return unquote(text, errors="surrogateescape")


def _escape(text: str, safe: str) -> str:
    return quote(text, safe=safe, errors="surrogateescape")


def escape_user(text: str) -> str:
    """Escape ``text`` for the user part of a SIP URI (RFC 3261 §25.1 ``user``)."""
    return _escape(text, _USER_SAFE)


def escape_password(text: str) -> str:
    """Escape ``text`` for the password part of a SIP URI (RFC 3261 §25.1 ``password``)."""
    return _escape(text, _PASSWORD_SAFE)


def escape_param(text: str) -> str:
    """Escape ``text`` for a URI parameter name or value (RFC 3261 §25.1 ``paramchar``)."""
    return _escape(text, _PARAM_SAFE)


def escape_header(text: str) -> str:
    """Escape ``text`` for a URI header name or value (RFC 3261 §25.1 ``hname``/``hvalue``)."""
    return _escape(text, _HEADER_SAFE)


def canonical(text: str) -> str:
    """Return the form of ``text`` under which RFC 3261 §19.1.4 equivalent texts are identical.

    An escape of a printable ASCII character outside :data:`RESERVED` (and other than ``%``) is
    decoded, since such a character is "equivalent to its %HH encoding"; every other escape is
    kept, with upper-case hex digits. Decoding ``%3B`` would turn an escaped semicolon into a
    parameter separator, and decoding ``%25`` would let ``%2541`` collide with ``%41``: both would
    change meaning. Literal characters are left as they are, so ``;`` and ``%3B`` stay distinct.
    Case is preserved: whether a component compares case-insensitively is the caller's business.
    """
    if "%" not in text:
        return text
    pieces = text.split("%")
    out = [pieces[0]]
    for piece in pieces[1:]:
        hh = piece[:2]
        if len(hh) != 2 or hh[0] not in _HEX or hh[1] not in _HEX:
            out.append("%" + piece)  # not an escape; the parser rejects these anyway
            continue
        code = int(hh, 16)
        char = chr(code)
        if 0x21 <= code <= 0x7E and char != "%" and char not in RESERVED:
            out.append(char + piece[2:])
        else:
            out.append("%" + hh.upper() + piece[2:])
    return "".join(out)
