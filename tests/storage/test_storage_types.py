"""Column types: money is exact to the micro-unit or refused; times are aware UTC or refused."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite

from softswitch.storage import create_engine
from softswitch.storage.types import (
    IntList,
    Money,
    StrList,
    UtcDateTime,
    enum_type,
    from_micros,
    to_micros,
)

SQLITE = SQLiteDialect_aiosqlite()
# The PostgreSQL dialect, without connecting (the engine is lazy).
POSTGRES = create_engine("postgresql+asyncpg://u:p@127.0.0.1:1/x").dialect

amounts = st.decimals(
    min_value=Decimal(-(10**12)),
    max_value=Decimal(10**12),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)


@settings(max_examples=200, deadline=None)
@given(amounts)
def test_money_round_trips_to_the_last_micro_unit(amount: Decimal) -> None:
    money = Money()
    for dialect in (SQLITE, POSTGRES):
        stored = money.process_bind_param(amount, dialect)
        assert isinstance(stored, int)
        assert stored == int(amount * 1_000_000)
        back = money.process_result_value(stored, dialect)
        assert back == amount
        assert back is not None and back.as_tuple().exponent == -6


def test_money_examples() -> None:
    assert to_micros(Decimal("0.000001")) == 1
    assert to_micros(Decimal("-1.5")) == -1_500_000
    assert to_micros(7) == 7_000_000
    assert to_micros(Decimal("1.2300000")) == 1_230_000  # trailing zeros lose nothing
    assert from_micros(1) == Decimal("0.000001")
    assert str(from_micros(-1_500_000)) == "-1.500000"


def test_money_bigint_edges() -> None:
    top = Decimal("9223372036854.775807")  # 2**63 - 1 micro-units
    assert to_micros(top) == 2**63 - 1
    assert from_micros(2**63 - 1) == top
    assert to_micros(-top - Decimal("0.000001")) == -(2**63)
    with pytest.raises(OverflowError):
        to_micros(top + Decimal("0.000001"))


@pytest.mark.parametrize("value", [1.5, 0.1, float("nan"), True])
def test_money_refuses_floats_and_bools(value: object) -> None:
    with pytest.raises(TypeError):
        Money().process_bind_param(value, SQLITE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value", ["0.0000001", "1.0000005", "-12.1234567", "1E-7", "NaN", "Infinity"]
)
def test_money_refuses_what_it_cannot_store_exactly(value: str) -> None:
    with pytest.raises(ValueError):
        to_micros(Decimal(value))


def test_money_none_passes_through() -> None:
    assert Money().process_bind_param(None, SQLITE) is None
    assert Money().process_result_value(None, SQLITE) is None


def test_money_literal_is_micro_units() -> None:
    assert Money().process_literal_param(Decimal("2.5"), SQLITE) == "2500000"


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(datetime(2026, 1, 1, 12, 0), SQLITE)


def test_non_datetime_refused() -> None:
    with pytest.raises(TypeError):
        UtcDateTime().process_bind_param("2026-01-01", SQLITE)  # type: ignore[arg-type]


def test_aware_datetime_normalised_to_utc() -> None:
    plus_three = timezone(timedelta(hours=3))
    local = datetime(2026, 1, 1, 15, 30, tzinfo=plus_three)
    stored = UtcDateTime().process_bind_param(local, SQLITE)
    assert stored == datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    assert stored is not None and stored.utcoffset() == timedelta(0)


def test_result_is_aware_utc_on_both_engines() -> None:
    naive_from_sqlite = datetime(2026, 1, 1, 12, 30, 0, 123456)
    back = UtcDateTime().process_result_value(naive_from_sqlite, SQLITE)
    assert back == datetime(2026, 1, 1, 12, 30, 0, 123456, tzinfo=UTC)
    assert back is not None and back.tzinfo is UTC
    aware_from_pg = datetime(2026, 1, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    back = UtcDateTime().process_result_value(aware_from_pg, POSTGRES)
    assert back == datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    assert back is not None and back.tzinfo is UTC


def test_string_and_int_lists_check_their_items() -> None:
    assert StrList().process_bind_param(["10.0.0.0/8", "192.0.2.1"], SQLITE) == [
        "10.0.0.0/8",
        "192.0.2.1",
    ]
    assert IntList().process_bind_param([486, 503], SQLITE) == [486, 503]
    with pytest.raises(TypeError):
        StrList().process_bind_param(["ok", 1], SQLITE)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        IntList().process_bind_param([True], SQLITE)
    with pytest.raises(TypeError):
        StrList().process_bind_param("10.0.0.1", SQLITE)  # type: ignore[arg-type]


def test_enum_type_stores_values_with_a_check_constraint() -> None:
    class Colour(enum.Enum):
        RED = "red"
        DEEP_BLUE = "deep_blue"

    column_type = enum_type(Colour, "colour")
    assert column_type.enums == ["red", "deep_blue"]
    assert column_type.native_enum is False
    assert column_type.create_constraint is True
    assert column_type.length == 16
