"""Rating (``softswitch.billing.rating``): worked examples, table-driven, in exact Decimal.

Vectors come from public documentation and tests of other rating engines and carriers; each
says where it comes from and what the source states. The test code is ours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from softswitch.billing import (
    BillingRules,
    Charge,
    Rate,
    RateBook,
    billable_seconds,
    charged_seconds,
    parse_e164_list,
    parse_profile,
    price,
    round_fee,
)

AT = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)  # a Monday
NO_RULES = BillingRules()


def rate(
    per_minute: str,
    first: int = 60,
    step: int = 60,
    *,
    prefix: str = "44",
    first_price: str | None = None,
    connection_fee: str = "0",
    min_duration: int = 0,
    free_seconds: int = 0,
) -> Rate:
    return Rate(
        prefix,
        D(per_minute),
        first_period=first,
        next_period=step,
        first_price=None if first_price is None else D(first_price),
        connection_fee=D(connection_fee),
        min_duration=min_duration,
        free_seconds=free_seconds,
    )


# --- billable seconds (SERVER_BILLING_HOLD_TIME_PRECISION) ---------------------------------


@pytest.mark.parametrize(
    ("hold_ms", "precision_ms", "expected"),
    [
        # parameters.tsv, SERVER_BILLING_HOLD_TIME_PRECISION: "the part over a whole second is
        # rounded up to a full second when it is at least this many ms (0 = always up,
        # 1000 = always down)"; the VOS3000 upgrade guide recommends 50.
        (0, 0, 0),
        (0, 1000, 0),
        (60_000, 0, 60),
        (60_000, 50, 60),
        (60_000, 1000, 60),
        (60_001, 0, 61),  # precision 0: any fraction counts
        (60_049, 50, 60),  # 49 ms < 50 ms: dropped
        (60_050, 50, 61),  # 50 ms >= 50 ms: a full second
        (60_999, 1000, 60),  # precision 1000: always down
        (999, 0, 1),
        (999, 50, 1),
        (999, 1000, 0),
        (49, 50, 0),
        (500, 500, 1),  # 500: "half up"
        (499, 500, 0),
    ],
)
def test_billable_seconds(hold_ms: int, precision_ms: int, expected: int) -> None:
    assert billable_seconds(hold_ms, precision_ms) == expected


def test_billable_seconds_refuses_negative_input() -> None:
    with pytest.raises(ValueError, match="hold time"):
        billable_seconds(-1, 1000)


# --- charged seconds: billing periods -------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "step", "billable", "expected"),
    [
        (30, 20, 35, 50),  # issue 5 §1: 30/20 bills 35 s as 50 s (30 + one 20 s block)
        (60, 6, 61, 66),  # issue 5 §1: 60/6 bills 61 s as 66 s
        (60, 60, 1, 60),  # issue 5 §1: 60/60 bills 1 s as 60 s
        # https://www.itwissen.info/en/billing-increment-122850.html: "60/10 means that the first
        # 60 seconds are billed in full ... For a call duration of 83 seconds ... 30 seconds are
        # billed for the remaining 23 seconds"; "60/60 ... 83 seconds, two minutes"; "60/1 ...
        # the second minute of the call is billed to the second".
        (60, 10, 83, 90),
        (60, 60, 83, 120),
        (60, 1, 83, 83),
        # https://support.commpeak.com/hc/en-us/articles/6851497690397: a 10 s call to the US
        # (6 s minimum, 6 s increments) "will be charged for 12 seconds"; to Mexico (60/60)
        # "for 1 whole minute".
        (6, 6, 10, 12),
        (60, 60, 10, 60),
        # cgrates/cgrates docs/csv_tprates.rst, RateIncrement: "for RateIncrement of 60s, total
        # duration of 1m2s will be charged as 2 minutes".
        (60, 60, 62, 120),
        # magnussolution/magnusbilling wiki EN--price_calculation: initial block 30, increment
        # 6, 45 s "... add up 3 to the rest, the result is 48".
        (30, 6, 45, 48),
        (30, 6, 20, 30),  # same page: shorter than the initial block -> the initial block
        # kamailio/kamailio src/modules/cnxcc/doc/cnxcc_admin.xml: initial pulse 60 "even if the
        # duration is 5 seconds, 1 minute will be charged"; "1/1 will make a charge per
        # seconds for the entire call".
        (60, 1, 5, 60),
        (1, 1, 5, 5),
        # support.vodafone.co.uk (Why have you charged for more minutes...): under 60 s "we'll
        # round it up to a minute", over 60 s "we'll charge for the whole call by the second".
        (60, 1, 45, 60),
        (60, 1, 75, 75),
        # http://www.savemoreonphoneservice.com/6secondbilling.htm: 30 s minimum, then 6 s
        # intervals: "1 minute and 2 seconds, the call would be rounded up to ... 66 seconds".
        (30, 6, 62, 66),
        (30, 6, 30, 30),
        (30, 6, 31, 36),
        (1, 1, 0, 0),  # no billable time, nothing charged
        (60, 60, 0, 0),
    ],
)
def test_charged_seconds_periods(first: int, step: int, billable: int, expected: int) -> None:
    assert charged_seconds(billable, rate("0.1", first, step), 0) == expected


@pytest.mark.parametrize(
    ("billable", "free_time", "free_seconds", "min_duration", "first", "step", "expected"),
    [
        # SERVER_BILLING_FREE_TIME (parameters.tsv: "seconds deducted from every answered
        # call's billable time") and the rate's own free seconds both come off first.
        (70, 5, 0, 0, 60, 60, 120),  # 65 s left: the first 60 s block and one more
        (70, 5, 5, 0, 60, 60, 60),  # 60 s left -> exactly the first period
        (10, 10, 0, 0, 60, 60, 0),  # nothing left: nothing charged
        (10, 4, 6, 0, 1, 1, 0),
        (10, 20, 0, 0, 1, 1, 0),  # more free time than the call: never negative
        (11, 4, 6, 0, 1, 1, 1),
        # Minimum duration: an answered call with billable time is charged at least that long
        # (before periods are applied), but only when something is left after free time.
        (10, 0, 0, 30, 1, 1, 30),
        (45, 0, 0, 30, 1, 1, 45),
        (70, 0, 0, 90, 60, 6, 90),  # 90 -> 60 + 5 * 6
        (70, 0, 0, 91, 60, 6, 96),  # 91 -> 60 + 6 * 6: periods still apply after the minimum
        (5, 5, 0, 30, 1, 1, 0),  # free time ate everything: the minimum does not resurrect it
    ],
)
def test_charged_seconds_free_time_and_minimum(
    billable: int,
    free_time: int,
    free_seconds: int,
    min_duration: int,
    first: int,
    step: int,
    expected: int,
) -> None:
    the_rate = rate("0.1", first, step, free_seconds=free_seconds, min_duration=min_duration)
    assert charged_seconds(billable, the_rate, free_time) == expected


# --- price and the one rounding -------------------------------------------------------------


@pytest.mark.parametrize(
    ("the_rate", "charged", "unrounded"),
    [
        # issue 5 §1: 0.1/min for 180 s is exactly 0.3 (a per-second 0.001666… summed 180 times
        # would drift).
        (rate("0.1", 1, 1), 180, D("0.3")),
        (rate("0.1"), 180, D("0.3")),
        # magnusbilling wiki EN--price_calculation: 0.05/min, 48 s charged -> (0.05/60)*48 = 0.04
        (rate("0.05", 30, 6), 48, D("0.04")),
        # savemoreonphoneservice.com 6secondbilling: 4.9 c/min, 30 s minimum -> 2.45 c; 66 s ->
        # 5.39 c (here in dollars).
        (rate("0.049", 30, 6), 30, D("0.0245")),
        (rate("0.049", 30, 6), 66, D("0.0539")),
        # cgrates/cgrates docs/readthedocs/tariffPlanManagement.rst (GetCost, DST_1002): first 60 s
        # at 0.2/min in one 60 s increment, then 0.1/min in 30 s increments, ConnectFee 0.4; usage
        # 1m25s is rated as 90 s, Cost 0.25 (0.2 + 0.05), and the call costs ConnectFee + Cost.
        (rate("0.1", 60, 30, first_price="0.2", connection_fee="0.4"), 90, D("0.65")),
        # https://github.com/connexo/docs/wiki/LCR, "Cost example": first unit 15 s at
        # 0.015/min, next units 15 s at 0.017/min; 45 s = 0.00375 + 2 * 0.00425 = 0.01225.
        (rate("0.017", 15, 15, first_price="0.00375"), 45, D("0.01225")),
        # First price is flat for the WHOLE first period, however long it is.
        (rate("0.5", 60, 6, first_price="0.01"), 60, D("0.01")),
        (rate("0.5", 60, 6, first_price="0.01"), 66, D("0.06")),  # 0.01 + 6 s at 0.5/min
        (rate("0", 60, 60, first_price="0.25"), 120, D("0.25")),
        (rate("0.1", connection_fee="0.5"), 0, D(0)),  # nothing charged: not even the fee
        (rate("0.1", connection_fee="0.5"), 60, D("0.6")),
    ],
)
def test_price_is_exact(the_rate: Rate, charged: int, unrounded: D) -> None:
    assert price(the_rate, charged) == unrounded


@pytest.mark.parametrize(
    ("amount", "precision", "unit", "fee"),
    [
        (D("0.3"), 4, D(0), D("0.3000")),
        (D(0), 4, D(0), D("0.0000")),
        (D(0), 2, D("0.05"), D("0.00")),  # 0 stays 0, whatever the unit
        # VOS3000 2.1.9.07 guide (shared/reference/vos3000-guide.txt, "Improved Billing
        # Precision"): "At 2 decimal places, a rate of $0.0049 gets stored as $0.00, resulting in
        # zero billing." Rounding up never bills a positive amount as 0.
        (D("0.0049"), 4, D(0), D("0.0049")),
        (D("0.0049"), 2, D(0), D("0.01")),
        (D("0.0049") / 60, 4, D(0), D("0.0001")),  # one second of 0.0049/min
        (D("0.00000001"), 0, D(0), D("1")),
        # savemoreonphoneservice.com: "Each call charge will be in FULL cents ... rounded up to
        # the next Full Cent": 5.39 c -> 6 c, 2.45 c -> 3 c.
        (D("0.0539"), 2, D(0), D("0.06")),
        (D("0.0245"), 2, D(0), D("0.03")),
        # Oracle Utilities CC&B "Rounding At The End": "rounds the bill up to the next highest
        # 0.05 (... a country that doesn't have cents, their smallest coin is 0.05)".
        (D("1.23"), 2, D("0.05"), D("1.25")),
        (D("1.25"), 2, D("0.05"), D("1.25")),
        (D("1.2501"), 4, D("0.05"), D("1.3000")),
        # https://tfl.gov.uk/corporate/terms-and-conditions/tfl-call-charges: "Call charges are
        # rounded up to the nearest 10p": 0.697 -> 0.70, 0.466 -> 0.50.
        (D("0.697"), 2, D("0.10"), D("0.70")),
        (D("0.466"), 2, D("0.10"), D("0.50")),
        (D("0.2"), 4, D("1"), D("1.0000")),  # unit 1: whole money units
        # SERVER_BILLING_FEE_PRECISION accepts 7 but storage keeps 6 places: 7 acts as 6.
        (D("0.0000001"), 7, D(0), D("0.000001")),
        (D("0.0000001"), 6, D(0), D("0.000001")),
        (D("1.1234567"), 7, D(0), D("1.123457")),
        (D("2.5"), 0, D(0), D("3")),
    ],
)
def test_round_fee(amount: D, precision: int, unit: D, fee: D) -> None:
    rounded = round_fee(amount, precision, unit)
    assert rounded == fee
    assert rounded.as_tuple().exponent == fee.as_tuple().exponent  # quantized to the precision


def test_round_fee_refuses_negative_amounts_and_precision() -> None:
    with pytest.raises(ValueError, match="never negative"):
        round_fee(D("-0.01"), 4, D(0))
    with pytest.raises(ValueError, match="precision"):
        round_fee(D("0.01"), -1, D(0))


# --- whole calls through a RateBook ---------------------------------------------------------


@pytest.mark.parametrize(
    ("the_rate", "hold_ms", "rules", "charged", "fee"),
    [
        # issue 5 §1: 0.1/min for 180 s is 0.3 exactly, whatever the periods.
        (rate("0.1", 1, 1), 180_000, NO_RULES, 180, D("0.3000")),
        (rate("0.1", 60, 6), 180_000, NO_RULES, 180, D("0.3000")),
        # 0.0049/min never bills 0: one second at precision 4 and 2.
        (rate("0.0049", 1, 1), 1_000, BillingRules(fee_precision=4), 1, D("0.0001")),
        (rate("0.0049", 1, 1), 1_000, BillingRules(fee_precision=2), 1, D("0.01")),
        (rate("0.0049"), 60_000, BillingRules(fee_precision=4), 60, D("0.0049")),
        # 0 billable seconds cost nothing, connection fee included (hold 400 ms, always down).
        (rate("0.1", connection_fee="0.5"), 400, NO_RULES, 0, D("0.0000")),
        (rate("0.1", connection_fee="0.5"), 0, NO_RULES, 0, D("0.0000")),
        # Hold-time precision 50 turns 400 ms into a second: the call is charged (60/60 + fee).
        (
            rate("0.1", connection_fee="0.5"),
            400,
            BillingRules(hold_precision_ms=0),
            60,
            D("0.6000"),
        ),
        # SERVER_BILLING_FREE_TIME and free seconds of the rate, then periods.
        (rate("0.6", 1, 1, free_seconds=5), 20_000, BillingRules(free_time_s=5), 10, D("0.1000")),
        (rate("0.6", 1, 1, connection_fee="1"), 20_000, BillingRules(free_time_s=20), 0, D(0)),
        # Minimum duration 30 s on a per-second rate: a 10 s call is charged 30 s.
        (rate("0.6", 1, 1, min_duration=30), 10_000, NO_RULES, 30, D("0.3000")),
        # TfL payphone charges (see test_round_fee): 0.66p/min, 40p connection charge, rounded up
        # to 10p; a 45 min call, billed per second here, is 0.40 + 0.297 = 0.697 -> 0.70. (The
        # 60p minimum charge is a money minimum, which this engine does not model.)
        (
            rate("0.0066", 1, 1, connection_fee="0.40"),
            2_700_000,
            BillingRules(fee_precision=2, fee_unit=D("0.10")),
            2700,
            D("0.70"),
        ),
        # cgrates tariffPlanManagement.rst GetCost example: 1m25s -> 90 s, 0.25 + ConnectFee 0.4.
        (
            rate("0.1", 60, 30, first_price="0.2", connection_fee="0.4"),
            85_000,
            NO_RULES,
            90,
            D("0.6500"),
        ),
        # savemoreonphoneservice.com: 4.9 c/min, 30/6, 62 s -> 66 s -> 5.39 c -> 6 c.
        (rate("0.049", 30, 6), 62_000, BillingRules(fee_precision=2), 66, D("0.06")),
    ],
)
def test_charge_worked_examples(
    the_rate: Rate, hold_ms: int, rules: BillingRules, charged: int, fee: D
) -> None:
    book = RateBook([the_rate])
    result = book.charge("4420794600", AT, hold_ms, rules)
    assert result is not None
    assert result.rate == the_rate
    assert result.charged_seconds == charged
    assert result.fee == fee
    assert result.unrounded == price(the_rate, charged)
    assert result.parts == ((the_rate, charged),)
    assert book.fee_for("4420794600", AT, result.billable_seconds, rules) == fee


def test_charge_is_none_without_a_rate() -> None:
    book = RateBook([rate("0.1", prefix="44")])
    assert book.charge("33123456", AT, 60_000, NO_RULES) is None
    assert book.fee_for("33123456", AT, 60, NO_RULES) is None
    assert book.affordable_seconds("33123456", AT, D(100), NO_RULES) == 0


def test_free_callee_costs_nothing_and_needs_no_rate() -> None:
    # parameters.tsv SERVER_BILLING_FREE_E164S: "callee numbers or prefixes that are never
    # charged and have no time limit (toll-free)".
    rules = BillingRules(free_prefixes=parse_e164_list("800, +1800"))
    book = RateBook([rate("0.1", prefix="1")])
    for callee in ("8001234567", "18005551234", "+18005551234"):
        result = book.charge(callee, AT, 600_000, rules)
        assert result == Charge(None, 600, 0, D(0), D("0.0000"), ())
        assert book.fee_for(callee, AT, 600, rules) == 0
        assert book.affordable_seconds(callee, AT, D(0), rules, limit=7200) == 7200
    charged = book.charge("12125550100", AT, 60_000, rules)  # not free: rated normally
    assert charged is not None and charged.fee == D("0.1000")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("800", ("800",)),
        ("800,900", ("800", "900")),
        ("+800; 0800  1800,,", ("800", "0800", "1800")),
        ("800\n900\t911", ("800", "900", "911")),
        ("800, +800", ("800",)),  # the same prefix once
        ("", ()),
        (" , ; + ", ()),
    ],
)
def test_parse_e164_list(text: str, expected: tuple[str, ...]) -> None:
    assert parse_e164_list(text) == expected


def test_max_seconds_caps_billable_time() -> None:
    """A prepaid call is never billed past what it reserved."""
    book = RateBook([rate("0.6", 1, 1)])
    capped = book.charge("44", AT, 125_000, NO_RULES, max_seconds=90)
    assert capped is not None
    assert (capped.billable_seconds, capped.charged_seconds, capped.fee) == (90, 90, D("0.9"))
    uncapped = book.charge("44", AT, 80_000, NO_RULES, max_seconds=90)
    assert uncapped is not None and uncapped.billable_seconds == 80
    nothing = book.charge("44", AT, 80_000, NO_RULES, max_seconds=0)
    assert nothing is not None and nothing.fee == 0


# --- rate selection: longest prefix, validity windows, profiles ----------------------------

JUNE = datetime(2024, 6, 1, tzinfo=UTC)
MARCH = datetime(2024, 3, 1, tzinfo=UTC)


def test_longest_prefix_wins() -> None:
    uk, london = rate("0.1", prefix="44"), rate("0.05", prefix="4420")
    book = RateBook([uk, london])
    assert book.rate_for("442079460000", AT) is london
    assert book.rate_for("441619460000", AT) is uk
    assert book.rate_for("33", AT) is None
    assert len(book) == 2


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (JUNE - timedelta(seconds=1), "old"),  # effective_to is exclusive ...
        (JUNE, "new"),  # ... and effective_from inclusive
        (JUNE + timedelta(days=400), "new"),
    ],
)
def test_effective_window_selects_the_version(at: datetime, expected: str) -> None:
    old = Rate("44", D("0.10"), area_name="old", effective_to=JUNE)
    new = Rate("44", D("0.08"), area_name="new", effective_from=JUNE)
    found = RateBook([old, new]).rate_for("4420", at)
    assert found is not None and found.area_name == expected


def test_latest_effective_from_wins_among_open_versions() -> None:
    january = Rate(
        "44", D("0.10"), area_name="jan", effective_from=datetime(2024, 1, 1, tzinfo=UTC)
    )
    march = Rate("44", D("0.09"), area_name="mar", effective_from=MARCH)
    for order in ([january, march], [march, january]):
        book = RateBook(order)
        found = book.rate_for("44", datetime(2024, 4, 1, tzinfo=UTC))
        assert found is not None and found.area_name == "mar"
        found = book.rate_for("44", datetime(2024, 2, 1, tzinfo=UTC))
        assert found is not None and found.area_name == "jan"


def test_shorter_prefix_is_used_when_the_longer_one_has_no_rate_in_force() -> None:
    uk = rate("0.1", prefix="44")
    future_london = Rate("4420", D("0.05"), effective_from=datetime(2030, 1, 1, tzinfo=UTC))
    expired_london = Rate("4420", D("0.07"), effective_to=datetime(2020, 1, 1, tzinfo=UTC))
    book = RateBook([uk, future_london, expired_london])
    assert book.rate_for("442079460000", AT) is uk
    assert book.rate_for("442079460000", datetime(2031, 1, 1, tzinfo=UTC)) is future_london
    assert book.rate_for("442079460000", datetime(2019, 1, 1, tzinfo=UTC)) is expired_london
    only_future = RateBook([future_london])
    assert only_future.rate_for("4420", AT) is None
    assert only_future.charge("4420", AT, 60_000, NO_RULES) is None


PEAK = parse_profile("mon-fri 08:00-18:00")


def test_a_matching_profile_beats_the_profile_less_rate() -> None:
    base = Rate("44", D("0.02"), area_name="off-peak")
    peak = Rate("44", D("0.05"), area_name="peak", profile=PEAK)
    # The profile-less rate is newer, yet the matching profiled rate still wins at peak time.
    newer_base = Rate("44", D("0.03"), area_name="off-peak 2", effective_from=MARCH)
    book = RateBook([base, peak, newer_base])
    monday_noon = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    saturday_noon = datetime(2024, 7, 6, 12, 0, tzinfo=UTC)
    monday_night = datetime(2024, 7, 1, 20, 0, tzinfo=UTC)
    assert book.rate_for("44", monday_noon) is peak
    assert book.rate_for("44", saturday_noon) is newer_base
    assert book.rate_for("44", monday_night) is newer_base
    assert book.rate_for("44", datetime(2024, 1, 6, tzinfo=UTC)) is base  # before March


def test_a_prefix_whose_only_rate_is_out_of_its_window_falls_back() -> None:
    uk = Rate("44", D("0.02"))
    london_peak = Rate("4420", D("0.05"), profile=PEAK)
    book = RateBook([uk, london_peak])
    assert book.rate_for("442079460000", datetime(2024, 7, 1, 12, tzinfo=UTC)) is london_peak
    assert book.rate_for("442079460000", datetime(2024, 7, 1, 20, tzinfo=UTC)) is uk
    assert RateBook([london_peak]).rate_for("4420", datetime(2024, 7, 6, tzinfo=UTC)) is None


def test_profiles_are_read_in_the_books_zone() -> None:
    # 17:30 UTC on a Monday in July is 18:30 in London (BST): peak in UTC, off-peak in London.
    base = Rate("44", D("0.02"))
    peak = Rate("44", D("0.05"), profile=PEAK)
    at = datetime(2024, 7, 1, 17, 30, tzinfo=UTC)
    assert RateBook([base, peak]).rate_for("44", at) is peak
    assert RateBook([base, peak], zone="Europe/London").rate_for("44", at) is base
    with pytest.raises(ValueError, match="time zone"):
        RateBook([base], zone="Mars/Olympus")


def test_slow_path_refuses_naive_times() -> None:
    book = RateBook([Rate("44", D("0.05"), profile=PEAK)])
    with pytest.raises(ValueError, match="timezone-aware"):
        book.rate_for("44", datetime(2024, 7, 1, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        RateBook([rate("0.1")]).charge("44", datetime(2024, 7, 1, 12, 0), 1000, NO_RULES)


# --- time-of-day modes ---------------------------------------------------------------------


def london_books() -> tuple[RateBook, RateBook, Rate, Rate]:
    off_peak = Rate("44", D("0.02"))
    peak = Rate("44", D("0.05"), connection_fee=D("0.10"), profile=PEAK)
    answer = RateBook([off_peak, peak], zone="Europe/London")
    split = RateBook([off_peak, peak], split=True, zone="Europe/London")
    return answer, split, off_peak, peak


def test_answer_mode_prices_the_whole_call_at_the_answer_time_rate() -> None:
    # Hand-computed: answered Monday 2024-07-01 17:58:30 BST (16:58:30 UTC), 5 minutes, 60/60:
    # peak for all 300 s = 0.10 connection + 300 * 0.05 / 60 = 0.35.
    answer, _, _, peak = london_books()
    result = answer.charge("4420", datetime(2024, 7, 1, 16, 58, 30, tzinfo=UTC), 300_000, NO_RULES)
    assert result is not None
    assert result.parts == ((peak, 300),)
    assert result.fee == D("0.3500")


def test_split_mode_cuts_the_call_at_18_00_london() -> None:
    # Same call in split mode (hand-computed, cf. cgrates/cgrates docs/ratinglogic.rst: "The
    # final cost for the call will be the sum of the prices of these time spans plus the
    # ConnectionFee from the first time span"):
    #   first period 60 s from the answer-time (peak) rate: 60 * 0.05 / 60      = 0.05
    #   17:59:30-18:00:00 BST, 30 s still peak:             30 * 0.05 / 60      = 0.025
    #   18:00:00-18:03:30 BST, 210 s off-peak:              210 * 0.02 / 60     = 0.07
    #   connection fee of the answer-time rate                                  = 0.10
    #                                                                    total  = 0.245
    _, split, off_peak, peak = london_books()
    result = split.charge("4420", datetime(2024, 7, 1, 16, 58, 30, tzinfo=UTC), 300_000, NO_RULES)
    assert result is not None
    assert result.rate is peak
    assert result.parts == ((peak, 90), (off_peak, 210))
    assert result.unrounded == D("0.245")
    assert result.fee == D("0.2450")
    # In UTC the same instants never reach 18:00: one part, like answer mode.
    utc_book = RateBook([off_peak, peak], split=True)
    same = utc_book.charge("4420", datetime(2024, 7, 1, 16, 58, 30, tzinfo=UTC), 300_000, NO_RULES)
    assert same is not None and same.parts == ((peak, 300),) and same.fee == D("0.3500")


def test_split_mode_first_period_keeps_the_answer_time_rate() -> None:
    # Answered 17:59:50 BST with a 60/60 rate: the boundary falls inside the first period, which
    # is priced wholly at the answer-time (peak) rate; the rest is off-peak.
    _, split, off_peak, peak = london_books()
    result = split.charge("44", datetime(2024, 7, 1, 16, 59, 50, tzinfo=UTC), 120_000, NO_RULES)
    assert result is not None
    assert result.parts == ((peak, 60), (off_peak, 60))
    assert result.unrounded == D("0.10") + D("0.05") + D("0.02")


def test_split_mode_follows_effective_dates() -> None:
    # cgrates/cgrates rates/librates_test.go TestOrderRatesOnIntervals: a call starting
    # 2020-12-23 23:59:05 UTC with a rate active on Dec 24 only switches to it after 55 s, and
    # (25 h usage) back to the always rate after 86455 s.
    always = Rate("1002", D("0.6"), first_period=1, next_period=1)
    christmas = Rate(
        "1002",
        D("0.3"),
        first_period=1,
        next_period=1,
        effective_from=datetime(2020, 12, 24, tzinfo=UTC),
        effective_to=datetime(2020, 12, 25, tzinfo=UTC),
    )
    book = RateBook([always, christmas], split=True)
    start = datetime(2020, 12, 23, 23, 59, 5, tzinfo=UTC)
    short = book.charge("1002", start, 120_000, NO_RULES)
    assert short is not None
    assert short.parts == ((always, 55), (christmas, 65))
    assert short.unrounded == D("0.55") + D("0.325")
    long = book.charge("1002", start, 25 * 3600 * 1000, NO_RULES)
    assert long is not None
    assert long.parts == ((always, 55), (christmas, 86400), (always, 3545))
    assert long.unrounded == (55 + 3545) * D("0.01") + 86400 * D("0.005")


def test_split_mode_across_daily_windows() -> None:
    # cgrates/cgrates rates/librates_test.go TestOrderRatesOnIntervalsNewYear (without its
    # 22:00-22:30 override): a "* 20-23 * * *" rate and an always rate; from 2020-12-30 23:00
    # UTC for 26 h the evening rate applies for 1 h, the always rate from 1 h, the evening one
    # from 21 h and the always one from 25 h.
    always = Rate("1", D("0.06"), first_period=1, next_period=1)
    evening = Rate(
        "1", D("0.12"), first_period=1, next_period=1, profile=parse_profile("20:00-24:00")
    )
    book = RateBook([always, evening], split=True)
    result = book.charge("1", datetime(2020, 12, 30, 23, tzinfo=UTC), 26 * 3_600_000, NO_RULES)
    assert result is not None
    assert result.parts == ((evening, 3600), (always, 72000), (evening, 14400), (always, 3600))


def test_split_mode_spring_forward_in_london() -> None:
    # 2024-03-31 01:00 UTC: London jumps from 01:00 GMT to 02:00 BST. A profile starting at
    # 02:00 wall time starts *at the jump*, 60 s into a call answered at 00:59 UTC.
    off = Rate("44", D("0.06"), first_period=1, next_period=1)
    night = Rate(
        "44", D("0.12"), first_period=1, next_period=1, profile=parse_profile("sun 02:00-04:00")
    )
    book = RateBook([off, night], split=True, zone="Europe/London")
    result = book.charge("44", datetime(2024, 3, 31, 0, 59, tzinfo=UTC), 120_000, NO_RULES)
    assert result is not None
    assert result.parts == ((off, 60), (night, 60))
    assert result.unrounded == D("0.18")


def test_split_mode_fall_back_in_london() -> None:
    # 2024-10-27 01:00 UTC: London goes back from 02:00 BST to 01:00 GMT, so the wall-clock
    # window 01:30-02:00 happens twice: 00:30-01:00 UTC and 01:30-02:00 UTC. A call from
    # 00:20 to 02:10 UTC (1/1): 600 s off, 1800 peak, 1800 off, 1800 peak, 600 off;
    # 3000 s * 0.06 / 60 + 3600 s * 0.12 / 60 = 3 + 7.2 = 10.2.
    off = Rate("44", D("0.06"), first_period=1, next_period=1)
    peak = Rate(
        "44", D("0.12"), first_period=1, next_period=1, profile=parse_profile("sun 01:30-02:00")
    )
    book = RateBook([off, peak], split=True, zone="Europe/London")
    result = book.charge("44", datetime(2024, 10, 27, 0, 20, tzinfo=UTC), 6_600_000, NO_RULES)
    assert result is not None
    assert result.parts == ((off, 600), (peak, 1800), (off, 1800), (peak, 1800), (off, 600))
    assert result.unrounded == D("10.2")


def test_split_mode_without_changes_equals_answer_mode() -> None:
    the_rate = rate("0.0731", 30, 6, connection_fee="0.015")
    for hold in (0, 1, 29_999, 30_001, 61_500, 3_600_000):
        split = RateBook([the_rate], split=True).charge("44", AT, hold, NO_RULES)
        answer = RateBook([the_rate]).charge("44", AT, hold, NO_RULES)
        assert split == answer


# --- reservations: fee_for and affordable_seconds -------------------------------------------


def assert_maximal(book: RateBook, available: D, rules: BillingRules, limit: int) -> int:
    seconds = book.affordable_seconds("4420", AT, available, rules, limit=limit)
    fee = book.fee_for("4420", AT, seconds, rules)
    assert fee is not None and fee <= available
    if seconds < limit:
        above = book.fee_for("4420", AT, seconds + 1, rules)
        assert above is not None and above > available
    return seconds


@pytest.mark.parametrize(
    ("the_rate", "available", "rules", "expected"),
    [
        # Star2Billing/a2billing issue #22: a customer with 0.01 EUR called a destination
        # where 15 s would cost 0.01, but "in the rate-card i have an initblock set of 60 sec
        # which makes the call cost 0.04 ... it should not have allowed the call in the 1st
        # place". With the 60 s first block nothing is affordable; per second, 15 s are.
        (rate("0.04", 60, 60), D("0.01"), NO_RULES, 0),
        (rate("0.04", 1, 1), D("0.01"), NO_RULES, 15),
        (rate("0.04", 60, 60), D("0.04"), NO_RULES, 60),
        (rate("0.04", 60, 60), D("0.0799"), NO_RULES, 60),
        (rate("0.04", 60, 60), D("0.08"), NO_RULES, 120),
        (rate("0.1", 1, 1, connection_fee="0.05"), D("0.05"), NO_RULES, 0),
        (rate("0.1", 1, 1, connection_fee="0.05"), D("0.15"), NO_RULES, 60),
        (rate("0.1", 1, 1), D("0"), NO_RULES, 0),
        (rate("0.1", 1, 1), D("-1"), NO_RULES, 0),
        # Free time is free: 10 s of SERVER_BILLING_FREE_TIME are affordable with no money.
        (rate("0.1", 1, 1), D("0"), BillingRules(free_time_s=10), 10),
        # Rounding up to a unit makes the boundary coarser: 0.1/min, unit 0.05 -> 30 s per unit.
        (rate("0.1", 1, 1), D("0.05"), BillingRules(fee_unit=D("0.05")), 30),
        (rate("0.0049", 1, 1), D("0.0001"), NO_RULES, 1),
        (rate("0"), D(0), NO_RULES, 7200),  # a zero rate: everything up to the limit
    ],
)
def test_affordable_seconds_is_exact(
    the_rate: Rate, available: D, rules: BillingRules, expected: int
) -> None:
    book = RateBook([the_rate])
    assert book.affordable_seconds("4420", AT, available, rules, limit=7200) == expected
    if available >= 0:
        assert assert_maximal(book, available, rules, 7200) == expected


def test_affordable_seconds_in_split_mode_is_exact() -> None:
    _, split, _, _ = london_books()
    at = datetime(2024, 7, 1, 16, 55, tzinfo=UTC)  # 17:55 BST, the peak ends 5 min later
    for available in (D("0.10"), D("0.15"), D("0.2"), D("0.3"), D("0.4"), D("1")):
        seconds = split.affordable_seconds("44", at, available, NO_RULES, limit=3600)
        fee = split.fee_for("44", at, seconds, NO_RULES)
        above = split.fee_for("44", at, seconds + 1, NO_RULES)
        assert fee is not None and above is not None
        assert fee <= available < above


# --- construction checks --------------------------------------------------------------------


def test_money_is_never_float() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        Rate("44", 0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Decimal"):
        Rate("44", D("0.1"), connection_fee=0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Decimal"):
        BillingRules(fee_unit=0.01)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first_period": 0}, "first_period"),
        ({"next_period": 0}, "next_period"),
        ({"free_seconds": -1}, "free_seconds"),
        ({"min_duration": -5}, "min_duration"),
        ({"connection_fee": D("-0.01")}, "connection_fee"),
        ({"effective_from": datetime(2024, 1, 1)}, "timezone-aware"),
        ({"effective_from": JUNE, "effective_to": MARCH}, "after"),
        ({"effective_from": JUNE, "effective_to": JUNE}, "after"),
    ],
)
def test_rate_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rate("44", D("0.1"), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hold_precision_ms": 1001},
        {"hold_precision_ms": -1},
        {"fee_precision": 8},
        {"free_time_s": -1},
        {"fee_unit": D("-0.01")},
        {"free_prefixes": ("",)},
    ],
)
def test_billing_rules_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BillingRules(**kwargs)  # type: ignore[arg-type]


def test_per_minute_first() -> None:
    assert rate("0.1").per_minute_first() == D("0.1")
    assert rate("0.1", 30, 6, first_price="0.05").per_minute_first() == D("0.1")
    assert rate("0.017", 15, 15, first_price="0.00375").per_minute_first() == D("0.015")
