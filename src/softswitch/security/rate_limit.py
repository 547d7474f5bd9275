"""Per-source request-rate limiting with bans, after Kamailio's pike (issue 6 §1).

Every packet from a source takes a token from that source's bucket; the bucket refills at
``rate`` tokens a second up to ``burst``. A source that finds its bucket empty is banned for
``ban_s`` seconds: its packets are dropped before parsing, so a flood costs one dictionary
lookup per packet. A token bucket rather than pike's fixed sampling windows: a burst at the
edge of two windows cannot pass twice the limit, and an idle source's state is one float pair.

Memory is bounded: at most ``max_sources`` buckets are kept (a flood from spoofed addresses
cannot grow the table); when full, buckets that refilled completely (idle sources) are dropped
first, then the oldest.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FloodLimiter", "FloodSettings"]


@dataclass(frozen=True, slots=True)
class FloodSettings:
    rate: float
    """Tokens (packets) a second per source; 0 turns the limit off."""
    burst: float
    """Bucket size: packets a quiet source may send at once."""
    ban_s: float
    """How long a source over the limit is banned."""
    max_sources: int = 100_000


class FloodLimiter:
    """Token buckets per source address; says which sources are over their limit."""

    __slots__ = ("_buckets", "settings")

    def __init__(self, settings: FloodSettings) -> None:
        self.settings = settings
        # source -> (tokens, time of the last refill)
        self._buckets: dict[str, tuple[float, float]] = {}

    def configure(self, settings: FloodSettings) -> None:
        """New limits; buckets keep their tokens (capped to the new burst on next use)."""
        self.settings = settings

    def take(self, source: str, now: float) -> bool:
        """Take one token for a packet from ``source``; False when the bucket is empty (the
        caller bans the source)."""
        settings = self.settings
        if settings.rate <= 0:
            return True
        buckets = self._buckets
        found = buckets.get(source)
        if found is None:
            if len(buckets) >= settings.max_sources:
                self._shrink(now)  # replaces the table
            self._buckets[source] = (settings.burst - 1.0, now)
            return True
        tokens, last = found
        tokens = min(settings.burst, tokens + (now - last) * settings.rate)
        if tokens < 1.0:
            buckets[source] = (tokens, now)
            return False
        buckets[source] = (tokens - 1.0, now)
        return True

    def forget(self, source: str) -> None:
        """Drop a source's bucket (a lifted ban starts with a full one)."""
        self._buckets.pop(source, None)

    def prune(self, now: float) -> None:
        """Drop the buckets that have refilled completely: those sources are idle."""
        settings = self.settings
        if settings.rate <= 0:
            self._buckets.clear()
            return
        full_after = settings.burst / settings.rate
        self._buckets = {
            source: state for source, state in self._buckets.items() if now - state[1] < full_after
        }

    def _shrink(self, now: float) -> None:
        self.prune(now)
        buckets = self._buckets
        excess = len(buckets) - self.settings.max_sources + 1
        if excess > 0:
            # Dicts keep insertion order: the first keys are the oldest sources.
            for source in list(buckets)[:excess]:
                del buckets[source]

    def __len__(self) -> int:
        return len(self._buckets)
