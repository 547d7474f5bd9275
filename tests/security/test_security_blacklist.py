"""The dynamic blacklists of VOS3000 (issue 6 §1): malicious callers and unanswered callees."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.security.blacklist import BlacklistSettings, DynamicBlacklist, Listed, ListedKind

CALLER, CALLEE = ListedKind.CALLER, ListedKind.CALLEE

SMALL = BlacklistSettings(
    caller_limit=3,
    caller_window_s=10.0,
    caller_expire_s=100.0,
    no_answer_limit=3,
    no_answer_expire_s=50.0,
)


def with_(**changes: float) -> BlacklistSettings:
    return replace(SMALL, **changes)


# -- malicious callers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "listed_at"),
    [
        ([0.0, 1.0, 2.0], 2),
        ([0.0, 5.0, 9.999], 2),  # all three within 10 s of the first call
        ([0.0, 5.0, 10.0], None),  # the third opens a new window: counting starts again
        ([0.0, 5.0, 10.0, 11.0, 12.0], 4),  # three in the window opened at 10
        ([0.0, 20.0, 40.0, 60.0, 80.0], None),
    ],
)
def test_limit_calls_from_one_caller_within_the_window_list_it(
    times: list[float], listed_at: int | None
) -> None:
    blacklist = DynamicBlacklist(SMALL)
    results = [blacklist.call("+15551234", now) for now in times]
    found = [i for i, result in enumerate(results) if result is not None]
    assert found == ([] if listed_at is None else [listed_at])
    if listed_at is not None:
        now = times[listed_at]
        assert results[listed_at] == Listed(CALLER, "+15551234", now + 100.0, 3)
        assert blacklist.listed(CALLER, "+15551234", now) == results[listed_at]


def test_callers_are_counted_apart() -> None:
    blacklist = DynamicBlacklist(SMALL)
    assert [blacklist.call(c, 0.0) for c in ["+4411", "+4422", "+4411", "+4422", "c"]] == [None] * 5
    assert blacklist.call("+4411", 1.0) is not None
    assert blacklist.listed(CALLER, "+4422", 1.0) is None


def test_a_caller_listing_ends_exactly_at_its_until() -> None:
    blacklist = DynamicBlacklist(SMALL)
    for now in (0.0, 1.0, 2.0):
        blacklist.call("+4411", now)
    assert blacklist.listed(CALLER, "+4411", 101.999) is not None
    assert blacklist.listed(CALLER, "+4411", 102.0) is None


def test_a_listed_caller_is_not_a_listed_callee() -> None:
    blacklist = DynamicBlacklist(SMALL)
    for now in (0.0, 1.0, 2.0):
        blacklist.call("+4411", now)
    assert blacklist.listed(CALLEE, "+4411", 3.0) is None


@pytest.mark.parametrize(
    ("settings_", "calls", "listed"),
    [
        (with_(caller_limit=0), 1000, False),  # 0 turns the list off
        (with_(caller_limit=1), 1, True),
        (with_(caller_limit=1000), 999, False),
        (with_(caller_limit=1000), 1000, True),
        (with_(caller_expire_s=0.0), 10, False),  # listed for no time: not listed
    ],
)
def test_caller_limit_table(settings_: BlacklistSettings, calls: int, listed: bool) -> None:
    blacklist = DynamicBlacklist(settings_)
    results = [blacklist.call("+4411", 0.001 * i) for i in range(calls)]
    assert any(result is not None for result in results) is listed
    assert (blacklist.listed(CALLER, "+4411", 1.0) is not None) is listed


def test_an_empty_caller_is_never_counted() -> None:
    blacklist = DynamicBlacklist(with_(caller_limit=1))
    assert blacklist.call("", 0.0) is None
    assert list(blacklist.entries(0.0)) == []


# -- unanswered callees ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "listed_at"),
    [
        ([False, False, False], 2),
        ([False, False, True, False, False], None),  # an answered call resets the run
        ([False, False, True, False, False, False], 5),
        ([True, True, True, True], None),
        ([False, True, False, True, False, True], None),
    ],
)
def test_limit_consecutive_unanswered_calls_list_the_callee(
    answers: list[bool], listed_at: int | None
) -> None:
    blacklist = DynamicBlacklist(SMALL)
    results = [blacklist.ended("+881234", answered, float(i)) for i, answered in enumerate(answers)]
    found = [i for i, result in enumerate(results) if result is not None]
    assert found == ([] if listed_at is None else [listed_at])
    if listed_at is not None:
        assert results[listed_at] == Listed(CALLEE, "+881234", listed_at + 50.0, 3)


def test_unanswered_calls_need_no_window_only_to_be_consecutive() -> None:
    blacklist = DynamicBlacklist(SMALL)
    assert blacklist.ended("x", False, 0.0) is None
    assert blacklist.ended("x", False, 10_000.0) is None
    assert blacklist.ended("x", False, 90_000.0) == Listed(CALLEE, "x", 90_050.0, 3)


def test_callees_are_counted_apart() -> None:
    blacklist = DynamicBlacklist(SMALL)
    for callee in ["a", "b", "a", "b"]:
        blacklist.ended(callee, False, 0.0)
    blacklist.ended("a", True, 0.0)
    assert blacklist.ended("b", False, 1.0) is not None
    assert blacklist.ended("a", False, 1.0) is None


@pytest.mark.parametrize(
    ("settings_", "unanswered", "listed"),
    [
        (with_(no_answer_limit=0), 500, False),
        (with_(no_answer_limit=1), 1, True),
        (with_(no_answer_limit=100), 99, False),
        (with_(no_answer_limit=100), 100, True),
        (with_(no_answer_expire_s=0.0), 10, False),
    ],
)
def test_no_answer_limit_table(settings_: BlacklistSettings, unanswered: int, listed: bool) -> None:
    blacklist = DynamicBlacklist(settings_)
    results = [blacklist.ended("x", False, 0.0) for _ in range(unanswered)]
    assert any(result is not None for result in results) is listed
    assert (blacklist.listed(CALLEE, "x", 0.0) is not None) is listed


def test_a_callee_listing_ends_exactly_at_its_until() -> None:
    blacklist = DynamicBlacklist(SMALL)
    for _ in range(3):
        blacklist.ended("x", False, 10.0)
    assert blacklist.listed(CALLEE, "x", 59.999) is not None
    assert blacklist.listed(CALLEE, "x", 60.0) is None


# -- operators, configuration, memory ----------------------------------------------------------


def test_entries_lists_the_live_listings_of_both_kinds() -> None:
    blacklist = DynamicBlacklist(SMALL)
    for now in (0.0, 1.0, 2.0):
        blacklist.call("+4433", now)
        blacklist.ended("callee", False, now)
    assert set(blacklist.entries(3.0)) == {
        Listed(CALLER, "+4433", 102.0, 3),
        Listed(CALLEE, "callee", 52.0, 3),
    }
    assert list(blacklist.entries(52.0)) == [Listed(CALLER, "+4433", 102.0, 3)]
    assert list(blacklist.entries(102.0)) == []


def test_lift_ends_a_listing_and_restarts_its_count() -> None:
    blacklist = DynamicBlacklist(SMALL)
    for now in (0.0, 1.0, 2.0):
        blacklist.call("+4411", now)
    blacklist.call("+4422", 0.0)
    blacklist.call("+4422", 0.0)
    assert blacklist.lift(CALLER, "+4411", 3.0)
    assert blacklist.listed(CALLER, "+4411", 3.0) is None
    assert not blacklist.lift(CALLER, "+4411", 3.0)
    assert not blacklist.lift(CALLEE, "+4411", 3.0)  # never listed as a callee
    assert not blacklist.lift(CALLER, "+4422", 3.0)  # counted, not listed...
    assert blacklist.call("+4422", 0.5) is None  # ...and its count started again


def test_configure_keeps_counts_and_listings() -> None:
    blacklist = DynamicBlacklist(with_(caller_limit=5))
    blacklist.call("+4411", 0.0)
    blacklist.call("+4411", 0.0)
    for _ in range(3):
        blacklist.ended("x", False, 0.0)  # limit 3: listed
    blacklist.configure(with_(caller_limit=3, no_answer_limit=10))
    assert blacklist.call("+4411", 1.0) == Listed(CALLER, "+4411", 101.0, 3)
    assert blacklist.listed(CALLEE, "x", 1.0) is not None


def test_prune_forgets_ended_windows_and_expired_listings() -> None:
    blacklist = DynamicBlacklist(SMALL)
    blacklist.call("+4444", 0.0)
    blacklist.call("+4455", 5.0)
    for now in (0.0, 1.0, 2.0):
        blacklist.ended("x", False, now)  # listed until 52
    blacklist.prune(10.0)
    assert set(blacklist._callers) == {"+4455"}  # internal table: what prune is for
    assert (CALLEE, "x") in blacklist._listed
    blacklist.prune(52.0)
    assert blacklist._listed == {}


def test_caller_counters_never_exceed_max_tracked() -> None:
    blacklist = DynamicBlacklist(with_(caller_limit=100, max_tracked=4))
    for i in range(10):
        blacklist.call(f"+1555000{i}", 0.0)
    assert len(blacklist._callers) <= 4


@settings(max_examples=100, deadline=None)
@given(
    max_tracked=st.integers(2, 8),
    calls=st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=200),
)
def test_unanswered_counters_never_exceed_max_tracked(
    max_tracked: int, calls: list[tuple[int, bool]]
) -> None:
    blacklist = DynamicBlacklist(with_(no_answer_limit=1000, max_tracked=max_tracked))
    for callee, answered in calls:
        blacklist.ended(f"+44{callee}", answered, 0.0)
        assert len(blacklist._unanswered) <= max_tracked


def test_unanswered_counters_never_exceed_a_max_tracked_of_one() -> None:
    blacklist = DynamicBlacklist(with_(no_answer_limit=1000, max_tracked=1))
    for i in range(5):
        blacklist.ended(f"+44{i}", False, 0.0)
    assert len(blacklist._unanswered) <= 1


@pytest.mark.parametrize("caller", ["anonymous", "sipp", "+", "", "12a4", "٣٣٣"])
def test_only_numbers_are_counted_as_callers(caller: str) -> None:
    """``anonymous`` (or a trunk's name for a withheld number) stands for many callers:
    listing it would refuse them all."""
    blacklist = DynamicBlacklist(with_(caller_limit=1))
    assert blacklist.call(caller, 0.0) is None
    assert blacklist.listed(CALLER, caller, 0.0) is None
    assert blacklist.call("+4412", 0.0) is not None  # a number is listed at once
