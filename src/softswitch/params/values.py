"""Value types of system parameters: how each catalogue type is parsed, checked and written.

Every parameter in the VOS3000-derived catalogue has one of eight types (``int``, ``bool``, ``str``,
``decimal``, ``list``, ``range``, ``hex``, ``enum``). A :class:`ValueSpec` captures one type *plus*
its constraint (bounds, allowed choices), so a parameter is just metadata around a spec. Specs
raise plain :class:`ValueError` on bad text; :mod:`softswitch.params.registry` turns that into a
``ParamError`` that names the parameter and says exactly what is allowed.

Money-like values are :class:`~decimal.Decimal`, never ``float``: a float cannot hold 0.0049
exactly, and fees computed from it would drift (see ARCHITECTURE.md, "Money and time").
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Generic, TypeVar, cast

__all__ = [
    "BoolSpec",
    "DecimalListSpec",
    "DecimalSpec",
    "EnumSpec",
    "HexSpec",
    "IntSpec",
    "ParamKind",
    "PortRange",
    "PortRangeSpec",
    "TextListSpec",
    "TextSpec",
    "ValueSpec",
    "unit_words",
]

T = TypeVar("T")

_INT_RE = re.compile(r"[+-]?[0-9]+")
_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_HEX_RE = re.compile(r"0[xX][0-9a-fA-F]+")
# Line breaks and other control characters cannot survive the line-based override file.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

_UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "min": "minutes", "chars": "characters"}


def unit_words(unit: str) -> str:
    """Spell a catalogue unit out for messages ("s" -> "seconds"); unknown units pass through."""
    return _UNIT_WORDS.get(unit, unit)


def _with_unit(text: str, unit: str) -> str:
    return f"{text} ({unit_words(unit)})" if unit else text


class ParamKind(Enum):
    """The catalogue's ``type`` column; the value is the spelling used in ``parameters.tsv``."""

    INT = "int"
    BOOL = "bool"
    STR = "str"
    DECIMAL = "decimal"
    LIST = "list"
    RANGE = "range"
    HEX = "hex"
    ENUM = "enum"


@dataclass(frozen=True, slots=True)
class PortRange:
    """An inclusive range of UDP/TCP ports, written ``low,high`` as in VOS3000 (``10000,39999``)."""

    low: int
    high: int

    def __post_init__(self) -> None:
        for port in (self.low, self.high):
            if type(port) is not int or not 1 <= port <= 65535:
                raise ValueError(f"port must be an integer from 1 to 65535; got {port!r}")
        if self.low > self.high:
            raise ValueError(f"port range low end {self.low} is above high end {self.high}")

    def __contains__(self, port: object) -> bool:
        return type(port) is int and self.low <= port <= self.high

    def __len__(self) -> int:
        return self.high - self.low + 1


def _plain_line(value: str) -> bool:
    """True when ``value`` fits on one override-file line and needs no stripping to round trip."""
    return value == value.strip() and _CONTROL_RE.search(value) is None


def _parse_decimal(text: str) -> Decimal:
    # Only plain notation: "1e3", "NaN" and "Infinity" are never what an operator means.
    if _DECIMAL_RE.fullmatch(text) is None:
        raise ValueError(text)
    return Decimal(text)


def _format_decimal(value: Decimal) -> str:
    return format(value, "f")


class ValueSpec(ABC, Generic[T]):
    """One parameter type with its constraint.

    ``parse`` turns operator text into a value (raising :class:`ValueError`), ``accepts`` checks a
    typed value against the constraint, ``format`` writes the canonical text so that
    ``parse(format(v)) == v``, ``check_type`` returns a Python value unchanged when it has exactly
    this type (raising :class:`TypeError` otherwise) and ``describe`` says in words what is allowed.
    """

    __slots__ = ()

    @property
    @abstractmethod
    def kind(self) -> ParamKind:
        """The catalogue type this spec implements."""

    @abstractmethod
    def parse(self, text: str) -> T:
        """Parse operator text; raise ``ValueError`` when it is not of this type."""

    @abstractmethod
    def check_type(self, value: object) -> T:
        """Return ``value`` if it has exactly this type; raise ``TypeError`` otherwise.

        No near types are converted: ``bool`` is not an integer, ``int`` and ``float`` are not
        decimals, a ``list`` is not a ``tuple``. Text goes through ``parse`` instead.
        """

    @abstractmethod
    def accepts(self, value: T) -> bool:
        """True when a value of the right type is inside the constraint."""

    @abstractmethod
    def format(self, value: T) -> str:
        """The canonical text of ``value``."""

    @abstractmethod
    def describe(self, unit: str) -> str:
        """What is allowed, as the object of "NAME must be ..."."""


