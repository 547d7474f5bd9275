"""tel URIs (RFC 3966 §3) and URIs of every other scheme (RFC 3261 §25.1 ``absoluteURI``).

:func:`softswitch.sip.uri.parse_uri` dispatches here for everything that is not ``sip:`` or
``sips:``; import from :mod:`softswitch.sip.uri`, which re-exports both classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from softswitch.sip.uri_lexical import (
    _SCHEME,
    _SIP_BAD,
    _TEL_BAD,
    Param,
    UriError,
    _find_param,
    _format_params,
    _parse_params,
    _reject_char,
)

if TYPE_CHECKING:
    from softswitch.sip.uri import Uri

__all__ = ["AbsoluteUri", "TelUri"]

# RFC 3966 §5.1.1: visual separators carry no meaning; numbers compare without them.
_VISUAL_SEPARATORS = str.maketrans("", "", "-.()")


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
        # Function-local: softswitch.sip.uri imports this module, so a module-level import
        # would be a cycle.
        from softswitch.sip.uri import parse_uri

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
        # Function-local: uri_compare imports this module (it needs every URI class), so a
        # module-level import would be a cycle.
        from softswitch.sip.uri_compare import uri_equal

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
        # Function-local: uri_compare imports this module (it needs every URI class), so a
        # module-level import would be a cycle.
        from softswitch.sip.uri_compare import uri_equal

        return uri_equal(self, other)
