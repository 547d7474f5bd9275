"""The per-source token bucket (issue 6 §1), with a fake clock: ``now`` is a plain float."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.security.rate_limit import FloodLimiter, FloodSettings

TEN_A_SECOND = FloodSettings(rate=10.0, burst=5.0, ban_s=60.0)


def takes(limiter: FloodLimiter, source: str, now: float, count: int) -> list[bool]:
    return [limiter.take(source, now) for _ in range(count)]


def test_a_new_source_may_send_its_burst_at_once_and_no_more() -> None:
    limiter = FloodLimiter(TEN_A_SECOND)
    assert takes(limiter, "192.0.2.1", 0.0, 7) == [True] * 5 + [False] * 2


@pytest.mark.parametrize(
    ("later", "admitted"),
    [
        (0.0, 0),
        (0.09, 0),  # 0.9 tokens: not a whole one
        (0.1, 1),
        (0.25, 2),
        (0.3, 3),
        (0.5, 5),
        (100.0, 5),  # refills up to the burst, never beyond
    ],
)
def test_an_empty_bucket_refills_at_the_rate_up_to_the_burst(later: float, admitted: int) -> None:
    limiter = FloodLimiter(TEN_A_SECOND)
    takes(limiter, "a", 0.0, 5)
    assert sum(takes(limiter, "a", later, 10)) == admitted


def test_refused_packets_take_no_token() -> None:
    limiter = FloodLimiter(TEN_A_SECOND)
    takes(limiter, "a", 0.0, 5)
    assert not any(takes(limiter, "a", 0.0, 50))
    assert takes(limiter, "a", 0.1, 2) == [True, False]


def test_sources_have_their_own_buckets() -> None:
    limiter = FloodLimiter(TEN_A_SECOND)
    takes(limiter, "a", 0.0, 6)
    assert takes(limiter, "b", 0.0, 6) == [True] * 5 + [False]
    assert not limiter.take("a", 0.0)


def test_rate_zero_turns_the_limit_off_and_keeps_no_state() -> None:
    limiter = FloodLimiter(FloodSettings(rate=0.0, burst=5.0, ban_s=60.0))
    assert all(takes(limiter, "a", 0.0, 1000))
    assert len(limiter) == 0


def test_forget_gives_the_source_a_full_bucket() -> None:
    limiter = FloodLimiter(TEN_A_SECOND)
    takes(limiter, "a", 0.0, 6)
    limiter.forget("a")
    limiter.forget("never-seen")  # no error
    assert takes(limiter, "a", 0.0, 6) == [True] * 5 + [False]


def test_configure_keeps_the_tokens_a_source_has() -> None:
    limiter = FloodLimiter(TEN_A_SECOND)
    takes(limiter, "a", 0.0, 5)
    limiter.configure(FloodSettings(rate=10.0, burst=100.0, ban_s=60.0))
    assert not limiter.take("a", 0.0)  # still empty: a bigger bucket is not a refill
    assert takes(limiter, "a", 1.0, 20) == [True] * 10 + [False] * 10


def test_configure_caps_saved_tokens_to_a_smaller_burst() -> None:
    limiter = FloodLimiter(FloodSettings(rate=10.0, burst=100.0, ban_s=60.0))
    limiter.take("a", 0.0)  # 99 tokens left
    limiter.configure(FloodSettings(rate=10.0, burst=3.0, ban_s=60.0))
    assert takes(limiter, "a", 0.0, 5) == [True] * 3 + [False] * 2


def test_prune_drops_exactly_the_buckets_that_have_refilled() -> None:
    limiter = FloodLimiter(TEN_A_SECOND)  # an empty bucket is full again after 0.5 s
    takes(limiter, "a", 0.0, 5)
    takes(limiter, "b", 0.2, 1)
    limiter.prune(0.49)
    assert len(limiter) == 2
    limiter.prune(0.5)
    assert len(limiter) == 1  # "a" went; "b" (last seen at 0.2) is not full before 0.7
    assert takes(limiter, "b", 0.5, 10).count(True) == 5  # b kept its state: 4 + 3 tokens capped
    limiter.prune(100.0)
    assert len(limiter) == 0


def test_when_full_an_idle_source_is_dropped_before_a_busy_one() -> None:
    limiter = FloodLimiter(FloodSettings(rate=10.0, burst=5.0, ban_s=60.0, max_sources=2))
    takes(limiter, "idle", 0.0, 5)
    takes(limiter, "busy", 0.75, 5)
    assert limiter.take("new", 1.0)
    # "busy" kept its bucket: 2.5 tokens refilled in 0.25 s, not a fresh five.
    assert takes(limiter, "busy", 1.0, 4) == [True, True, False, False]


def test_when_full_and_nobody_idle_the_oldest_source_is_dropped() -> None:
    limiter = FloodLimiter(FloodSettings(rate=10.0, burst=5.0, ban_s=60.0, max_sources=2))
    takes(limiter, "first", 0.0, 5)
    takes(limiter, "second", 0.0, 5)
    assert limiter.take("third", 0.0)
    assert not limiter.take("second", 0.0)  # kept, still empty
    assert limiter.take("first", 0.0)  # dropped: it starts again with a full bucket


def test_a_source_arriving_at_a_full_table_gets_exactly_its_burst() -> None:
    limiter = FloodLimiter(FloodSettings(rate=10.0, burst=5.0, ban_s=60.0, max_sources=1))
    limiter.take("a", 0.0)
    assert takes(limiter, "b", 0.0, 7) == [True] * 5 + [False] * 2


@settings(max_examples=150, deadline=None)
@given(
    rate=st.floats(0.5, 50.0),
    burst=st.integers(1, 20).map(float),
    gaps=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=120),
    prune_before=st.sets(st.integers(0, 119)),
)
def test_never_admits_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: float, gaps: list[float], prune_before: set[int]
) -> None:
    limiter = FloodLimiter(FloodSettings(rate=rate, burst=burst, ban_s=60.0))
    now = 0.0
    admitted: list[float] = []
    for i, gap in enumerate(gaps):
        now += gap
        if i in prune_before:
            limiter.prune(now)  # pruning forgets only full buckets: no extra tokens
        if limiter.take("a", now):
            admitted.append(now)
    for first in range(len(admitted)):
        for last in range(first, len(admitted)):
            count = last - first + 1
            assert count <= burst + rate * (admitted[last] - admitted[first]) + 1e-6


@settings(max_examples=100, deadline=None)
@given(
    rate=st.floats(0.5, 50.0),
    burst=st.integers(1, 20).map(float),
    extra=st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=100),
)
def test_a_source_within_its_rate_is_never_refused(
    rate: float, burst: float, extra: list[float]
) -> None:
    limiter = FloodLimiter(FloodSettings(rate=rate, burst=burst, ban_s=60.0))
    now = 0.0
    assert limiter.take("a", now)
    for spare in extra:
        now += 1.0 / rate + spare
        assert limiter.take("a", now)


@settings(max_examples=150, deadline=None)
@given(
    max_sources=st.integers(1, 8),
    packets=st.lists(st.tuples(st.integers(0, 30), st.floats(0.0, 1.0)), max_size=200),
)
def test_memory_never_exceeds_max_sources(
    max_sources: int, packets: list[tuple[int, float]]
) -> None:
    limiter = FloodLimiter(FloodSettings(rate=10.0, burst=5.0, ban_s=60.0, max_sources=max_sources))
    now = 0.0
    for source, gap in packets:
        now += gap
        limiter.take(f"198.51.100.{source}", now)
        assert len(limiter) <= max_sources
