"""The typed lines of a session description (RFC 8866 §5).

A description is kept as an ordered sequence of these line values rather than as one record
with a slot per field: devices put lines in unexpected orders and invent lines of their own, and a
B2BUA that rewrites one address must not reorder or drop anything else. Each value knows its type
letter and formats to exactly the text after ``=`` it was parsed from (for input in canonical,
single-space form).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, TypeVar

from softswitch.sdp.errors import SdpError

__all__ = [
    "Attribute",
    "Bandwidth",
    "BlankLine",
    "Connection",
    "Field",
    "Origin",
    "Timing",
    "parse_attribute",
    "parse_bandwidth",
    "parse_connection",
    "parse_origin",
    "parse_timing",
    "set_line",
]

_DIGITS: Final = re.compile(r"[0-9]+")


def _number(text: str, what: str) -> int:
    # int() alone would accept "+1", " 1" and non-ASCII digits, none of which round-trip.
    if not _DIGITS.fullmatch(text):
        raise SdpError(f"{what} must be a decimal number, got {text!r}")
    return int(text)


def _check_token(text: str, what: str) -> None:
    if not text or any(ch.isspace() for ch in text):
        raise SdpError(f"{what} must be a non-empty token without spaces, got {text!r}")


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`` (RFC 8866 §5.2).

    ``session_id`` stays text: it only identifies the session and may exceed 64 bits.
    ``session_version`` is a number because a new offer must increase it (RFC 3264 §8).
    """

    letter: ClassVar[str] = "o"

    username: str
    session_id: str
    session_version: int
    nettype: str
    addrtype: str
    address: str

    def __post_init__(self) -> None:
        for name in ("username", "session_id", "nettype", "addrtype", "address"):
            _check_token(getattr(self, name), f"origin {name}")
        if self.session_version < 0:
            raise SdpError("origin session_version must not be negative")

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


