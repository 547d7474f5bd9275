"""Live answer-seizure ratio (ASR) and average call duration (ACD) per gateway over sliding
windows.

Routing demotes a gateway whose recent ASR fell below its threshold (SS_GATEWAY_ASR_CALCULATE),
and operators watch ASR/ACD per gateway and per (gateway, prefix) in the API. "Recent" is
SS_GATEWAY_ASR_RESERVE_TIME seconds for ASR and SS_GATEWAY_ACD_RESERVE_TIME for ACD (60 to
86400; both may change at run time), passed in as plain numbers: this module does not know the
parameter registry.

Why buckets: one entry per call would grow with the call rate (a carrier at 200 calls per second
over a 24-hour window is 17 million entries). Calls are instead summed into time buckets of at
least ``bucket_seconds`` (10 s by default) and at most ``max_buckets`` per window, so a key costs
a few hundred small objects whatever the traffic, and a window sum is kept as a running total
(added on record, subtracted when a bucket ages out) so a query costs O(1) amortised: the
selector asks for every candidate gateway on every call.

The price is precision at the old edge: an outcome counts for at least the window and at most
one bucket longer. Hold times are summed in whole milliseconds (integers), so subtracting aged
buckets never leaves float dust and ACD is exact to the millisecond.

Outcomes are recorded when they are known: an unanswered attempt when its final answer (or
timeout) arrives, an answered call when it ends, with its hold time. ASR is the percentage of
attempts that were answered; ACD is the mean hold time of answered calls, in seconds.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["QualityKey", "QualityStats", "QualityWindows"]

QualityKey: TypeAlias = int | tuple[int, str]
"""A gateway id, or (gateway id, prefix) for per-destination figures."""

_MS = 1000


@dataclass(frozen=True, slots=True)
class QualityStats:
    """ASR/ACD figures of one key at one moment, as the API shows them.

    ``attempts``/``answered`` count the ASR window; ``acd_calls`` the answered calls of the ACD
    window (the two windows may differ). ``asr`` is a percentage, ``acd`` seconds; each is None
    when its window holds nothing to divide by."""

    attempts: int
    answered: int
    asr: float | None
    acd_calls: int
    acd: float | None


class _Bucket:
    """Sums of the outcomes recorded in ``[end - width, end)``; mutated only while newest."""

    __slots__ = ("answered", "attempts", "end", "hold_ms")

    def __init__(self, end: float) -> None:
        self.end = end
        self.attempts = 0
        self.answered = 0
        self.hold_ms = 0


class _Window:
    """The buckets of one series that are still inside one span, with their running totals."""

    __slots__ = ("answered", "attempts", "buckets", "hold_ms")

    def __init__(self, buckets: Iterable[_Bucket] = ()) -> None:
        self.buckets: deque[_Bucket] = deque(buckets)
        self.attempts = sum(b.attempts for b in self.buckets)
        self.answered = sum(b.answered for b in self.buckets)
        self.hold_ms = sum(b.hold_ms for b in self.buckets)

    def expire(self, cutoff: float) -> None:
        """Drop buckets that ended at or before ``cutoff`` (= now - span)."""
        buckets = self.buckets
        while buckets and buckets[0].end <= cutoff:
            old = buckets.popleft()
            self.attempts -= old.attempts
            self.answered -= old.answered
            self.hold_ms -= old.hold_ms


class _Series:
    """One key's ASR and ACD windows. Both hold the same bucket objects (the shorter window's
    buckets are a suffix of the longer one's), so recording touches each bucket once."""

    __slots__ = ("acd", "asr")

    def __init__(self) -> None:
        self.asr = _Window()
        self.acd = _Window()

    def longest(self) -> deque[_Bucket]:
        a, b = self.asr.buckets, self.acd.buckets
        return a if len(a) >= len(b) else b


