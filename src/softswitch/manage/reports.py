"""Billing reports (issue 5 §3): what the day's or the period's CDRs add up to.

Six reports, each a GROUP BY over the ``cdrs`` table (the only source: every figure can be
traced back to the calls it sums):

==============  =====================================  ==========================================
kind            one row per                            figures
==============  =====================================  ==========================================
customer_fee    account (and currency)                 calls, answered, billed time, fee
agent_income    agent (CDRs sold through an agent)     calls, answered, billed time, fee
                                                       (customers' charges), agent_fee, income
gateway_fee     routing gateway (the answering one)    answered, billed time, cost
phone_fee       phone                                  calls, answered, billed time, fee
profit          currency                               calls, answered, billed time, revenue,
                                                       agent_income, cost, profit
gateway_area    routing gateway and destination area   attempts, answered, ASR, ACD, billed
                                                       time, cost
==============  =====================================  ==========================================

Rules, and why:

- **Days are local days** in an IANA zone (``Europe/London``): an operator's "yesterday" runs
  from local midnight to local midnight, 23 or 25 hours around a DST change. The UTC bounds of
  each day are computed here (``zoneinfo``) and each day is one range query on the
  ``start_time`` index, so the same SQL runs on SQLite and PostgreSQL (neither converts zones
  the same way, and SQLite not at all). A call belongs to the day it *started*, like every CDR
  query of the switch. ``group=day`` gives one row per day and key (days without calls have
  no rows); ``group=period`` one row per key over the whole range.
- **Money is never added across currencies**: every row and every total carries the CDR's
  ``currency`` (the account's, in which fee, agent fee, cost and profit of a call are all
  priced), so a switch selling in two currencies gets two rows where it would otherwise add
  dollars to euros. Money is exact ``Decimal`` (sums of integer micro-units in SQL).
- **Billed time** is ``billed_seconds`` (exact integer seconds, what the fee was computed on)
  and ``minutes``, the same total / 60 rounded half-up to 2 places. Totals derive their
  minutes from the summed seconds, never by adding rounded minutes.
- **Agent income** is what the customers of an agent paid minus what the agent owes the
  operator (``fee - agent_fee``), over the CDRs that carry an ``agent_id``.
- **Profit** is the CDR's ``profit`` column, as billing computed it per
  SERVER_BILLING_PROFIT_CALCULATE; revenue, agent income and cost are shown beside it.
- **Gateway area analysis**: ``attempts`` counts the entries of the CDRs' ``attempts`` lists
  that name the gateway (a call that failed over across three gateways is an attempt on each),
  in the destination area (``area_name``) of the call; ``answered`` counts calls answered by
  it (it is then the CDR's routing gateway). ASR = answered / attempts in percent (2 places),
  ACD = mean hold time of those answered calls in seconds (1 place); empty when undefined.
  The attempt lists are JSON, which the two engines query differently, so they are counted in
  one streaming pass in Python (rows in batches, never all in memory); the rest is GROUP BY.
  An answered call whose list lacks its gateway (a record older than the lists) counts as one
  attempt, so ASR never exceeds 100 %.

Who may read what follows the CDR scope (``softswitch.operators.policy``): admins and
operators every report over every CDR; an agent ``customer_fee``, ``phone_fee`` and
``agent_income`` over its own accounts' CDRs; a customer ``customer_fee`` and ``phone_fee`` of
its own account. Carrier cost and margins (``gateway_fee``, ``gateway_area``, ``profit``) are the
operator's business: 403 for agents and customers, as is ``agent_income`` for a customer (it
would show its reseller's margin).

SERVER_REPORT_CLEARING_CUSTOMER_FEE (clearing account details) is not produced: the switch has
no clearing accounts (accounts that settle with another operator rather than pay per call), so
there is nothing to report; the parameter is accepted and ignored.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from softswitch.manage.cdrs import scoped_cdrs
from softswitch.manage.errors import Forbidden, Invalid
from softswitch.operators import Actor
from softswitch.operators.policy import ScopeKind, visible_scope
from softswitch.storage.models import Agent, Phone, Role
from softswitch.storage.models.cdrs import Cdr
from softswitch.storage.types import Money

__all__ = [
    "DAILY_SWITCHES",
    "MAX_REPORT_DAYS",
    "OPERATOR_ONLY",
    "STREAM_BATCH",
    "Cell",
    "DailyFile",
    "DailyReportRunner",
    "Grouping",
    "Report",
    "ReportKind",
    "ReportRequest",
    "build_report",
    "cell_text",
    "check_access",
    "columns",
    "day_bounds",
    "parse_zone",
    "report_csv",
    "report_request",
]

MAX_REPORT_DAYS = 366
"""The longest range one report may cover, in days (a year, leap day included): a report is
a scan of every CDR in its range, and a bound keeps one request from scanning the whole table."""

STREAM_BATCH = 2000
"""Rows per fetch of the gateway-area attempt pass."""

_MIN_YEAR, _MAX_YEAR = 1970, 9998  # zone conversions stay well inside datetime's range
_ZONE_LENGTH = 64
_ZERO = Decimal(0)
_CENT = Decimal("0.01")
_TENTH = Decimal("0.1")
_NAME_CHUNK = 500  # ids per IN (...) of the name look-ups


class ReportKind(enum.StrEnum):
    """The reports; the value is the name in URLs, files and the CLI."""

    CUSTOMER_FEE = "customer_fee"
    AGENT_INCOME = "agent_income"
    GATEWAY_FEE = "gateway_fee"
    PHONE_FEE = "phone_fee"
    PROFIT = "profit"
    GATEWAY_AREA = "gateway_area"


class Grouping(enum.StrEnum):
    """One row per local day and key, or one per key over the whole range."""

    DAY = "day"
    PERIOD = "period"


DAILY_SWITCHES: Mapping[ReportKind, str] = {
    ReportKind.CUSTOMER_FEE: "SERVER_REPORT_CUSTOMER_FEE",
    ReportKind.AGENT_INCOME: "SERVER_REPORT_AGENT_INCOME",
    ReportKind.GATEWAY_FEE: "SERVER_REPORT_GATEWAY_FEE",
    ReportKind.PHONE_FEE: "SERVER_REPORT_PHONE_FEE",
    # The revenue report's companion: VOS3000 has no switch of its own for a profit report.
    ReportKind.PROFIT: "SERVER_REPORT_CUSTOMER_FEE",
    ReportKind.GATEWAY_AREA: "SERVER_REPORT_GATEWAY_ROUTING_LOCATION_ASR_ACD",
}
"""The parameter that turns each report of the 01:00 daily run on or off."""

OPERATOR_ONLY = frozenset({ReportKind.GATEWAY_FEE, ReportKind.GATEWAY_AREA, ReportKind.PROFIT})
"""Reports of carrier cost and margins: admins and operators only."""

Cell = str | int | Decimal | None
"""One value of a report row: text, a count, an amount (or rate), or nothing."""


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """Which report over which local days (``first`` to ``last``, both included)."""

    kind: ReportKind
    first: date
    last: date
    group: Grouping
    zone: ZoneInfo


@dataclass(frozen=True, slots=True)
class Report:
    """A finished report. ``rows`` and ``totals`` map column names to cells; ``totals`` has
    one row per currency over every row (the figures of :attr:`total_columns`)."""

    kind: ReportKind
    first: date
    last: date
    group: Grouping
    zone: str
    columns: tuple[str, ...]
    rows: tuple[Mapping[str, Cell], ...]
    total_columns: tuple[str, ...]
    totals: tuple[Mapping[str, Cell], ...]


@dataclass(frozen=True, slots=True)
class DailyFile:
    """One file of the daily run: ``<directory>/<day>/<kind>.csv``."""

    day: date
    kind: ReportKind
    path: Path
    size: int


class DailyReportRunner(Protocol):
    """What the HTTP API needs of the daily report job (``softswitch.runtime.reports_job``),
    which it may not import: run a day now, list and find the files."""

    @property
    def zone(self) -> ZoneInfo:
        """The zone whose days the job reports (the API's default ``tz`` as well)."""
        ...

    async def run_day(self, day: date) -> list[DailyFile]:
        """Write the day's reports whose SERVER_REPORT_* switch is On; the files written."""
        ...

    async def files(self) -> list[DailyFile]:
        """Every report file on disk, newest day first."""
        ...

    def file(self, day: date, kind: ReportKind) -> Path | None:
        """The file of ``kind`` for ``day``, if it was written."""
        ...


# -- validation ------------------------------------------------------------------------------


def parse_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; :class:`Invalid` (field ``tz``) naming what is accepted."""
    text = name.strip()
    if not text or len(text) > _ZONE_LENGTH:
        raise Invalid("tz must be an IANA time zone name such as Europe/London or UTC", field="tz")
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise Invalid(
            f"tz: unknown time zone {text!r}; give an IANA name such as Europe/London or UTC",
            field="tz",
        ) from None


def report_request(
    kind: ReportKind | str,
    first: date,
    last: date,
    group: Grouping | str = Grouping.DAY,
    zone: ZoneInfo | str = "UTC",
) -> ReportRequest:
    """A checked request; :class:`Invalid` names the field to fix (``kind``, ``from``, ``to``,
    ``group``, ``tz``)."""
    try:
        kind = ReportKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in ReportKind)
        raise Invalid(f"unknown report {kind!r}; the reports are {known}", field="kind") from None
    try:
        group = Grouping(group)
    except ValueError:
        raise Invalid(f"group must be day or period, not {group!r}", field="group") from None
    for name, value in (("from", first), ("to", last)):
        if not _MIN_YEAR <= value.year <= _MAX_YEAR:
            raise Invalid(f"{name} must be a date from {_MIN_YEAR} to {_MAX_YEAR}", field=name)
    if last < first:
        raise Invalid(
            f"to ({last}) is before from ({first}): both days are included, so for one day "
            "give the same date twice",
            field="to",
        )
    days = (last - first).days + 1
    if days > MAX_REPORT_DAYS:
        raise Invalid(
            f"the range covers {days} days; a report covers at most {MAX_REPORT_DAYS}: "
            "bring to closer to from, or make several reports",
            field="to",
        )
    found = zone if isinstance(zone, ZoneInfo) else parse_zone(zone)
    return ReportRequest(kind, first, last, group, found)


def check_access(actor: Actor, kind: ReportKind) -> None:
    """:class:`Forbidden` unless ``actor`` may read ``kind`` (see the module's rules)."""
    scope = visible_scope(actor)
    if scope.kind is ScopeKind.ALL:
        return
    allowed = scope.kind is not ScopeKind.NONE and kind not in OPERATOR_ONLY
    if kind is ReportKind.AGENT_INCOME and actor.role is not Role.AGENT:
        allowed = False
    if not allowed:
        raise Forbidden(
            f"{actor.username} ({actor.role.value}) may not read the {kind.value} report"
            + (": it shows carrier cost and margins" if kind in OPERATOR_ONLY else "")
        )


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants at which local ``day`` starts and the next one starts.

    Local midnight with ``fold=0``: in a zone whose clocks jump at midnight the day starts at
    the first instant it exists, and a midnight that occurs twice is the first one.
    """

    def start(of: date) -> datetime:
        return datetime.combine(of, time(0), tzinfo=zone).astimezone(UTC)

    return start(day), start(day + timedelta(days=1))


# -- figures ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Figures:
    """The additive figures of one row; the shown cells are derived from them."""

    calls: int = 0
    answered: int = 0
    billed_seconds: int = 0
    answered_hold_ms: int = 0
    attempts: int = 0
    fee: Decimal = _ZERO
    agent_fee: Decimal = _ZERO
    agent_income: Decimal = _ZERO
    cost: Decimal = _ZERO
    profit: Decimal = _ZERO

    def add(self, other: _Figures) -> None:
        self.calls += other.calls
        self.answered += other.answered
        self.billed_seconds += other.billed_seconds
        self.answered_hold_ms += other.answered_hold_ms
        self.attempts += other.attempts
        self.fee += other.fee
        self.agent_fee += other.agent_fee
        self.agent_income += other.agent_income
        self.cost += other.cost
        self.profit += other.profit


def _minutes(seconds: int) -> Decimal:
    return (Decimal(seconds) / 60).quantize(_CENT, rounding=ROUND_HALF_UP)


def _asr(answered: int, attempts: int) -> Decimal | None:
    if attempts <= 0:
        return None
    return (Decimal(answered) * 100 / attempts).quantize(_CENT, rounding=ROUND_HALF_UP)


def _acd(hold_ms: int, answered: int) -> Decimal | None:
    if answered <= 0:
        return None
    return (Decimal(hold_ms) / 1000 / answered).quantize(_TENTH, rounding=ROUND_HALF_UP)


_TIME = ("billed_seconds", "minutes")

_MEASURES: Mapping[ReportKind, tuple[str, ...]] = {
    ReportKind.CUSTOMER_FEE: ("calls", "answered", *_TIME, "fee"),
    ReportKind.AGENT_INCOME: ("calls", "answered", *_TIME, "fee", "agent_fee", "income"),
    ReportKind.GATEWAY_FEE: ("answered", *_TIME, "cost"),
    ReportKind.PHONE_FEE: ("calls", "answered", *_TIME, "fee"),
    ReportKind.PROFIT: ("calls", "answered", *_TIME, "revenue", "agent_income", "cost", "profit"),
    ReportKind.GATEWAY_AREA: ("attempts", "answered", "asr", "acd", *_TIME, "cost"),
}

_KEYS: Mapping[ReportKind, tuple[str, ...]] = {
    ReportKind.CUSTOMER_FEE: ("account_id", "account_code", "currency"),
    ReportKind.AGENT_INCOME: ("agent_id", "agent_name", "currency"),
    ReportKind.GATEWAY_FEE: ("routing_gateway_id", "routing_gateway_name", "currency"),
    ReportKind.PHONE_FEE: ("phone_id", "phone_number", "account_id", "account_code", "currency"),
    ReportKind.PROFIT: ("currency",),
    ReportKind.GATEWAY_AREA: (
        "routing_gateway_id",
        "routing_gateway_name",
        "area_name",
        "currency",
    ),
}


def columns(kind: ReportKind, group: Grouping) -> tuple[str, ...]:
    """The CSV header and JSON row keys of ``kind``: the period (``day``, or ``from`` and
    ``to``), the key columns, then the figures."""
    period = ("day",) if group is Grouping.DAY else ("from", "to")
    return (*period, *_KEYS[kind], *_MEASURES[kind])


def _cells(kind: ReportKind, figures: _Figures) -> dict[str, Cell]:
    every: dict[str, Cell] = {
        "calls": figures.calls,
        "answered": figures.answered,
        "billed_seconds": figures.billed_seconds,
        "minutes": _minutes(figures.billed_seconds),
        "attempts": figures.attempts,
        "asr": _asr(figures.answered, figures.attempts),
        "acd": _acd(figures.answered_hold_ms, figures.answered),
        "fee": figures.fee,
        "agent_fee": figures.agent_fee,
        "income": figures.fee - figures.agent_fee,
        "revenue": figures.fee,
        "agent_income": figures.agent_income,
        "cost": figures.cost,
        "profit": figures.profit,
    }
    return {name: every[name] for name in _MEASURES[kind]}


# -- queries ---------------------------------------------------------------------------------

_Key = tuple[Any, ...]
_C = Cdr.__table__.c


def _money_sum(value: ColumnElement[Any]) -> ColumnElement[Decimal]:
    """SUM of a money expression as Decimal (the column type turns micro-units back)."""
    return func.coalesce(func.sum(value), literal(_ZERO, Money()), type_=Money())


def _agent_only(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((_C.agent_id.is_not(None), column), else_=literal(_ZERO, Money()))


_COMMON = (
    func.count().label("calls"),
    func.count(_C.answer_time).label("answered"),
    func.coalesce(func.sum(_C.billed_seconds), 0).label("billed_seconds"),
)


def _grouped(kind: ReportKind) -> tuple[tuple[ColumnElement[Any], ...], Select[Any]]:
    """The key columns of ``kind``'s GROUP BY and its statement (without time range/scope)."""
    keys: tuple[ColumnElement[Any], ...]
    extra: tuple[ColumnElement[Any], ...]
    where: ColumnElement[bool] | None
    if kind is ReportKind.CUSTOMER_FEE:
        keys = (_C.account_id, _C.account_code, _C.currency)
        extra = (_money_sum(_C.fee).label("fee"),)
        where = _C.account_id.is_not(None)
    elif kind is ReportKind.AGENT_INCOME:
        keys = (_C.agent_id, _C.currency)
        extra = (_money_sum(_C.fee).label("fee"), _money_sum(_C.agent_fee).label("agent_fee"))
        where = _C.agent_id.is_not(None)
    elif kind is ReportKind.GATEWAY_FEE:
        keys = (_C.routing_gateway_id, _C.routing_gateway_name, _C.currency)
        extra = (_money_sum(_C.cost).label("cost"),)
        where = _C.routing_gateway_id.is_not(None)
    elif kind is ReportKind.PHONE_FEE:
        keys = (_C.phone_id, _C.account_id, _C.account_code, _C.currency)
        extra = (_money_sum(_C.fee).label("fee"),)
        where = _C.phone_id.is_not(None)
    elif kind is ReportKind.PROFIT:
        keys = (_C.currency,)
        extra = (
            _money_sum(_C.fee).label("fee"),
            _money_sum(_agent_only(_C.fee)).label("agent_rows_fee"),
            _money_sum(_agent_only(_C.agent_fee)).label("agent_fee"),
            _money_sum(_C.cost).label("cost"),
            _money_sum(_C.profit).label("profit"),
        )
        where = None  # every CDR
    else:
        keys = (_C.routing_gateway_id, _C.routing_gateway_name, _C.area_name, _C.currency)
        answered_hold = case((_C.answer_time.is_not(None), _C.hold_time_ms), else_=0)
        extra = (
            func.coalesce(func.sum(answered_hold), 0).label("answered_hold_ms"),
            _money_sum(_C.cost).label("cost"),
        )
        where = _C.routing_gateway_id.is_not(None)
    statement = select(*keys, *_COMMON, *extra).group_by(*keys)
    return keys, statement if where is None else statement.where(where)


def _figures(kind: ReportKind, row: Any) -> _Figures:
    found = _Figures(
        calls=int(row.calls), answered=int(row.answered), billed_seconds=int(row.billed_seconds)
    )
    mapping = row._mapping
    if "fee" in mapping:
        found.fee = mapping["fee"]
    if "agent_fee" in mapping:
        found.agent_fee = mapping["agent_fee"]
    if "cost" in mapping:
        found.cost = mapping["cost"]
    if "profit" in mapping:
        found.profit = mapping["profit"]
    if "answered_hold_ms" in mapping:
        found.answered_hold_ms = int(mapping["answered_hold_ms"])
    if kind is ReportKind.AGENT_INCOME:
        found.agent_income = found.fee - found.agent_fee
    elif kind is ReportKind.PROFIT:
        found.agent_income = mapping["agent_rows_fee"] - found.agent_fee
    return found


def _in_window(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(_C.start_time >= start, _C.start_time < end)


async def _grouped_figures(
    connection: AsyncConnection,
    kind: ReportKind,
    actor: Actor,
    start: datetime,
    end: datetime,
) -> dict[_Key, _Figures]:
    keys, statement = _grouped(kind)
    statement = scoped_cdrs(statement.where(_in_window(start, end)), actor)
    found: dict[_Key, _Figures] = {}
    for row in await connection.execute(statement):
        key = tuple(row[: len(keys)])
        found[key] = _figures(kind, row)
    return found


async def _attempt_counts(
    connection: AsyncConnection, actor: Actor, start: datetime, end: datetime
) -> dict[_Key, int]:
    """Attempts per (gateway id, gateway name, area, currency), from the JSON lists, read in
    batches of :data:`STREAM_BATCH` rows."""
    statement = select(
        _C.attempts,
        _C.area_name,
        _C.currency,
        _C.routing_gateway_id,
        _C.routing_gateway_name,
        _C.answer_time.is_not(None),
    ).where(_in_window(start, end))
    statement = scoped_cdrs(statement, actor).execution_options(yield_per=STREAM_BATCH)
    counts: dict[_Key, int] = {}
    result = await connection.stream(statement)
    async for batch in result.partitions(STREAM_BATCH):
        for attempts, area, currency, gateway_id, gateway_name, answered in batch:
            named = False
            for attempt in attempts if isinstance(attempts, list) else ():
                ident = attempt.get("gateway_id") if isinstance(attempt, dict) else None
                if not isinstance(ident, int) or isinstance(ident, bool):
                    continue  # a phone of the switch, not a routing gateway
                named = named or ident == gateway_id
                key = (ident, str(attempt.get("gateway", "")), area, currency)
                counts[key] = counts.get(key, 0) + 1
            if answered and gateway_id is not None and not named:
                key = (gateway_id, gateway_name, area, currency)
                counts[key] = counts.get(key, 0) + 1
    return counts


async def _window_figures(
    connection: AsyncConnection,
    kind: ReportKind,
    actor: Actor,
    start: datetime,
    end: datetime,
) -> dict[_Key, _Figures]:
    found = await _grouped_figures(connection, kind, actor, start, end)
    if kind is ReportKind.GATEWAY_AREA:
        for key, attempts in (await _attempt_counts(connection, actor, start, end)).items():
            found.setdefault(key, _Figures()).attempts += attempts
    return found


async def _names(
    connection: AsyncConnection, kind: ReportKind, ids: Iterable[int]
) -> dict[int, str]:
    """Agent names or phone numbers by id (the CDR keeps only the id); a deleted one is
    missing and shows as empty."""
    if kind is ReportKind.AGENT_INCOME:
        ident, name = Agent.id, Agent.name
    elif kind is ReportKind.PHONE_FEE:
        ident, name = Phone.id, Phone.number
    else:
        return {}
    wanted = sorted(set(ids))
    found: dict[int, str] = {}
    for offset in range(0, len(wanted), _NAME_CHUNK):
        chunk = wanted[offset : offset + _NAME_CHUNK]
        for row_id, row_name in await connection.execute(
            select(ident, name).where(ident.in_(chunk))
        ):
            found[int(row_id)] = str(row_name)
    return found


def _key_cells(kind: ReportKind, key: _Key, names: Mapping[int, str]) -> dict[str, Cell]:
    if kind is ReportKind.AGENT_INCOME:
        agent_id, currency = key
        return {"agent_id": agent_id, "agent_name": names.get(agent_id, ""), "currency": currency}
    if kind is ReportKind.PHONE_FEE:
        phone_id, account_id, account_code, currency = key
        return {
            "phone_id": phone_id,
            "phone_number": names.get(phone_id, ""),
            "account_id": account_id,
            "account_code": account_code,
            "currency": currency,
        }
    return dict(zip(_KEYS[kind], key, strict=True))


def _order(key: _Key) -> tuple[tuple[bool, Any], ...]:
    """Sort keys with None last and without comparing None to a value."""
    return tuple((part is None, part if part is not None else 0) for part in key)


def _windows(request: ReportRequest) -> list[tuple[dict[str, Cell], datetime, datetime]]:
    if request.group is Grouping.PERIOD:
        start, _ = day_bounds(request.first, request.zone)
        _, end = day_bounds(request.last, request.zone)
        period: dict[str, Cell] = {
            "from": request.first.isoformat(),
            "to": request.last.isoformat(),
        }
        return [(period, start, end)]
    found: list[tuple[dict[str, Cell], datetime, datetime]] = []
    day = request.first
    while day <= request.last:
        start, end = day_bounds(day, request.zone)
        found.append(({"day": day.isoformat()}, start, end))
        day += timedelta(days=1)
    return found


async def build_report(
    sessions: async_sessionmaker[AsyncSession], request: ReportRequest, actor: Actor
) -> Report:
    """The report ``request`` asks for, over the CDRs ``actor`` may see.

    Raises :class:`Forbidden` when the actor's role may not read this kind of report. All of
    it is read in one session (one snapshot on PostgreSQL's default isolation per statement).
    """
    check_access(actor, request.kind)
    kind = request.kind
    per_window: list[tuple[dict[str, Cell], dict[_Key, _Figures]]] = []
    async with sessions() as session:
        connection = await session.connection()
        for period, start, end in _windows(request):
            found = await _window_figures(connection, kind, actor, start, end)
            if found:
                per_window.append((period, found))
        name_ids = [key[0] for _, found in per_window for key in found if key[0] is not None]
        names = await _names(connection, kind, name_ids)
    rows: list[Mapping[str, Cell]] = []
    totals: dict[str, _Figures] = {}
    for period, found in per_window:
        for key in sorted(found, key=_order):
            figures = found[key]
            keyed = _key_cells(kind, key, names)
            rows.append({**period, **keyed, **_cells(kind, figures)})
            totals.setdefault(str(keyed["currency"]), _Figures()).add(figures)
    total_rows = tuple(
        {"currency": currency, **_cells(kind, totals[currency])} for currency in sorted(totals)
    )
    return Report(
        kind=kind,
        first=request.first,
        last=request.last,
        group=request.group,
        zone=request.zone.key,
        columns=columns(kind, request.group),
        rows=tuple(rows),
        total_columns=("currency", *_MEASURES[kind]),
        totals=total_rows,
    )


# -- CSV -------------------------------------------------------------------------------------


def cell_text(value: Cell) -> str:
    """A cell as CSV/JSON text: amounts exact (never exponent notation), nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def report_csv(report: Report) -> str:
    """The report as CSV (RFC 4180: comma, double quotes, CRLF): a header row of
    :attr:`Report.columns`, then one line per row. Totals are not part of the file (a line
    of another shape would break every reader); they are the sums of its columns per currency."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(report.columns)
    for row in report.rows:
        writer.writerow([cell_text(row.get(name)) for name in report.columns])
    return buffer.getvalue()