def parse_origin(value: str) -> Origin:
    """Read the value of an ``o=`` line."""
    parts = value.split()
    if len(parts) != 6:
        raise SdpError(f"o= line needs 6 fields, got {len(parts)}: {value!r}")
    username, session_id, version, nettype, addrtype, address = parts
    return Origin(
        username, session_id, _number(version, "o= sess-version"), nettype, addrtype, address
    )


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=<nettype> <addrtype> <address>[/<ttl>][/<count>]`` (RFC 8866 §5.7).

    IPv6 addresses are written without brackets. Only IPv4 multicast carries a TTL; IPv6 may carry
    a count alone, so the suffix is read according to the address type. For any other address type
    the address is kept whole, slashes included.
    """

    letter: ClassVar[str] = "c"

    nettype: str
    addrtype: str
    address: str
    ttl: int | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        _check_token(self.nettype, "connection nettype")
        _check_token(self.addrtype, "connection addrtype")
        _check_token(self.address, "connection address")
        kind = self.addrtype.upper()
        if kind == "IP4" and self.count is not None and self.ttl is None:
            raise SdpError("an IP4 connection count needs a TTL before it")
        if kind == "IP6" and self.ttl is not None:
            raise SdpError("an IP6 connection address has no TTL")
        if kind not in ("IP4", "IP6") and (self.ttl is not None or self.count is not None):
            raise SdpError(f"no TTL or count is defined for address type {self.addrtype!r}")
        if kind in ("IP4", "IP6") and "/" in self.address:
            raise SdpError("the connection address must not contain '/'; use ttl and count")

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """A unicast ``IN IP4`` or ``IN IP6`` connection, the type told by the address itself."""
        return cls("IN", "IP6" if ":" in address else "IP4", address)

    def __str__(self) -> str:
        text = f"{self.nettype} {self.addrtype} {self.address}"
        if self.ttl is not None:
            text += f"/{self.ttl}"
        if self.count is not None:
            text += f"/{self.count}"
        return text


def parse_connection(value: str) -> Connection:
    """Read the value of a ``c=`` line."""
    parts = value.split()
    if len(parts) != 3:
        raise SdpError(f"c= line needs 3 fields, got {len(parts)}: {value!r}")
    nettype, addrtype, address = parts
    kind = addrtype.upper()
    if kind not in ("IP4", "IP6") or "/" not in address:
        return Connection(nettype, addrtype, address)
    address, *suffix = address.split("/")
    numbers = [_number(item, "c= TTL/count") for item in suffix]
    if kind == "IP6":
        if len(numbers) != 1:
            raise SdpError(f"c= IP6 address takes one /count suffix: {value!r}")
        return Connection(nettype, addrtype, address, None, numbers[0])
    if len(numbers) > 2:
        raise SdpError(f"c= IP4 address takes at most /ttl/count: {value!r}")
    return Connection(
        nettype, addrtype, address, numbers[0], numbers[1] if len(numbers) > 1 else None
    )


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """``b=<bwtype>:<bandwidth>`` (RFC 8866 §5.8), bandwidth in the unit the type defines."""

    letter: ClassVar[str] = "b"

    bwtype: str
    bandwidth: int

    def __post_init__(self) -> None:
        _check_token(self.bwtype, "bandwidth type")
        if ":" in self.bwtype:
            raise SdpError("bandwidth type must not contain ':'")
        if self.bandwidth < 0:
            raise SdpError("bandwidth must not be negative")

    def __str__(self) -> str:
        return f"{self.bwtype}:{self.bandwidth}"


def parse_bandwidth(value: str) -> Bandwidth:
    """Read the value of a ``b=`` line."""
    bwtype, sep, amount = value.partition(":")
    if not sep:
        raise SdpError(f"b= line needs '<bwtype>:<bandwidth>': {value!r}")
    return Bandwidth(bwtype, _number(amount, "b= bandwidth"))


@dataclass(frozen=True, slots=True)
class Timing:
    """``t=<start-time> <stop-time>`` in NTP seconds; ``0 0`` for an unbounded session (§5.9)."""

    letter: ClassVar[str] = "t"

    start: int
    stop: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.stop < 0:
            raise SdpError("timing values must not be negative")

    def __str__(self) -> str:
        return f"{self.start} {self.stop}"


def parse_timing(value: str) -> Timing:
    """Read the value of a ``t=`` line."""
    parts = value.split()
    if len(parts) != 2:
        raise SdpError(f"t= line needs '<start> <stop>': {value!r}")
    return Timing(_number(parts[0], "t= start time"), _number(parts[1], "t= stop time"))


@dataclass(frozen=True, slots=True)
class Attribute:
    """``a=<name>`` (a property) or ``a=<name>:<value>`` (RFC 8866 §5.13).

    ``value`` is ``None`` for a property and ``""`` for ``a=name:``, so both round-trip.
    """

    letter: ClassVar[str] = "a"

    name: str
    value: str | None = None

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise SdpError(f"attribute name must be non-empty and without ':', got {self.name!r}")

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


def parse_attribute(value: str) -> Attribute:
    """Read the value of an ``a=`` line."""
    name, sep, rest = value.partition(":")
    if not name:
        raise SdpError(f"a= line has no attribute name: {value!r}")
    return Attribute(name, rest if sep else None)


@dataclass(frozen=True, slots=True)
class Field:
    """Any other ``<letter>=<value>`` line, kept verbatim.

    Text fields (s, i, u, e, p, k), repeat times and zone adjustments (r, z) and lines of unknown
    type alike: RFC 8866 §5 tells parsers to ignore unknown types, and a relay keeps them so the
    far end sees what the near end wrote.
    """

    letter: str
    value: str

    def __post_init__(self) -> None:
        if len(self.letter) != 1 or self.letter.isspace() or self.letter in "=\r\n":
            raise SdpError(f"line type must be one non-space character, got {self.letter!r}")

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class BlankLine:
    """An empty line. Not valid SDP, but common at the end of bodies; kept so bytes round-trip."""

    letter: ClassVar[str] = ""

    def __str__(self) -> str:
        return ""


_L = TypeVar("_L")


def set_line(
    lines: Sequence[_L], kind: type[object], letter: str, new: _L | None, order: str
) -> tuple[_L, ...]:
    """Replace the first line of ``kind`` by ``new`` where it stands, dropping any duplicates.

    With no such line, ``new`` goes before the first line whose type ``order`` puts after
    ``letter`` (RFC 8866 §5 ordering), so an added line lands where a strict parser expects it;
    ``None`` removes the lines of ``kind``.
    """
    out: list[_L] = []
    placed = new is None
    for line in lines:
        if isinstance(line, kind):
            if not placed and new is not None:
                out.append(new)
                placed = True
            continue
        out.append(line)
    if placed or new is None:
        return tuple(out)
    rank = order.index(letter)
    for position, line in enumerate(out):
        other = getattr(line, "letter", "")
        if other and other in order and order.index(other) > rank:
            out.insert(position, new)
            return tuple(out)
    out.append(new)
    return tuple(out)
