"""Reports over real HTTP, on SQLite and PostgreSQL: JSON and CSV of the same report, the role
scope through the API, the refusals (each naming the field to fix), and the daily files (run
on demand, listed, downloaded) with the real job behind ``create_app(reports=...)``.

The figures of every report are checked in ``tests/manage/test_reports.py``; here a few CDRs
(:func:`seed_reports`) are enough to see what crosses the wire.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from api_support import CUSTOMER, USER_PASSWORD, Api
from sqlalchemy import select

from softswitch.api import HttpServer, create_app, serve_http
from softswitch.operators import ADMIN_USERNAME, Role
from softswitch.runtime.reports_job import DailyReports
from softswitch.storage import sessions
from softswitch.storage.models import Account, Agent
from softswitch.storage.models.cdrs import Cdr

V1 = "/api/v1"
D = Decimal


@dataclass
class Seeded:
    c1: int
    c2: int
    a1: int
    agent: int


def call(start: datetime, account: int, code: str, **values: Any) -> Cdr:
    answered = values.pop("answered", True)
    billed = values.pop("billed", 60)
    row: dict[str, Any] = {
        "call_id": f"{code}-{start.isoformat()}",
        "start_time": start,
        "answer_time": start + timedelta(seconds=3) if answered else None,
        "end_time": start + timedelta(seconds=3 + billed),
        "hold_time_ms": billed * 1000 if answered else 0,
        "billed_seconds": billed if answered else 0,
        "account_id": account,
        "account_code": code,
        "caller": "1001",
        "callee": "4420123",
        "currency": "USD",
        "termination_reason": "normal_clearing" if answered else "no_answer",
        "area_name": "UK",
    }
    row.update(values)
    return Cdr(**row)


async def seed_reports(api: Api) -> Seeded:
    """C1 (the customer login's account), C2, and A1 under agent R1; three calls."""
    async with sessions(api.engine).begin() as session:
        c1 = await session.scalar(select(Account.id).where(Account.code == "C1"))
        assert c1 is not None
        agent = Agent(name="R1")
        session.add(agent)
        await session.flush()
        c2 = Account(code="C2", currency="USD")
        a1 = Account(code="A1", currency="USD", agent_id=agent.id)
        session.add_all([c2, a1])
        await session.flush()
        seeded = Seeded(int(c1), c2.id, a1.id, agent.id)
        gw = {"routing_gateway_id": 5, "routing_gateway_name": "GW5"}
        tried = [{"gateway_id": 5, "gateway": "GW5", "status": 200, "reason": ""}]
        session.add_all(
            [
                call(
                    datetime(2026, 2, 27, 12, tzinfo=UTC),
                    seeded.c1,
                    "C1",
                    fee=D("0.5"),
                    cost=D("0.3"),
                    profit=D("0.2"),
                    attempts=tried,
                    **gw,
                ),
                # 23:30 UTC on Feb 28: still Feb 28 in New York, Mar 1 in Tokyo.
                call(
                    datetime(2026, 2, 28, 23, 30, tzinfo=UTC),
                    seeded.a1,
                    "A1",
                    agent_id=agent.id,
                    billed=120,
                    fee=D("1"),
                    agent_fee=D("0.8"),
                    cost=D("0.6"),
                    profit=D("0.2"),
                    attempts=tried,
                    **gw,
                ),
                call(datetime(2026, 2, 28, 10, tzinfo=UTC), seeded.c2, "C2", answered=False),
            ]
        )
    return seeded


def url(kind: str) -> str:
    return f"{V1}/reports/{kind}"


def days(first: str, last: str) -> dict[str, str]:
    return {"from": first, "to": last}


FEB = days("2026-02-27", "2026-02-28")


def refusal(answer: httpx.Response, status: int, field: str | None) -> str:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["field"] == field, error
    return str(error["message"])


async def agent_login(api: Api, agent_id: int) -> dict[str, str]:
    admin = await api.operators.get_user(ADMIN_USERNAME)
    assert admin is not None
    await api.operators.create_user(
        admin.actor, "reseller", USER_PASSWORD, Role.AGENT, agent_id=agent_id
    )
    return await api.login("reseller", USER_PASSWORD)


# -- on demand -------------------------------------------------------------------------------


async def test_json_report_with_rows_and_totals_as_exact_text(api: Api) -> None:
    seeded = await seed_reports(api)
    answer = await api.client.get(
        url("customer_fee"),
        params={**FEB, "group": "day", "tz": "America/New_York"},
        headers=await api.admin(),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["kind"], body["from"], body["to"], body["group"], body["tz"]) == (
        "customer_fee",
        "2026-02-27",
        "2026-02-28",
        "day",
        "America/New_York",
    )
    assert body["rows"] == [
        {"day": "2026-02-27", "account_id": seeded.c1, "account_code": "C1", "currency": "USD",
         "calls": 1, "answered": 1, "billed_seconds": 60, "minutes": "1.00", "fee": "0.500000"},
        {"day": "2026-02-28", "account_id": seeded.c2, "account_code": "C2", "currency": "USD",
         "calls": 1, "answered": 0, "billed_seconds": 0, "minutes": "0.00", "fee": "0.000000"},
        {"day": "2026-02-28", "account_id": seeded.a1, "account_code": "A1", "currency": "USD",
         "calls": 1, "answered": 1, "billed_seconds": 120, "minutes": "2.00", "fee": "1.000000"},
    ]  # fmt: skip
    assert body["columns"] == list(body["rows"][0])
    assert body["totals"] == [
        {"currency": "USD", "calls": 3, "answered": 2, "billed_seconds": 180,
         "minutes": "3.00", "fee": "1.500000"}
    ]  # fmt: skip

    # In Tokyo the 23:30 UTC call is on Mar 1, outside the range.
    tokyo = await api.client.get(
        url("customer_fee"),
        params={**FEB, "group": "period", "tz": "Asia/Tokyo"},
        headers=await api.admin(),
    )
    assert [row["account_code"] for row in tokyo.json()["rows"]] == ["C1", "C2"]


async def test_without_tz_the_days_are_utc_days(api: Api) -> None:
    await seed_reports(api)
    answer = await api.client.get(url("profit"), params=FEB, headers=await api.admin())
    assert answer.status_code == 200, answer.text
    assert answer.json()["tz"] == "UTC"
    assert [(r["day"], r["profit"]) for r in answer.json()["rows"]] == [
        ("2026-02-27", "0.200000"),
        ("2026-02-28", "0.200000"),
    ]


async def test_csv_is_the_same_report_with_a_header_row(api: Api) -> None:
    await seed_reports(api)
    headers = await api.admin()
    params = {**FEB, "group": "period", "tz": "America/New_York"}
    as_json = await api.client.get(url("gateway_area"), params=params, headers=headers)
    as_csv = await api.client.get(
        url("gateway_area"), params={**params, "format": "csv"}, headers=headers
    )
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["content-disposition"] == (
        'attachment; filename="gateway_area-2026-02-27-2026-02-28-period.csv"'
    )
    reader = csv.reader(io.StringIO(as_csv.text))
    header = next(reader)
    assert header == as_json.json()["columns"]
    lines = list(reader)
    expected = [
        ["" if row[name] is None else str(row[name]) for name in header]
        for row in as_json.json()["rows"]
    ]
    assert lines == expected
    assert lines == [
        ["2026-02-27", "2026-02-28", "5", "GW5", "UK", "USD", "2", "2", "100.00", "90.0", "180",
         "3.00", "0.900000"]
    ]  # fmt: skip


# -- scope -----------------------------------------------------------------------------------


async def test_a_customer_reads_its_own_account_and_no_operator_report(api: Api) -> None:
    await seed_reports(api)
    cust = await api.login(CUSTOMER, USER_PASSWORD)
    answer = await api.client.get(url("customer_fee"), params=FEB, headers=cust)
    assert answer.status_code == 200, answer.text
    assert [row["account_code"] for row in answer.json()["rows"]] == ["C1"]
    assert answer.json()["totals"][0]["fee"] == "0.500000"
    for kind in ("gateway_fee", "gateway_area", "profit", "agent_income"):
        refused = await api.client.get(url(kind), params=FEB, headers=cust)
        assert f"may not read the {kind} report" in refusal(refused, 403, None)
        as_csv = await api.client.get(url(kind), params={**FEB, "format": "csv"}, headers=cust)
        assert as_csv.status_code == 403


async def test_an_agent_reads_its_accounts_and_its_income(api: Api) -> None:
    seeded = await seed_reports(api)
    agent = await agent_login(api, seeded.agent)
    customers = await api.client.get(url("customer_fee"), params=FEB, headers=agent)
    assert [row["account_code"] for row in customers.json()["rows"]] == ["A1"]
    income = await api.client.get(
        url("agent_income"), params={**FEB, "group": "period"}, headers=agent
    )
    shown = [
        (r["agent_name"], r["fee"], r["agent_fee"], r["income"]) for r in income.json()["rows"]
    ]
    assert shown == [("R1", "1.000000", "0.800000", "0.200000")]
    refused = await api.client.get(url("profit"), params=FEB, headers=agent)
    assert "carrier cost" in refusal(refused, 403, None)


# -- refusals --------------------------------------------------------------------------------


async def test_bad_requests_say_what_to_fix(api: Api) -> None:
    headers = await api.admin()
    get = api.client.get
    unknown = await get(url("revenue"), params=FEB, headers=headers)
    assert "customer_fee" in refusal(unknown, 422, "kind")
    backwards = await get(url("profit"), params=days("2026-03-02", "2026-03-01"), headers=headers)
    assert "before from" in refusal(backwards, 422, "to")
    too_long = await get(url("profit"), params=days("2026-01-01", "2027-01-02"), headers=headers)
    assert "at most 366" in refusal(too_long, 422, "to")
    bad_date = await get(url("profit"), params=days("2026-02-30", "2026-03-01"), headers=headers)
    refusal(bad_date, 422, "from")
    missing = await get(url("profit"), params={"to": "2026-03-01"}, headers=headers)
    assert "from is required" in refusal(missing, 422, "from")
    zone = await get(url("profit"), params={**FEB, "tz": "Nowhere/City"}, headers=headers)
    assert "IANA" in refusal(zone, 422, "tz")
    group = await get(url("profit"), params={**FEB, "group": "week"}, headers=headers)
    refusal(group, 422, "group")
    form = await get(url("profit"), params={**FEB, "format": "xml"}, headers=headers)
    refusal(form, 422, "format")
    extra = await get(url("profit"), params={**FEB, "start": "2026-02-27"}, headers=headers)
    refusal(extra, 422, "start")
    assert (await get(url("profit"), params=FEB)).status_code == 401


# -- daily files -----------------------------------------------------------------------------


@asynccontextmanager
async def serving(api: Api, reports: DailyReports | None) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the same database, with the given daily job (or none)."""
    app = create_app(
        engine=api.engine,
        params=api.params,
        operators=api.operators,
        clock=api.clock,
        reports=reports,
    )
    server: HttpServer = await serve_http(app, "127.0.0.1", 0)
    client = httpx.AsyncClient(base_url=server.url, timeout=10.0)
    try:
        yield client
    finally:
        await client.aclose()
        await server.stop()


@pytest.fixture
async def daily(api: Api, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, DailyReports]]:
    """An app with a daily job (zone New York, not started: the routes call ``run_day``
    themselves) writing under ``tmp_path``."""
    zone = ZoneInfo("America/New_York")
    job = DailyReports(sessions(api.engine), api.params, tmp_path / "reports", zone, api.clock)
    async with serving(api, job) as client:
        yield client, job


async def test_daily_routes_answer_503_without_a_job(api: Api) -> None:
    headers = await api.admin()
    async with serving(api, None) as client:
        for method, path in (
            ("GET", "/reports/daily"),
            ("POST", "/reports/daily?date=2026-02-28"),
            ("GET", "/reports/daily/2026-02-28/profit.csv"),
        ):
            answer = await client.request(method, V1 + path, headers=headers)
            assert "no daily report job" in refusal(answer, 503, None), path
        # reports on demand work without it, in UTC days
        answer = await client.get(url("profit"), params=FEB, headers=headers)
        assert answer.status_code == 200 and answer.json()["tz"] == "UTC", answer.text


async def test_run_list_and_download_a_day(
    api: Api, daily: tuple[httpx.AsyncClient, DailyReports]
) -> None:
    client, job = daily
    await seed_reports(api)
    headers = await api.admin()
    await client.put(f"{V1}/params/SERVER_REPORT_PHONE_FEE", json={"value": "Off"}, headers=headers)

    ran = await client.post(f"{V1}/reports/daily", params={"date": "2026-02-28"}, headers=headers)
    assert ran.status_code == 200, ran.text
    kinds = ["customer_fee", "agent_income", "gateway_fee", "profit", "gateway_area"]
    assert [item["kind"] for item in ran.json()["files"]] == kinds  # phone_fee is Off
    assert ran.json()["files"][0]["url"] == f"{V1}/reports/daily/2026-02-28/customer_fee.csv"

    listed = await client.get(f"{V1}/reports/daily", headers=headers)
    assert listed.status_code == 200, listed.text
    assert [d["day"] for d in listed.json()["days"]] == ["2026-02-28"]
    assert [f["kind"] for f in listed.json()["days"][0]["files"]] == kinds

    got = await client.get(f"{V1}/reports/daily/2026-02-28/customer_fee.csv", headers=headers)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    on_disk = (job.directory / "2026-02-28" / "customer_fee.csv").read_bytes().decode()
    assert got.text == on_disk
    # The day is New York's Feb 28: C2's call and A1's 23:30 UTC call (18:30 there).
    assert [line[2] for line in csv.reader(io.StringIO(got.text))][1:] == ["C2", "A1"]
    assert ran.json()["files"][0]["size"] == len(on_disk.encode())

    missing = await client.get(f"{V1}/reports/daily/2026-02-28/phone_fee.csv", headers=headers)
    assert "POST /api/v1/reports/daily?date=2026-02-28" in refusal(missing, 404, None)
    bad_kind = await client.get(f"{V1}/reports/daily/2026-02-28/revenue.csv", headers=headers)
    refusal(bad_kind, 422, "kind")

    # The clock is 2026-03-01 08:00 UTC: 03:00 on Mar 1 in New York, a day not over yet.
    today = await client.post(f"{V1}/reports/daily", params={"date": "2026-03-01"}, headers=headers)
    assert "before 2026-03-01" in refusal(today, 422, "date")

    # The job's zone is the default of reports on demand.
    answer = await client.get(url("customer_fee"), params=FEB, headers=headers)
    assert answer.json()["tz"] == "America/New_York"


async def test_daily_files_are_for_admins_and_operators(
    api: Api, daily: tuple[httpx.AsyncClient, DailyReports]
) -> None:
    client, job = daily
    cust = await api.login(CUSTOMER, USER_PASSWORD)
    for method, path in (
        ("GET", "/reports/daily"),
        ("POST", "/reports/daily?date=2026-02-28"),
        ("GET", "/reports/daily/2026-02-28/customer_fee.csv"),
    ):
        answer = await client.request(method, V1 + path, headers=cust)
        assert "cover every account" in refusal(answer, 403, None), path
    assert not (job.directory / "2026-02-28").exists()
