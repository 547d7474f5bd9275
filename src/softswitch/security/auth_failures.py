"""Failed digest authentications and the suspensions they cause (issue 6 §1).

SS_AUTHENTICATION_MAX_RETRY failures suspend for SS_AUTHENTICATION_FAILED_SUSPEND seconds
(0 tries = unlimited). Failures are counted per source address and per (address, username):

* an attacker rotating usernames from one address fails under many names: the address's count
  reaches the limit and the whole address is suspended;
* many phones behind one NAT share an address: once a phone has authenticated from it within
  the suspension time, the address is *proven*, and a misconfigured phone failing there
  suspends only its own username from that address, not its neighbours;
* a successful authentication resets the counts of that username and of the address.

Counts run while failures keep coming: a failure more than the suspension time after the
previous one starts counting afresh, so a phone mistyped once a day is never suspended.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["AuthFailures", "Suspension"]


@dataclass(frozen=True, slots=True)
class Suspension:
    """A suspended address (``username`` None) or username at an address, until ``until``."""

    host: str
    username: str | None
    until: float
    failures: int


class AuthFailures:
    """Counts failures and keeps the suspensions; all times are the caller's ``now``."""

    __slots__ = ("_counts", "_proven", "_suspended", "max_retry", "max_tracked", "suspend_s")

    def __init__(self, max_retry: int, suspend_s: float, max_tracked: int = 100_000) -> None:
        self.max_retry = max_retry
        self.suspend_s = suspend_s
        self.max_tracked = max_tracked
        # key (host, username or None) -> (failures, time of the last one)
        self._counts: dict[tuple[str, str | None], tuple[int, float]] = {}
        self._suspended: dict[tuple[str, str | None], Suspension] = {}
        self._proven: dict[str, float] = {}  # host -> last successful authentication

    def configure(self, max_retry: int, suspend_s: float) -> None:
        self.max_retry = max_retry
        self.suspend_s = suspend_s

    # -- questions -------------------------------------------------------------------------

    def suspended(self, host: str, username: str | None, now: float) -> Suspension | None:
        """The suspension that applies to ``username`` (None: any) from ``host``."""
        found = self._live((host, None), now)
        if found is None and username is not None:
            found = self._live((host, username), now)
        return found

    def host_suspended(self, host: str, now: float) -> bool:
        """Whether every packet from ``host`` is to be dropped (checked before parsing)."""
        return bool(self._suspended) and self._live((host, None), now) is not None

    def _live(self, key: tuple[str, str | None], now: float) -> Suspension | None:
        found = self._suspended.get(key)
        if found is None:
            return None
        if found.until <= now:
            del self._suspended[key]
            return None
        return found

    # -- outcomes --------------------------------------------------------------------------

    def failed(self, host: str, username: str | None, now: float) -> Suspension | None:
        """Count a failure; the new suspension it causes, if any."""
        if self.max_retry <= 0 or self.suspend_s <= 0:
            return None
        if len(self._counts) >= self.max_tracked:
            self.prune(now)
        user_count = self._count((host, username), now) if username is not None else 0
        host_count = self._count((host, None), now)
        proven_at = self._proven.get(host)
        proven = proven_at is not None and now - proven_at < self.suspend_s
        if username is not None and proven and user_count >= self.max_retry:
            return self._suspend((host, username), user_count, now)
        if not proven and host_count >= self.max_retry:
            return self._suspend((host, None), host_count, now)
        return None

    def succeeded(self, host: str, username: str, now: float) -> None:
        """A successful authentication: the address is proven, its counts start again."""
        self._proven[host] = now
        self._counts.pop((host, username), None)
        self._counts.pop((host, None), None)

    def _count(self, key: tuple[str, str | None], now: float) -> int:
        count, last = self._counts.get(key, (0, now))
        if now - last > self.suspend_s:
            count = 0
        count += 1
        self._counts[key] = (count, now)
        return count

    def _suspend(self, key: tuple[str, str | None], failures: int, now: float) -> Suspension:
        suspension = Suspension(key[0], key[1], now + self.suspend_s, failures)
        self._suspended[key] = suspension
        self._counts.pop(key, None)
        if key[1] is None:
            for other in [k for k in self._counts if k[0] == key[0]]:
                del self._counts[other]
        return suspension

    # -- operators -------------------------------------------------------------------------

    def suspensions(self, now: float) -> Iterator[Suspension]:
        for key in list(self._suspended):
            found = self._live(key, now)
            if found is not None:
                yield found

    def lift(self, host: str, username: str | None, now: float) -> bool:
        """End a suspension now (an operator's decision); its counts start again. False when
        there is none (or it had ended already)."""
        self._counts.pop((host, username), None)
        if username is None:
            for other in [k for k in self._counts if k[0] == host]:
                del self._counts[other]
        found = self._suspended.pop((host, username), None)
        return found is not None and found.until > now

    def prune(self, now: float) -> None:
        """Forget counts and proofs older than the suspension time, and ended suspensions."""
        horizon = now - self.suspend_s
        self._counts = {k: v for k, v in self._counts.items() if v[1] >= horizon}
        self._proven = {k: v for k, v in self._proven.items() if v >= horizon}
        self._suspended = {k: v for k, v in self._suspended.items() if v.until > now}
        if len(self._counts) >= self.max_tracked:
            for key in list(self._counts)[: len(self._counts) - self.max_tracked // 2]:
                del self._counts[key]