class QualityWindows:
    """ASR and ACD per key over two sliding windows, in bounded memory.

    Not thread-safe, and needs no lock: the call path runs on one event loop.
    """

    __slots__ = ("_acd_window", "_asr_window", "_bucket_seconds", "_max_buckets", "_series")

    def __init__(
        self,
        asr_window: float,
        acd_window: float,
        *,
        bucket_seconds: float = 10.0,
        max_buckets: int = 360,
    ) -> None:
        """``asr_window``/``acd_window`` in seconds (the two SS_GATEWAY_*_RESERVE_TIME values).
        Buckets are ``bucket_seconds`` wide, or wider when a window would need more than
        ``max_buckets`` of them (a 24-hour window gets 240-second buckets by default)."""
        if not (bucket_seconds > 0 and math.isfinite(bucket_seconds)):
            raise ValueError(f"bucket_seconds must be a positive number, not {bucket_seconds}")
        if max_buckets < 1:
            raise ValueError(f"max_buckets must be at least 1, not {max_buckets}")
        self._bucket_seconds = bucket_seconds
        self._max_buckets = max_buckets
        self._series: dict[QualityKey, _Series] = {}
        self._asr_window = 0.0
        self._acd_window = 0.0
        self.set_windows(asr_window, acd_window)

    @property
    def asr_window(self) -> float:
        return self._asr_window

    @property
    def acd_window(self) -> float:
        return self._acd_window

    def set_windows(self, asr_window: float, acd_window: float) -> None:
        """Change the window lengths (a parameter changed). A shorter window takes effect at
        once; a longer one can only see what is still kept, so it reaches its full length as
        time passes: outcomes older than the longest previous window are already gone."""
        for name, value in (("asr_window", asr_window), ("acd_window", acd_window)):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number of seconds, not {value}")
        grows = asr_window > self._asr_window or acd_window > self._acd_window
        self._asr_window = float(asr_window)
        self._acd_window = float(acd_window)
        if grows:
            # The longer deque is a superset of the shorter one; both windows restart from it
            # and the next expire() trims each to its own span.
            for series in self._series.values():
                kept = tuple(series.longest())
                series.asr = _Window(kept)
                series.acd = _Window(kept)

    def _width(self) -> float:
        span = max(self._asr_window, self._acd_window)
        return max(self._bucket_seconds, span / self._max_buckets)

    def record(self, key: QualityKey, answered: bool, hold_seconds: float, now: float) -> None:
        """Count one finished attempt at ``now`` (monotonic seconds). ``hold_seconds`` counts
        only for answered calls (it is ignored otherwise) and must not be negative."""
        if hold_seconds < 0 or not math.isfinite(hold_seconds):
            raise ValueError(f"hold_seconds must be 0 or more, not {hold_seconds}")
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        self._expire(series, now)
        newest = series.asr.buckets[-1] if series.asr.buckets else None
        if newest is None or now >= newest.end:
            width = self._width()
            bucket = _Bucket(math.floor(now / width) * width + width)
            series.asr.buckets.append(bucket)
            series.acd.buckets.append(bucket)
        else:
            # Same bucket, or a timestamp slightly out of order: the newest bucket takes it.
            bucket = newest
        hold_ms = round(hold_seconds * _MS) if answered else 0
        won = 1 if answered else 0
        bucket.attempts += 1
        bucket.answered += won
        bucket.hold_ms += hold_ms
        for window in (series.asr, series.acd):
            window.attempts += 1
            window.answered += won
            window.hold_ms += hold_ms

    def _expire(self, series: _Series, now: float) -> None:
        series.asr.expire(now - self._asr_window)
        series.acd.expire(now - self._acd_window)

    def _window(self, key: QualityKey, now: float, acd: bool) -> _Window | None:
        series = self._series.get(key)
        if series is None:
            return None
        self._expire(series, now)
        return series.acd if acd else series.asr

    def asr(self, key: QualityKey, now: float) -> float | None:
        """Answered attempts as a percentage (0-100) of the attempts in the ASR window; None
        with no attempts there (no data is not bad data: the selector keeps such gateways)."""
        window = self._window(key, now, acd=False)
        if window is None or window.attempts == 0:
            return None
        return 100.0 * window.answered / window.attempts

    def acd(self, key: QualityKey, now: float) -> float | None:
        """Mean hold time in seconds of the answered calls in the ACD window; None without any."""
        window = self._window(key, now, acd=True)
        if window is None or window.answered == 0:
            return None
        return window.hold_ms / window.answered / _MS

    def attempts(self, key: QualityKey, now: float) -> int:
        """Attempts counted in the ASR window."""
        window = self._window(key, now, acd=False)
        return 0 if window is None else window.attempts

    def stats(self, key: QualityKey, now: float) -> QualityStats:
        """All figures of ``key`` at ``now`` (zeros and Nones for an unknown key)."""
        asr = self._window(key, now, acd=False)
        acd = self._window(key, now, acd=True)
        if asr is None or acd is None:
            return QualityStats(attempts=0, answered=0, asr=None, acd_calls=0, acd=None)
        return QualityStats(
            attempts=asr.attempts,
            answered=asr.answered,
            asr=100.0 * asr.answered / asr.attempts if asr.attempts else None,
            acd_calls=acd.answered,
            acd=acd.hold_ms / acd.answered / _MS if acd.answered else None,
        )

    def keys(self) -> list[QualityKey]:
        """Every key with a series kept (call ``prune`` first to drop idle ones)."""
        return list(self._series)

    def prune(self, now: float) -> int:
        """Forget keys with nothing left in either window; returns how many were dropped.
        Run now and then (say each minute) so gateways and prefixes that stopped carrying
        traffic, or were deleted, do not keep their empty series for ever."""
        idle = []
        for key, series in self._series.items():
            self._expire(series, now)
            if not series.asr.buckets and not series.acd.buckets:
                idle.append(key)
        for key in idle:
            del self._series[key]
        return len(idle)

    def __len__(self) -> int:
        """The number of keys kept."""
        return len(self._series)
