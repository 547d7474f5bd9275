"""Following the change feed: how the running call path learns that its data changed.

Writers add a feed row in their own transaction (``storage.repos.record_change``). The switch
runs one :class:`ChangeFeed` that reads rows newer than the last one it saw and hands them to
its subscribers (the call path's snapshot builders, the parameter reloader). It reads
immediately after a write of this process (``await feed.catch_up()``, so an API answer means
the call path has been told) and otherwise every ``interval`` seconds, which is how writes made
by another process (``softswitch rates import``, ``config apply``) arrive.

Subscribers get batches (a rate import of a million rows is one ``replace`` row, not a million),
are awaited one after the other, and a subscriber that raises is logged and does not stop the
others or the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from softswitch.storage.repos import Change, ChangeFeedRepo

__all__ = ["PRUNE_EVERY", "RETENTION", "ChangeFeed", "Subscriber"]

_log = logging.getLogger(__name__)

Subscriber = Callable[[Sequence[Change]], Awaitable[None]]

RETENTION = timedelta(days=1)
"""Feed rows older than this are deleted: every follower has read them long before (a switch
that was down that long rebuilds its snapshots from the tables at start anyway)."""

PRUNE_EVERY = timedelta(hours=1)


class ChangeFeed:
    """The follower of the ``change_feed`` table for one process."""

    def __init__(self, repo: ChangeFeedRepo) -> None:
        self._repo = repo
        self._subscribers: list[Subscriber] = []
        self._last_id: int | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def last_id(self) -> int | None:
        """The newest row handed out (None before the first read)."""
        return self._last_id

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every later batch; returns the function that stops it."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(subscriber)

        return unsubscribe

    async def catch_up(self) -> int:
        """Hand out every row committed since the last read; returns how many there were.

        The first call only records where the feed stands: snapshots are built from the tables
        at start, so older rows are history, not news.
        """
        async with self._lock:
            if self._last_id is None:
                self._last_id = await self._repo.last_id()
                return 0
            if not self._subscribers:
                self._last_id = await self._repo.last_id()
                return 0
            total = 0
            while True:
                batch = await self._repo.after(self._last_id)
                if not batch:
                    return total
                self._last_id = batch[-1].id
                total += len(batch)
                for subscriber in list(self._subscribers):
                    try:
                        await subscriber(batch)
                    except Exception:
                        _log.exception("a change-feed subscriber failed; the others go on")

    async def start(self, interval: float = 1.0) -> None:
        """Read once now, then every ``interval`` seconds in a background task."""
        await self.catch_up()
        self._task = asyncio.create_task(self._follow(interval), name="change-feed")

    async def stop(self) -> None:
        """Stop the background task (idempotent)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _follow(self, interval: float) -> None:
        rounds_per_prune = max(1, int(PRUNE_EVERY.total_seconds() / interval))
        rounds = 0
        while True:
            await asyncio.sleep(interval)
            rounds += 1
            try:
                await self.catch_up()
                if rounds % rounds_per_prune == 0:
                    await self._repo.prune(datetime.now(UTC) - RETENTION)
            except Exception:
                # A database hiccup must not end the follower: the next round retries.
                _log.exception("reading the change feed failed; retrying in %.1f s", interval)
