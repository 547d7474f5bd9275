"""An alarm when a destination's traffic jumps (issue 6 §1, fraud caps).

Toll fraud shows as a burst of calls to destinations the switch rarely sends anything to
(premium-rate and satellite prefixes, small islands): hacked credentials are sold and used at
once. Calls are counted per destination (the first ``digits`` digits of the called number) in
windows of ``window_s`` seconds; a window whose count reaches ``min_calls`` and ``factor`` times
the mean of the destination's previous ``HISTORY`` windows raises an alarm, once per window.

The watch is quiet for its first ``HISTORY`` windows after a start: without a history every
destination would look new.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["HISTORY", "DestinationWatch", "TrafficJump", "WatchSettings"]

HISTORY = 12
"""Windows a destination's baseline is averaged over (one hour with 5-minute windows)."""


@dataclass(frozen=True, slots=True)
class WatchSettings:
    digits: int = 4
    window_s: float = 300.0
    factor: float = 5.0
    min_calls: int = 30
    """0 turns the watch off."""
    max_destinations: int = 50_000


@dataclass(frozen=True, slots=True)
class TrafficJump:
    destination: str
    calls: int
    """Calls in the window so far."""
    baseline: float
    """Mean calls per window over the previous ``HISTORY`` windows."""
    window_s: float


class DestinationWatch:
    __slots__ = ("_series", "_started", "settings")

    def __init__(self, settings: WatchSettings) -> None:
        self.settings = settings
        # destination -> [window index, calls, alarmed (0/1)] per window, oldest first
        self._series: dict[str, deque[list[int]]] = {}
        self._started: float | None = None

    def configure(self, settings: WatchSettings) -> None:
        if settings.window_s != self.settings.window_s or settings.digits != self.settings.digits:
            self._series.clear()  # windows of another length cannot be compared
            self._started = None
        self.settings = settings

    def call(self, callee: str, now: float) -> TrafficJump | None:
        """Count a call to ``callee``; the alarm it raises, if any."""
        settings = self.settings
        if settings.min_calls <= 0 or settings.window_s <= 0 or not callee:
            return None
        if self._started is None:
            self._started = now
        destination = callee[: settings.digits]
        index = int(now // settings.window_s)
        series = self._series.get(destination)
        if series is None:
            if len(self._series) >= settings.max_destinations:
                self._prune(index)
            series = self._series[destination] = deque()
        if series and series[-1][0] == index:
            series[-1][1] += 1
        else:
            series.append([index, 1, 0])
            while series and series[0][0] < index - HISTORY:
                series.popleft()
        current = series[-1]
        if current[2] or current[1] < settings.min_calls:
            return None
        if now - self._started < HISTORY * settings.window_s:
            return None
        history = sum(count for i, count, _ in series if index - HISTORY <= i < index)
        baseline = history / HISTORY
        if current[1] < settings.factor * max(baseline, 1.0):
            return None
        current[2] = 1
        return TrafficJump(destination, current[1], baseline, settings.window_s)

    def _prune(self, index: int) -> None:
        self._series = {
            key: series
            for key, series in self._series.items()
            if series and series[-1][0] >= index - HISTORY
        }
        if len(self._series) >= self.settings.max_destinations:
            for key in list(self._series)[: len(self._series) // 2]:
                del self._series[key]
