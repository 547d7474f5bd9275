"""Bring a database to the newest schema, programmatically (``softswitch run``, ``db upgrade``).

Alembic is configured in code (no ``alembic.ini``): the script location is this package's
``migrations`` directory, shipped as package data. Migrations run on a connection of the same
async engine type the switch uses, via ``run_sync``, so they also work from inside a running
event loop (``upgrade_engine``); ``upgrade`` is the synchronous convenience for CLIs and tests.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from softswitch.storage.db import create_engine

__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade", "upgrade_engine"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic configuration pointing at the shipped migrations (for tooling and tests)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision this release ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def _upgrade_on(connection: Connection, target: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, target)


def _current_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade_engine(engine: AsyncEngine, target: str = "head") -> None:
    """Apply every pending migration up to ``target`` in one transaction where the engine can."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_on, target)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current_on)


def upgrade(url: str, target: str = "head") -> None:
    """Open ``url``, migrate it to ``target`` and close it.

    For CLIs and tests; inside a running event loop use ``upgrade_engine`` (this raises there).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("upgrade() called inside an event loop: await upgrade_engine() instead")

    async def run() -> None:
        engine = create_engine(url)
        try:
            await upgrade_engine(engine, target)
        finally:
            await engine.dispose()

    asyncio.run(run())
