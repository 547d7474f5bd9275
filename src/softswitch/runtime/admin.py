"""Administration from a shell: migrate the database, add users, set passwords, read and change
system parameters (``softswitch db``, ``softswitch user``, ``softswitch param``).

This is composition (storage + operators), so it lives in the runtime layer; the CLI only parses
arguments, calls these coroutines and prints what they return.

Who may do this: whoever has a shell with access to the data directory (or to the database URL
and its credentials) already controls every row the switch stores, so these helpers act as the
system actor (:data:`softswitch.operators.SYSTEM`, an admin) without a login. The audit log
records them as ``system``. Protect the data directory and the settings file accordingly.

User commands refuse to run on a schema that is not at the newest revision, instead of migrating
it behind the operator's back: a migration is a deliberate step (``softswitch db upgrade``, or
``softswitch run``, which migrates at start).

Parameter changes go through the same :class:`~softswitch.storage.repos.ParamOverrideRepo`
``save``/``delete`` as the HTTP API (override row and audit row in one transaction), with the
system actor as editor, and a change-feed row: a running switch follows the feed and applies a
change made here within about a second (``softswitch.manage.param_sync``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from softswitch.api import load_overrides
from softswitch.manage import ChangeFeed, ManageContext
from softswitch.operators import SYSTEM, Clock, OperatorService, PasswordHashing, Role, UserView
from softswitch.params import Param, ParamStore
from softswitch.runtime.server import load_params
from softswitch.runtime.settings import Settings
from softswitch.storage.db import create_engine, sessions
from softswitch.storage.migrate import current_revision, head_revision, upgrade_engine
from softswitch.storage.repos import ChangeFeedRepo, Editor, ParamOverrideRepo

__all__ = [
    "AdminError",
    "DatabaseStatus",
    "ParamSource",
    "ParamUpdate",
    "ParamValue",
    "ParamsInForce",
    "add_user",
    "database_status",
    "display_url",
    "open_manage",
    "params_in_force",
    "reset_param",
    "set_param",
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
async def _existing(settings: Settings) -> AsyncIterator[tuple[AsyncEngine, ParamStore]]:
    """The configured database, which must exist and be at the newest revision, with the
    parameters of the settings (catalogue and override file)."""
    path = _sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        raise AdminError(f"no database at {path}: run 'softswitch db upgrade' first")
    params = load_params(settings)
    async with _engine(settings) as engine:
        await _require_head(settings, engine)
        yield engine, params


@asynccontextmanager
async def _operators(
    settings: Settings, clock: Clock, hashing: PasswordHashing | None
) -> AsyncIterator[OperatorService]:
    async with _existing(settings) as (engine, params):
        yield OperatorService(sessions(engine), params, clock, hashing=hashing)


@asynccontextmanager
async def open_manage(settings: Settings, clock: Clock = _utcnow) -> AsyncIterator[ManageContext]:
    """The management services' context on the configured database, for CLI commands that
    read or write the configuration (rates import, cdr export, config export/apply).

    The database must exist and be at the newest revision. Writes record their change-feed
    rows like the API's do, so a running switch picks them up within a second; this process
    has no subscribers of its own.
    """
    async with _existing(settings) as (engine, params):
        factory = sessions(engine)
        overrides = ParamOverrideRepo(factory)
        await load_overrides(params, overrides)
        feed = ChangeFeed(ChangeFeedRepo(factory))
        yield ManageContext(sessions=factory, params=params, clock=clock, feed=feed)


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


# -- system parameters ---------------------------------------------------------------------------


class ParamSource(Enum):
    """Where the value in force of a parameter comes from (later sources win at start)."""

    DEFAULT = "default"
    FILE = "file"
    DATABASE = "database"


@dataclass(frozen=True, slots=True)
class ParamValue:
    """One parameter with the canonical text of its value in force and where that comes from."""

    param: Param[Any]
    value: str
    source: ParamSource

    @property
    def overridden(self) -> bool:
        """True when something other than the catalogue default is in force."""
        return self.source is not ParamSource.DEFAULT


@dataclass(frozen=True, slots=True)
class ParamsInForce:
    """The values a switch started now would use: defaults, then the override file, then the
    database overrides (the order ``softswitch run`` applies them). ``database`` is False when
    no database exists yet, so only the first two apply."""

    store: ParamStore
    from_database: frozenset[str]
    database: bool

    def view(self, param: Param[Any]) -> ParamValue:
        """``param`` as it stands in force."""
        if param.name in self.from_database:
            source = ParamSource.DATABASE
        elif self.store.is_overridden(param.name):
            source = ParamSource.FILE
        else:
            source = ParamSource.DEFAULT
        return ParamValue(param, param.format(self.store.get(param.name)), source)

    def get(self, name: str) -> ParamValue:
        """The parameter called ``name`` (any alias, any case); raises ``ParamError`` with the
        registry's close-match suggestion for an unknown name."""
        return self.view(self.store.registry.get(name))


