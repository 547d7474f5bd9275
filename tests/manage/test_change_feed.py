"""The change-feed follower: position at start, batches in order, isolation of a failing
subscriber, writes of another process picked up by the background task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from softswitch.manage import ChangeFeed
from softswitch.storage import create_engine, sessions, upgrade_engine
from softswitch.storage.repos import Change, ChangeFeedRepo, record_change

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'feed.db'}")
    await upgrade_engine(engine)
    yield engine
    await engine.dispose()


async def _write(engine: AsyncEngine, *entity_ids: str, entity: str = "routing_gateway") -> None:
    async with sessions(engine).begin() as session:
        for entity_id in entity_ids:
            record_change(session, entity=entity, entity_id=entity_id, action="update", now=NOW)


async def test_history_before_the_first_read_is_not_news(engine: AsyncEngine) -> None:
    await _write(engine, "1", "2")
    feed = ChangeFeed(ChangeFeedRepo(sessions(engine)))
    seen: list[Sequence[Change]] = []

    async def subscriber(batch: Sequence[Change]) -> None:
        seen.append(batch)

    feed.subscribe(subscriber)
    assert await feed.catch_up() == 0
    assert seen == []
    await _write(engine, "3", "4")
    assert await feed.catch_up() == 2
    assert [[c.entity_id for c in batch] for batch in seen] == [["3", "4"]]
    assert await feed.catch_up() == 0  # nothing new, nothing handed out twice


async def test_a_failing_subscriber_does_not_stop_the_others(engine: AsyncEngine) -> None:
    feed = ChangeFeed(ChangeFeedRepo(sessions(engine)))
    await feed.catch_up()
    got: list[str] = []

    async def broken(batch: Sequence[Change]) -> None:
        raise RuntimeError("snapshot rebuild failed")

    async def working(batch: Sequence[Change]) -> None:
        got.extend(change.entity_id for change in batch)

    feed.subscribe(broken)
    unsubscribe = feed.subscribe(working)
    await _write(engine, "7")
    assert await feed.catch_up() == 1
    assert got == ["7"]
    unsubscribe()
    await _write(engine, "8")
    await feed.catch_up()
    assert got == ["7"]


async def test_the_background_task_picks_up_writes_made_elsewhere(engine: AsyncEngine) -> None:
    feed = ChangeFeed(ChangeFeedRepo(sessions(engine)))
    arrived = asyncio.Event()
    got: list[str] = []

    async def subscriber(batch: Sequence[Change]) -> None:
        got.extend(f"{c.entity}:{c.entity_id}" for c in batch)
        arrived.set()

    feed.subscribe(subscriber)
    await feed.start(interval=0.05)
    try:
        # Another engine on the same file stands for another process (the CLI).
        other = create_engine(str(engine.url))
        try:
            await _write(other, "PARAM_X", entity="param")
        finally:
            await other.dispose()
        await asyncio.wait_for(arrived.wait(), timeout=5)
    finally:
        await feed.stop()
    assert got == ["param:PARAM_X"]


async def test_prune_keeps_recent_rows(engine: AsyncEngine) -> None:
    repo = ChangeFeedRepo(sessions(engine))
    await _write(engine, "old")
    async with sessions(engine).begin() as session:
        record_change(
            session, entity="phone", entity_id="new", action="create", now=NOW.replace(day=2)
        )
    assert await repo.prune(NOW.replace(day=2)) == 1
    assert [c.entity_id for c in await repo.after(0)] == ["new"]
