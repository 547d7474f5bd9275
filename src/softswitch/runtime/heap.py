"""The garbage collector's policy in a running switch: no long pause on the call path.

CPython frees almost everything by reference counting; its cyclic collector exists for the
rest, and a collection stops the event loop while it walks every object of the generations it
collects. With the interpreter's defaults (700, 10, 10) a switch at 300 calls a second ran a
full collection every few seconds, each walking the half-million objects of live calls,
lingering transactions and the routing snapshot: pauses of 230-290 ms, during which the SIP
socket's queue filled and the 95th percentile of INVITE->200 went from 4 ms to 150-220 ms
(docs/performance.md, "Garbage collector").

So, once the switch is up:

- everything built at start (modules, the snapshot, SQLAlchemy's and pydantic's caches) is
  moved out of the collector's sight with :func:`gc.freeze`: it lives as long as the process;
- young collections run every ``YOUNG`` allocations instead of 700 (a call's messages and views
  mostly die young, before a collection finds them) and the middle generation every ``MIDDLE``
  young ones, which bounds those pauses at tens of milliseconds;
- automatic full collections are off (threshold 2 out of reach); :class:`FullCollections` runs
  one every ``interval_s`` instead and logs what it cost, so the pause is rare, predictable and
  visible. The call path avoids reference cycles (no self-rearming closures, timers popped when
  a call ends), so little waits for that pass: 364 unreachable objects after 3,000 calls.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

__all__ = ["FULL_INTERVAL_S", "MIDDLE", "YOUNG", "FullCollections", "settle"]

_log = logging.getLogger(__name__)

YOUNG = 10_000
"""Allocations (net of frees) of tracked objects between young collections (CPython: 700)."""
MIDDLE = 5
"""Young collections between collections of the middle generation (CPython: 10)."""
_NEVER = 1_000_000_000
"""Threshold 2 out of reach: no automatic full collection."""
FULL_INTERVAL_S = 600.0
"""Seconds between the scheduled full collections."""


def settle() -> None:
    """Collect once, freeze what survived start-up, and set the thresholds above. Called once
    the switch is ready; idempotent."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, _NEVER)


class FullCollections:
    """Runs a full collection every ``interval_s`` on the event loop and logs its pause."""

    def __init__(self, interval_s: float = FULL_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.runs = 0
        self.last_pause_s = 0.0
        self.last_collected = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="full-gc")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def collect(self) -> int:
        """One full collection now; the number of unreachable objects it found."""
        started = time.perf_counter()
        found = gc.collect()
        self.last_pause_s = time.perf_counter() - started
        self.last_collected = found
        self.runs += 1
        _log.info(
            "full garbage collection: %d unreachable objects, %.1f ms",
            found,
            1000 * self.last_pause_s,
        )
        return found

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.collect()
