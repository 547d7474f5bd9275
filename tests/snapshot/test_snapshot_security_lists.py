"""The static black- and whitelists in the call path's snapshot (issue 6 §1), on SQLite and
PostgreSQL: entries written through the management service are in ``Snapshot.security_lists``
once the write returns (created, changed, deleted), and a row edited into nonsense behind the
service's back fails the build naming the row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from softswitch.manage import ChangeFeed, ManageContext, Who
from softswitch.manage.customers import ACCOUNT
from softswitch.manage.entities import EntityService
from softswitch.manage.security_lists import SECURITY_LIST_ENTRY
from softswitch.operators import SYSTEM
from softswitch.params import ParamStore, load_catalog
from softswitch.security.lists import EntryKind, ListType, StaticLists
from softswitch.snapshot import Snapshot, SnapshotError, SnapshotService, build_snapshot
from softswitch.storage import sessions
from softswitch.storage.models import SecurityEntryKind, SecurityListEntry, SecurityListType
from softswitch.storage.repos import ChangeFeedRepo

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
WHO = Who(SYSTEM, "test")


@pytest.fixture
async def ctx(engine: AsyncEngine) -> ManageContext:
    factory = sessions(engine)
    ctx = ManageContext(
        sessions=factory,
        params=ParamStore(load_catalog()),
        clock=lambda: NOW,
        feed=ChangeFeed(ChangeFeedRepo(factory)),
    )
    await ctx.feed.catch_up()  # position the feed, as the switch does at start
    return ctx


@pytest.fixture
async def service(ctx: ManageContext) -> AsyncIterator[SnapshotService[Snapshot]]:
    running: SnapshotService[Snapshot] = SnapshotService(ctx.sessions, ctx.feed, retry_delay=60.0)
    await running.start()
    yield running
    await running.stop()


async def entry(ctx: ManageContext, **fields: Any) -> int:
    spec = SECURITY_LIST_ENTRY
    out = await EntityService(ctx, spec).create(WHO, spec.create(**fields))
    return int(out.id)  # type: ignore[attr-defined]


async def test_an_empty_table_gives_empty_lists(service: SnapshotService[Snapshot]) -> None:
    lists = service.current.security_lists
    assert isinstance(lists, StaticLists) and not lists
    assert lists.ip_blocked("192.0.2.1") is None
    assert "0 list entries" in service.current.summary()


async def test_entries_reach_the_snapshot_when_the_write_returns(
    ctx: ManageContext, service: SnapshotService[Snapshot]
) -> None:
    spec = ACCOUNT
    account = await EntityService(ctx, spec).create(WHO, spec.create(code="C1", currency="USD"))
    account_id = int(account.id)  # type: ignore[attr-defined]
    scanners = await entry(ctx, list_type="blacklist", kind="ip", value="203.0.113.9/24")
    await entry(ctx, list_type="whitelist", kind="ip", value="203.0.113.7")
    await entry(ctx, list_type="blacklist", kind="callee", value="+44")
    london = await entry(
        ctx, list_type="whitelist", kind="callee", value="+44207", account_id=account_id
    )

    lists = service.current.security_lists
    assert len(lists.entries) == 4
    blocked = lists.ip_blocked("203.0.113.50")
    assert blocked is not None and blocked.id == scanners
    assert (blocked.list_type, blocked.kind, blocked.value) == (
        ListType.BLACK,
        EntryKind.IP,
        "203.0.113.0/24",
    )
    assert blocked.account_id is None
    assert lists.ip_blocked("203.0.113.7") is None and lists.ip_trusted("203.0.113.7")
    assert lists.ip_blocked("198.51.100.1") is None
    # the account's whitelisted prefix lets London through; other accounts stay blocked
    assert lists.number(EntryKind.CALLEE, "+442071234567", None).blocked
    verdict = lists.number(EntryKind.CALLEE, "+442071234567", account_id)
    assert verdict.trusted and not verdict.blocked
    assert verdict.entry is not None and verdict.entry.id == london
    assert verdict.entry.account_id == account_id
    assert not lists.number(EntryKind.CALLER, "+442071234567", None).blocked

    # a change and a delete are in force when the write returns
    service_entries = EntityService(ctx, SECURITY_LIST_ENTRY)
    await service_entries.update(WHO, scanners, SECURITY_LIST_ENTRY.update(list_type="whitelist"))
    assert service.current.security_lists.ip_blocked("203.0.113.50") is None
    assert service.current.security_lists.ip_trusted("203.0.113.50")
    await service_entries.delete(WHO, london)
    lists = service.current.security_lists
    assert len(lists.entries) == 3
    assert lists.number(EntryKind.CALLEE, "+442071234567", account_id).blocked


async def test_a_row_that_does_not_parse_fails_the_build_naming_it(
    ctx: ManageContext, service: SnapshotService[Snapshot]
) -> None:
    before = service.current
    async with ctx.sessions.begin() as session:
        await session.execute(
            insert(SecurityListEntry).values(
                id=77,
                list_type=SecurityListType.BLACKLIST,
                kind=SecurityEntryKind.IP,
                value="not-a-network",
                note="",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    with pytest.raises(SnapshotError, match=r"security list entry 77 \(not-a-network\)"):
        await build_snapshot(ctx.sessions)
    assert service.current is before
