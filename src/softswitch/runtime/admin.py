"""Administration from a shell: migrate the database, add users, set passwords (``softswitch db``
and ``softswitch user``).

This is composition (storage + operators), so it lives in the runtime layer; the CLI only parses
arguments, calls these coroutines and prints what they return.

Who may do this: whoever has a shell with access to the data directory (or to the database URL
and its credentials) already controls every row the switch stores, so these helpers act as the
system actor (:data:`softswitch.operators.SYSTEM`, an admin) without a login. The audit log
records them as ``system``. Protect the data directory and the settings file accordingly.

User commands refuse to run on a schema that is not at the newest revision, instead of migrating
it behind the operator's back: a migration is a deliberate step (``softswitch db upgrade``, or
``softswitch run``, which migrates at start).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from softswitch.operators import SYSTEM, Clock, OperatorService, PasswordHashing, Role, UserView
from softswitch.runtime.server import load_params
from softswitch.runtime.settings import Settings
from softswitch.storage.db import create_engine, sessions
from softswitch.storage.migrate import current_revision, head_revision, upgrade_engine

__all__ = [
    "AdminError",
    "DatabaseStatus",
    "add_user",
    "database_status",
    "display_url",
    "set_password",
    "upgrade_database",
]


class AdminError(Exception):
    """The database cannot be used for the requested step; the message says what to do."""


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    """Where a database's schema stands. ``url`` is safe to print (password hidden);
    ``current`` is None for a database that was never migrated (or does not exist yet)."""

    url: str
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        """True when the schema is exactly the one this release expects."""
        return self.current == self.head


def _utcnow() -> datetime:
    return datetime.now(UTC)


def display_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (None for PostgreSQL and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


@asynccontextmanager
async def _engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on the configured database, disposed on exit; connection failures become
    :class:`AdminError` so the CLI shows one line instead of a driver traceback."""
    engine = create_engine(settings.database_url)
    try:
        yield engine
    except (SQLAlchemyError, OSError) as exc:
        raise AdminError(f"database {display_url(settings.database_url)}: {exc}") from exc
    finally:
        await engine.dispose()


async def database_status(settings: Settings) -> DatabaseStatus:
    """The current and newest revision. A missing SQLite file is reported as never migrated
    and is not created (looking must not leave an empty database behind)."""
    url, head = display_url(settings.database_url), head_revision()
    path = _sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        return DatabaseStatus(url, None, head)
    async with _engine(settings) as engine:
        return DatabaseStatus(url, await current_revision(engine), head)


async def upgrade_database(settings: Settings) -> DatabaseStatus:
    """Apply every pending migration (creating the SQLite file and its directory if needed)
    and return the resulting status."""
    path = _sqlite_file(settings.database_url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AdminError(f"cannot create {path.parent}: {exc}") from exc
    async with _engine(settings) as engine:
        await upgrade_engine(engine)
        current = await current_revision(engine)
    return DatabaseStatus(display_url(settings.database_url), current, head_revision())


async def _require_head(settings: Settings, engine: AsyncEngine) -> None:
    url, head = display_url(settings.database_url), head_revision()
    current = await current_revision(engine)
    if current != head:
        at = "is empty" if current is None else f"is at revision {current}"
        raise AdminError(
            f"database {url} {at}, this release needs {head}: run 'softswitch db upgrade' first"
        )


@asynccontextmanager
async def _operators(
    settings: Settings, clock: Clock, hashing: PasswordHashing | None
) -> AsyncIterator[OperatorService]:
    path = _sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        raise AdminError(f"no database at {path}: run 'softswitch db upgrade' first")
    params = load_params(settings)
    async with _engine(settings) as engine:
        await _require_head(settings, engine)
        yield OperatorService(sessions(engine), params, clock, hashing=hashing)


async def add_user(
    settings: Settings,
    username: str,
    password: str,
    role: Role,
    *,
    agent_id: int | None = None,
    account_id: int | None = None,
    clock: Clock = _utcnow,
    hashing: PasswordHashing | None = None,
) -> UserView:
    """Create a login as the system actor. Raises :class:`AdminError`, the service's
    ``OperatorError`` subclasses, or ``PasswordTooShort``/``PasswordTooLong``."""
    async with _operators(settings, clock, hashing) as service:
        return await service.create_user(
            SYSTEM, username, password, role, agent_id=agent_id, account_id=account_id
        )


async def set_password(
    settings: Settings,
    username: str,
    password: str,
    *,
    clock: Clock = _utcnow,
    hashing: PasswordHashing | None = None,
) -> UserView:
    """Set ``username``'s password as the system actor (no old password needed; a lockout is
    lifted) and return the user as it is now. Raises like :func:`add_user`, and
    ``UnknownUser``."""
    async with _operators(settings, clock, hashing) as service:
        await service.change_password(SYSTEM, username, password)
        user = await service.get_user(username)
    if user is None:  # deleted between the two statements
        raise AdminError(f"user {username!r} disappeared while its password was set")
    return user
