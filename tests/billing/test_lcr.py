"""Least-cost ordering of carriers (``softswitch.billing.lcr``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from softswitch.billing import Rate, RateBook, least_cost

AT = datetime(2024, 7, 1, tzinfo=UTC)
COSTS: dict[str, D | None] = {
    "a": D("0.012"),
    "b": D("0.010"),
    "c": None,  # no rate for the callee
    "d": D("0.010"),  # same cost as b: keeps its given order after b
    "e": D("0.020"),
}


@pytest.mark.parametrize(
    ("ceiling", "expected"),
    [
        (None, ["b", "d", "a", "e"]),
        (D("0.015"), ["b", "d", "a"]),  # e costs more than the ceiling
        (D("0.012"), ["b", "d", "a"]),  # equal to the ceiling is allowed
        (D("0.0119"), ["b", "d"]),
        (D("0.001"), []),
    ],
)
def test_cheapest_first_within_the_ceiling(ceiling: D | None, expected: list[str]) -> None:
    assert least_cost(list(COSTS), COSTS.__getitem__, ceiling=ceiling) == expected


def test_ties_keep_the_callers_order() -> None:
    carriers = ["x", "y", "z"]
    assert least_cost(carriers, lambda _: D(1), ceiling=None) == ["x", "y", "z"]
    assert least_cost(carriers[::-1], lambda _: D(1), ceiling=None) == ["z", "y", "x"]


def test_cost_is_asked_once_per_candidate() -> None:
    asked: list[str] = []

    def cost(name: str) -> D | None:
        asked.append(name)
        return COSTS[name]

    least_cost(list(COSTS), cost, ceiling=None)
    assert asked == list(COSTS)
    assert least_cost([], cost, ceiling=D(1)) == []


def test_with_carrier_rate_books_and_a_margin() -> None:
    """The documented use: each carrier's own longest prefix, the ceiling the customer's
    per-minute price minus the margin."""
    carriers = {
        "alpha": RateBook([Rate("44", D("0.010")), Rate("4420", D("0.030"))]),
        "beta": RateBook([Rate("44", D("0.020"))]),
        "gamma": RateBook([Rate("33", D("0.001"))]),  # no UK rate at all
    }
    customer = RateBook([Rate("44", D("0.040"))])
    number = "442079460000"

    def cost(name: str) -> D | None:
        rate = carriers[name].rate_for(number, AT)
        return None if rate is None else rate.rate_per_minute

    customer_rate = customer.rate_for(number, AT)
    assert customer_rate is not None
    ceiling = customer_rate.rate_per_minute - D("0.015")  # keep at least 1.5 cents a minute
    # alpha's 4420 rate (0.030) is what a London call costs it, not its 44 rate.
    assert least_cost(list(carriers), cost, ceiling=ceiling) == ["beta"]
    assert least_cost(list(carriers), cost, ceiling=None) == ["beta", "alpha"]