def _bounds_text(low: str | None, high: str | None, noun: str) -> str:
    if low is not None and high is not None:
        return f"{noun} from {low} to {high}"
    if low is not None:
        return f"{noun} of at least {low}"
    if high is not None:
        return f"{noun} of at most {high}"
    return noun


@dataclass(frozen=True, slots=True)
class IntSpec(ValueSpec[int]):
    """A decimal integer with optional inclusive bounds (catalogue ranges ``1-100000``, ``1-``)."""

    low: int | None = None
    high: int | None = None

    @property
    def kind(self) -> ParamKind:
        return ParamKind.INT

    def parse(self, text: str) -> int:
        # int() alone would also take "1_000" and non-ASCII digits.
        stripped = text.strip()
        if _INT_RE.fullmatch(stripped) is None:
            raise ValueError(text)
        return int(stripped)

    def check_type(self, value: object) -> int:
        if type(value) is not int:  # bool is an int subclass but never a count
            raise TypeError(value)
        return value

    def accepts(self, value: int) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def format(self, value: int) -> str:
        return str(value)

    def describe(self, unit: str) -> str:
        low = None if self.low is None else str(self.low)
        high = None if self.high is None else str(self.high)
        return _with_unit(_bounds_text(low, high, "an integer"), unit)


@dataclass(frozen=True, slots=True)
class HexSpec(ValueSpec[int]):
    """An integer written in hexadecimal, like the ToS byte ``0xa0`` (bounds ``0x00-0xff``)."""

    low: int
    high: int
    width: int = 2

    @property
    def kind(self) -> ParamKind:
        return ParamKind.HEX

    def parse(self, text: str) -> int:
        # The 0x prefix is required: "10" would be ambiguous between decimal and hexadecimal.
        stripped = text.strip()
        if _HEX_RE.fullmatch(stripped) is None:
            raise ValueError(text)
        return int(stripped, 16)

    def check_type(self, value: object) -> int:
        if type(value) is not int:
            raise TypeError(value)
        return value

    def accepts(self, value: int) -> bool:
        return self.low <= value <= self.high

    def format(self, value: int) -> str:
        sign = "-" if value < 0 else ""
        return f"{sign}0x{abs(value):0{self.width}x}"

    def describe(self, unit: str) -> str:
        text = f"a hexadecimal number from {self.format(self.low)} to {self.format(self.high)}"
        return _with_unit(text, unit)


@dataclass(frozen=True, slots=True)
class BoolSpec(ValueSpec[bool]):
    """A switch written ``On``/``Off``; ``1``/``0`` are accepted because the guide uses them."""

    @property
    def kind(self) -> ParamKind:
        return ParamKind.BOOL

    def parse(self, text: str) -> bool:
        word = text.strip().lower()
        if word in ("on", "1"):
            return True
        if word in ("off", "0"):
            return False
        raise ValueError(text)

    def check_type(self, value: object) -> bool:
        if type(value) is not bool:
            raise TypeError(value)
        return value

    def accepts(self, value: bool) -> bool:
        return True

    def format(self, value: bool) -> str:
        return "On" if value else "Off"

    def describe(self, unit: str) -> str:
        return "On or Off"


@dataclass(frozen=True, slots=True)
class TextSpec(ValueSpec[str]):
    """Free text on one line; surrounding blanks are trimmed so the override file round trips."""

    @property
    def kind(self) -> ParamKind:
        return ParamKind.STR

    def parse(self, text: str) -> str:
        return text.strip()

    def check_type(self, value: object) -> str:
        if not isinstance(value, str):
            raise TypeError(value)
        return value

    def accepts(self, value: str) -> bool:
        return _plain_line(value)

    def format(self, value: str) -> str:
        return value

    def describe(self, unit: str) -> str:
        return "text on one line without leading or trailing blanks"


@dataclass(frozen=True, slots=True)
class DecimalSpec(ValueSpec[Decimal]):
    """An exact decimal number (money, thresholds) with optional inclusive bounds."""

    low: Decimal | None = None
    high: Decimal | None = None

    @property
    def kind(self) -> ParamKind:
        return ParamKind.DECIMAL

    def parse(self, text: str) -> Decimal:
        return _parse_decimal(text.strip())

    def check_type(self, value: object) -> Decimal:
        if not isinstance(value, Decimal):
            raise TypeError(value)  # float above all: it cannot hold money exactly
        return value

    def accepts(self, value: Decimal) -> bool:
        if not value.is_finite():
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def format(self, value: Decimal) -> str:
        return _format_decimal(value)

    def describe(self, unit: str) -> str:
        low = None if self.low is None else _format_decimal(self.low)
        high = None if self.high is None else _format_decimal(self.high)
        return _with_unit(_bounds_text(low, high, "a decimal number"), unit)


def _split_items(text: str) -> tuple[str, ...]:
    stripped = text.strip()
    if not stripped:
        raise ValueError(text)
    return tuple(item.strip() for item in stripped.split(","))


