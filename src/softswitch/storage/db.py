"""Async engine construction for SQLite (the embedded default) and PostgreSQL.

Nothing is created at import time: the composition root calls ``create_engine`` once and owns
the engine's life. SQLite gets its per-connection settings from a connect event, because
PRAGMAs are per connection and a pool opens connections whenever it likes:

- ``journal_mode=WAL`` so readers (the API, CDR queries) never block the call path's writer;
- ``foreign_keys=ON`` because SQLite ignores declared foreign keys otherwise;
- ``busy_timeout`` so a writer waits for a competing writer instead of failing at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

__all__ = ["DEFAULT_DB_FILE", "SQLITE_BUSY_TIMEOUT_MS", "create_engine", "default_url", "sessions"]

DEFAULT_DB_FILE = "softswitch.db"
"""File name of the embedded SQLite database inside the data directory."""

SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long an SQLite connection waits for a lock before giving up."""


def default_url(data_dir: Path) -> str:
    """The embedded default: an SQLite file in the data directory, driven by aiosqlite."""
    return f"sqlite+aiosqlite:///{(data_dir / DEFAULT_DB_FILE).resolve()}"


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Build an async engine for ``sqlite+aiosqlite:///path`` or ``postgresql+asyncpg://...``.

    Refuses other drivers: the models and migrations are tested on these two only.
    """
    parsed = make_url(url)
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ValueError(
            f"unsupported database URL driver {parsed.drivername!r}: "
            "use sqlite+aiosqlite:///path or postgresql+asyncpg://..."
        )
    engine = _create_async_engine(parsed, echo=echo, pool_pre_ping=True)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    return engine


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A session factory whose objects stay readable after commit (no lazy reload on access)."""
    return async_sessionmaker(engine, expire_on_commit=False)
