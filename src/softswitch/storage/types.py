"""Column types that make SQLite and PostgreSQL agree to the last digit and the last microsecond.

Money is stored as a BIGINT of micro-units (ARCHITECTURE.md, "Money and time"): both engines
compare, sum and index integers exactly, whereas SQLite has no decimal type at all and would
silently turn NUMERIC into a float. The conversion refuses anything it cannot store exactly —
floats, NaN, infinities and values finer than a micro-unit — because a silent rounding here
would be a billing error nobody can trace.

Times are stored in UTC. SQLite keeps a DATETIME as text without an offset, PostgreSQL as
``timestamptz``; the type below normalises to UTC on the way in (refusing naive datetimes, whose
meaning depends on the machine's zone) and hands back aware UTC datetimes from both engines.
"""

from __future__ import annotations

import decimal
import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy import Enum as SAEnum
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "MICROS_PER_UNIT",
    "BigId",
    "IntList",
    "Money",
    "StrList",
    "UtcDateTime",
    "enum_type",
    "from_micros",
    "to_micros",
    "utcnow",
]

MICROS_PER_UNIT = 1_000_000
"""One currency unit is this many stored micro-units (six decimal places)."""

_MICRO_PLACES = 6
_BIGINT_MAX = 2**63 - 1
# Wide enough for any BIGINT of micro-units (19 digits) plus the six places, so scaling is exact.
_EXACT = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.InvalidOperation])

BigId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""Primary key for tables that grow without bound (CDRs, ledger, audit).

SQLite only auto-numbers a column declared exactly ``INTEGER PRIMARY KEY`` (its rowid alias), so
the 64-bit key is INTEGER there — which SQLite stores in up to 8 bytes anyway.
"""


def to_micros(value: Decimal | int) -> int:
    """Convert an amount to integer micro-units, exactly or not at all.

    Raises ``TypeError`` for floats (and bools), ``ValueError`` for NaN/infinity or for a value
    with a non-zero digit beyond the sixth decimal place, ``OverflowError`` beyond BIGINT.
    Trailing zeros are harmless: ``Decimal("1.5000000")`` is stored as 1 500 000.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"money must be Decimal or int, not {type(value).__name__}")
    if isinstance(value, int):
        micros = value * MICROS_PER_UNIT
    else:
        if not value.is_finite():
            raise ValueError(f"money must be finite, got {value}")
        scaled = value.scaleb(_MICRO_PLACES, context=_EXACT)
        if scaled != scaled.to_integral_value(context=_EXACT):
            raise ValueError(f"money {value} has more than {_MICRO_PLACES} decimal places")
        micros = int(scaled)
    if not -_BIGINT_MAX - 1 <= micros <= _BIGINT_MAX:
        raise OverflowError(f"money {value} does not fit in a BIGINT of micro-units")
    return micros


def from_micros(micros: int) -> Decimal:
    """Turn stored micro-units back into a ``Decimal`` with exactly six decimal places."""
    return Decimal(micros).scaleb(-_MICRO_PLACES, context=_EXACT)


class Money(TypeDecorator[Decimal]):
    """A ``Decimal`` amount stored as a BIGINT of micro-units (see ``to_micros``)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        return None if value is None else to_micros(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else from_micros(int(value))

    def process_literal_param(self, value: Decimal | None, dialect: Dialect) -> str:
        return "NULL" if value is None else str(to_micros(value))


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the default for record timestamps)."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored in UTC, returned aware in UTC by every engine."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, not {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give it a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # SQLite keeps no offset; everything was converted to UTC on the way in.
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class StrList(TypeDecorator[list[str]]):
    """A list of strings (source IPs, prefixes, rewrite rules) as a portable JSON array.

    Assign a new list to change it: in-place edits of a loaded list are not tracked.
    """

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> list[str] | None:
        if value is None:
            return None
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise TypeError("expected a list of strings")
        return list(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> list[str] | None:
        return None if value is None else [str(v) for v in value]


class IntList(TypeDecorator[list[int]]):
    """A list of integers (SIP response codes) as a portable JSON array."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: list[int] | None, dialect: Dialect) -> list[int] | None:
        if value is None:
            return None
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise TypeError("expected a list of integers")
        return list(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> list[int] | None:
        return None if value is None else [int(v) for v in value]


def enum_type(enum_class: type[enum.Enum], name: str) -> SAEnum:
    """A portable enum column: VARCHAR of the member *values* plus a named CHECK constraint.

    ``native_enum=False`` because PostgreSQL's ``CREATE TYPE`` enums need their own migrations to
    gain a member; a CHECK constraint is plain DDL on both engines.
    """
    return SAEnum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(16, *(len(str(m.value)) for m in enum_class)),
        values_callable=lambda members: [str(m.value) for m in members],
        validate_strings=True,
    )
