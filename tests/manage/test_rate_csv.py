"""The rate-table CSV reader and writer (``softswitch.manage.rate_csv``), without a database:
header handling, each column's validation with its line number, duplicates naming both lines,
exact money, UTC times, the issue 5 columns (first_price, min_duration, profile), and the round
trip writer → reader (hypothesis)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.manage.rate_csv import (
    RateRow,
    RowError,
    format_micros,
    header_line,
    parse_money,
    parse_time,
    rate_line,
    read_rates,
)
from softswitch.storage.types import to_micros

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
HEADER = "prefix,area,rate,initial_increment,subsequent_increment,connection_fee,effective_from"


def read(text: str) -> list[RateRow | RowError]:
    return list(read_rates(io.StringIO(text, newline=""), now=NOW))


def rows(text: str) -> list[RateRow]:
    found = read(text)
    assert all(isinstance(item, RateRow) for item in found), found
    return [item for item in found if isinstance(item, RateRow)]


def errors(text: str) -> list[RowError]:
    return [item for item in read(text) if isinstance(item, RowError)]


def test_a_full_row_is_read_with_exact_money_and_utc_time() -> None:
    [row] = rows(f"{HEADER}\n44,United Kingdom,0.0125,60,6,0.05,2026-03-01\n")
    assert row.line == 2
    assert (row.prefix, row.area_name) == ("44", "United Kingdom")
    assert row.rate_micros == 12_500
    assert row.rate_per_minute == Decimal("0.0125")
    assert row.connection_fee == Decimal("0.05")
    assert (row.initial_increment, row.subsequent_increment, row.free_seconds) == (60, 6, 0)
    assert row.effective_from == datetime(2026, 3, 1, tzinfo=UTC)
    assert row.effective_to is None


def test_columns_follow_the_header_in_any_order_and_the_issue_spelling() -> None:
    text = (
        "Effective-From,Connection Fee,Subsequent Increment,Initial increment,Rate,Area,PREFIX,"
        "free_seconds,effective_to\n"
        "2026-03-01T00:00:00+02:00,0,1,1,0.5,Mobile,+3367,5,2026-04-01\n"
    )
    [row] = rows(text)
    assert row.prefix == "3367"  # the leading + of E.164 style is dropped
    assert row.effective_from == datetime(2026, 2, 28, 22, tzinfo=UTC)
    assert row.effective_to == datetime(2026, 4, 1, tzinfo=UTC)
    assert (row.initial_increment, row.subsequent_increment, row.free_seconds) == (1, 1, 5)


def test_optional_columns_take_their_defaults_and_an_empty_start_is_now() -> None:
    [row] = rows("prefix,rate_per_minute,area_name\n1,0.01,\n")
    assert row.area_name == ""
    assert (row.initial_increment, row.subsequent_increment) == (60, 60)
    assert row.connection_fee_micros == 0
    assert row.effective_from == NOW


def test_a_time_without_offset_is_utc() -> None:
    assert parse_time("2026-03-01 08:00") == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert parse_time("2026-03-01T08:00:00Z") == datetime(2026, 3, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        ("prefix,area,price", "unknown column 'price'"),
        ("prefix,area", "missing column(s) rate"),
        ("prefix,rate,rate_per_minute", "column 'rate' appears twice"),
        ("", "empty"),
    ],
)
def test_a_bad_header_is_one_fatal_error_on_line_one(header: str, needle: str) -> None:
    found = read(f"{header}\n1,0.1\n" if header else "")
    assert len(found) == 1
    [error] = found
    assert isinstance(error, RowError) and error.fatal
    assert (error.line, error.field) == (1, "header")
    assert needle in error.message


def test_a_byte_order_mark_and_blank_lines_are_ignored() -> None:
    [row] = rows(f"\ufeff{HEADER}\n\n44,UK,0.1,60,60,0,2026-03-01\n")
    assert row.line == 3


@pytest.mark.parametrize(
    ("cells", "field", "needle"),
    [
        ("44a,UK,0.1,60,60,0,2026-03-01", "prefix", "digits only"),
        (",UK,0.1,60,60,0,2026-03-01", "prefix", "empty"),
        ("4" * 33 + ",UK,0.1,60,60,0,2026-03-01", "prefix", "longer than 32"),
        ("44,UK,,60,60,0,2026-03-01", "rate", "empty"),
        ("44,UK,0.1234567,60,60,0,2026-03-01", "rate", "more than 6 decimal places"),
        ("44,UK,-0.1,60,60,0,2026-03-01", "rate", "not an amount"),
        ("44,UK,1e-3,60,60,0,2026-03-01", "rate", "not an amount"),
        ("44,UK,0.1,0,60,0,2026-03-01", "initial_increment", "outside 1..3600"),
        ("44,UK,0.1,60,6.5,0,2026-03-01", "subsequent_increment", "whole number"),
        ("44,UK,0.1,60,60,abc,2026-03-01", "connection_fee", "not an amount"),
        ("44,UK,0.1,60,60,0,March 1st", "effective_from", "ISO 8601"),
        ("44," + "x" * 129 + ",0.1,60,60,0,2026-03-01", "area", "longer than 128"),
        ("44,U\x00K,0.1,60,60,0,2026-03-01", "area", "control character"),
    ],
)
def test_a_bad_cell_is_reported_with_its_line_and_column(
    cells: str, field: str, needle: str
) -> None:
    found = read(f"{HEADER}\n1,A,0.1,60,60,0,2026-03-01\n{cells}\n2,B,0.2,60,60,0,2026-03-01\n")
    assert [type(item).__name__ for item in found] == ["RateRow", "RowError", "RateRow"]
    error = found[1]
    assert isinstance(error, RowError)
    assert (error.line, error.field) == (3, field)
    assert needle in error.message


def test_effective_to_must_follow_effective_from() -> None:
    text = "prefix,rate,effective_from,effective_to\n1,0.1,2026-03-01,2026-03-01\n"
    [error] = errors(text)
    assert (error.line, error.field) == (2, "effective_to")


def test_a_duplicate_prefix_and_start_names_both_lines() -> None:
    text = (
        f"{HEADER}\n"
        "44,UK,0.1,60,60,0,2026-03-01\n"
        "44,UK,0.1,60,60,0,2026-04-01\n"  # same prefix, other start: fine
        "44,UK,0.2,60,60,0,2026-03-01T00:00:00+00:00\n"  # same instant, other spelling
    )
    found = read(text)
    assert [type(item).__name__ for item in found] == ["RateRow", "RateRow", "RowError"]
    error = found[2]
    assert isinstance(error, RowError)
    assert error.line == 4
    assert "already on line 2" in error.message


def test_line_numbers_count_the_lines_of_a_quoted_multi_line_cell() -> None:
    text = f'{HEADER}\n1,"two\nlines",0.1,60,60,0,2026-03-01\n2,"B, C",x,60,60,0,2026-03-01\n'
    found = read(text)
    assert found[0] == RowError(2, "area", "the area name contains a control character")
    assert isinstance(found[1], RowError) and (found[1].line, found[1].field) == (4, "rate")


@pytest.mark.parametrize(
    ("text", "micros"),
    [("0", 0), ("1", 1_000_000), (".5", 500_000), ("0.000001", 1), ("2.5000000", 2_500_000)],
)
def test_money_is_parsed_exactly(text: str, micros: int) -> None:
    assert parse_money(text) == micros
    assert parse_money(text) == to_micros(Decimal(text))


amounts = st.integers(min_value=0, max_value=10**12)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
areas = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40).map(
    str.strip
)


PROFILES = ("", "mon-fri 08:00-18:00", "mon-fri 18:00-08:00; sat,sun", "sat,sun", "22:00-06:00")


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.from_regex(r"[0-9]{1,32}", fullmatch=True),
    area=areas,
    rate=amounts,
    fee=amounts,
    initial=st.integers(1, 3600),
    subsequent=st.integers(1, 3600),
    free=st.integers(0, 86400),
    start=times,
    length=st.one_of(st.none(), st.integers(1, 10**9)),
    first=st.one_of(st.none(), amounts),
    minimum=st.integers(0, 86400),
    profile=st.sampled_from(PROFILES),
)
def test_a_written_line_reads_back_to_the_same_rate(
    prefix: str,
    area: str,
    rate: int,
    fee: int,
    initial: int,
    subsequent: int,
    free: int,
    start: datetime,
    length: int | None,
    first: int | None,
    minimum: int,
    profile: str,
) -> None:
    end = None if length is None else start + timedelta(seconds=length)
    line = rate_line(
        prefix, area, rate, initial, subsequent, fee, start, end, free, first, minimum, profile
    )
    [row] = rows(header_line() + line)
    assert row[1:] == (
        prefix,
        area,
        rate,
        initial,
        subsequent,
        fee,
        free,
        start,
        end,
        first,
        minimum,
        profile,
    )


def test_format_micros_has_six_places() -> None:
    assert format_micros(12_500) == "0.012500"
    assert format_micros(3_000_000) == "3.000000"


def test_offsets_other_than_utc_are_converted() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert parse_time("2026-03-01T09:00:00+09:00") == datetime(2026, 3, 1, 9, tzinfo=tokyo)
    assert parse_time("2026-03-01T09:00:00+09:00").tzinfo is UTC


def test_an_unquoted_comma_in_the_area_is_refused_but_trailing_empty_cells_are_not() -> None:
    text = (
        f"{HEADER}\n82,Korea, Republic of,0.1,60,60,0,2026-03-01\n1,US,0.1,60,60,0,2026-03-01,,\n"
    )
    found = read(text)
    assert isinstance(found[0], RowError)
    assert (found[0].line, found[0].field) == (2, None)
    assert "quote an area name that contains a comma" in found[0].message
    assert isinstance(found[1], RateRow) and found[1].prefix == "1"


# -- issue 5: first_price, min_duration, profile ------------------------------------------------


def test_the_billing_columns_are_read_with_their_defaults() -> None:
    text = (
        "prefix,rate,first_price,min_duration,profile\n"
        "44,0.1,0.05,30,mon-fri 08:00-18:00\n"
        "44,0.05,,,\n"
        '45,0.1,0,0,"mon-fri 18:00-08:00; sat,sun"\n'
    )
    peak, anytime, offpeak = rows(text)
    assert (peak.first_price_micros, peak.first_price, peak.min_duration, peak.profile) == (
        50_000,
        Decimal("0.05"),
        30,
        "mon-fri 08:00-18:00",
    )
    assert (anytime.first_price, anytime.min_duration, anytime.profile) == (None, 0, "")
    assert offpeak.first_price_micros == 0  # a free first period, not "none"
    assert offpeak.profile == "mon-fri 18:00-08:00; sat,sun"
    # a file without the columns: every rate as before
    [old] = rows(f"{HEADER}\n44,UK,0.1,60,60,0,2026-03-01\n")
    assert (old.first_price_micros, old.min_duration, old.profile) == (None, 0, "")


def test_the_billing_columns_accept_the_spelled_out_names() -> None:
    [row] = rows("Prefix,Rate,First Period Price,Minimum-Duration,PROFILE\n1,0.1,0.2,6,sat\n")
    assert (row.first_price_micros, row.min_duration, row.profile) == (200_000, 6, "sat")


@pytest.mark.parametrize(
    ("cells", "field", "needle"),
    [
        ("1,0.1,-0.05,0,", "first_price", "not an amount"),
        ("1,0.1,0.0000001,0,", "first_price", "more than 6 decimal places"),
        ("1,0.1,,86401,", "min_duration", "outside 0..86400"),
        ("1,0.1,,-1,", "min_duration", "whole number"),
        ("1,0.1,,,mon-fry 08:00-18:00", "profile", "unknown day 'fry'"),
        ("1,0.1,,,mon-fri 08:00-08:00", "profile", "is empty"),
        ("1,0.1,,,sat;" + "x" * 70, "profile", "longer than 64"),
        ("1,0.1,,,sat\x1b", "profile", "control character"),
    ],
)
def test_a_bad_billing_cell_is_reported_with_its_line_and_column(
    cells: str, field: str, needle: str
) -> None:
    found = read(f"prefix,rate,first_price,min_duration,profile\n{cells}\n2,0.2,,,\n")
    assert [type(item).__name__ for item in found] == ["RowError", "RateRow"]
    error = found[0]
    assert isinstance(error, RowError)
    assert (error.line, error.field) == (2, field)
    assert needle in error.message, error.message


def test_one_prefix_and_start_may_have_a_rate_per_profile_but_not_two_for_one() -> None:
    text = (
        "prefix,rate,effective_from,profile\n"
        "44,0.1,2026-03-01,\n"
        "44,0.2,2026-03-01,mon-fri 08:00-18:00\n"
        "44,0.05,2026-03-01,sat;sun\n"
        "44,0.3,2026-03-01T00:00:00Z,  mon-fri 08:00-18:00 \n"  # the same window again
        "44,0.3,2026-03-01,\n"  # and the same profile-less rate again
    )
    found = read(text)
    assert [type(item).__name__ for item in found] == [
        "RateRow",
        "RateRow",
        "RateRow",
        "RowError",
        "RowError",
    ]
    peak_again, anytime_again = found[3], found[4]
    assert isinstance(peak_again, RowError) and isinstance(anytime_again, RowError)
    assert (peak_again.line, peak_again.field) == (5, "effective_from")
    assert "profile 'mon-fri 08:00-18:00' is already on line 3" in peak_again.message
    assert anytime_again.line == 6 and "is already on line 2" in anytime_again.message
    assert "profile" not in anytime_again.message


def test_export_columns_are_the_header_and_a_line_has_one_cell_per_column() -> None:
    assert header_line() == (
        "prefix,area,rate,initial_increment,subsequent_increment,connection_fee,"
        "effective_from,effective_to,free_seconds,first_price,min_duration,profile\r\n"
    )
    start = datetime(2026, 3, 1, tzinfo=UTC)
    line = rate_line("44", "UK", 100, 60, 60, 0, start, None, 0, None, 0, "mon,wed 08:00-18:00")
    assert line == (
        '44,UK,0.000100,60,60,0.000000,2026-03-01T00:00:00Z,,0,,0,"mon,wed 08:00-18:00"\r\n'
    )
