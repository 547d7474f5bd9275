"""CDR query and export: the operator's view of the ``cdrs`` table, ten million rows deep.

What an operator of VOS3000 expects, and why it is built this way:

- **A time range is required** (``start`` ≤ start_time < ``end``, aware datetimes) and may span
  at most SERVER_QUERY_CDR_MAX_DAY_INTERVAL days, so no request scans the whole table.
- **Refused in SERVER_QUERY_CDR_DENY_TIME hours** (``"18,19,20,21"``; ranges such as ``18-21``
  are accepted too): CDR queries compete with the call path for the database at peak hours.
  The hours are read on the UTC clock (the switch stores and shows UTC everywhere); the refusal
  says so and names the hour queries open again.
- **Filters**: caller and callee match exactly, or by prefix with a trailing ``*``
  (``callee=44*``, the same grammar as every other list of the API); account, routing and
  mapping gateway ids and termination reason match exactly; ``answered`` keeps only calls
  that were (or were not) answered.
- **Keyset pagination**, newest first, ordered by (start_time DESC, id DESC): each page is an
  index range scan that stops after ``page_size + 1`` rows, as fast on the last page as on the
  first. There is no total and no OFFSET (a COUNT(*) over millions of rows is what makes such
  screens slow); instead each page carries an opaque ``next_cursor``, None on the last page.
- **Export** walks the same order in keyset batches of a few thousand rows, each in its own
  short read (no transaction held open for minutes, no server-side cursor that differs between
  drivers), and stops at SERVER_QUERY_MAX_SIZE rows, saying so in the log and in
  :attr:`CdrExport.capped`.
- **Scope** follows ``softswitch.operators.policy``: admins and operators see every CDR, an
  agent only the CDRs of accounts under it, a customer only its own account's. A filter never
  widens that: a customer asking for another ``account_id`` gets an empty answer, exactly as
  for an account that does not exist (nothing about other accounts is revealed).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select

from softswitch.manage.context import ManageContext
from softswitch.manage.errors import Forbidden, Invalid, Unavailable
from softswitch.operators import Action, Actor, Resource, Target, can
from softswitch.operators.policy import ScopeKind, visible_scope
from softswitch.storage.models.cdrs import Cdr

__all__ = [
    "CSV_COLUMNS",
    "EXPORT_BATCH",
    "CdrExport",
    "CdrPage",
    "CdrQuery",
    "CdrRecord",
    "CdrService",
    "csv_chunks",
    "deny_hours",
    "scoped_cdrs",
]

_log = logging.getLogger(__name__)

EXPORT_BATCH = 5000
"""Rows per keyset batch of an export: large enough to amortise a round trip, small enough
that one batch is a few megabytes of CSV at most."""

_WILDCARD = "*"
_NUMBER_LENGTH = 64  # the caller/callee columns' width
_MAX_ID = 2**63 - 1  # BIGINT
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class CdrQuery:
    """Which CDRs: a time range on the call's start (``start`` ≤ start_time < ``end``) and
    optional filters; ``caller``/``callee`` ending in ``*`` match a prefix."""

    start: datetime
    end: datetime
    caller: str | None = None
    callee: str | None = None
    account_id: int | None = None
    routing_gateway_id: int | None = None
    mapping_gateway_id: int | None = None
    termination_reason: str | None = None
    answered: bool | None = None


@dataclass(frozen=True, slots=True)
class CdrRecord:
    """One CDR as the API and the CSV export show it (the storage model documents each field)."""

    id: int
    record_id: str | None
    call_id: str
    call_id_out: str
    start_time: datetime
    ring_time: datetime | None
    answer_time: datetime | None
    end_time: datetime
    hold_time_ms: int
    billed_seconds: int
    account_id: int | None
    account_code: str
    agent_id: int | None
    caller: str
    callee: str
    caller_in: str
    callee_in: str
    caller_out: str
    callee_out: str
    caller_ip: str
    phone_id: int | None
    mapping_gateway_id: int | None
    mapping_gateway_name: str
    routing_gateway_id: int | None
    routing_gateway_name: str
    callee_ip: str
    rate_prefix: str
    area_name: str
    currency: str
    fee: Decimal
    agent_fee: Decimal
    cost: Decimal
    fee_unrounded: Decimal
    profit: Decimal
    cost_prefix: str
    codec: str
    attempts: list[dict[str, Any]]
    termination_reason: str
    sip_status: int | None
    hangup_side: str


CSV_COLUMNS: tuple[str, ...] = tuple(field.name for field in fields(CdrRecord))
"""The CSV header: every field of :class:`CdrRecord`, in that order."""

_COLUMNS = tuple(Cdr.__table__.c[name] for name in CSV_COLUMNS)


@dataclass(frozen=True, slots=True)
class CdrPage:
    """One page, newest first; pass ``next_cursor`` back for the next (None: this was the last)."""

    items: Sequence[CdrRecord]
    next_cursor: str | None
    page_size: int


# -- deny time -------------------------------------------------------------------------------


def deny_hours(text: str) -> frozenset[int]:
    """The hours (0-23) listed in a SERVER_QUERY_CDR_DENY_TIME value: ``"18,19,20,21"``, or with
    ranges ``"18-21"`` (``"22-2"`` wraps past midnight). The parameter is free text, so an
    unreadable item is logged and ignored rather than closing CDR queries for good."""
    hours: set[int] = set()
    for item in re.split(r"[,;\s]+", text.strip()):
        if not item:
            continue
        match = re.fullmatch(r"(\d{1,2})(?:-(\d{1,2}))?", item)
        first = int(match.group(1)) if match else -1
        last = int(match.group(2)) if match and match.group(2) else first
        if not (0 <= first <= 23 and 0 <= last <= 23):
            _log.warning("SERVER_QUERY_CDR_DENY_TIME: ignoring %r (hours are 0-23)", item)
            continue
        hour = first
        hours.add(hour)
        while hour != last:
            hour = (hour + 1) % 24
            hours.add(hour)
    return frozenset(hours)


# -- cursors ---------------------------------------------------------------------------------

_CURSOR_VERSION = "1"


def _encode_cursor(record: CdrRecord) -> str:
    text = f"{_CURSOR_VERSION}|{record.start_time.isoformat()}|{record.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        version, when, ident = base64.urlsafe_b64decode(padded).decode().split("|")
        if version != _CURSOR_VERSION:
            raise ValueError(version)
        parsed = datetime.fromisoformat(when)
        if parsed.tzinfo is None:
            raise ValueError(when)
        start = parsed.astimezone(UTC)
        row = int(ident)
        if not 0 <= row <= _MAX_ID:
            raise ValueError(ident)
        return start, row
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise Invalid(
            "not a cursor this API gave out: pass the next_cursor of the previous page "
            "unchanged, or omit it for the first page",
            field="cursor",
        ) from None


def _before(end: datetime, position: tuple[datetime, int] | None) -> ColumnElement[bool]:
    """The upper end of a page: rows that started before ``end`` and come after ``position`` in
    (start_time DESC, id DESC) order.

    Exactly one upper bound on start_time is given, the tighter one: an index range scan then
    starts right at the position (SQLite, given two upper bounds on a column, may pick the
    looser, and every deeper page would rescan all the rows above it)."""
    if position is None or position[0] >= end:
        # Every row before ``end`` is after a position at or beyond it.
        return Cdr.start_time < end
    when, ident = position
    return and_(Cdr.start_time <= when, or_(Cdr.start_time < when, Cdr.id < ident))


async def _fetch(ctx: ManageContext, statement: Select[Any]) -> list[CdrRecord]:
    """The rows of ``statement`` on the session's connection: a Core execution, without the
    ORM's per-row loading machinery (a third of the time of a 10,000-row page)."""
    async with ctx.sessions() as session:
        connection = await session.connection()
        result = await connection.execute(statement)
        return [CdrRecord(*row) for row in result]


