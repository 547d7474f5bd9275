"""Billing reports over a real migrated database, on SQLite and PostgreSQL.

One small month of CDRs (:func:`seed`) is written straight into the table; every expected figure
below is computed by hand from those rows (Decimal literals), for both groupings, in a zone
whose local days are not UTC days (America/New_York: a call at 03:30 UTC belongs to the local
day before), and in UTC to show the same rows fall on other days there. Role scope, the
validation of a request, the DST day bounds and the CSV text are checked as well.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.database import database_url as database_url
from fixtures.database import engine as engine
from fixtures.database import postgres_url as postgres_url
from softswitch.manage import Forbidden, Invalid
from softswitch.manage import reports as reports_module
from softswitch.manage.reports import (
    MAX_REPORT_DAYS,
    Cell,
    Grouping,
    Report,
    ReportKind,
    build_report,
    columns,
    day_bounds,
    report_csv,
    report_request,
)
from softswitch.operators import SYSTEM, Actor, Role
from softswitch.storage import sessions
from softswitch.storage.models import Account, Agent, Phone
from softswitch.storage.models.cdrs import Cdr

NEW_YORK = ZoneInfo("America/New_York")
MAR1, MAR2 = date(2026, 3, 1), date(2026, 3, 2)
G1, G2 = 11, 12
D = Decimal


@dataclass
class World:
    agent: int
    c1: int
    c2: int
    c3: int
    p1: int
    p2: int


def attempt(gateway: int, status: int) -> dict[str, Any]:
    return {
        "gateway_id": gateway,
        "gateway": "Carrier1" if gateway == G1 else "Carrier2",
        "status": status,
        "reason": "" if status == 200 else "failed",
    }


def cdr(
    start: datetime,
    account: int,
    code: str,
    *,
    answered: bool = True,
    billed: int = 0,
    hold_ms: int = 0,
    gateway: int | None = None,
    **values: Any,
) -> Cdr:
    row: dict[str, Any] = {
        "call_id": f"{start.isoformat()}-{code}",
        "start_time": start,
        "answer_time": start + timedelta(seconds=5) if answered else None,
        "end_time": start + timedelta(seconds=5 + billed),
        "hold_time_ms": hold_ms,
        "billed_seconds": billed,
        "account_id": account,
        "account_code": code,
        "caller": "1001",
        "callee": "4930123456",
        "currency": "USD",
        "termination_reason": "normal_clearing" if answered else "callee_busy",
        "routing_gateway_id": gateway,
        "routing_gateway_name": {G1: "Carrier1", G2: "Carrier2", None: ""}[gateway],
    }
    row.update(values)
    return Cdr(**row)


async def seed(engine: AsyncEngine) -> World:
    """Agent A (``Reseller A``) with account C1 (phone 1001); C2 (phone 2001) and C3 (EUR)
    without agent; six CDRs in the two New York days and two just outside them."""
    async with sessions(engine).begin() as session:
        agent = Agent(name="Reseller A")
        session.add(agent)
        await session.flush()
        c1 = Account(code="C1", currency="USD", agent_id=agent.id)
        c2 = Account(code="C2", currency="USD")
        c3 = Account(code="C3", currency="EUR")
        session.add_all([c1, c2, c3])
        await session.flush()
        p1 = Phone(number="1001", password="secret-1", account_id=c1.id)
        p2 = Phone(number="2001", password="secret-2", account_id=c2.id)
        session.add_all([p1, p2])
        await session.flush()
        world = World(agent.id, c1.id, c2.id, c3.id, p1.id, p2.id)
        a, ca, cb, cc = world.agent, world.c1, world.c2, world.c3
        session.add_all(
            [
                # 1: Mar 1 10:00 EST; failed over from G2 to G1.
                cdr(
                    datetime(2026, 3, 1, 15, 0, tzinfo=UTC),
                    ca,
                    "C1",
                    agent_id=a,
                    phone_id=world.p1,
                    billed=90,
                    hold_ms=90_400,
                    gateway=G1,
                    area_name="Germany",
                    fee=D("1.5"),
                    agent_fee=D("1.2"),
                    cost=D("0.9"),
                    profit=D("0.3"),
                    attempts=[attempt(G2, 503), attempt(G1, 200)],
                ),
                # 2: 03:30 UTC on Mar 2 is 22:30 EST on Mar 1.
                cdr(
                    datetime(2026, 3, 2, 3, 30, tzinfo=UTC),
                    cb,
                    "C2",
                    phone_id=world.p2,
                    billed=60,
                    hold_ms=59_700,
                    gateway=G1,
                    area_name="Germany",
                    fee=D("0.8"),
                    cost=D("0.5"),
                    profit=D("0.3"),
                    attempts=[attempt(G1, 200)],
                ),
                # 3: Mar 1, not answered after two gateways.
                cdr(
                    datetime(2026, 3, 1, 16, 0, tzinfo=UTC),
                    ca,
                    "C1",
                    agent_id=a,
                    phone_id=world.p1,
                    answered=False,
                    area_name="France",
                    attempts=[attempt(G1, 486), attempt(G2, 503)],
                ),
                # 4: Mar 2 09:00 EST, a trunk call (no phone).
                cdr(
                    datetime(2026, 3, 2, 14, 0, tzinfo=UTC),
                    ca,
                    "C1",
                    agent_id=a,
                    billed=120,
                    hold_ms=120_000,
                    gateway=G2,
                    area_name="France",
                    fee=D("2"),
                    agent_fee=D("1.6"),
                    cost=D("1.1"),
                    profit=D("0.5"),
                    attempts=[attempt(G2, 200)],
                ),
                # 6: Mar 2, in euros.
                cdr(
                    datetime(2026, 3, 2, 16, 0, tzinfo=UTC),
                    cc,
                    "C3",
                    currency="EUR",
                    billed=30,
                    hold_ms=30_000,
                    gateway=G1,
                    area_name="Germany",
                    fee=D("0.4"),
                    cost=D("0.2"),
                    profit=D("0.2"),
                    attempts=[attempt(G1, 200)],
                ),
                # 7: Mar 2, not answered.
                cdr(
                    datetime(2026, 3, 2, 15, 0, tzinfo=UTC),
                    cb,
                    "C2",
                    phone_id=world.p2,
                    answered=False,
                    area_name="Germany",
                    attempts=[attempt(G1, 480)],
                ),
                # Outside: 23:59 EST on Feb 28, and exactly 00:00 EST on Mar 3 (the range is
                # half-open at the end of the last day).
                cdr(
                    datetime(2026, 3, 1, 4, 59, tzinfo=UTC),
                    ca,
                    "C1",
                    agent_id=a,
                    phone_id=world.p1,
                    billed=600,
                    hold_ms=600_000,
                    gateway=G1,
                    area_name="Germany",
                    fee=D("9"),
                    agent_fee=D("8"),
                    cost=D("6"),
                    profit=D("1"),
                    attempts=[attempt(G1, 200)],
                ),
                cdr(
                    datetime(2026, 3, 3, 5, 0, tzinfo=UTC),
                    ca,
                    "C1",
                    agent_id=a,
                    billed=60,
                    hold_ms=60_000,
                    gateway=G1,
                    area_name="Germany",
                    fee=D("7"),
                    agent_fee=D("6"),
                    cost=D("5"),
                    profit=D("1"),
                    attempts=[attempt(G1, 200)],
                ),
            ]
        )
    return world


async def report(
    engine: AsyncEngine,
    kind: ReportKind,
    group: Grouping = Grouping.PERIOD,
    actor: Actor = SYSTEM,
    zone: str = "America/New_York",
) -> Report:
    request = report_request(kind, MAR1, MAR2, group, zone)
    return await build_report(sessions(engine), request, actor)


def rows(found: Report) -> list[dict[str, Cell]]:
    return [dict(row) for row in found.rows]


def period(**cells: Cell) -> dict[str, Cell]:
    return {"from": "2026-03-01", "to": "2026-03-02", **cells}


def day(when: date, **cells: Cell) -> dict[str, Cell]:
    return {"day": when.isoformat(), **cells}


def fee_cells(calls: int, answered: int, seconds: int, minutes: str, fee: str) -> dict[str, Cell]:
    return {
        "calls": calls,
        "answered": answered,
        "billed_seconds": seconds,
        "minutes": D(minutes),
        "fee": D(fee),
    }


def account(ident: int, code: str, currency: str = "USD") -> dict[str, Cell]:
    return {"account_id": ident, "account_code": code, "currency": currency}


# -- the reports -----------------------------------------------------------------------------


async def test_customer_fee_per_local_day_puts_a_late_call_on_the_day_before(
    engine: AsyncEngine,
) -> None:
    w = await seed(engine)
    found = await report(engine, ReportKind.CUSTOMER_FEE, Grouping.DAY)
    assert found.columns == (
        "day",
        "account_id",
        "account_code",
        "currency",
        "calls",
        "answered",
        "billed_seconds",
        "minutes",
        "fee",
    )
    assert rows(found) == [
        day(MAR1, **account(w.c1, "C1"), **fee_cells(2, 1, 90, "1.50", "1.500000")),
        day(MAR1, **account(w.c2, "C2"), **fee_cells(1, 1, 60, "1.00", "0.800000")),
        day(MAR2, **account(w.c1, "C1"), **fee_cells(1, 1, 120, "2.00", "2.000000")),
        day(MAR2, **account(w.c2, "C2"), **fee_cells(1, 0, 0, "0.00", "0.000000")),
        day(MAR2, **account(w.c3, "C3", "EUR"), **fee_cells(1, 1, 30, "0.50", "0.400000")),
    ]
    assert found.total_columns == (
        "currency",
        "calls",
        "answered",
        "billed_seconds",
        "minutes",
        "fee",
    )
    assert [dict(t) for t in found.totals] == [
        {"currency": "EUR", **fee_cells(1, 1, 30, "0.50", "0.400000")},
        {"currency": "USD", **fee_cells(5, 3, 270, "4.50", "4.300000")},
    ]
    assert found.zone == "America/New_York"


async def test_the_same_rows_fall_on_utc_days_in_utc(engine: AsyncEngine) -> None:
    w = await seed(engine)
    found = await report(engine, ReportKind.CUSTOMER_FEE, Grouping.DAY, zone="UTC")
    # 04:59 UTC on Mar 1 is inside the UTC day; 03:30 UTC on Mar 2 is on Mar 2.
    assert rows(found) == [
        day(MAR1, **account(w.c1, "C1"), **fee_cells(3, 2, 690, "11.50", "10.500000")),
        day(MAR2, **account(w.c1, "C1"), **fee_cells(1, 1, 120, "2.00", "2.000000")),
        day(MAR2, **account(w.c2, "C2"), **fee_cells(2, 1, 60, "1.00", "0.800000")),
        day(MAR2, **account(w.c3, "C3", "EUR"), **fee_cells(1, 1, 30, "0.50", "0.400000")),
    ]


async def test_customer_fee_over_the_period(engine: AsyncEngine) -> None:
    w = await seed(engine)
    found = await report(engine, ReportKind.CUSTOMER_FEE)
    assert found.columns[:2] == ("from", "to")
    assert rows(found) == [
        period(**account(w.c1, "C1"), **fee_cells(3, 2, 210, "3.50", "3.500000")),
        period(**account(w.c2, "C2"), **fee_cells(2, 1, 60, "1.00", "0.800000")),
        period(**account(w.c3, "C3", "EUR"), **fee_cells(1, 1, 30, "0.50", "0.400000")),
    ]


async def test_agent_income_is_fee_minus_agent_fee_of_the_agents_calls(
    engine: AsyncEngine,
) -> None:
    w = await seed(engine)
    found = await report(engine, ReportKind.AGENT_INCOME)
    agent: dict[str, Cell] = {"agent_id": w.agent, "agent_name": "Reseller A", "currency": "USD"}
    assert rows(found) == [
        period(
            **agent,
            **fee_cells(3, 2, 210, "3.50", "3.500000"),
            agent_fee=D("2.800000"),
            income=D("0.700000"),
        )
    ]
    per_day = await report(engine, ReportKind.AGENT_INCOME, Grouping.DAY)
    assert [(r["day"], r["fee"], r["agent_fee"], r["income"]) for r in per_day.rows] == [
        ("2026-03-01", D("1.500000"), D("1.200000"), D("0.300000")),
        ("2026-03-02", D("2.000000"), D("1.600000"), D("0.400000")),
    ]


async def test_gateway_fee_per_answering_gateway_and_currency(engine: AsyncEngine) -> None:
    await seed(engine)
    found = await report(engine, ReportKind.GATEWAY_FEE)

    def gateway(ident: int, name: str, currency: str, *figures: Any) -> dict[str, Cell]:
        answered, seconds, minutes, cost = figures
        return period(
            routing_gateway_id=ident,
            routing_gateway_name=name,
            currency=currency,
            answered=answered,
            billed_seconds=seconds,
            minutes=D(minutes),
            cost=D(cost),
        )

    assert rows(found) == [
        gateway(G1, "Carrier1", "EUR", 1, 30, "0.50", "0.200000"),
        gateway(G1, "Carrier1", "USD", 2, 150, "2.50", "1.400000"),
        gateway(G2, "Carrier2", "USD", 1, 120, "2.00", "1.100000"),
    ]
    assert [dict(t) for t in found.totals] == [
        {"currency": "EUR", "answered": 1, "billed_seconds": 30, "minutes": D("0.50"),
         "cost": D("0.200000")},
        {"currency": "USD", "answered": 3, "billed_seconds": 270, "minutes": D("4.50"),
         "cost": D("2.500000")},
    ]  # fmt: skip


async def test_phone_fee_names_the_phone(engine: AsyncEngine) -> None:
    w = await seed(engine)
    found = await report(engine, ReportKind.PHONE_FEE)
    assert rows(found) == [
        period(
            phone_id=w.p1,
            phone_number="1001",
            **account(w.c1, "C1"),
            **fee_cells(2, 1, 90, "1.50", "1.500000"),
        ),
        period(
            phone_id=w.p2,
            phone_number="2001",
            **account(w.c2, "C2"),
            **fee_cells(2, 1, 60, "1.00", "0.800000"),
        ),
    ]


async def test_profit_per_currency(engine: AsyncEngine) -> None:
    await seed(engine)
    found = await report(engine, ReportKind.PROFIT)
    assert rows(found) == [
        period(
            currency="EUR",
            calls=1,
            answered=1,
            billed_seconds=30,
            minutes=D("0.50"),
            revenue=D("0.400000"),
            agent_income=D("0.000000"),
            cost=D("0.200000"),
            profit=D("0.200000"),
        ),
        period(
            currency="USD",
            calls=5,
            answered=3,
            billed_seconds=270,
            minutes=D("4.50"),
            revenue=D("4.300000"),
            agent_income=D("0.700000"),
            cost=D("2.500000"),
            profit=D("1.100000"),
        ),
    ]
    for row in found.rows:  # the CDRs' profit is revenue - agent income - cost here
        assert row["profit"] == D(str(row["revenue"])) - D(str(row["agent_income"])) - D(
            str(row["cost"])
        )


def area_row(
    gateway: int, area: str, currency: str, attempts: int, answered: int, *rest: Any
) -> dict[str, Cell]:
    asr, acd, seconds, minutes, cost = rest
    return period(
        routing_gateway_id=gateway,
        routing_gateway_name="Carrier1" if gateway == G1 else "Carrier2",
        area_name=area,
        currency=currency,
        attempts=attempts,
        answered=answered,
        asr=None if asr is None else D(asr),
        acd=None if acd is None else D(acd),
        billed_seconds=seconds,
        minutes=D(minutes),
        cost=D(cost),
    )


async def test_gateway_area_counts_every_attempt_naming_the_gateway(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(engine)
    monkeypatch.setattr(reports_module, "STREAM_BATCH", 2)  # several batches of the pass
    found = await report(engine, ReportKind.GATEWAY_AREA)
    assert rows(found) == [
        area_row(G1, "France", "USD", 1, 0, "0.00", None, 0, "0.00", "0.000000"),
        area_row(G1, "Germany", "EUR", 1, 1, "100.00", "30.0", 30, "0.50", "0.200000"),
        # 2 of 3 answered; ACD (90.4 s + 59.7 s) / 2 = 75.05 s, rounded half up.
        area_row(G1, "Germany", "USD", 3, 2, "66.67", "75.1", 150, "2.50", "1.400000"),
        area_row(G2, "France", "USD", 2, 1, "50.00", "120.0", 120, "2.00", "1.100000"),
        area_row(G2, "Germany", "USD", 1, 0, "0.00", None, 0, "0.00", "0.000000"),
    ]
    usd = dict(found.totals[1])
    # 3 answered of 7 attempts; (90.4 + 59.7 + 120) / 3 = 90.03 s
    assert usd == {
        "currency": "USD",
        "attempts": 7,
        "answered": 3,
        "asr": D("42.86"),
        "acd": D("90.0"),
        "billed_seconds": 270,
        "minutes": D("4.50"),
        "cost": D("2.500000"),
    }
    per_day = await report(engine, ReportKind.GATEWAY_AREA, Grouping.DAY)
    assert sum(int(str(r["attempts"])) for r in per_day.rows) == 8
    mar1 = [r for r in per_day.rows if r["day"] == "2026-03-01"]
    assert [(r["routing_gateway_id"], r["area_name"], r["attempts"]) for r in mar1] == [
        (G1, "France", 1),
        (G1, "Germany", 2),
        (G2, "France", 1),
        (G2, "Germany", 1),
    ]


async def test_an_answered_call_without_attempt_list_counts_as_one_attempt(
    engine: AsyncEngine,
) -> None:
    async with sessions(engine).begin() as session:
        session.add(
            cdr(
                datetime(2026, 3, 1, 12, 0, tzinfo=UTC), 1, "C1", billed=10, hold_ms=10_000,
                gateway=G2, area_name="Spain", cost=D("0.01"), attempts=[],
            )
        )  # fmt: skip
    found = await report(engine, ReportKind.GATEWAY_AREA)
    assert rows(found) == [
        area_row(G2, "Spain", "USD", 1, 1, "100.00", "10.0", 10, "0.17", "0.010000")
    ]


async def test_an_empty_range_has_no_rows_and_no_totals(engine: AsyncEngine) -> None:
    for kind in ReportKind:
        found = await report(engine, kind, Grouping.DAY)
        assert found.rows == () and found.totals == ()
        assert found.columns == columns(kind, Grouping.DAY)


# -- scope -----------------------------------------------------------------------------------


async def test_an_agent_sees_its_accounts_and_its_income_only(engine: AsyncEngine) -> None:
    w = await seed(engine)
    agent = Actor(7, "reseller", Role.AGENT, agent_id=w.agent)
    customers = await report(engine, ReportKind.CUSTOMER_FEE, actor=agent)
    assert [r["account_code"] for r in customers.rows] == ["C1"]
    income = await report(engine, ReportKind.AGENT_INCOME, actor=agent)
    assert [r["income"] for r in income.rows] == [D("0.700000")]
    phones = await report(engine, ReportKind.PHONE_FEE, actor=agent)
    assert [r["phone_number"] for r in phones.rows] == ["1001"]
    other = Actor(8, "other", Role.AGENT, agent_id=w.agent + 1000)
    assert (await report(engine, ReportKind.CUSTOMER_FEE, actor=other)).rows == ()
    for kind in (ReportKind.GATEWAY_FEE, ReportKind.GATEWAY_AREA, ReportKind.PROFIT):
        with pytest.raises(Forbidden, match="carrier cost"):
            await report(engine, kind, actor=agent)


async def test_a_customer_sees_its_own_account_only(engine: AsyncEngine) -> None:
    w = await seed(engine)
    customer = Actor(9, "cust2", Role.CUSTOMER, account_id=w.c2)
    found = await report(engine, ReportKind.CUSTOMER_FEE, actor=customer)
    assert rows(found) == [period(**account(w.c2, "C2"), **fee_cells(2, 1, 60, "1.00", "0.800000"))]
    phones = await report(engine, ReportKind.PHONE_FEE, actor=customer)
    assert [r["phone_number"] for r in phones.rows] == ["2001"]
    for kind in (ReportKind.AGENT_INCOME, ReportKind.GATEWAY_FEE, ReportKind.PROFIT):
        with pytest.raises(Forbidden):
            await report(engine, kind, actor=customer)


async def test_operators_see_everything() -> None:
    operator = Actor(3, "op", Role.OPERATOR)
    for kind in ReportKind:
        reports_module.check_access(operator, kind)  # no refusal


# -- validation, days, CSV -------------------------------------------------------------------


def invalid(field: str, *args: Any) -> str:
    with pytest.raises(Invalid) as caught:
        report_request(*args)
    assert caught.value.field == field
    return caught.value.message


def test_a_request_is_checked_field_by_field() -> None:
    assert "customer_fee" in invalid("kind", "revenue", MAR1, MAR2)
    assert "same date twice" in invalid("to", "profit", MAR2, MAR1)
    last = MAR1 + timedelta(days=MAX_REPORT_DAYS)
    assert "at most 366" in invalid("to", "profit", MAR1, last)
    assert report_request("profit", MAR1, last - timedelta(days=1)).last == date(2027, 3, 1)
    assert "Europe/London" in invalid("tz", "profit", MAR1, MAR2, "day", "Mars/Olympus")
    invalid("tz", "profit", MAR1, MAR2, "day", "../../etc/passwd")
    invalid("tz", "profit", MAR1, MAR2, "day", "")
    assert "day or period" in invalid("group", "profit", MAR1, MAR2, "week")
    invalid("from", "profit", date(1, 1, 1), MAR2)
    invalid("to", "profit", MAR1, date(9999, 12, 31))
    one_day = report_request(ReportKind.PROFIT, MAR1, MAR1, Grouping.DAY, "Europe/London")
    assert one_day.zone == ZoneInfo("Europe/London")


def test_local_days_are_23_or_25_hours_around_dst() -> None:
    london = ZoneInfo("Europe/London")
    spring = day_bounds(date(2026, 3, 29), london)
    assert spring == (datetime(2026, 3, 29, 0, tzinfo=UTC), datetime(2026, 3, 29, 23, tzinfo=UTC))
    autumn = day_bounds(date(2026, 10, 25), london)
    assert autumn == (datetime(2026, 10, 24, 23, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC))
    assert day_bounds(MAR1, NEW_YORK) == (
        datetime(2026, 3, 1, 5, tzinfo=UTC),
        datetime(2026, 3, 2, 5, tzinfo=UTC),
    )


async def test_csv_has_the_header_and_the_rows_exactly(engine: AsyncEngine) -> None:
    w = await seed(engine)
    found = await report(engine, ReportKind.CUSTOMER_FEE)
    text = report_csv(found)
    assert text.endswith("\r\n")
    parsed = list(csv.reader(io.StringIO(text)))
    assert tuple(parsed[0]) == found.columns
    assert parsed[1:] == [
        ["2026-03-01", "2026-03-02", str(w.c1), "C1", "USD", "3", "2", "210", "3.50", "3.500000"],
        ["2026-03-01", "2026-03-02", str(w.c2), "C2", "USD", "2", "1", "60", "1.00", "0.800000"],
        ["2026-03-01", "2026-03-02", str(w.c3), "C3", "EUR", "1", "1", "30", "0.50", "0.400000"],
    ]
    area = report_csv(await report(engine, ReportKind.GATEWAY_AREA))
    first: Mapping[str, str] = next(csv.DictReader(io.StringIO(area)))
    assert first["acd"] == "" and first["asr"] == "0.00"  # no answered call: no ACD
