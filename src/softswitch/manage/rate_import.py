"""Bulk rate-table import and export as CSV (issue 3 §2 and §4; format in ``rate_csv``).

An import is one transaction: the rows of the file replace the table's rates (``replace``) or
are upserted by (prefix, effective_from, profile) (``merge``), with one audit row summarising the
import (counts, mode, file name — not the million rows) and one change-feed row for the table,
so the call path rebuilds its snapshot once. All or nothing by default: one bad row and nothing
is written (:class:`ImportRefused` lists the errors with their line numbers); with
``skip_bad`` the good rows are imported and the bad ones reported.

Speed (target: a million rows in under a minute on both engines, see ``docs/performance.md``):
the ORM would build a million objects, so rows go straight to the driver in chunks, money as
integer micro-units. SQLite gets ``executemany`` on the session's own connection; PostgreSQL
gets ``COPY`` (asyncpg ``copy_records_to_table``) into the table, or for a merge into a
temporary table followed by one ``INSERT … ON CONFLICT DO UPDATE``. Everything runs on the
session's connection, so it commits or rolls back with the audit and feed rows.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, delete, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from softswitch.manage.context import ManageContext, Who
from softswitch.manage.errors import Forbidden, Invalid, NotFound
from softswitch.manage.rate_csv import RateRow, RowError, header_line, rate_line, read_rates
from softswitch.operators import Action, Actor, Resource, Target, can
from softswitch.storage.models import Rate, RateTable
from softswitch.storage.repos import record_audit, record_change

__all__ = [
    "CHUNK_ROWS",
    "MAX_REPORTED_ERRORS",
    "ImportMode",
    "ImportRefused",
    "ImportResult",
    "Progress",
    "RateImportService",
]

MAX_REPORTED_ERRORS = 1000
"""Errors listed in an answer; a file with more reports this many and the total count."""

CHUNK_ROWS = 10_000
"""Rows sent to the database per round trip (and per progress report)."""

Progress = Callable[[int, int | None], None]
"""Called after each chunk with (lines read so far, total lines if the caller knew it)."""

_COLUMNS = (
    "rate_table_id",
    "prefix",
    "area_name",
    "rate_per_minute",
    "initial_increment",
    "subsequent_increment",
    "connection_fee",
    "free_seconds",
    "effective_from",
    "effective_to",
    "first_price",
    "min_duration",
    "profile",
)
"""In :class:`RateRow` order after its line number (the PostgreSQL writer relies on it)."""
_UPDATED = (*_COLUMNS[2:8], "effective_to", "first_price", "min_duration")
_CONFLICT = "rate_table_id, prefix, effective_from, profile"
_ON_CONFLICT = f"ON CONFLICT ({_CONFLICT}) DO UPDATE SET " + ", ".join(
    f"{name} = excluded.{name}" for name in _UPDATED
)
_TEMP = "rate_import_rows"


class ImportMode(enum.Enum):
    """What the file does to the table."""

    REPLACE = "replace"
    """The file becomes the table's whole rate list."""
    MERGE = "merge"
    """Rows with a (prefix, effective_from, profile) already in the table are updated, others
    added."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did. ``errors`` holds at most :data:`MAX_REPORTED_ERRORS` of the
    ``skipped`` bad rows."""

    table_id: int
    mode: ImportMode
    imported: int
    skipped: int
    errors: tuple[RowError, ...]


class ImportRefused(Invalid):
    """All or nothing: the file has bad rows, nothing was imported. ``errors`` lists them (at
    most :data:`MAX_REPORTED_ERRORS`), ``bad`` counts them all."""

    def __init__(self, errors: Sequence[RowError], bad: int) -> None:
        first = errors[0]
        where = f"line {first.line}" + (f", {first.field}" if first.field else "")
        super().__init__(
            f"{bad} bad row(s), nothing imported; fix them or import with skip_bad "
            f"(first: {where}: {first.message})",
            field="file",
        )
        self.errors = tuple(errors)
        self.bad = bad


def _check(actor: Actor, action: Action) -> None:
    """Rate tables are the operators' business (admin and operator roles only)."""
    if not can(actor, action, Target(Resource.RATE_TABLE)):
        raise Forbidden(f"{actor.username} ({actor.role.value}) may not {action.value} rate tables")


