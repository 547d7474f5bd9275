"""ASR/ACD windows (``softswitch.routing.quality``): figures from tables of outcomes, exact
window edges, separate ASR and ACD windows, per-gateway and per-(gateway, prefix) keys, window
changes at run time, bounded memory, pruning, refusals; and a property: after any sequence of
records and queries the running totals equal a recount of the outcomes still in the window."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.routing import QualityStats, QualityWindows


def test_no_data_is_none_not_zero() -> None:
    q = QualityWindows(600, 600)
    assert q.asr(1, 0.0) is None
    assert q.acd(1, 0.0) is None
    assert q.attempts(1, 0.0) == 0
    assert q.stats(1, 0.0) == QualityStats(0, 0, None, 0, None)


@pytest.mark.parametrize(
    ("outcomes", "asr", "acd"),
    [
        ([(True, 60.0)], 100.0, 60.0),
        ([(False, 0.0)], 0.0, None),  # attempts but nothing answered: ASR 0, no ACD
        ([(True, 30.0), (False, 0.0), (True, 90.0)], 200 / 3, 60.0),
        ([(True, 0.0), (True, 0.0)], 100.0, 0.0),  # answered, hung up at once: counted
        ([(False, 12.0), (True, 10.0)], 50.0, 10.0),  # hold of an unanswered attempt ignored
        ([(True, 1.0004), (True, 2.0)], 100.0, 1.5),  # hold kept in whole milliseconds
    ],
)
def test_figures(outcomes: list[tuple[bool, float]], asr: float, acd: float | None) -> None:
    q = QualityWindows(600, 600)
    for index, (answered, hold) in enumerate(outcomes):
        q.record(7, answered, hold, now=100.0 + index)
    assert q.asr(7, 110.0) == pytest.approx(asr)
    assert q.acd(7, 110.0) == (None if acd is None else pytest.approx(acd))
    assert q.attempts(7, 110.0) == len(outcomes)


def test_stats_gathers_every_figure() -> None:
    q = QualityWindows(600, 600)
    q.record(1, True, 40.0, now=0.0)
    q.record(1, False, 0.0, now=1.0)
    assert q.stats(1, 2.0) == QualityStats(attempts=2, answered=1, asr=50.0, acd_calls=1, acd=40.0)


@pytest.mark.parametrize(
    ("recorded_at", "query_at", "counted"),
    [
        # window 60 s, buckets of 10 s: an outcome counts while its bucket's end is within
        # the window, i.e. for at least 60 s and at most 70 s.
        (0.0, 0.0, True),
        (0.0, 59.9, True),
        (0.0, 69.9, True),
        (0.0, 70.0, False),
        (9.9, 69.9, True),
        (9.9, 70.0, False),  # same bucket as t=0: counted for 60.1 s only
        (10.0, 79.9, True),
        (10.0, 80.0, False),
        (1000.0, 1059.0, True),
        (1000.0, 5000.0, False),
    ],
)
def test_window_edges(recorded_at: float, query_at: float, counted: bool) -> None:
    q = QualityWindows(60, 60, bucket_seconds=10)
    q.record(1, True, 5.0, now=recorded_at)
    assert q.attempts(1, query_at) == (1 if counted else 0)
    assert (q.acd(1, query_at) is not None) is counted


def test_asr_and_acd_windows_are_separate() -> None:
    q = QualityWindows(asr_window=60, acd_window=600)
    q.record(1, True, 100.0, now=0.0)
    q.record(1, False, 0.0, now=500.0)
    # At 550 the ASR window holds only the failure, the ACD window still the answered call.
    assert q.asr(1, 550.0) == 0.0
    assert q.attempts(1, 550.0) == 1
    assert q.acd(1, 550.0) == 100.0
    assert q.stats(1, 550.0) == QualityStats(1, 0, 0.0, 1, 100.0)
    assert q.acd(1, 610.0) is None


def test_keys_are_independent() -> None:
    q = QualityWindows(600, 600)
    q.record(1, True, 10.0, now=0.0)
    q.record((1, "44"), False, 0.0, now=0.0)
    q.record((1, "4420"), True, 20.0, now=0.0)
    assert q.asr(1, 1.0) == 100.0
    assert q.asr((1, "44"), 1.0) == 0.0
    assert q.acd((1, "4420"), 1.0) == 20.0
    assert q.asr(2, 1.0) is None
    assert sorted(map(str, q.keys())) == ["(1, '44')", "(1, '4420')", "1"]
    assert len(q) == 3


def test_shrinking_a_window_takes_effect_at_once() -> None:
    q = QualityWindows(600, 600)
    q.record(1, True, 10.0, now=0.0)
    q.record(1, False, 0.0, now=300.0)
    assert q.asr(1, 310.0) == 50.0
    q.set_windows(60, 60)
    assert q.asr(1, 310.0) == 0.0
    assert q.acd(1, 310.0) is None
    assert (q.asr_window, q.acd_window) == (60.0, 60.0)


def test_growing_a_window_sees_only_what_was_kept() -> None:
    q = QualityWindows(asr_window=60, acd_window=600)
    q.record(1, True, 10.0, now=0.0)
    q.record(1, False, 0.0, now=100.0)
    assert q.asr(1, 110.0) == 0.0  # the answered call left the 60 s ASR window
    q.set_windows(600, 600)
    # The ACD window had kept it, so the longer ASR window sees it again.
    assert q.asr(1, 110.0) == 50.0
    q.set_windows(60, 60)
    q.record(1, True, 10.0, now=200.0)
    assert q.attempts(1, 210.0) == 1
    q.set_windows(600, 600)
    assert q.attempts(1, 210.0) == 1  # dropped while both windows were short: gone
    q.record(1, True, 10.0, now=220.0)
    assert q.attempts(1, 230.0) == 2


def test_memory_is_bounded_by_buckets_not_calls() -> None:
    q = QualityWindows(600, 600, bucket_seconds=10)
    for call in range(20_000):
        q.record(1, call % 3 != 0, 30.0, now=call * 0.5)  # 2 calls per second for 10,000 s
    buckets = q._series[1].asr.buckets  # internal: the point is how many objects are kept
    assert len(buckets) <= 600 / 10 + 1
    assert q.attempts(1, 9_999.5) == pytest.approx(1200, abs=20)
    assert q.asr(1, 9_999.5) == pytest.approx(200 / 3, abs=1)


def test_long_windows_get_wider_buckets() -> None:
    q = QualityWindows(86_400, 86_400, bucket_seconds=10, max_buckets=360)
    for minute in range(3 * 24 * 60):
        q.record(1, True, 60.0, now=minute * 60.0)
    assert len(q._series[1].asr.buckets) <= 361
    assert q.attempts(1, 3 * 86_400.0) == pytest.approx(24 * 60, abs=5)


def test_out_of_order_timestamp_goes_to_newest_bucket() -> None:
    q = QualityWindows(60, 60)
    q.record(1, True, 10.0, now=100.0)
    q.record(1, False, 0.0, now=50.0)  # clocks do not go back, but a late report may
    assert q.attempts(1, 100.0) == 2
    assert q.attempts(1, 170.0) == 0


def test_prune_drops_idle_keys_only() -> None:
    q = QualityWindows(60, 600)
    q.record(1, True, 10.0, now=0.0)
    q.record(2, True, 10.0, now=500.0)
    assert q.prune(100.0) == 0  # key 1 is still in the ACD window
    assert q.prune(700.0) == 1
    assert q.keys() == [2]
    assert q.prune(2000.0) == 1
    assert len(q) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"asr_window": 0, "acd_window": 600}, "asr_window"),
        ({"asr_window": 600, "acd_window": -1}, "acd_window"),
        ({"asr_window": math.inf, "acd_window": 600}, "asr_window"),
        ({"asr_window": 600, "acd_window": 600, "bucket_seconds": 0}, "bucket_seconds"),
        ({"asr_window": 600, "acd_window": 600, "max_buckets": 0}, "max_buckets"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QualityWindows(**kwargs)  # type: ignore[arg-type]


def test_bad_hold_is_refused() -> None:
    q = QualityWindows(600, 600)
    with pytest.raises(ValueError, match="hold_seconds"):
        q.record(1, True, -1.0, now=0.0)
    with pytest.raises(ValueError, match="hold_seconds"):
        q.record(1, True, math.nan, now=0.0)
    assert q.attempts(1, 0.0) == 0


Event = tuple[float, bool, float]  # time step, answered, hold seconds


@settings(max_examples=200, deadline=None)
@given(
    asr_window=st.integers(1, 40).map(lambda n: n * 7.5),
    acd_window=st.integers(1, 40).map(lambda n: n * 7.5),
    steps=st.lists(
        st.tuples(
            st.floats(0, 50, allow_nan=False),
            st.booleans(),
            st.floats(0, 3600, allow_nan=False),
            st.booleans(),
        ),
        max_size=60,
    ),
)
def test_running_totals_equal_a_recount(
    asr_window: float, acd_window: float, steps: list[tuple[float, bool, float, bool]]
) -> None:
    width = 10.0
    q = QualityWindows(asr_window, acd_window, bucket_seconds=width)
    events: list[tuple[float, bool, int]] = []
    now = 0.0
    for step, answered, hold, query in steps:
        now += step
        if query:
            in_asr = [
                e for e in events if (math.floor(e[0] / width) + 1) * width > now - asr_window
            ]
            in_acd = [
                e for e in events if (math.floor(e[0] / width) + 1) * width > now - acd_window
            ]
            answered_asr = sum(1 for e in in_asr if e[1])
            acd_holds = [e[2] for e in in_acd if e[1]]
            assert q.attempts(1, now) == len(in_asr)
            expected_asr = 100.0 * answered_asr / len(in_asr) if in_asr else None
            assert q.asr(1, now) == expected_asr
            expected_acd = sum(acd_holds) / len(acd_holds) / 1000 if acd_holds else None
            assert q.acd(1, now) == expected_acd
            # The bucketed window never loses an outcome younger than the window, and never
            # keeps one older than the window plus one bucket.
            assert all(now - e[0] < asr_window + width for e in in_asr)
            assert len(in_asr) >= sum(1 for e in events if now - e[0] < asr_window)
        else:
            q.record(1, answered, hold, now)
            events.append((now, answered, round(hold * 1000) if answered else 0))
