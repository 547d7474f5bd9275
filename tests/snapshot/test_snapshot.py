"""The call path's snapshot (``softswitch.snapshot``) on SQLite and PostgreSQL: built from the
tables as written through the management services, rebuilt and swapped after a write once
``feed.catch_up()`` returns, bursts coalesced, a failed rebuild keeping the old snapshot."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from ipaddress import ip_network
from typing import Any

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from softswitch.manage import ChangeFeed, ManageContext, Who
from softswitch.manage.customers import ACCOUNT, AGENT, PHONE
from softswitch.manage.entities import EntityService, EntitySpec
from softswitch.manage.gateways import MAPPING_GATEWAY, ROUTING_GATEWAY
from softswitch.operators import SYSTEM
from softswitch.params import ParamStore, load_catalog
from softswitch.routing import QualityWindows, Transport, candidates
from softswitch.snapshot import Snapshot, SnapshotService, build_snapshot
from softswitch.storage import sessions
from softswitch.storage.models import (
    AccountStatus,
    BillingMode,
    MediaProxyMode,
    Phone,
    Registration,
    RoutingGateway,
)
from softswitch.storage.repos import ChangeFeedRepo, record_change

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
WHO = Who(SYSTEM, "test")


def context(engine: AsyncEngine) -> ManageContext:
    factory = sessions(engine)
    return ManageContext(
        sessions=factory,
        params=ParamStore(load_catalog()),
        clock=lambda: NOW,
        feed=ChangeFeed(ChangeFeedRepo(factory)),
    )


async def create(ctx: ManageContext, spec: EntitySpec, **fields: Any) -> int:
    out = await EntityService(ctx, spec).create(WHO, spec.create(**fields))
    return int(out.id)  # type: ignore[attr-defined]


async def change(ctx: ManageContext, spec: EntitySpec, entity_id: int, **fields: Any) -> None:
    await EntityService(ctx, spec).update(WHO, entity_id, spec.update(**fields))


def ranked(snapshot: Snapshot, callee: str) -> list[str]:
    """Gateway names ``routing.candidates`` offers for ``callee`` (no calls in use, no ASR)."""
    found = candidates(
        snapshot.routes_tree,
        callee,
        in_use={},
        quality=QualityWindows(60.0, 60.0),
        now=0.0,
        asr_enabled=False,
        rng=random.Random(1),
    )
    return [route.name for route in found]


@pytest.fixture
async def ctx(engine: AsyncEngine) -> ManageContext:
    ctx = context(engine)
    await ctx.feed.catch_up()  # position the feed, as the switch does at start
    return ctx


@pytest.fixture
async def account(ctx: ManageContext) -> int:
    return await create(ctx, ACCOUNT, code="C1", currency="USD")


@pytest.fixture
async def service(ctx: ManageContext, account: int) -> AsyncIterator[SnapshotService]:
    running = SnapshotService(ctx.sessions, ctx.feed, retry_delay=60.0)
    await running.start()
    yield running
    await running.stop()


async def test_snapshot_reflects_the_data(ctx: ManageContext) -> None:
    agent = await create(ctx, AGENT, name="resell", enabled=False)
    account = await create(
        ctx,
        ACCOUNT,
        code="C7",
        currency="EUR",
        billing_mode=BillingMode.POSTPAID,
        status=AccountStatus.LOCKED,
        agent_id=agent,
        max_concurrent_calls=3,
        daily_spend_limit="12.5",
        valid_until=NOW + timedelta(days=1),
    )
    await create(
        ctx,
        PHONE,
        number="1001",
        password="secret-1001",
        account_id=account,
        allowed_ips=["192.0.2.0/24"],
        caller_id="5551001",
        max_concurrent_calls=2,
        behind_nat=True,
        media_proxy=MediaProxyMode.ON,
    )
    await create(
        ctx,
        PHONE,
        number="1002",
        password="secret-1002",
        account_id=account,
        registration=Registration.STATIC,
        host="192.0.2.7",
        port=5070,
        transport="tcp",
        enabled=False,
    )
    await create(
        ctx,
        MAPPING_GATEWAY,
        name="trunk",
        account_id=account,
        source_ips=["198.51.100.0/24"],
        auth_username="trunkuser",
        auth_password="trunk-secret",
        capacity=30,
        callee_rewrite=["prefix 0 44"],
        caller_rewrite=["add +"],
        allowed_prefixes=["44"],
    )
    await create(
        ctx,
        ROUTING_GATEWAY,
        name="uk",
        host="203.0.113.1",
        port=5080,
        prefixes=["44", "4420"],
        priority=2,
        weight=3,
        capacity=10,
        asr_threshold_percent=40,
        callee_rewrite=["strip 2"],
        failover_codes=[486],
    )
    await create(
        ctx,
        ROUTING_GATEWAY,
        name="goip",
        registration=Registration.DYNAMIC,
        auth_username="goip1",
        auth_password="goip-secret",
    )

    snapshot = await build_snapshot(ctx.sessions)

    info = snapshot.accounts[account]
    assert (info.code, info.currency, info.status, info.billing_mode) == (
        "C7",
        "EUR",
        AccountStatus.LOCKED,
        BillingMode.POSTPAID,
    )
    assert (info.max_concurrent_calls, info.daily_spend_limit) == (3, Decimal("12.5"))
    assert info.valid_until == NOW + timedelta(days=1)
    assert (info.agent_id, info.agent_enabled) == (agent, False)
    assert not info.expired(NOW) and info.expired(NOW + timedelta(days=2))
    assert not hasattr(info, "balance")

    phone = snapshot.phones["1001"]
    assert (phone.password, phone.account_id, phone.caller_id) == (
        "secret-1001",
        account,
        "5551001",
    )
    assert phone.allowed_ips == (ip_network("192.0.2.0/24"),)
    assert phone.allows_source("192.0.2.55") and not phone.allows_source("192.0.3.1")
    assert (phone.behind_nat, phone.media_proxy, phone.registration, phone.enabled) == (
        True,
        MediaProxyMode.ON,
        Registration.DYNAMIC,
        True,
    )
    static = snapshot.phones["1002"]
    assert (static.host, static.port, static.transport, static.enabled) == (
        "192.0.2.7",
        5070,
        Transport.TCP,
        False,
    )

    trunk = snapshot.trunks_by_username["trunkuser"]
    assert (trunk.name, trunk.auth_password, trunk.capacity) == ("trunk", "trunk-secret", 30)
    assert trunk.rewrite_callee("02071234567") == "442071234567"
    assert trunk.rewrite_caller("15551234") == "+15551234"
    assert trunk.allows_callee("4420") and not trunk.allows_callee("33")
    assert snapshot.trunk_for_source("198.51.100.9") is trunk
    assert snapshot.trunk_for_source("192.0.2.1") is None

    [uk_id] = [i for i, g in snapshot.gateways.items() if g.route.name == "uk"]
    uk = snapshot.gateways[uk_id].route
    assert (uk.host, uk.port, uk.prefixes, uk.priority, uk.weight, uk.capacity) == (
        "203.0.113.1",
        5080,
        ("44", "4420"),
        2,
        3,
        10,
    )
    assert uk.asr_threshold_percent == 40.0 and uk.failover_codes == frozenset({486})
    assert uk.rewrite_callee("442071234567") == "2071234567"
    assert snapshot.route(uk_id) is uk
    goip = snapshot.dynamic_gateways["goip1"]
    assert (goip.route.name, goip.auth_password, goip.route.host) == ("goip", "goip-secret", None)
    # "goip" has no prefixes: it takes every callee, after the more specific "uk".
    assert ranked(snapshot, "442071234567") == ["uk", "goip"]
    assert ranked(snapshot, "33123") == ["goip"]


async def test_new_gateway_appears_after_catch_up(
    ctx: ManageContext, service: SnapshotService
) -> None:
    before = service.current
    assert ranked(before, "4420123") == []
    await create(ctx, ROUTING_GATEWAY, name="london", host="203.0.113.2", prefixes=["4420"])
    after = service.current
    assert after is not before and after.version > before.version
    assert ranked(after, "4420123") == ["london"]
    assert ranked(before, "4420123") == []  # a call in flight keeps its snapshot


async def test_disabled_gateway_leaves_routing(
    ctx: ManageContext, service: SnapshotService
) -> None:
    first = await create(ctx, ROUTING_GATEWAY, name="a", host="203.0.113.3", prefixes=["1"])
    await create(ctx, ROUTING_GATEWAY, name="b", host="203.0.113.4", prefixes=["1"], priority=5)
    assert ranked(service.current, "1555") == ["a", "b"]
    version = service.current.version
    await change(ctx, ROUTING_GATEWAY, first, enabled=False)
    assert service.current.version > version
    assert ranked(service.current, "1555") == ["b"]
    kept = service.current.gateways[first].route
    assert (kept.name, kept.enabled) == ("a", False)  # still known, by id, for CDRs and API


async def test_phone_password_change_is_visible(
    ctx: ManageContext, service: SnapshotService, account: int
) -> None:
    phone = await create(ctx, PHONE, number="2001", password="old-secret", account_id=account)
    assert service.current.phones["2001"].password == "old-secret"
    await change(ctx, PHONE, phone, password="new-secret", display_name="Desk")
    assert service.current.phones["2001"].password == "new-secret"
    await change(ctx, PHONE, phone, enabled=False)
    assert service.current.phones["2001"].enabled is False


async def test_password_only_change_is_visible(
    ctx: ManageContext, service: SnapshotService, account: int
) -> None:
    phone = await create(ctx, PHONE, number="2002", password="old-secret", account_id=account)
    await change(ctx, PHONE, phone, password="new-secret")
    assert service.current.phones["2002"].password == "new-secret"


async def test_trunk_found_by_most_specific_source(
    ctx: ManageContext, service: SnapshotService, account: int
) -> None:
    wide = await create(
        ctx, MAPPING_GATEWAY, name="wide", account_id=account, source_ips=["10.0.0.0/8"]
    )
    await create(ctx, MAPPING_GATEWAY, name="mid", account_id=account, source_ips=["10.1.0.0/16"])
    await create(
        ctx,
        MAPPING_GATEWAY,
        name="one",
        account_id=account,
        source_ips=["10.1.2.3", "2001:db8::/32"],
    )

    def named(address: str) -> str | None:
        found = service.current.trunk_for_source(address)
        return None if found is None else found.name

    assert named("10.1.2.3") == "one"
    assert named("::ffff:10.1.2.3") == "one"  # what a dual-stack socket reports
    assert named("10.1.2.4") == "mid"
    assert named("10.2.0.1") == "wide"
    assert named("2001:db8:1::5") == "one"
    assert named("11.0.0.1") is None
    assert named("not an address") is None
    # A new, more specific block takes over after the write...
    await create(ctx, MAPPING_GATEWAY, name="carve", account_id=account, source_ips=["10.2.0.0/24"])
    assert named("10.2.0.1") == "carve"
    # ...and a disabled trunk still answers for its block, so its calls are refused rather
    # than billed to the wider neighbour.
    await change(
        ctx, MAPPING_GATEWAY, wide, source_ips=["10.0.0.0/8", "10.3.0.0/16"], enabled=False
    )
    disabled = service.current.trunk_for_source("10.3.0.1")
    assert disabled is not None and (disabled.name, disabled.enabled) == ("wide", False)


async def test_a_burst_of_writes_coalesces(ctx: ManageContext, service: SnapshotService) -> None:
    before = service.rebuilds

    async def add(index: int) -> None:
        await create(ctx, ROUTING_GATEWAY, name=f"gw{index}", host="203.0.113.9", prefixes=["7"])

    await asyncio.gather(*(add(index) for index in range(50)))
    rebuilds = service.rebuilds - before
    print(f"50 concurrent writes: {rebuilds} rebuilds")
    assert 1 <= rebuilds <= 25, rebuilds
    assert len(service.current.routes_tree.get("7")) == 50


async def test_changes_during_a_rebuild_cost_one_more(ctx: ManageContext, account: int) -> None:
    builds = 0
    building = asyncio.Event()

    async def slow_build(factory: async_sessionmaker[AsyncSession]) -> Snapshot:
        nonlocal builds
        builds += 1
        building.set()
        await asyncio.sleep(0.05)
        return await build_snapshot(factory)

    running = SnapshotService(ctx.sessions, ctx.feed, build=slow_build)
    await running.start()
    try:
        building.clear()
        first = asyncio.create_task(running.refresh())
        await building.wait()  # a rebuild is in progress...
        # ...when twenty more requests arrive: they share one rebuild after it.
        await asyncio.gather(first, *(running.refresh() for _ in range(20)))
    finally:
        await running.stop()
    assert builds == 1 + 2
    assert running.rebuilds == builds


async def test_unrelated_changes_do_not_rebuild(
    ctx: ManageContext, service: SnapshotService, engine: AsyncEngine
) -> None:
    before, version = service.rebuilds, service.current.version
    async with sessions(engine).begin() as session:
        record_change(session, entity="param", entity_id="SS_X", action="update", now=NOW)
    await ctx.feed.catch_up()
    assert (service.rebuilds, service.current.version) == (before, version)


async def _set_callee_rewrite(engine: AsyncEngine, gateway: int, rules: list[str]) -> None:
    """Write a gateway's rules behind the services' back (with its change-feed row)."""
    async with sessions(engine).begin() as session:
        await session.execute(
            update(RoutingGateway).where(RoutingGateway.id == gateway).values(callee_rewrite=rules)
        )
        record_change(
            session, entity="routing_gateway", entity_id=str(gateway), action="update", now=NOW
        )


async def test_failed_rebuild_keeps_the_old_snapshot(
    ctx: ManageContext,
    service: SnapshotService,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = await create(ctx, ROUTING_GATEWAY, name="z", host="203.0.113.5", prefixes=["9"])
    good = service.current
    # A rule that could never be saved through the service, written behind its back.
    await _set_callee_rewrite(engine, gateway, ["bogus"])
    with caplog.at_level(logging.ERROR, logger="softswitch.snapshot.service"):
        await ctx.feed.catch_up()
    assert service.current is good
    assert service.failures == 1
    assert "keeping version" in caplog.text and f"routing gateway {gateway} (z)" in caplog.text
    assert ranked(service.current, "912") == ["z"]
    # Repaired: the next rebuild succeeds.
    await _set_callee_rewrite(engine, gateway, ["strip 1"])
    await ctx.feed.catch_up()
    assert service.current.version > good.version
    assert service.current.gateways[gateway].route.rewrite_callee("912") == "12"


async def test_a_failed_rebuild_is_retried(ctx: ManageContext, account: int) -> None:
    failing = False

    async def flaky_build(factory: async_sessionmaker[AsyncSession]) -> Snapshot:
        if failing:
            raise OSError("database went away")
        return await build_snapshot(factory)

    running = SnapshotService(ctx.sessions, ctx.feed, retry_delay=0.05, build=flaky_build)
    await running.start()
    try:
        old = running.current
        failing = True
        await create(ctx, ROUTING_GATEWAY, name="late", host="203.0.113.6", prefixes=["8"])
        assert running.current is old and running.failures == 1
        failing = False
        for _ in range(100):  # the retry comes after retry_delay, without another change
            await asyncio.sleep(0.01)
            if running.current is not old:
                break
        assert ranked(running.current, "800") == ["late"]
    finally:
        await running.stop()


async def test_build_time_for_a_large_switch(engine: AsyncEngine, account: int) -> None:
    """1,000 routing gateways and 10,000 phones: a full rebuild stays well under a second."""
    rows_gw = [
        {
            "name": f"carrier{i}",
            "host": f"10.9.{i // 250}.{i % 250 + 1}",
            "prefixes": [str(1000 + i), str(2000 + i)],
            "callee_rewrite": ["strip 1", "add 00"],
            "failover_codes": [503],
            "priority": i % 7,
        }
        for i in range(1000)
    ]
    rows_phone = [
        {"number": f"{100000 + i}", "password": f"pw{i}", "account_id": account}
        for i in range(10000)
    ]
    async with sessions(engine).begin() as session:
        await session.execute(insert(RoutingGateway), rows_gw)
        await session.execute(insert(Phone), rows_phone)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        snapshot = await build_snapshot(sessions(engine))
        timings.append(time.perf_counter() - started)
    elapsed = min(timings)
    print(f"build of 1,000 gateways + 10,000 phones: best {elapsed:.3f} s of {timings}")
    assert (len(snapshot.gateways), len(snapshot.phones)) == (1000, 10000)
    assert len(snapshot.routes_tree) == 2000
    assert elapsed < 5.0, elapsed