class RateImportService:
    """CSV import into, and export out of, one rate table."""

    def __init__(self, ctx: ManageContext) -> None:
        self._ctx = ctx

    async def table_id(self, actor: Actor, name: str) -> int:
        """The id of the rate table called ``name`` (NotFound otherwise)."""
        _check(actor, Action.READ)
        async with self._ctx.sessions() as session:
            found = await session.scalar(select(RateTable.id).where(RateTable.name == name))
        if found is None:
            raise NotFound(f"no rate table named {name!r}", field="table")
        return int(found)

    async def check_import(self, actor: Actor, table_id: int) -> None:
        """Refuse early (before an upload is read) when ``actor`` may not import or the table
        does not exist; :meth:`import_csv` checks again in its transaction."""
        _check(actor, Action.UPDATE)
        async with self._ctx.sessions() as session:
            if await session.get(RateTable, table_id) is None:
                raise NotFound(f"no rate table {table_id}", field="table_id")

    async def import_csv(
        self,
        who: Who,
        table_id: int,
        lines: Iterable[str],
        *,
        mode: ImportMode = ImportMode.REPLACE,
        skip_bad: bool = False,
        file_name: str = "",
        total_lines: int | None = None,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Import the CSV text ``lines`` (see ``rate_csv``) into table ``table_id``.

        Raises :class:`ImportRefused` when a row is bad and ``skip_bad`` is off, or when the
        header is unusable (always); ``NotFound`` for an unknown table; ``Forbidden`` for
        roles other than admin and operator.
        """
        _check(who.actor, Action.UPDATE)
        now = self._ctx.now()
        async with self._ctx.sessions.begin() as session:
            locked = select(RateTable.id).where(RateTable.id == table_id).with_for_update()
            if await session.scalar(locked) is None:
                raise NotFound(f"no rate table {table_id}", field="table_id")
            before = await _count(session, table_id)
            connection = await session.connection()
            writer = await _writer(connection, table_id, mode)
            imported, bad, errors = 0, 0, list[RowError]()
            chunk: list[RateRow] = []
            lines_read = 1
            for item in read_rates(lines, now=now):
                lines_read = item.line
                if isinstance(item, RowError):
                    bad += 1
                    if len(errors) < MAX_REPORTED_ERRORS:
                        errors.append(item)
                    if item.fatal:
                        raise ImportRefused(errors, bad)
                    continue
                if bad and not skip_bad:
                    continue  # refused anyway: read on only to report every error
                chunk.append(item)
                if len(chunk) >= CHUNK_ROWS:
                    await writer.write(chunk)
                    imported += len(chunk)
                    chunk = []
                    if progress is not None:
                        progress(item.line, total_lines)
            if bad and not skip_bad:
                raise ImportRefused(errors, bad)
            if chunk:
                await writer.write(chunk)
                imported += len(chunk)
            await writer.finish()
            after = await _count(session, table_id)
            summary = {
                "rates": after,
                "mode": mode.value,
                "file": file_name[:200],
                "imported": imported,
                "skipped": bad,
            }
            record_audit(
                session,
                user_id=who.actor.user_id,
                username=who.actor.username,
                action="import",
                entity="rate_table",
                entity_id=str(table_id),
                before={"rates": before},
                after=summary,
                now=now,
                remote_addr=who.remote_addr,
            )
            record_change(
                session, entity="rate_table", entity_id=str(table_id), action="replace", now=now
            )
        if progress is not None:
            progress(total_lines if total_lines is not None else lines_read, total_lines)
        await self._ctx.feed.catch_up()
        return ImportResult(table_id, mode, imported, bad, tuple(errors))

    async def export_csv(self, actor: Actor, table_id: int) -> AsyncIterator[str]:
        """The table as CSV text in pieces of many lines, header first, ordered by prefix,
        effective_from and profile; importing it back gives the same rates. Checks the actor
        and the table before returning, so an HTTP answer can still be an error."""
        _check(actor, Action.READ)
        async with self._ctx.sessions() as session:
            if await session.get(RateTable, table_id) is None:
                raise NotFound(f"no rate table {table_id}", field="table_id")
        return self._lines(table_id)

    async def _lines(self, table_id: int) -> AsyncIterator[str]:
        c = Rate.__table__.c
        query = (
            select(
                c.prefix,
                c.area_name,
                type_coerce(c.rate_per_minute, BigInteger()),
                c.initial_increment,
                c.subsequent_increment,
                type_coerce(c.connection_fee, BigInteger()),
                c.effective_from,
                c.effective_to,
                c.free_seconds,
                type_coerce(c.first_price, BigInteger()),
                c.min_duration,
                c.profile,
            )
            .where(c.rate_table_id == table_id)
            .order_by(c.prefix, c.effective_from, c.profile)
            .execution_options(yield_per=CHUNK_ROWS)
        )
        yield header_line()
        async with self._ctx.sessions() as session:
            result = await session.stream(query)
            async for rows in result.partitions():
                yield "".join(rate_line(*row) for row in rows)


async def _count(session: AsyncSession, table_id: int) -> int:
    query = select(func.count()).select_from(Rate).where(Rate.rate_table_id == table_id)
    return int(await session.scalar(query) or 0)


class _Writer:
    """Sends chunks of rows to the database on the session's connection."""

    async def write(self, rows: Sequence[RateRow]) -> None:
        raise NotImplementedError

    async def finish(self) -> None:
        """Called once after the last chunk."""


async def _writer(connection: AsyncConnection, table_id: int, mode: ImportMode) -> _Writer:
    if mode is ImportMode.REPLACE:
        await connection.execute(delete(Rate).where(Rate.rate_table_id == table_id))
    raw = (await connection.get_raw_connection()).driver_connection
    if connection.dialect.name == "postgresql":
        writer: _Writer = _PostgresWriter(raw, table_id, mode)
    else:
        writer = _SqliteWriter(raw, connection, table_id, mode)
    return writer


def _same(value: Any) -> Any:
    return value


class _SqliteWriter(_Writer):
    """``executemany`` of plain tuples: datetimes pre-formatted by the column type's own bind
    processor (so they compare equal to rows written by the ORM), money as micro-units."""

    def __init__(
        self, raw: Any, connection: AsyncConnection, table_id: int, mode: ImportMode
    ) -> None:
        self._raw = raw
        self._table_id = table_id
        marks = ", ".join("?" for _ in _COLUMNS)
        sql = f"INSERT INTO rates ({', '.join(_COLUMNS)}) VALUES ({marks})"
        self._sql = sql + (f" {_ON_CONFLICT}" if mode is ImportMode.MERGE else "")
        column_type = Rate.__table__.c.effective_from.type
        bind = column_type.bind_processor(connection.dialect)
        self._bind: Callable[[Any], Any] = bind if bind is not None else _same
        self._times: dict[datetime, Any] = {}

    def _time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        found = self._times.get(value)
        if found is None:
            if len(self._times) > 4096:
                self._times.clear()
            found = self._times[value] = self._bind(value)
        return found

    async def write(self, rows: Sequence[RateRow]) -> None:
        table_id, time = self._table_id, self._time
        cursor = await self._raw.executemany(
            self._sql,
            [(table_id, *r[1:8], time(r[8]), time(r[9]), *r[10:]) for r in rows],
        )
        await cursor.close()


class _PostgresWriter(_Writer):
    """``COPY`` into the table (replace) or into a temporary table then one upsert (merge)."""

    def __init__(self, raw: Any, table_id: int, mode: ImportMode) -> None:
        self._raw = raw
        self._table_id = table_id
        self._merge = mode is ImportMode.MERGE
        self._started = False

    async def write(self, rows: Sequence[RateRow]) -> None:
        target = "rates"
        if self._merge:
            target = _TEMP
            if not self._started:
                names = ", ".join(_COLUMNS)
                await self._raw.execute(
                    f"CREATE TEMPORARY TABLE {_TEMP} ON COMMIT DROP "
                    f"AS SELECT {names} FROM rates WITH NO DATA"
                )
                self._started = True
        table_id = self._table_id
        await self._raw.copy_records_to_table(
            target,
            columns=_COLUMNS,
            records=[(table_id, *r[1:]) for r in rows],
        )

    async def finish(self) -> None:
        if self._merge and self._started:
            names = ", ".join(_COLUMNS)
            await self._raw.execute(
                f"INSERT INTO rates ({names}) SELECT {names} FROM {_TEMP} {_ON_CONFLICT}"
            )