@dataclass(frozen=True, slots=True)
class ParamUpdate:
    """What a set or reset did: the value in force before and after, and whether the database
    changed (a reset of a parameter with no stored override changes nothing)."""

    name: str
    before: str
    after: str
    stored: bool


def _with_params_file(settings: Settings, params_file: Path | None) -> Settings:
    return settings if params_file is None else replace(settings, params_file=params_file)


async def _in_force(store: ParamStore, repo: ParamOverrideRepo) -> frozenset[str]:
    """Apply the stored overrides to ``store`` the way the switch does at start (the API's
    :func:`~softswitch.api.load_overrides`, which skips stale rows) and return their names."""
    await load_overrides(store, repo)
    return frozenset(
        name
        for name, text in (await repo.load()).items()
        if name in store.registry
        and store.registry.get(name).format(store.get(name)) == text  # not a skipped stale row
    )


async def params_in_force(settings: Settings, *, params_file: Path | None = None) -> ParamsInForce:
    """Every parameter's value in force on the configured database (``params_file`` replaces
    the settings' override file). A missing SQLite file is not created: the result then has
    ``database=False``. Raises :class:`AdminError` for a database not at the newest revision."""
    store = load_params(_with_params_file(settings, params_file))
    path = _sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        return ParamsInForce(store, frozenset(), database=False)
    async with _engine(settings) as engine:
        await _require_head(settings, engine)
        names = await _in_force(store, ParamOverrideRepo(sessions(engine)))
    return ParamsInForce(store, names, database=True)


@asynccontextmanager
async def _param_repo(settings: Settings) -> AsyncIterator[tuple[ParamStore, ParamOverrideRepo]]:
    """The store in force and the override repository, on a database that exists and is at
    head (writing must never create or migrate one)."""
    path = _sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        raise AdminError(f"no database at {path}: run 'softswitch db upgrade' first")
    store = load_params(settings)
    async with _engine(settings) as engine:
        await _require_head(settings, engine)
        repo = ParamOverrideRepo(sessions(engine))
        await _in_force(store, repo)
        yield store, repo


_SYSTEM_EDITOR = Editor(SYSTEM.user_id, SYSTEM.username)


async def set_param(
    settings: Settings, name: str, text: str, *, clock: Clock = _utcnow
) -> ParamUpdate:
    """Validate ``text`` with the registry and store it as the override of ``name`` (alias or
    any case), with an audit row by ``system``. Raises ``ParamError`` (unknown name with a
    suggestion, or a value outside what is allowed) before touching the database, and
    :class:`AdminError`."""
    param = load_params(settings).registry.get(name)
    after = param.format(param.parse(text))
    async with _param_repo(settings) as (store, repo):
        before = param.format(store.get(param.name))
        await repo.save(_SYSTEM_EDITOR, param.name, before, after, clock())
    return ParamUpdate(param.name, before, after, stored=True)


async def reset_param(settings: Settings, name: str, *, clock: Clock = _utcnow) -> ParamUpdate:
    """Remove the stored override of ``name`` (audit row by ``system``) so the default, or the
    override file's value, applies (a running switch follows within a second). Raises like
    :func:`set_param`."""
    async with _param_repo(settings) as (store, repo):
        param = store.registry.get(name)
        before = param.format(store.get(param.name))
        default = param.format(param.default)
        stored = await repo.delete(_SYSTEM_EDITOR, param.name, before, default, clock())
    without_database = load_params(settings)  # defaults and the override file
    after = param.format(without_database.get(param.name))
    return ParamUpdate(param.name, before, after, stored)
