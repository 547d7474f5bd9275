"""The dynamic blacklists of VOS3000 (issue 6 §1).

* **Malicious caller**: SS_BLACK_LIST_CALLER_MALICIOUS_CALL_LIMIT calls from one caller number
  within SS_BLACK_LIST_CALLER_MALICIOUS_CALL_WINDOW seconds (counted from the first call of
  the window) put that caller on the list for SS_BLACK_LIST_CALLER_MALICIOUS_CALL_EXPIRE
  seconds: robodialers and stolen-credential dialers make far more calls than any person.
  Only numbers count: ``anonymous`` (or any other name a trunk sends for a withheld number)
  stands for many callers, and listing it would refuse them all.
* **No answer**: SS_BLACK_LIST_NO_ANSWER_LIMIT consecutive unanswered calls to one callee put
  that callee on the list for SS_BLACK_LIST_NO_ANSWER_EXPIRE seconds: a number nobody answers
  but somebody keeps dialling is a wangiri or a dead destination burning carrier attempts.

A limit of 0 turns its list off. Whitelisted numbers are never listed (the caller checks).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = ["BlacklistSettings", "DynamicBlacklist", "Listed", "ListedKind"]


class ListedKind(Enum):
    CALLER = "caller"
    CALLEE = "callee"


@dataclass(frozen=True, slots=True)
class Listed:
    """A number on a dynamic blacklist until ``until`` (monotonic seconds)."""

    kind: ListedKind
    number: str
    until: float
    count: int


@dataclass(frozen=True, slots=True)
class BlacklistSettings:
    caller_limit: int = 1000
    caller_window_s: float = 60.0
    caller_expire_s: float = 3600.0
    no_answer_limit: int = 100
    no_answer_expire_s: float = 3600.0
    max_tracked: int = 200_000


class DynamicBlacklist:
    """Counts calls per caller and unanswered calls per callee; keeps the listed numbers."""

    __slots__ = ("_callers", "_listed", "_unanswered", "settings")

    def __init__(self, settings: BlacklistSettings) -> None:
        self.settings = settings
        self._callers: dict[str, tuple[int, float]] = {}  # caller -> (calls, window start)
        self._unanswered: dict[str, int] = {}  # callee -> consecutive unanswered calls
        self._listed: dict[tuple[ListedKind, str], Listed] = {}

    def configure(self, settings: BlacklistSettings) -> None:
        self.settings = settings

    def listed(self, kind: ListedKind, number: str, now: float) -> Listed | None:
        if not self._listed:
            return None
        key = (kind, number)
        found = self._listed.get(key)
        if found is not None and found.until <= now:
            del self._listed[key]
            return None
        return found

    def call(self, caller: str, now: float) -> Listed | None:
        """Count a call from ``caller``; the listing it causes, if any."""
        settings = self.settings
        if settings.caller_limit <= 0 or not _is_number(caller):
            return None
        count, start = self._callers.get(caller, (0, now))
        if now - start >= settings.caller_window_s:
            count, start = 0, now
        count += 1
        if count >= settings.caller_limit:
            self._callers.pop(caller, None)
            return self._list(ListedKind.CALLER, caller, settings.caller_expire_s, count, now)
        if caller not in self._callers and len(self._callers) >= settings.max_tracked:
            self.prune(now)
            _evict_oldest(self._callers, settings.max_tracked)
        self._callers[caller] = (count, start)
        return None

    def ended(self, callee: str, answered: bool, now: float) -> Listed | None:
        """A call to ``callee`` ended; the listing a run of unanswered calls causes, if any."""
        settings = self.settings
        if answered or settings.no_answer_limit <= 0 or not callee:
            self._unanswered.pop(callee, None)
            return None
        count = self._unanswered.get(callee, 0) + 1
        if count >= settings.no_answer_limit:
            self._unanswered.pop(callee, None)
            return self._list(ListedKind.CALLEE, callee, settings.no_answer_expire_s, count, now)
        if callee not in self._unanswered and len(self._unanswered) >= settings.max_tracked:
            _evict_oldest(self._unanswered, settings.max_tracked)
        self._unanswered[callee] = count
        return None

    def _list(
        self, kind: ListedKind, number: str, expire_s: float, count: int, now: float
    ) -> Listed | None:
        if expire_s <= 0:
            return None
        listed = Listed(kind, number, now + expire_s, count)
        self._listed[(kind, number)] = listed
        return listed

    def entries(self, now: float) -> Iterator[Listed]:
        for kind, number in list(self._listed):
            found = self.listed(kind, number, now)
            if found is not None:
                yield found

    def lift(self, kind: ListedKind, number: str, now: float) -> bool:
        """End a listing now; False when ``number`` is not (or no longer) listed."""
        counters = self._unanswered if kind is ListedKind.CALLEE else self._callers
        counters.pop(number, None)
        found = self._listed.pop((kind, number), None)
        return found is not None and found.until > now

    def prune(self, now: float) -> None:
        window = self.settings.caller_window_s
        self._callers = {k: v for k, v in self._callers.items() if now - v[1] < window}
        self._listed = {k: v for k, v in self._listed.items() if v.until > now}


def _evict_oldest(table: dict[str, Any], limit: int) -> None:
    """Bounded memory: drop the oldest half of the counters (at least one) when ``table`` is
    full; their runs start again at 0. Dicts keep insertion order, so the first are oldest."""
    if len(table) >= limit:
        for key in list(table)[: max(1, len(table) - limit // 2)]:
            del table[key]


def _is_number(caller: str) -> bool:
    digits = caller[1:] if caller.startswith("+") else caller
    return digits.isascii() and digits.isdigit()
