"""Properties of rating over generated rates, rules and hold times (hypothesis).

The worked examples in test_rating.py pin single values; these pin the rules for every input:
a fee is never negative, never decreases as the call gets longer, is the one rounding of its
exact amount, charged time respects the billing periods, and ``affordable_seconds`` is the
largest affordable time. FreeSWITCH's mod_nibblebill documents the same "one rounding at the
end" rule: nibble_rounding is the number of decimal places "to which the total billed amount
will be rounded at the end of the call" (developer.signalwire.com, mod_nibblebill).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.billing import (
    BillingRules,
    Rate,
    RateBook,
    billable_seconds,
    charged_seconds,
    parse_profile,
    price,
    round_fee,
)

MONEY = st.integers(min_value=0, max_value=5_000_000).map(lambda n: Decimal(n).scaleb(-6))
UNITS = st.sampled_from([Decimal(0), Decimal("0.01"), Decimal("0.05"), Decimal("0.1"), Decimal(1)])
START = datetime(2024, 1, 1, tzinfo=UTC)


@st.composite
def rates(draw: st.DrawFn, prefix: str = "44") -> Rate:
    return Rate(
        prefix,
        draw(MONEY),
        first_period=draw(st.integers(1, 120)),
        next_period=draw(st.integers(1, 120)),
        first_price=draw(st.none() | MONEY),
        connection_fee=draw(st.sampled_from([Decimal(0), Decimal("0.01"), Decimal("0.2")])),
        min_duration=draw(st.integers(0, 120)),
        free_seconds=draw(st.integers(0, 30)),
    )


RULES = st.builds(
    BillingRules,
    hold_precision_ms=st.integers(0, 1000),
    free_time_s=st.integers(0, 30),
    fee_precision=st.integers(0, 7),
    fee_unit=UNITS,
)
HOLDS = st.integers(0, 4 * 3_600_000)
PEAK = parse_profile("mon-fri 08:00-18:00")
AT = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2025, 12, 31), timezones=st.just(UTC)
)


@st.composite
def books(draw: st.DrawFn) -> RateBook:
    """A book for ``44…``: one rate, or a split-mode pair of off-peak/peak rates."""
    base = draw(rates())
    if not draw(st.booleans()):
        return RateBook([base])
    peak = Rate(
        "44",
        draw(MONEY),
        first_period=base.first_period,
        next_period=base.next_period,
        connection_fee=base.connection_fee,
        profile=PEAK,
        effective_from=START,
    )
    return RateBook([base, peak], split=True, zone="Europe/London")


@settings(max_examples=300, deadline=None)
@given(rate=rates(), rules=RULES, hold=HOLDS)
def test_fee_is_one_rounding_of_the_exact_amount(
    rate: Rate, rules: BillingRules, hold: int
) -> None:
    result = RateBook([rate]).charge("4420", START, hold, rules)
    assert result is not None
    # the book's inlined fast path computes what the public functions compute
    assert result.billable_seconds == billable_seconds(hold, rules.hold_precision_ms)
    assert result.charged_seconds == charged_seconds(
        result.billable_seconds, rate, rules.free_time_s
    )
    assert result.unrounded == price(rate, result.charged_seconds)
    assert result.fee == round_fee(result.unrounded, rules.fee_precision, rules.fee_unit)
    assert result.fee >= result.unrounded >= 0
    step = Decimal(1).scaleb(-min(rules.fee_precision, 6)) + rules.fee_unit
    assert result.fee - result.unrounded < step
    if result.unrounded > 0:
        assert result.fee > 0  # a positive amount is never billed as 0


@settings(max_examples=300, deadline=None)
@given(rate=rates(), rules=RULES, hold=HOLDS)
def test_charged_seconds_respect_the_periods(rate: Rate, rules: BillingRules, hold: int) -> None:
    result = RateBook([rate]).charge("44", START, hold, rules)
    assert result is not None
    charged = result.charged_seconds
    left = result.billable_seconds - rules.free_time_s - rate.free_seconds
    if left <= 0:
        assert charged == 0
        assert result.fee == 0  # nothing billable: not even the connection fee
        return
    assert charged >= max(left, rate.min_duration, rate.first_period)
    assert (charged - rate.first_period) % rate.next_period == 0
    # ... and not a whole period more than needed
    assert charged - max(left, rate.min_duration, rate.first_period) < rate.next_period


@settings(max_examples=200, deadline=None)
@given(book=books(), rules=RULES, at=AT, holds=st.tuples(HOLDS, HOLDS))
def test_fee_never_decreases_with_hold_time(
    book: RateBook, rules: BillingRules, at: datetime, holds: tuple[int, int]
) -> None:
    shorter, longer = sorted(holds)
    first = book.charge("4420", at, shorter, rules)
    second = book.charge("4420", at, longer, rules)
    assert first is not None and second is not None
    assert 0 <= first.fee <= second.fee
    assert first.charged_seconds <= second.charged_seconds


@settings(max_examples=200, deadline=None)
@given(book=books(), rules=RULES, at=AT, hold=HOLDS)
def test_parts_cover_the_charged_time(
    book: RateBook, rules: BillingRules, at: datetime, hold: int
) -> None:
    result = book.charge("44", at, hold, rules)
    assert result is not None and result.rate is not None
    assert sum(seconds for _, seconds in result.parts) == result.charged_seconds
    assert result.parts[0][0] is result.rate
    if result.charged_seconds:
        assert result.parts[0][1] >= min(result.charged_seconds, result.rate.first_period)
    # Segments alternate: two neighbours never carry the same rate (they would be one).
    assert all(a is not b for (a, _), (b, _) in zip(result.parts, result.parts[1:], strict=False))


@settings(max_examples=150, deadline=None)
@given(book=books(), rules=RULES, at=AT, available=MONEY)
def test_affordable_seconds_is_maximal(
    book: RateBook, rules: BillingRules, at: datetime, available: Decimal
) -> None:
    limit = 4 * 3600
    seconds = book.affordable_seconds("44", at, available, rules, limit=limit)
    assert 0 <= seconds <= limit
    fee = book.fee_for("44", at, seconds, rules)
    assert fee is not None and fee <= available
    if seconds < limit:
        above = book.fee_for("44", at, seconds + 1, rules)
        assert above is not None and above > available


@settings(max_examples=300, deadline=None)
@given(rate=rates(), free_time=st.integers(0, 30), billable=st.integers(0, 100_000))
def test_charged_seconds_is_monotonic(rate: Rate, free_time: int, billable: int) -> None:
    assert charged_seconds(billable, rate, free_time) <= charged_seconds(
        billable + 1, rate, free_time
    )


@settings(max_examples=100, deadline=None)
@given(rate=rates(), hold=HOLDS, at=AT, minutes=st.integers(0, 10_000))
def test_answer_mode_uses_only_the_answer_time(
    rate: Rate, hold: int, at: datetime, minutes: int
) -> None:
    """A book with one profile-less, open-ended rate prices a call the same at any time."""
    book = RateBook([rate])
    rules = BillingRules()
    assert book.charge("44", at, hold, rules) == book.charge(
        "44", at + timedelta(minutes=minutes), hold, rules
    )
