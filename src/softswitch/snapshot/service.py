"""Keeping the call path's snapshot current: rebuild on relevant changes, swap atomically.

The switch runs one :class:`SnapshotService`. It builds the first snapshot at start and then
follows the change feed (``manage.changes.ChangeFeed``, reached through the small
:class:`ChangeSource` protocol so this package does not depend on the management layer). A
batch naming a routing-relevant entity rebuilds the *whole* snapshot and swaps the reference
(``current``): readers never see half of a change, and a call keeps the snapshot it started
with.

Bursts coalesce: while a rebuild runs, later changes only mark the service dirty, and one more
rebuild follows the running one, however many changes came in meanwhile. Rows the current
snapshot already reflects (feed id at or below its ``version``) cause nothing. The feed awaits
its subscribers, so when ``feed.catch_up()`` returns after a write, the new snapshot is in
place (an API answer means the call path has been told).

A failed rebuild (a database hiccup, a row edited into nonsense behind the service's back)
keeps the previous snapshot, is logged, and is retried after ``retry_delay`` seconds.
Parameters are not this service's business: the parameter reloader follows the same feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from softswitch.snapshot.builder import build_snapshot
from softswitch.storage.repos import Change

__all__ = ["RELEVANT_ENTITIES", "ChangeSource", "SnapshotService"]

_log = logging.getLogger(__name__)

RELEVANT_ENTITIES = frozenset(
    {
        "routing_gateway",
        "mapping_gateway",
        "phone",
        "account",
        "agent",
        "rate_table",
        "security_list_entry",
    }
)
"""Change-feed entities that a snapshot reflects (``rate_table``: accounts and gateways name
their tables, and the rate snapshot will join this one)."""


class ChangeSource(Protocol):
    """What the service needs of the change feed (``ChangeFeed`` has it)."""

    @property
    def last_id(self) -> int | None: ...

    def subscribe(
        self, subscriber: Callable[[Sequence[Change]], Awaitable[None]]
    ) -> Callable[[], None]: ...

    async def catch_up(self) -> int: ...


class Versioned(Protocol):
    """What the service needs of what it keeps: the feed id it reflects and a log line."""

    @property
    def version(self) -> int: ...

    def summary(self) -> str: ...


S = TypeVar("S", bound=Versioned)


class SnapshotService(Generic[S]):
    """The current snapshot and the follower that replaces it.

    The same follower keeps the routing snapshot (``build_snapshot``, the default) and the rate
    books (``snapshot.rates``): each is rebuilt only for the entities it reflects
    (``relevant``), so editing a phone does not rebuild a million rates.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        feed: ChangeSource,
        *,
        retry_delay: float = 5.0,
        build: Callable[[async_sessionmaker[AsyncSession]], Awaitable[S]] = build_snapshot,  # type: ignore[assignment]
        relevant: frozenset[str] = RELEVANT_ENTITIES,
        name: str = "call-path snapshot",
    ) -> None:
        self._sessions = sessions
        self._feed = feed
        self._retry_delay = retry_delay
        self._build = build
        self._relevant = relevant
        self._name = name
        self._current: S | None = None
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.rebuilds = 0
        """Snapshots built since start, the first one included."""
        self.failures = 0
        """Rebuilds that failed (the previous snapshot stayed)."""
        self.last_build_seconds = 0.0
        """Wall time of the last successful build."""

    @property
    def current(self) -> S:
        """The snapshot in force; read it once per call and keep it for the call."""
        if self._current is None:
            raise RuntimeError("SnapshotService.start() has not built the first snapshot yet")
        return self._current

    async def start(self) -> None:
        """Build the first snapshot and follow the feed; a failure here raises (the switch
        must not take calls without its data)."""
        if self._unsubscribe is not None:
            return
        self._unsubscribe = self._feed.subscribe(self._on_changes)
        if self._feed.last_id is None:
            # The feed's first read only records where it stands; do it before building, so a
            # write between our build and that read cannot be skipped as "history".
            await self._feed.catch_up()
        try:
            first = await self._timed_build()
        except BaseException:
            self._unsubscribe()
            self._unsubscribe = None
            raise
        self._install(first)

    async def stop(self) -> None:
        """Stop following the feed and cancel pending work (idempotent)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def refresh(self) -> None:
        """Rebuild now (joining a rebuild already running) and wait for it."""
        self._dirty = True
        await self._run()

    async def _on_changes(self, batch: Sequence[Change]) -> None:
        version = self._current.version if self._current is not None else -1
        if not any(c.entity in self._relevant and c.id > version for c in batch):
            return
        await self.refresh()

    async def _run(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._rebuild_while_dirty(), name="snapshot-rebuild")
        # Shielded: a caller that gives up waiting must not cancel a rebuild others wait on.
        await asyncio.shield(self._task)

    async def _rebuild_while_dirty(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                snapshot = await self._timed_build()
            except Exception:
                self.failures += 1
                _log.exception(
                    "rebuilding the %s failed; keeping version %s, retrying in %.1f s",
                    self._name,
                    self._current.version if self._current is not None else None,
                    self._retry_delay,
                )
                self._schedule_retry()
                return
            self._install(snapshot)

    async def _timed_build(self) -> S:
        started = time.perf_counter()
        snapshot = await self._build(self._sessions)
        self.last_build_seconds = time.perf_counter() - started
        return snapshot

    def _install(self, snapshot: S) -> None:
        if self._retry is not None:  # this build is the retry's work done
            self._retry.cancel()
            self._retry = None
        previous = self._current
        # A build that started earlier can never finish with an older version than the one
        # in force, as builds run one at a time; the check guards against a slow builder.
        if previous is None or snapshot.version >= previous.version:
            self._current = snapshot
        self.rebuilds += 1
        _log.info(
            "%s version %s: %s (%.3f s)",
            self._name,
            snapshot.version,
            snapshot.summary(),
            self.last_build_seconds,
        )

    def _schedule_retry(self) -> None:
        if self._retry is not None or self._unsubscribe is None:
            return

        def retry() -> None:
            self._retry = None
            if self._unsubscribe is None:
                return
            self._dirty = True
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(
                    self._rebuild_while_dirty(), name="snapshot-rebuild"
                )

        self._retry = asyncio.get_running_loop().call_later(self._retry_delay, retry)