def _check_tuple(value: object, item_type: type[object]) -> tuple[object, ...]:
    if not isinstance(value, tuple) or not all(isinstance(item, item_type) for item in value):
        raise TypeError(value)
    return value


@dataclass(frozen=True, slots=True)
class DecimalListSpec(ValueSpec[tuple[Decimal, ...]]):
    """A non-empty comma list of positive decimals, e.g. a retransmission schedule in seconds.

    Items must be positive because every numeric list in the catalogue is a list of intervals:
    a zero or negative interval would retransmit in a busy loop (RFC 3261 section 17.1.1.2 only
    ever doubles a positive T1).
    """

    @property
    def kind(self) -> ParamKind:
        return ParamKind.LIST

    def parse(self, text: str) -> tuple[Decimal, ...]:
        return tuple(_parse_decimal(item) for item in _split_items(text))

    def check_type(self, value: object) -> tuple[Decimal, ...]:
        return cast(tuple[Decimal, ...], _check_tuple(value, Decimal))

    def accepts(self, value: tuple[Decimal, ...]) -> bool:
        return len(value) > 0 and all(item.is_finite() and item > 0 for item in value)

    def format(self, value: tuple[Decimal, ...]) -> str:
        return ",".join(_format_decimal(item) for item in value)

    def describe(self, unit: str) -> str:
        return _with_unit("a comma list of one or more positive decimal numbers", unit)


@dataclass(frozen=True, slots=True)
class TextListSpec(ValueSpec[tuple[str, ...]]):
    """A non-empty, ordered comma list of names, e.g. codecs ``G.711A,G.711U,G.729``."""

    @property
    def kind(self) -> ParamKind:
        return ParamKind.LIST

    def parse(self, text: str) -> tuple[str, ...]:
        return _split_items(text)

    def check_type(self, value: object) -> tuple[str, ...]:
        return cast(tuple[str, ...], _check_tuple(value, str))

    def accepts(self, value: tuple[str, ...]) -> bool:
        return len(value) > 0 and all(
            item and "," not in item and _plain_line(item) for item in value
        )

    def format(self, value: tuple[str, ...]) -> str:
        return ",".join(value)

    def describe(self, unit: str) -> str:
        return _with_unit("a comma list of one or more non-empty items", unit)


@dataclass(frozen=True, slots=True)
class PortRangeSpec(ValueSpec[PortRange]):
    """A port range ``low,high`` whose ends lie inside the catalogue bounds (``1024-65535``)."""

    low: int = 1
    high: int = 65535

    @property
    def kind(self) -> ParamKind:
        return ParamKind.RANGE

    def parse(self, text: str) -> PortRange:
        parts = text.strip().split(",")
        if len(parts) != 2:
            raise ValueError(text)
        ends = [part.strip() for part in parts]
        if not all(_INT_RE.fullmatch(end) for end in ends):
            raise ValueError(text)
        return PortRange(int(ends[0]), int(ends[1]))

    def check_type(self, value: object) -> PortRange:
        if not isinstance(value, PortRange):
            raise TypeError(value)
        return value

    def accepts(self, value: PortRange) -> bool:
        return self.low <= value.low and value.high <= self.high

    def format(self, value: PortRange) -> str:
        return f"{value.low},{value.high}"

    def describe(self, unit: str) -> str:
        text = f"a port range 'low,high' with {self.low} <= low <= high <= {self.high}"
        return _with_unit(text, unit)


@dataclass(frozen=True, slots=True)
class EnumSpec(ValueSpec[str]):
    """One of a fixed list of VOS3000 spellings, e.g. ``Unauthorized(401)``.

    Matching is case-insensitive and a bare code (``407``) selects the choice that ends in
    ``(407)``; the value is always the canonical spelling. With no choices (the catalogue leaves
    the range empty) any one-line value is accepted.
    """

    choices: tuple[str, ...] = ()

    @property
    def kind(self) -> ParamKind:
        return ParamKind.ENUM

    def parse(self, text: str) -> str:
        word = text.strip()
        if not self.choices:
            return word
        folded = word.casefold()
        for choice in self.choices:
            if choice.casefold() == folded:
                return choice
        by_code = [choice for choice in self.choices if choice.endswith(f"({word})")]
        if word and len(by_code) == 1:
            return by_code[0]
        raise ValueError(text)

    def check_type(self, value: object) -> str:
        if not isinstance(value, str):
            raise TypeError(value)
        return value

    def accepts(self, value: str) -> bool:
        if self.choices:
            return value in self.choices
        return bool(value) and _plain_line(value)

    def format(self, value: str) -> str:
        return value

    def describe(self, unit: str) -> str:
        if not self.choices:
            return "a non-empty value on one line"
        return "one of " + ", ".join(self.choices)