# -- the service -----------------------------------------------------------------------------


class CdrExport:
    """An export that passed every check; iterate :meth:`batches` once.

    ``written`` counts the rows handed out so far; ``capped`` turns True when the rows stopped
    at ``limit`` (SERVER_QUERY_MAX_SIZE) while more matched.
    """

    def __init__(
        self, ctx: ManageContext, statement: Select[Any], end: datetime, limit: int, batch: int
    ) -> None:
        self._ctx = ctx
        self._statement = statement
        self._end = end
        self.limit = limit
        self._batch = batch
        self.written = 0
        self.capped = False

    async def batches(self) -> AsyncIterator[Sequence[CdrRecord]]:
        """The matching rows, newest first, in keyset batches."""
        position: tuple[datetime, int] | None = None
        while self.written < self.limit:
            size = min(self._batch, self.limit - self.written)
            rows = await self._fetch(position, size)
            if rows:
                self.written += len(rows)
                position = (rows[-1].start_time, rows[-1].id)
                yield rows
            if len(rows) < size:
                return
        if await self._fetch(position, 1):
            self.capped = True
            _log.warning(
                "CDR export stopped at SERVER_QUERY_MAX_SIZE = %d rows; more rows matched",
                self.limit,
            )

    async def _fetch(self, position: tuple[datetime, int] | None, size: int) -> list[CdrRecord]:
        statement = self._statement.where(_before(self._end, position))
        return await _fetch(self._ctx, statement.limit(size))


