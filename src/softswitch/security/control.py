"""What the HTTP API sees of the running switch's defences (``/api/v1/security/...``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from softswitch.security.guard import EntryType, Guard

__all__ = ["AlarmView", "GuardControl", "SecurityControl", "SecurityEntryView", "SecurityFigures"]


@dataclass(frozen=True, slots=True)
class SecurityEntryView:
    """A live ban, suspension or dynamic blacklist entry."""

    type: EntryType
    key: str
    reason: str
    detail: str
    until: datetime
    remaining_s: int
    dropped: int


@dataclass(frozen=True, slots=True)
class AlarmView:
    """A destination whose traffic jumped (possible toll fraud)."""

    at: datetime
    destination: str
    calls: int
    baseline: float
    window_s: int


@dataclass(frozen=True, slots=True)
class SecurityFigures:
    dropped_packets: int
    bans: int
    suspensions: int
    blacklisted: int


class SecurityControl(Protocol):
    def entries(self) -> list[SecurityEntryView]: ...

    def lift(self, type_: EntryType, key: str, actor: str) -> bool: ...

    def alarms(self) -> list[AlarmView]: ...

    def figures(self) -> SecurityFigures: ...


class GuardControl:
    """:class:`SecurityControl` over a :class:`Guard`: its monotonic deadlines shown as UTC
    times. ``clock`` is the guard's ``now`` (monotonic seconds), ``wall`` the UTC clock."""

    def __init__(
        self, guard: Guard, clock: Callable[[], float], wall: Callable[[], datetime]
    ) -> None:
        self.guard = guard
        self._clock = clock
        self._wall = wall

    def entries(self) -> list[SecurityEntryView]:
        now, wall = self._clock(), self._wall()
        return [
            SecurityEntryView(
                type=entry.type,
                key=entry.key,
                reason=entry.reason,
                detail=entry.detail,
                until=wall + timedelta(seconds=entry.until - now),
                remaining_s=max(0, round(entry.until - now)),
                dropped=entry.dropped,
            )
            for entry in self.guard.entries(now)
        ]

    def lift(self, type_: EntryType, key: str, actor: str) -> bool:
        return self.guard.lift(type_, key, self._clock())

    def alarms(self) -> list[AlarmView]:
        now, wall = self._clock(), self._wall()
        return [
            AlarmView(
                at=wall + timedelta(seconds=at - now),
                destination=jump.destination,
                calls=jump.calls,
                baseline=jump.baseline,
                window_s=round(jump.window_s),
            )
            for at, jump in self.guard.alarms
        ]

    def figures(self) -> SecurityFigures:
        counts = dict.fromkeys(EntryType, 0)
        for entry in self.guard.entries(self._clock()):
            counts[entry.type] += 1
        return SecurityFigures(
            dropped_packets=self.guard.dropped,
            bans=counts[EntryType.BAN],
            suspensions=counts[EntryType.SUSPENSION],
            blacklisted=counts[EntryType.BLACKLIST],
        )
