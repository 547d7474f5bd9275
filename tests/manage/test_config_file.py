"""``config export``/``apply`` without the CLI (``softswitch.manage.config_file`` and
``config_plan``), on SQLite and PostgreSQL: the round trip export → apply on an empty
database → identical export, a second apply writing nothing, references by name, every error
reported with its YAML path and nothing written, prune, and parameter overrides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.database import database_url as database_url
from fixtures.database import engine as engine
from fixtures.database import postgres_url as postgres_url
from softswitch.manage import ChangeFeed, ManageContext, Who
from softswitch.manage.config_file import ConfigInvalid, export_config, parse_text, render
from softswitch.manage.config_plan import Change, Plan, apply_plan, plan_config
from softswitch.operators import SYSTEM
from softswitch.params import ParamStore, load_catalog
from softswitch.storage import create_engine, sessions, upgrade_engine
from softswitch.storage.models import (
    Account,
    AuditEntry,
    ChangeRow,
    ParamOverride,
    Phone,
    Rate,
    RateTable,
    RoutingGateway,
)
from softswitch.storage.repos import ChangeFeedRepo

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
WHO = Who(SYSTEM, "test")

DOC = """
version: 1
params:
  SERVER_QUERY_ONE_PAGE_SIZE: 50
rate_tables:
  - name: retail
    currency: USD
    memo: what customers pay
    rates:
      - {prefix: '44', area_name: UK, rate_per_minute: '0.0125',
         effective_from: 2026-01-01T00:00:00Z}
      - prefix: '1'
        rate_per_minute: '0.010'
        initial_increment: 6
        subsequent_increment: 6
        effective_from: '2026-01-01T02:00:00+02:00'
  - {name: carrier-cost, currency: USD}
agents:
  - {name: resell, rate_table: retail}
accounts:
  - {code: C1, currency: USD, agent: resell, rate_table: retail, credit_limit: '10.50'}
  - {code: C2, currency: USD, billing_mode: postpaid}
phones:
  - {number: '1001', account: C1, password: secret-1001, display_name: Front desk}
  - {number: '1002', account: C2}
mapping_gateways:
  - {name: trunk1, account: C1, source_ips: [10.0.0.1]}
routing_gateways:
  - name: carrier
    host: 192.0.2.1
    rate_table: carrier-cost
    register_username: us
    register_password: reg-secret
"""


def context(engine: AsyncEngine) -> ManageContext:
    factory = sessions(engine)
    return ManageContext(
        sessions=factory,
        params=ParamStore(load_catalog()),
        clock=lambda: NOW,
        feed=ChangeFeed(ChangeFeedRepo(factory)),
    )


async def apply_text(ctx: ManageContext, text: str, *, prune: bool = False) -> Plan:
    plan = await plan_config(ctx, parse_text(text), prune=prune)
    await apply_plan(ctx, WHO, plan)
    return plan


async def export_text(ctx: ManageContext) -> str:
    return render(await export_config(ctx))


async def count(engine: AsyncEngine, model: type[Any]) -> int:
    async with sessions(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def written(engine: AsyncEngine) -> tuple[int, int]:
    """Audit rows and change-feed rows so far."""
    return await count(engine, AuditEntry), await count(engine, ChangeRow)


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[ManageContext]:
    """A second database (SQLite) holding DOC, to export from."""
    other = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'source.db'}")
    await upgrade_engine(other)
    ctx = context(other)
    await apply_text(ctx, DOC)
    yield ctx
    await other.dispose()


async def test_export_apply_on_an_empty_database_export_is_identical(
    engine: AsyncEngine, source: ManageContext
) -> None:
    exported = await export_text(source)
    assert "secret-1001" in exported and "reg-secret" in exported  # a backup restores devices
    assert "balance" not in exported
    assert "rate_per_minute: '0.0125'" in exported  # exact money as text
    assert "effective_from: '2026-01-01T00:00:00Z'" in exported  # UTC, ISO 8601
    target = context(engine)
    plan = await apply_text(target, exported)
    assert plan.count("account", Change.CREATE) == 2
    assert plan.count("rate", Change.CREATE) == 2
    assert plan.count("param", Change.CREATE) == 1
    assert await export_text(target) == exported
    async with sessions(engine)() as session:
        phone = await session.scalar(select(Phone).where(Phone.number == "1002"))
        assert phone is not None
    # The password generated on the source (1002 gave none) was carried over, not regenerated.
    assert f"password: {phone.password}" in exported


async def test_applying_the_same_file_twice_writes_nothing_the_second_time(
    engine: AsyncEngine,
) -> None:
    ctx = context(engine)
    first = await apply_text(ctx, DOC)
    assert not first.empty
    before = await written(engine)
    again = await apply_text(ctx, DOC)
    assert again.empty
    assert again.unchanged["accounts"] == 2 and again.unchanged["rates"] == 2
    assert again.unchanged["params"] == 1
    assert await written(engine) == before
    # The export of what it applied re-applies as unchanged too (canonical forms agree).
    assert (await plan_config(ctx, parse_text(await export_text(ctx)))).empty


async def test_only_the_fields_that_differ_are_updated(engine: AsyncEngine) -> None:
    ctx = context(engine)
    await apply_text(ctx, DOC)
    audits, changes = await written(engine)
    changed = DOC.replace("display_name: Front desk", "display_name: Lobby").replace(
        "credit_limit: '10.50'",
        "credit_limit: '10.5000'",  # the same amount: no change
    )
    plan = await apply_text(ctx, changed)
    assert [(s.action, s.entity, s.key, s.fields) for s in plan.steps] == [
        (Change.UPDATE, "phone", "1001", ("display_name",))
    ]
    assert await written(engine) == (audits + 1, changes + 1)


async def test_rows_refer_to_each_other_by_name_in_the_file_or_the_database(
    engine: AsyncEngine,
) -> None:
    ctx = context(engine)
    await apply_text(ctx, DOC)
    # A second file naming rows that only the database has (no prune): resolved by name.
    extra = """
