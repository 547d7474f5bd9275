"""Failed digest authentications and suspensions (issue 6 §1), with a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.security.auth_failures import AuthFailures, Suspension

HOST = "203.0.113.5"
OTHER = "203.0.113.6"


def fail_all(auth: AuthFailures, usernames: list[str | None], times: list[float]) -> list:
    return [auth.failed(HOST, user, now) for user, now in zip(usernames, times, strict=True)]


@pytest.mark.parametrize("max_retry", [1, 2, 3, 6])
def test_the_max_retry_th_failure_suspends_the_address(max_retry: int) -> None:
    auth = AuthFailures(max_retry, 60.0)
    results = [auth.failed(HOST, "alice", float(t)) for t in range(max_retry)]
    assert results[:-1] == [None] * (max_retry - 1)
    last = float(max_retry - 1)
    assert results[-1] == Suspension(HOST, None, last + 60.0, max_retry)
    assert auth.host_suspended(HOST, last)
    assert not auth.host_suspended(OTHER, last)


def test_an_attacker_rotating_usernames_gets_the_address_suspended() -> None:
    auth = AuthFailures(3, 60.0)
    assert fail_all(auth, ["alice", "bob", "carol"], [0.0, 1.0, 2.0]) == [
        None,
        None,
        Suspension(HOST, None, 62.0, 3),
    ]
    assert auth.suspended(HOST, "dave", 3.0) == Suspension(HOST, None, 62.0, 3)
    assert auth.suspended(HOST, None, 3.0) is not None


def test_failures_without_a_username_count_for_the_address() -> None:
    auth = AuthFailures(3, 60.0)
    assert fail_all(auth, [None, None, None], [0.0, 1.0, 2.0])[-1] == Suspension(
        HOST, None, 62.0, 3
    )


def test_zero_max_retry_allows_unlimited_tries() -> None:
    auth = AuthFailures(0, 60.0)
    assert all(auth.failed(HOST, "alice", t * 0.01) is None for t in range(1000))
    assert not auth.host_suspended(HOST, 10.0)
    assert list(auth.suspensions(10.0)) == []


def test_addresses_are_counted_apart() -> None:
    auth = AuthFailures(3, 60.0)
    auth.failed(HOST, "alice", 0.0)
    auth.failed(HOST, "alice", 1.0)
    assert auth.failed(OTHER, "alice", 2.0) is None
    assert auth.failed(HOST, "alice", 3.0) is not None


def test_behind_a_proven_nat_a_failing_phone_suspends_only_its_username() -> None:
    auth = AuthFailures(3, 60.0)
    auth.succeeded(HOST, "alice", 0.0)
    assert fail_all(auth, ["bob", "bob", "bob"], [1.0, 2.0, 3.0]) == [
        None,
        None,
        Suspension(HOST, "bob", 63.0, 3),
    ]
    assert not auth.host_suspended(HOST, 4.0)
    assert auth.suspended(HOST, "bob", 4.0) == Suspension(HOST, "bob", 63.0, 3)
    assert auth.suspended(HOST, "alice", 4.0) is None
    assert auth.suspended(HOST, None, 4.0) is None
    assert auth.suspended(OTHER, "bob", 4.0) is None


def test_a_proven_address_is_not_suspended_by_failures_under_several_names() -> None:
    auth = AuthFailures(3, 60.0)
    auth.succeeded(HOST, "alice", 0.0)
    users = ["bob", "carol", "dave", "bob", "carol", "dave"]
    assert fail_all(auth, users, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) == [None] * 6
    assert not auth.host_suspended(HOST, 7.0)


@pytest.mark.parametrize(
    ("first_failure", "suspended_key"),
    [
        (59.0, (HOST, "bob")),  # within the suspension time of the success: proven
        (60.0, (HOST, None)),  # the proof has lapsed exactly then
        (120.0, (HOST, None)),
    ],
)
def test_the_proof_lasts_the_suspension_time(
    first_failure: float, suspended_key: tuple[str, str | None]
) -> None:
    auth = AuthFailures(3, 60.0)
    auth.succeeded(HOST, "alice", 0.0)
    t = first_failure
    results = fail_all(auth, ["bob", "bob", "bob"], [t, t + 0.25, t + 0.5])
    assert results[:2] == [None, None]
    assert results[2] is not None
    assert (results[2].host, results[2].username) == suspended_key


def test_a_success_resets_the_username_count() -> None:
    auth = AuthFailures(3, 60.0)
    auth.failed(HOST, "alice", 0.0)
    auth.failed(HOST, "alice", 1.0)
    auth.succeeded(HOST, "alice", 2.0)
    assert fail_all(auth, ["alice", "alice", "alice"], [3.0, 4.0, 5.0]) == [
        None,
        None,
        Suspension(HOST, "alice", 65.0, 3),
    ]


@pytest.mark.parametrize(
    ("times", "suspends_at"),
    [
        ([0.0, 1.0, 2.0], 2),
        ([0.0, 1.0, 61.0], 2),  # 60 s after the previous failure: still counting
        ([0.0, 1.0, 61.5, 62.0, 63.0], 4),  # 60.5 s: counting starts afresh at 61.5
        ([0.0, 100.0, 200.0, 300.0], None),  # once in a while is never suspended
    ],
)
def test_counts_run_while_failures_keep_coming(times: list[float], suspends_at: int | None) -> None:
    auth = AuthFailures(3, 60.0)
    results = fail_all(auth, ["alice"] * len(times), times)
    found = [i for i, result in enumerate(results) if result is not None]
    assert found == ([] if suspends_at is None else [suspends_at])


def test_a_suspension_ends_exactly_at_its_until() -> None:
    auth = AuthFailures(1, 60.0)
    suspension = auth.failed(HOST, "alice", 10.0)
    assert suspension is not None and suspension.until == 70.0
    assert auth.host_suspended(HOST, 69.999)
    assert auth.suspended(HOST, "alice", 69.999) is not None
    assert not auth.host_suspended(HOST, 70.0)
    assert auth.suspended(HOST, "alice", 70.0) is None


def test_a_username_suspension_ends_exactly_at_its_until() -> None:
    auth = AuthFailures(1, 60.0)
    auth.succeeded(HOST, "alice", 0.0)
    auth.failed(HOST, "bob", 1.0)
    assert auth.suspended(HOST, "bob", 60.999) is not None
    assert auth.suspended(HOST, "bob", 61.0) is None


def test_after_a_suspension_counting_starts_afresh() -> None:
    auth = AuthFailures(3, 60.0)
    fail_all(auth, ["alice", "alice", "alice"], [0.0, 1.0, 2.0])
    assert fail_all(auth, ["alice", "alice"], [62.0, 62.5]) == [None, None]
    assert auth.failed(HOST, "alice", 63.0) == Suspension(HOST, None, 123.0, 3)


def test_suspensions_lists_only_live_ones() -> None:
    auth = AuthFailures(1, 60.0)
    auth.failed(HOST, "alice", 0.0)
    auth.failed(OTHER, "alice", 30.0)
    assert {s.host for s in auth.suspensions(59.0)} == {HOST, OTHER}
    assert [s.host for s in auth.suspensions(60.0)] == [OTHER]
    assert list(auth.suspensions(90.0)) == []


def test_lifting_an_address_suspension_ends_it_and_its_counts() -> None:
    auth = AuthFailures(3, 60.0)
    fail_all(auth, ["alice", "bob", "carol"], [0.0, 1.0, 2.0])
    assert auth.lift(HOST, None, 3.0)
    assert not auth.host_suspended(HOST, 3.0)
    assert not auth.lift(HOST, None, 3.0)  # nothing left to lift
    assert fail_all(auth, ["alice", "bob"], [3.0, 4.0]) == [None, None]


def test_lifting_a_username_suspension_ends_only_that_one() -> None:
    auth = AuthFailures(1, 60.0)
    auth.succeeded(HOST, "alice", 0.0)
    auth.failed(HOST, "bob", 1.0)
    auth.failed(HOST, "carol", 1.0)
    assert not auth.lift(HOST, None, 2.0)  # there is no address suspension
    assert auth.lift(HOST, "bob", 2.0)
    assert auth.suspended(HOST, "bob", 2.0) is None
    assert auth.suspended(HOST, "carol", 2.0) is not None


def test_configure_keeps_the_counts() -> None:
    auth = AuthFailures(5, 60.0)
    fail_all(auth, ["alice", "alice"], [0.0, 1.0])
    auth.configure(3, 60.0)
    assert auth.failed(HOST, "alice", 2.0) == Suspension(HOST, None, 62.0, 3)


def test_configure_applies_a_new_suspension_time() -> None:
    auth = AuthFailures(1, 60.0)
    auth.configure(1, 600.0)
    assert auth.failed(HOST, "alice", 0.0) == Suspension(HOST, None, 600.0, 1)


def test_configure_to_zero_stops_suspending() -> None:
    auth = AuthFailures(3, 60.0)
    fail_all(auth, ["alice", "alice"], [0.0, 1.0])
    auth.configure(0, 60.0)
    assert fail_all(auth, ["alice"] * 5, [2.0, 3.0, 4.0, 5.0, 6.0]) == [None] * 5


def test_prune_forgets_ended_suspensions_old_counts_and_old_proofs() -> None:
    auth = AuthFailures(3, 60.0)
    auth.failed(HOST, None, 0.0)  # a count, last at 0
    auth.succeeded(OTHER, "alice", 0.0)  # a proof at 0
    auth.failed("198.51.100.1", None, 0.0)
    auth.failed("198.51.100.1", None, 0.0)
    auth.failed("198.51.100.1", None, 0.0)  # a suspension until 60
    auth.prune(60.0)  # counts and proofs of exactly the suspension time ago are kept
    assert auth._counts and auth._proven  # internal tables: what prune is for
    assert auth._suspended == {}
    auth.prune(60.5)
    assert auth._counts == {} and auth._proven == {} and auth._suspended == {}


def test_prune_keeps_what_is_live() -> None:
    auth = AuthFailures(3, 60.0)
    fail_all(auth, ["alice", "alice"], [0.0, 1.0])
    auth.failed(OTHER, None, 0.0)
    auth.failed(OTHER, None, 0.0)
    auth.failed(OTHER, None, 0.0)
    auth.prune(30.0)
    assert auth.host_suspended(OTHER, 30.0)
    assert auth.failed(HOST, "alice", 31.0) is not None  # the count survived


@settings(max_examples=150, deadline=None)
@given(
    max_retry=st.integers(1, 6),
    users=st.lists(st.sampled_from(["alice", "bob", "carol", None]), min_size=6, max_size=6),
    gaps=st.lists(st.floats(0.0, 10.0), min_size=6, max_size=6),
)
def test_unproven_the_address_is_suspended_on_its_max_retry_th_failure_whoever_fails(
    max_retry: int, users: list[str | None], gaps: list[float]
) -> None:
    auth = AuthFailures(max_retry, 60.0)
    now = 0.0
    for i, (user, gap) in enumerate(zip(users, gaps, strict=True)):
        now += gap
        result = auth.failed(HOST, user, now)
        if i + 1 < max_retry:
            assert result is None
        elif i + 1 == max_retry:
            assert result == Suspension(HOST, None, now + 60.0, max_retry)
            return


@settings(max_examples=150, deadline=None)
@given(
    max_retry=st.integers(1, 4),
    users=st.lists(st.sampled_from(["bob", "carol", "dave"]), max_size=30),
    gaps=st.lists(st.floats(0.0, 1.0), min_size=30, max_size=30),
)
def test_proven_each_username_is_suspended_on_its_own_max_retry_th_failure(
    max_retry: int, users: list[str], gaps: list[float]
) -> None:
    auth = AuthFailures(max_retry, 60.0)
    auth.succeeded(HOST, "alice", 0.0)
    now = 0.0
    counts = dict.fromkeys(users, 0)
    for user, gap in zip(users, gaps, strict=False):  # all within 30 s of the success
        now += gap
        if auth.suspended(HOST, user, now) is not None:
            continue  # the dispatcher ignores a suspended username's requests
        counts[user] += 1
        result = auth.failed(HOST, user, now)
        if counts[user] == max_retry:
            assert result == Suspension(HOST, user, now + 60.0, max_retry)
        else:
            assert result is None
        assert not auth.host_suspended(HOST, now)
        assert auth.suspended(HOST, "alice", now) is None
