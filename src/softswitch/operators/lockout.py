"""Login lockout: after repeated failed logins the user is locked for a while.

The rule, in full:

- Each wrong password for an unlocked user adds one to its count of consecutive failures.
- The :data:`LOCKOUT_THRESHOLD`-th consecutive failure (5) locks the user until
  ``now + SERVER_LOGIN_FAILED_DISABLE_TIME`` seconds and starts the count again from zero.
- While locked (``now < locked_until``) every attempt is refused *without* checking the
  password, so guessing during the lock teaches nothing, and the refusal names ``locked_until``.
  Attempts during the lock neither count nor extend it: an attacker cannot keep a user locked
  out longer than one lock per five guesses.
- At ``now == locked_until`` exactly the lock is over (the interval is half-open).
- A successful login resets the count to zero.
- SERVER_LOGIN_FAILED_DISABLE_TIME = 0 means "never lock" (the catalogue's meaning): failures
  are still counted, for the operator's view, but nothing is locked.

Why consecutive failures and no time window: the ``operator_users`` table keeps a counter and a
lock end (``failed_logins``, ``locked_until``) but no time of the first failure, and a window
would need one more column for no gain in safety. A user who mistypes now and then resets the
count with every successful login.

The state is persisted in those two columns, so a lock survives a restart and holds across
several API processes sharing one database. Pure functions of the state and ``now`` (an aware
UTC datetime), so tests are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "LOCKOUT_THRESHOLD",
    "LockoutState",
    "after_failure",
    "after_success",
    "is_locked",
]

LOCKOUT_THRESHOLD = 5
"""Consecutive failed logins that lock the user."""


@dataclass(frozen=True, slots=True)
class LockoutState:
    """A user's lockout columns: consecutive failures and, when locked, the end of the lock."""

    failed_logins: int = 0
    locked_until: datetime | None = None


def is_locked(state: LockoutState, now: datetime) -> bool:
    """True while ``now`` is before the end of the lock (the end itself is unlocked)."""
    return state.locked_until is not None and now < state.locked_until


def after_failure(
    state: LockoutState, now: datetime, disable_seconds: int, threshold: int = LOCKOUT_THRESHOLD
) -> LockoutState:
    """The state after a wrong password given at ``now`` to an unlocked user.

    A lock that has run out is forgotten here (``locked_until`` cleared) so the columns never
    show a stale lock as if it were current.
    """
    if is_locked(state, now):
        # Refused without a password check; the caller should not get here. Keep the lock.
        return state
    failures = state.failed_logins + 1
    if failures >= threshold and disable_seconds > 0:
        return LockoutState(0, now + timedelta(seconds=disable_seconds))
    return LockoutState(failures, None)


def after_success() -> LockoutState:
    """The state after a successful login: no failures, no lock."""
    return LockoutState(0, None)