version: 1
phones:
  - {number: '2001', account: C2}
routing_gateways:
  - {name: backup, host: 192.0.2.9, rate_table: retail}
"""
    await apply_text(ctx, extra)
    async with sessions(engine)() as session:
        c2 = await session.scalar(select(Account).where(Account.code == "C2"))
        retail = await session.scalar(select(RateTable).where(RateTable.name == "retail"))
        phone = await session.scalar(select(Phone).where(Phone.number == "2001"))
        backup = await session.scalar(select(RoutingGateway).where(RoutingGateway.name == "backup"))
        assert c2 is not None and retail is not None and phone is not None and backup is not None
        assert phone.account_id == c2.id
        assert backup.rate_table_id == retail.id


async def test_every_error_is_reported_with_its_yaml_path_and_nothing_is_written(
    engine: AsyncEngine,
) -> None:
    bad = """
version: 1
params:
  SERVER_QUERY_ONE_PAGE_SIZ: 10
  SS_SIP_SESSION_TIMER: lots
rate_tables:
  - name: retail
    currency: USD
    rates:
      - {prefix: '44', rate_per_minute: 0.01, effective_from: '2026-01-01T00:00:00Z'}
      - {prefix: '45', rate_per_minute: '0.01'}
accounts:
  - {code: C1, currency: USD, rate_table: retail}
  - {code: C2, currency: dollars, colour: blue}
  - {code: C1, currency: USD}
phones:
  - {number: '1001', account: C9}
  - {number: 1002, account_id: 1}
routing_gateways:
  - {name: carrier, registration: static}
"""
    ctx = context(engine)
    with pytest.raises(ConfigInvalid) as refused:
        await plan_config(ctx, parse_text(bad))
    paths = [error.path for error in refused.value.errors]
    assert paths == [
        "params.SERVER_QUERY_ONE_PAGE_SIZ",
        "params.SS_SIP_SESSION_TIMER",
        "rate_tables[0].rates[0].rate_per_minute",
        "rate_tables[0].rates[1].effective_from",
        "accounts[1].currency",
        "accounts[1].colour",
        "accounts[2]",
        "phones[1].number",
        "phones[1].account_id",
        "routing_gateways[0].host",
        "phones[0].account",
    ]
    messages = {error.path: error.message for error in refused.value.errors}
    assert "did you mean SERVER_QUERY_ONE_PAGE_SIZE" in messages["params.SERVER_QUERY_ONE_PAGE_SIZ"]
    assert "quoted" in messages["rate_tables[0].rates[0].rate_per_minute"]
    assert "no account 'C9'" in messages["phones[0].account"]
    assert "not by database id" in messages["phones[1].account_id"]
    assert "accounts[0]" in messages["accounts[2]"]  # the duplicate names the first one
    assert await count(engine, RateTable) == 0
    assert await written(engine) == (0, 0)


async def test_a_refusal_while_applying_rolls_everything_back(engine: AsyncEngine) -> None:
    # Two gateways with the same digest username: only the database's uniqueness check sees it.
    clash = """
