"""The lockout rule as pure functions of the state and an exact ``now``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.operators import (
    LOCKOUT_THRESHOLD,
    LockoutState,
    after_failure,
    after_success,
    is_locked,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def fail(times: int, state: LockoutState | None = None, disable: int = 120) -> LockoutState:
    state = state if state is not None else LockoutState()
    for _ in range(times):
        state = after_failure(state, T0, disable)
    return state


def test_threshold_is_five() -> None:
    assert LOCKOUT_THRESHOLD == 5


def test_four_failures_do_not_lock() -> None:
    state = fail(4)
    assert state == LockoutState(4, None)
    assert not is_locked(state, T0)


def test_fifth_failure_locks_for_the_disable_time_and_restarts_the_count() -> None:
    state = fail(5)
    assert state == LockoutState(0, T0 + timedelta(seconds=120))
    assert is_locked(state, T0)


def test_lock_boundaries_are_half_open() -> None:
    until = T0 + timedelta(seconds=120)
    state = LockoutState(0, until)
    assert is_locked(state, until - US)
    assert not is_locked(state, until)
    assert not is_locked(state, until + US)


def test_failure_while_locked_neither_counts_nor_extends() -> None:
    state = fail(5)
    assert after_failure(state, T0 + timedelta(seconds=60), 120) == state


def test_failure_after_the_lock_starts_a_fresh_count_and_forgets_the_lock() -> None:
    state = fail(5)
    later = T0 + timedelta(seconds=120)
    assert after_failure(state, later, 120) == LockoutState(1, None)


def test_zero_disable_time_never_locks_but_counts() -> None:
    state = fail(12, disable=0)
    assert state == LockoutState(12, None)
    assert not is_locked(state, T0)


def test_success_resets() -> None:
    assert after_success() == LockoutState(0, None)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), max_size=30), st.integers(min_value=1, max_value=86400))
def test_lock_happens_exactly_on_five_consecutive_failures(
    attempts: list[bool], disable: int
) -> None:
    """Model: True = success, False = failure, all at T0; a lock ends the sequence."""
    state, streak = LockoutState(), 0
    for ok in attempts:
        if is_locked(state, T0):
            break
        state = after_success() if ok else after_failure(state, T0, disable)
        streak = 0 if ok else streak + 1
        assert is_locked(state, T0) == (streak == LOCKOUT_THRESHOLD)
        if is_locked(state, T0):
            assert state.locked_until == T0 + timedelta(seconds=disable)
        else:
            assert state.failed_logins == streak
