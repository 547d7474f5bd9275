"""The rate books snapshot: rows of ``rate_tables``/``rates`` become one ``RateBook`` per table."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from softswitch.billing import BillingRules
from softswitch.snapshot import SnapshotError
from softswitch.snapshot.rates import assemble_rates

D = Decimal
START = datetime(2026, 1, 1, tzinfo=UTC)


def _table(id_: int, mode: str = "answer", zone: str = "UTC") -> Any:
    return SimpleNamespace(
        id=id_, name=f"t{id_}", currency="USD", time_of_day_mode=mode, time_zone=zone
    )


def _rate(id_: int, table: int, prefix: str, price: str, profile: str = "") -> Any:
    return SimpleNamespace(
        id=id_,
        rate_table_id=table,
        prefix=prefix,
        area_name=f"area {prefix}",
        rate_per_minute=D(price),
        initial_increment=60,
        subsequent_increment=60,
        first_price=None,
        connection_fee=D(0),
        min_duration=0,
        free_seconds=0,
        effective_from=START,
        effective_to=None,
        profile=profile,
    )


def test_each_table_gets_its_own_book_searched_by_longest_prefix() -> None:
    snapshot = assemble_rates(
        7,
        [_table(1), _table(2, "split", "Europe/London")],
        [_rate(1, 1, "44", "0.10"), _rate(2, 1, "4420", "0.05"), _rate(3, 2, "44", "0.20")],
    )
    assert snapshot.version == 7 and set(snapshot.books) == {1, 2}
    at = datetime(2026, 6, 1, 12, tzinfo=UTC)
    first = snapshot.book(1)
    assert first is not None
    found = first.rate_for("442071234567", at)
    assert found is not None and found.prefix == "4420" and found.area_name == "area 4420"
    second = snapshot.book(2)
    assert second is not None and second.split
    assert second.fee_for("4412", at, 60, BillingRules()) == D("0.2000")
    assert snapshot.book(None) is None and snapshot.book(99) is None
    assert snapshot.summary() == "2 rate tables, 3 rates"


def test_a_profile_the_database_holds_but_cannot_parse_names_the_row() -> None:
    with pytest.raises(SnapshotError, match=r"rate 5 .*prefix 44.*profile"):
        assemble_rates(1, [_table(1)], [_rate(5, 1, "44", "0.10", profile="someday 25:00")])


def test_a_profile_is_parsed_once_per_text_and_applies_in_the_tables_zone() -> None:
    rows = [
        _rate(1, 1, "44", "0.10"),
        _rate(2, 1, "44", "0.30", profile="mon-fri 08:00-18:00"),
    ]
    snapshot = assemble_rates(1, [_table(1, zone="Europe/London")], rows)
    book = snapshot.book(1)
    assert book is not None
    peak = book.rate_for("4412", datetime(2026, 6, 3, 9, 30, tzinfo=UTC))  # Wed 10:30 London
    night = book.rate_for("4412", datetime(2026, 6, 3, 21, 0, tzinfo=UTC))
    assert peak is not None and peak.rate_per_minute == D("0.30")
    assert night is not None and night.rate_per_minute == D("0.10")
