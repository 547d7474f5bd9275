"""The destination-traffic alarm (issue 6 §1), with a fake clock of 10-second windows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.security.traffic import HISTORY, DestinationWatch, TrafficJump, WatchSettings

W = 10.0
SETTINGS = WatchSettings(digits=4, window_s=W, factor=5.0, min_calls=3)
QUIET = HISTORY * W  # 120 s after the first call


def started(settings_: WatchSettings = SETTINGS) -> DestinationWatch:
    watch = DestinationWatch(settings_)
    assert watch.call("1111000", 0.0) is None  # the first call starts the watch
    return watch


def burst(watch: DestinationWatch, callee: str, now: float, count: int) -> list[TrafficJump | None]:
    return [watch.call(callee, now) for _ in range(count)]


def first_alarm(results: list[TrafficJump | None]) -> int | None:
    """The 1-based number of the call that raised the first alarm."""
    return next((i + 1 for i, r in enumerate(results) if r is not None), None)


@pytest.mark.parametrize(
    ("now", "alarms"),
    [
        (50.0, False),
        (QUIET - 0.001, False),  # still in the first 12 windows after the start
        (QUIET, True),
        (QUIET + 500.0, True),
    ],
)
def test_quiet_during_the_first_history_windows(now: float, alarms: bool) -> None:
    watch = started()
    results = burst(watch, "9999123", now, 50)
    assert (first_alarm(results) is not None) is alarms


def test_a_new_destination_alarms_at_factor_calls_in_one_window() -> None:
    watch = started()
    results = burst(watch, "8821234", QUIET, 6)
    assert first_alarm(results) == 5  # factor 5 × a baseline of at least 1
    assert results[4] == TrafficJump("8821", 5, 0.0, W)


def test_min_calls_dominates_a_small_baseline() -> None:
    watch = started(replace(SETTINGS, min_calls=30))
    assert first_alarm(burst(watch, "8821234", QUIET, 40)) == 30


@pytest.mark.parametrize(
    ("per_window", "alarm_at", "baseline"),
    [
        (1, 5, 1.0),
        (2, 10, 2.0),
        (3, 15, 3.0),
    ],
)
def test_the_threshold_is_factor_times_the_mean_of_the_previous_windows(
    per_window: int, alarm_at: int, baseline: float
) -> None:
    watch = started()
    for window in range(HISTORY):
        assert burst(watch, "4420712", window * W + 1.0, per_window) == [None] * per_window
    results = burst(watch, "4420799", HISTORY * W + 1.0, alarm_at + 3)
    assert first_alarm(results) == alarm_at
    assert results[alarm_at - 1] == TrafficJump("4420", alarm_at, baseline, W)


def test_windows_older_than_the_history_do_not_count() -> None:
    watch = started()
    burst(watch, "7771000", 1.0, 100)  # window 0
    # In window 13 the previous twelve (1..12) are empty: window 0's hundred calls are gone.
    assert first_alarm(burst(watch, "7771000", 13 * W + 1.0, 10)) == 5


def test_windows_within_the_history_count() -> None:
    watch = started()
    burst(watch, "7771000", 11.0, 24)  # window 1: a baseline of 2 for window 13
    assert first_alarm(burst(watch, "7771000", 13 * W + 1.0, 12)) == 10


def test_one_alarm_per_window_and_again_in_the_next() -> None:
    watch = started()
    first = burst(watch, "5550000", QUIET, 20)
    assert sum(r is not None for r in first) == 1
    # Window 13: the baseline is 20 / 12, the threshold 8.33..., so the ninth call alarms.
    second = burst(watch, "5550000", QUIET + W, 20)
    assert sum(r is not None for r in second) == 1
    assert first_alarm(second) == 9
    jump = second[8]
    assert jump is not None and jump.baseline == pytest.approx(20 / 12)


def test_destinations_are_the_first_digits() -> None:
    watch = started()
    results = [watch.call(f"4420{i}99", QUIET) for i in range(5)]
    assert first_alarm(results) == 5
    assert results[4] is not None and results[4].destination == "4420"
    assert first_alarm([watch.call(f"44{i}", QUIET) for i in range(4)]) is None


@pytest.mark.parametrize(
    "settings_",
    [replace(SETTINGS, min_calls=0), replace(SETTINGS, window_s=0.0)],
)
def test_min_calls_or_window_zero_turns_the_watch_off(settings_: WatchSettings) -> None:
    watch = DestinationWatch(settings_)
    for hour in range(5):
        assert burst(watch, "9999", hour * 3600.0, 500) == [None] * 500


def test_an_empty_callee_is_not_counted_and_does_not_start_the_watch() -> None:
    watch = DestinationWatch(SETTINGS)
    assert watch.call("", 0.0) is None
    watch.call("1111", QUIET)  # this one starts it
    assert first_alarm(burst(watch, "2222", QUIET, 20)) is None


def test_configure_with_another_window_restarts_the_quiet_period() -> None:
    watch = started()
    watch.configure(replace(SETTINGS, window_s=20.0))
    watch.call("1111", 200.0)  # the first call after the change starts the watch again
    assert first_alarm(burst(watch, "2222", 200.0 + HISTORY * 20.0 - 1.0, 20)) is None
    assert first_alarm(burst(watch, "3333", 200.0 + HISTORY * 20.0, 20)) == 5


def test_configure_with_another_factor_keeps_the_history() -> None:
    watch = started()
    burst(watch, "6660000", 1.0, 24)  # window 0: a baseline of 2 in window 12
    watch.configure(replace(SETTINGS, factor=2.0))
    assert first_alarm(burst(watch, "6660000", QUIET + 1.0, 10)) == 4  # 2 × 2


@settings(max_examples=150, deadline=None)
@given(
    min_calls=st.integers(1, 6),
    factor=st.sampled_from([1.0, 1.5, 2.0, 3.0, 5.0]),
    calls=st.lists(
        st.tuples(st.sampled_from(["1", "2", "3"]), st.floats(0.0, 4.0)),
        max_size=400,
    ),
)
def test_alarms_follow_the_rule_exactly(
    min_calls: int, factor: float, calls: list[tuple[str, float]]
) -> None:
    watch = DestinationWatch(replace(SETTINGS, digits=1, factor=factor, min_calls=min_calls))
    counts: dict[tuple[str, int], int] = defaultdict(int)
    alarmed: set[tuple[str, int]] = set()
    now = 0.0
    start: float | None = None
    for destination, gap in calls:
        now += gap
        if start is None:
            start = now
        window = int(now // W)
        counts[destination, window] += 1
        count = counts[destination, window]
        baseline = sum(counts[destination, window - k] for k in range(1, HISTORY + 1)) / HISTORY
        expected = (
            now - start >= QUIET
            and (destination, window) not in alarmed
            and count >= min_calls
            and count >= factor * max(baseline, 1.0)
        )
        jump = watch.call(destination + "000", now)
        assert (jump is not None) is expected
        if jump is not None:
            alarmed.add((destination, window))
            assert (jump.destination, jump.calls, jump.window_s) == (destination, count, W)
            assert jump.baseline == pytest.approx(baseline)