version: 1
rate_tables: [{name: retail, currency: USD}]
accounts: [{code: C1, currency: USD}]
mapping_gateways:
  - {name: a, account: C1, auth_username: same, auth_password: secret-a}
  - {name: b, account: C1, auth_username: same, auth_password: secret-b}
"""
    ctx = context(engine)
    plan = await plan_config(ctx, parse_text(clash))
    with pytest.raises(ConfigInvalid) as refused:
        await apply_plan(ctx, WHO, plan)
    [error] = refused.value.errors
    assert error.path == "mapping_gateways[1].auth_username"
    assert await count(engine, RateTable) == 0 and await count(engine, Account) == 0
    assert await written(engine) == (0, 0)


async def test_prune_deletes_what_the_file_lacks_and_resets_params(engine: AsyncEngine) -> None:
    ctx = context(engine)
    await apply_text(ctx, DOC)
    smaller = """
version: 1
rate_tables:
  - name: retail
    currency: USD
    memo: what customers pay
    rates:
      - {prefix: '44', area_name: UK, rate_per_minute: '0.0125',
         effective_from: 2026-01-01T00:00:00Z}
accounts:
  - {code: C2, currency: USD, billing_mode: postpaid}
phones:
  - {number: '1002', account: C2}
"""
    without_prune = await plan_config(ctx, parse_text(smaller))
    assert not [s for s in without_prune.steps if s.action is Change.DELETE]
    plan = await apply_text(ctx, smaller, prune=True)
    deletes = [(s.entity, s.key) for s in plan.steps if s.action is Change.DELETE]
    # Reverse dependency order: what refers to a row goes before it.
    assert deletes == [
        ("routing_gateway", "carrier"),
        ("mapping_gateway", "trunk1"),
        ("phone", "1001"),
        ("account", "C1"),
        ("agent", "resell"),
        ("rate", "retail 1 2026-01-01T00:00:00Z"),
        ("rate_table", "carrier-cost"),
    ]
    assert [(p.name, p.action) for p in plan.params] == [
        ("SERVER_QUERY_ONE_PAGE_SIZE", Change.DELETE)
    ]
    assert await count(engine, Rate) == 1 and await count(engine, ParamOverride) == 0
    assert await count(engine, Account) == 1
    # With prune a reference must be in the file: the database's rows are about to go.
    with pytest.raises(ConfigInvalid) as refused:
        await plan_config(
            ctx, parse_text("version: 1\nphones: [{number: '9', account: C2}]"), prune=True
        )
    assert [e.path for e in refused.value.errors] == ["phones[0].account"]


async def test_params_are_stored_as_overrides_with_their_canonical_text(
    engine: AsyncEngine,
) -> None:
    ctx = context(engine)
    plan = await apply_text(ctx, "version: 1\nparams: {server_query_one_page_size: '75'}\n")
    assert [(p.name, p.before, p.after) for p in plan.params] == [
        ("SERVER_QUERY_ONE_PAGE_SIZE", None, "75")
    ]
    async with sessions(engine)() as session:
        stored = await session.get(ParamOverride, "SERVER_QUERY_ONE_PAGE_SIZE")
        assert stored is not None and stored.value == "75"
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.entity == "param"))
        assert audit is not None and audit.username == SYSTEM.username
    changed = await apply_text(ctx, "version: 1\nparams: {SERVER_QUERY_ONE_PAGE_SIZE: 80}\n")
    assert [(p.action, p.before, p.after) for p in changed.params] == [(Change.UPDATE, "75", "80")]


async def test_a_phone_without_a_password_keeps_the_stored_one(engine: AsyncEngine) -> None:
    ctx = context(engine)
    await apply_text(ctx, DOC)
    plan = await apply_text(ctx, DOC.replace(", password: secret-1001", ""))
    assert plan.empty
    async with sessions(engine)() as session:
        phone = await session.scalar(select(Phone).where(Phone.number == "1001"))
        assert phone is not None and phone.password == "secret-1001"
        account = await session.scalar(select(Account).where(Account.code == "C1"))
        assert account is not None and account.credit_limit == Decimal("10.5")