class CdrService:
    """CDR reads for one actor's requests (the API's and the CLI's)."""

    def __init__(self, ctx: ManageContext) -> None:
        self._ctx = ctx

    async def page(
        self,
        actor: Actor,
        query: CdrQuery,
        *,
        page_size: int | None = None,
        cursor: str | None = None,
    ) -> CdrPage:
        """One page of the CDRs ``actor`` may see, newest first, after ``cursor``."""
        statement = self._prepare(actor, query, honour_deny_time=True, honour_day_interval=True)
        size = self._ctx.page_size(page_size)
        position = None if cursor is None else _decode_cursor(cursor)
        statement = statement.where(_before(query.end, position))
        rows = await _fetch(self._ctx, statement.limit(size + 1))
        if len(rows) <= size:
            return CdrPage(rows, None, size)
        return CdrPage(rows[:size], _encode_cursor(rows[size - 1]), size)

    def export(
        self,
        actor: Actor,
        query: CdrQuery,
        *,
        honour_deny_time: bool = True,
        honour_day_interval: bool = True,
        batch: int = EXPORT_BATCH,
    ) -> CdrExport:
        """Check the request now (so the API can still answer with an error) and return the
        export to stream. The shell's ``cdr export`` may lift the deny time and the day interval
        (``--ignore-deny-time``, ``--full-range``); SERVER_QUERY_MAX_SIZE always applies."""
        statement = self._prepare(
            actor,
            query,
            honour_deny_time=honour_deny_time,
            honour_day_interval=honour_day_interval,
        )
        limit = self._ctx.params.get_int("SERVER_QUERY_MAX_SIZE")
        return CdrExport(self._ctx, statement, query.end, limit, max(1, batch))

    def check_open(self) -> None:
        """Raise :class:`Unavailable` when the current UTC hour is a SERVER_QUERY_CDR_DENY_TIME
        hour, naming the hour queries open again."""
        text = self._ctx.params.get_str("SERVER_QUERY_CDR_DENY_TIME")
        denied = deny_hours(text)
        hour = self._ctx.now().hour
        if hour not in denied:
            return
        reopen = next(
            ((hour + k) % 24 for k in range(1, 24) if (hour + k) % 24 not in denied), None
        )
        shown = f"SERVER_QUERY_CDR_DENY_TIME = {text.strip()}, hours on the UTC clock"
        if reopen is None:
            raise Unavailable(
                f"CDR queries are refused at every hour ({shown}): remove hours from the "
                "parameter to allow them"
            )
        raise Unavailable(
            f"CDR queries are refused at {hour:02d}:00-{hour:02d}:59 UTC ({shown}); "
            f"they open again at {reopen:02d}:00 UTC"
        )

    # -- internals ---------------------------------------------------------------------------

    def _prepare(
        self,
        actor: Actor,
        query: CdrQuery,
        *,
        honour_deny_time: bool,
        honour_day_interval: bool,
    ) -> Select[Any]:
        self._require_read(actor)
        if honour_deny_time:
            self.check_open()
        self._check_range(query, honour_day_interval)
        statement = select(*_COLUMNS).where(Cdr.start_time >= query.start)  # end: _before
        statement = scoped_cdrs(statement, actor)
        for name, pattern in (("caller", query.caller), ("callee", query.callee)):
            if pattern is not None:
                statement = statement.where(_number_match(name, pattern))
        exact = {
            "account_id": query.account_id,
            "routing_gateway_id": query.routing_gateway_id,
            "mapping_gateway_id": query.mapping_gateway_id,
            "termination_reason": query.termination_reason,
        }
        for name, value in exact.items():
            if value is None:
                continue
            if isinstance(value, int) and not 1 <= value <= _MAX_ID:
                raise Invalid(f"{name} must be a row id from 1 to {_MAX_ID}", field=name)
            if isinstance(value, str) and _CONTROL.search(value):
                raise Invalid(f"{name} may not contain control characters", field=name)
            statement = statement.where(Cdr.__table__.c[name] == value)
        if query.answered is not None:
            answered = Cdr.answer_time.is_not(None)
            statement = statement.where(answered if query.answered else Cdr.answer_time.is_(None))
        return statement.order_by(Cdr.start_time.desc(), Cdr.id.desc())

    def _require_read(self, actor: Actor) -> None:
        target = Target(Resource.CDR, account_id=actor.account_id, agent_id=actor.agent_id)
        if visible_scope(actor).kind is ScopeKind.ALL:
            target = Target(Resource.CDR)
        if not can(actor, Action.READ, target):
            raise Forbidden(f"{actor.username} ({actor.role.value}) may not read CDRs")

    def _check_range(self, query: CdrQuery, honour_day_interval: bool) -> None:
        for name, value in (("start", query.start), ("end", query.end)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise Invalid(f"{name} needs a time zone, e.g. 2026-03-01T00:00:00Z", field=name)
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise Invalid(f"{name} is out of range in UTC", field=name) from None
        if query.end <= query.start:
            raise Invalid("end must be after start (the range is start <= time < end)", field="end")
        days = self._ctx.params.get_int("SERVER_QUERY_CDR_MAX_DAY_INTERVAL")
        if honour_day_interval and query.end - query.start > timedelta(days=days):
            raise Invalid(
                f"the time range spans {query.end - query.start}; at most {days} days "
                "(SERVER_QUERY_CDR_MAX_DAY_INTERVAL): bring end closer to start",
                field="end",
            )


def scoped_cdrs(statement: Select[Any], actor: Actor) -> Select[Any]:
    """``statement`` over ``cdrs`` narrowed to the CDRs ``actor`` may read (the CDR query and
    the billing reports share it)."""
    scope = visible_scope(actor)
    if scope.kind is ScopeKind.ALL:
        return statement
    if scope.kind is ScopeKind.AGENT:
        # The agent the call was sold by, copied on the CDR: one index range, no subquery.
        return statement.where(Cdr.agent_id == scope.id)
    if scope.kind is ScopeKind.ACCOUNT:
        return statement.where(Cdr.account_id == scope.id)
    return statement.where(false())


def _number_match(name: str, pattern: str) -> ColumnElement[bool]:
    """Exact match, or a prefix match for a trailing ``*``.

    The prefix is a range (``stem`` ≤ value < ``stem`` with its last character incremented),
    which both engines answer from the (number, start_time) index, and a LIKE that keeps the
    match exact where the range alone would not be (SQLite's LIKE ignores case, PostgreSQL's
    language collations order punctuation loosely)."""
    column = Cdr.__table__.c[name]
    if len(pattern) > _NUMBER_LENGTH + len(_WILDCARD):
        raise Invalid(f"{name} is at most {_NUMBER_LENGTH} characters", field=name)
    if _CONTROL.search(pattern):
        raise Invalid(f"{name} may not contain control characters", field=name)
    if not pattern.endswith(_WILDCARD):
        if _WILDCARD in pattern:
            raise Invalid(f"only a trailing * is a wildcard, not {pattern!r}", field=name)
        return column == pattern
    stem = pattern[: -len(_WILDCARD)]
    if _WILDCARD in stem:
        raise Invalid(f"only a trailing * is a wildcard, not {pattern!r}", field=name)
    if not stem:
        return column.is_not(None)
    upper = stem[:-1] + chr(ord(stem[-1]) + 1)
    escaped = stem.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return and_(column >= stem, column < upper, column.like(escaped + "%", escape="\\"))


# -- CSV -------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return format(value, "f")  # exact, never exponent notation (0E-6)
    if isinstance(value, list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


async def csv_chunks(export: CdrExport) -> AsyncIterator[str]:
    """The export as CSV text (RFC 4180: comma, double quotes, CRLF): the header row
    (:data:`CSV_COLUMNS`), then one chunk per batch. Times are ISO 8601 in UTC (``Z``), money
    exact decimal text, a missing value an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    async for rows in export.batches():
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([_cell(getattr(row, name)) for name in CSV_COLUMNS] for row in rows)
        yield buffer.getvalue()
