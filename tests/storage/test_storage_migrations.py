"""Engines and migrations on real SQLite and PostgreSQL databases: upgrade to head, models ==
schema, downgrade and up again on both engines; SQLite PRAGMAs on SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, Column, Integer, MetaData, Table, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from softswitch.storage import (
    DEFAULT_DB_FILE,
    create_engine,
    current_revision,
    default_url,
    head_revision,
    upgrade,
    upgrade_engine,
)
from softswitch.storage.db import SQLITE_BUSY_TIMEOUT_MS
from softswitch.storage.migrate import alembic_config
from softswitch.storage.models import Base

EXPECTED_TABLES = {
    "accounts",
    "agents",
    "api_tokens",
    "audit_log",
    "billing_reservations",
    "change_feed",
    "cdrs",
    "ledger_entries",
    "mapping_gateways",
    "operator_users",
    "param_overrides",
    "payments",
    "phones",
    "rate_tables",
    "registrations",
    "rates",
    "routing_gateways",
    "security_list_entries",
}


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _differences(connection: Connection, metadata: MetaData) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _check_names(connection: Connection) -> dict[str, set[str]]:
    inspector = inspect(connection)
    return {
        table: {str(c["name"]) for c in inspector.get_check_constraints(table)}
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


async def _tables_and_revision(url: str) -> tuple[set[str], str | None]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        return tables, await current_revision(engine)
    finally:
        await engine.dispose()


def test_upgrade_brings_an_empty_database_to_head(database_url: str) -> None:
    upgrade(database_url)
    tables, revision = asyncio.run(_tables_and_revision(database_url))
    assert tables == EXPECTED_TABLES | {"alembic_version"}
    assert set(Base.metadata.tables) == EXPECTED_TABLES
    assert revision == head_revision() == "0009"


async def test_each_case_runs_on_the_engine_it_names(
    request: pytest.FixtureRequest, engine: AsyncEngine
) -> None:
    """Guards the fixtures: a ``[postgresql]`` case really talks to a PostgreSQL server."""
    engine_name = request.node.callspec.params["database_url"]
    query = {"sqlite": "SELECT 'SQLite ' || sqlite_version()", "postgresql": "SELECT version()"}
    async with engine.connect() as connection:
        version = (await connection.execute(text(query[engine_name]))).scalar_one()
    assert engine.dialect.name == engine_name
    assert str(version).startswith(
        {"sqlite": "SQLite 3.", "postgresql": "PostgreSQL "}[engine_name]
    )


async def test_models_and_migrated_schema_agree(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences, Base.metadata)
    assert differences == []


async def test_schema_comparison_sees_a_drift(engine: AsyncEngine) -> None:
    """The agreement test above proves something only if a drift would be reported."""
    drifted = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    Table("not_migrated", drifted, Column("id", Integer, primary_key=True))
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences, drifted)
    assert [d[0] for d in differences if isinstance(d, tuple)] == ["add_table"]


async def test_check_constraints_of_models_and_schema_agree(engine: AsyncEngine) -> None:
    """Alembic does not compare CHECK constraints, so compare their names here."""
    model_checks = {
        name: {
            str(c.name)
            for c in table.constraints
            if isinstance(c, CheckConstraint) and c.name is not None
        }
        for name, table in Base.metadata.tables.items()
    }
    async with engine.connect() as connection:
        schema_checks = await connection.run_sync(_check_names)
    assert schema_checks == model_checks
    assert "ck_accounts_status" in schema_checks["accounts"]
    assert "ck_operator_users_customer_scope" in schema_checks["operator_users"]


def test_upgrade_twice_is_harmless(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)
    tables, revision = asyncio.run(_tables_and_revision(database_url))
    assert tables == EXPECTED_TABLES | {"alembic_version"}
    assert revision == head_revision()


async def test_sync_upgrade_refuses_to_run_inside_an_event_loop(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="upgrade_engine"):
        upgrade(sqlite_url(tmp_path / "loop.db"))
    assert not (tmp_path / "loop.db").exists()


def _downgrade_to_base(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, "base")


async def test_downgrade_to_base_and_up_again(engine: AsyncEngine) -> None:
    """The initial revision's downgrade is exercised too, so it cannot rot unnoticed."""
    async with engine.begin() as connection:
        await connection.run_sync(_downgrade_to_base)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert tables == {"alembic_version"}
    assert await current_revision(engine) is None
    await upgrade_engine(engine)
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as connection:
        assert await connection.run_sync(_differences, Base.metadata) == []


async def test_empty_database_has_no_revision(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await current_revision(engine) is None
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_pragmas_on_every_connection(engine: AsyncEngine) -> None:
    async with engine.connect() as first, engine.connect() as second:
        for connection in (first, second):
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
            assert timeout == SQLITE_BUSY_TIMEOUT_MS


def test_default_url_is_an_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    assert url == f"sqlite+aiosqlite:///{(tmp_path / DEFAULT_DB_FILE).resolve()}"


def test_default_url_migrates(tmp_path: Path) -> None:
    upgrade(default_url(tmp_path))
    assert (tmp_path / DEFAULT_DB_FILE).is_file()


@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "postgresql://localhost/x", "mysql+aiomysql://localhost/x"]
)
def test_only_the_two_tested_async_drivers_are_accepted(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL driver"):
        create_engine(url)


def test_postgres_url_builds_an_engine_without_connecting() -> None:
    engine = create_engine("postgresql+asyncpg://user:secret@127.0.0.1:1/softswitch")
    assert engine.dialect.name == "postgresql"
    assert engine.dialect.driver == "asyncpg"
