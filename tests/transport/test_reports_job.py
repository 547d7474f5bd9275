"""The daily reports job and ``softswitch reports``.

- :func:`next_run` is pure and checked on ordinary days and on both DST days of Europe/London
  (01:00 does not exist on the spring day and occurs twice on the autumn one).
- ``run_day`` writes one CSV per report whose SERVER_REPORT_* switch is On, the same text as
  the report itself, atomically (no temporary file is ever left, a failed write keeps the old
  file), and a second run of the day replaces the files.
- The loop runs at 01:00 on an injected clock whose sleep advances it: no real waiting.
- The CLI prints the table or the CSV of a report from a served app, with an API key.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.database import database_url as database_url
from fixtures.database import engine as engine
from fixtures.database import postgres_url as postgres_url
from softswitch.api import create_app, serve_http
from softswitch.manage.reports import (
    Grouping,
    ReportKind,
    ReportRequest,
    build_report,
    report_csv,
)
from softswitch.operators import SYSTEM, OperatorService
from softswitch.params import ParamStore, load_catalog
from softswitch.runtime import reports_cli, reports_job
from softswitch.runtime.reports_job import MAX_SLEEP, DailyReports, next_run, write_atomically
from softswitch.storage import sessions
from softswitch.storage.models.cdrs import Cdr

LONDON = ZoneInfo("Europe/London")
FEB28 = date(2026, 2, 28)
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# -- next_run --------------------------------------------------------------------------------


def test_next_run_is_the_next_0100_local_and_names_its_date() -> None:
    assert next_run(utc(2026, 3, 1, 0, 30), LONDON) == (utc(2026, 3, 1, 1), date(2026, 3, 1))
    # strictly after: at 01:00 itself the next run is tomorrow's
    assert next_run(utc(2026, 3, 1, 1), LONDON) == (utc(2026, 3, 2, 1), date(2026, 3, 2))
    assert next_run(utc(2026, 3, 1, 1, 0, 1), LONDON)[1] == date(2026, 3, 2)
    # New York is UTC-5 in winter: 01:00 EST is 06:00 UTC
    new_york = ZoneInfo("America/New_York")
    assert next_run(utc(2026, 3, 1, 5, 59), new_york) == (utc(2026, 3, 1, 6), date(2026, 3, 1))
    # late evening local, already the next day in UTC (Tokyo, UTC+9)
    tokyo = ZoneInfo("Asia/Tokyo")
    assert next_run(utc(2026, 3, 1, 15, 30), tokyo) == (utc(2026, 3, 1, 16), date(2026, 3, 2))


def test_next_run_when_01_00_is_skipped_by_the_spring_change() -> None:
    # 2026-03-29: London's clocks go from 01:00 GMT straight to 02:00 BST.
    when, day = next_run(utc(2026, 3, 28, 23), LONDON)
    assert (when, day) == (utc(2026, 3, 29, 1), date(2026, 3, 29))  # 02:00 BST, after the gap
    assert when.astimezone(LONDON).hour == 2
    assert next_run(when, LONDON) == (utc(2026, 3, 30, 0), date(2026, 3, 30))  # 01:00 BST


def test_next_run_when_01_00_happens_twice_in_autumn() -> None:
    # 2026-10-25: 01:00 BST (00:00 UTC), then at 02:00 BST back to 01:00 GMT (01:00 UTC).
    first, day = next_run(utc(2026, 10, 24, 23, 30), LONDON)
    assert (first, day) == (utc(2026, 10, 25, 0), date(2026, 10, 25))
    # after the first 01:00, the second one is no run: the next is the 26th
    assert next_run(first, LONDON) == (utc(2026, 10, 26, 1), date(2026, 10, 26))
    assert next_run(utc(2026, 10, 25, 1), LONDON)[0] == utc(2026, 10, 26, 1)


def test_next_run_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_run(datetime(2026, 3, 1), LONDON)


# -- atomic files ----------------------------------------------------------------------------


def test_a_file_is_replaced_whole_and_no_temporary_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "2026-02-28" / "profit.csv"
    assert write_atomically(target, "a,b\r\n1,2\r\n") == 10
    assert write_atomically(target, "a,b\r\n3,4\r\n") == 10
    assert target.read_bytes() == b"a,b\r\n3,4\r\n"
    assert os.listdir(target.parent) == ["profit.csv"]

    def broken(source: object, destination: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(reports_job.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, "a,b\r\n5,6\r\n")
    assert target.read_bytes() == b"a,b\r\n3,4\r\n"
    assert os.listdir(target.parent) == ["profit.csv"]


# -- the job ---------------------------------------------------------------------------------


async def seed(engine: AsyncEngine) -> None:
    """Two answered calls of account 1 (agent 3, phone 4, gateway 5): 23:30 UTC on Feb 28 is
    Feb 28 in London (GMT); 00:30 UTC on Mar 1 is not."""
    rows = []
    for start, fee in ((utc(2026, 2, 28, 23, 30), "0.6"), (utc(2026, 3, 1, 0, 30), "9")):
        rows.append(
            Cdr(
                call_id=f"job-{start.isoformat()}",
                start_time=start,
                answer_time=start + timedelta(seconds=2),
                end_time=start + timedelta(seconds=62),
                hold_time_ms=60_000,
                billed_seconds=60,
                account_id=1,
                account_code="C1",
                agent_id=3,
                phone_id=4,
                caller="1001",
                callee="4420",
                currency="GBP",
                routing_gateway_id=5,
                routing_gateway_name="GW5",
                area_name="UK",
                fee=Decimal(fee),
                agent_fee=Decimal("0.5"),
                cost=Decimal("0.4"),
                profit=Decimal("0.1"),
                attempts=[{"gateway_id": 5, "gateway": "GW5", "status": 200, "reason": ""}],
                termination_reason="normal_clearing",
            )
        )
    async with sessions(engine).begin() as session:
        session.add_all(rows)


class Clock:
    """A settable wall clock; ``sleep`` advances it instead of waiting, and parks for good
    once ``park_after`` runs are done (so the loop cannot spin through the days)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self.job: DailyReports | None = None
        self.park_after = 1

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert self.job is not None
        if self.job.runs >= self.park_after:
            await asyncio.Event().wait()  # until stop() cancels the loop
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


def make_job(
    engine: AsyncEngine, directory: Path, clock: Clock, params: ParamStore
) -> DailyReports:
    job = DailyReports(sessions(engine), params, directory, LONDON, clock, sleep=clock.sleep)
    clock.job = job
    return job


@SQLITE
async def test_run_day_writes_the_reports_that_are_on(engine: AsyncEngine, tmp_path: Path) -> None:
    await seed(engine)
    params = ParamStore(load_catalog())
    params.set("SERVER_REPORT_AGENT_INCOME", "Off")
    params.set("SERVER_REPORT_PHONE_FEE", "Off")
    job = make_job(engine, tmp_path, Clock(utc(2026, 3, 1, 9)), params)

    written = await job.run_day(FEB28)
    off = {ReportKind.AGENT_INCOME, ReportKind.PHONE_FEE}
    kinds = [kind for kind in ReportKind if kind not in off]
    assert [item.kind for item in written] == kinds
    day_dir = tmp_path / "2026-02-28"
    assert sorted(os.listdir(day_dir)) == sorted(f"{kind.value}.csv" for kind in kinds)
    for item in written:
        assert item.path == day_dir / f"{item.kind.value}.csv"
        assert item.size == item.path.stat().st_size
        request = ReportRequest(item.kind, FEB28, FEB28, Grouping.DAY, LONDON)
        expected = report_csv(await build_report(sessions(engine), request, SYSTEM))
        assert item.path.read_bytes().decode() == expected
    fees = list(csv.DictReader(io.StringIO((day_dir / "customer_fee.csv").read_text())))
    assert [(row["day"], row["fee"]) for row in fees] == [("2026-02-28", "0.600000")]
    assert [item.kind for item in await job.files()] == kinds
    assert job.file(FEB28, ReportKind.PROFIT) == day_dir / "profit.csv"
    assert job.file(FEB28, ReportKind.PHONE_FEE) is None

    # The profit report follows SERVER_REPORT_CUSTOMER_FEE; a rerun replaces the files, and
    # a report switched Off since keeps its earlier file.
    params.set("SERVER_REPORT_CUSTOMER_FEE", "Off")
    params.set("SERVER_REPORT_PHONE_FEE", "On")
    async with sessions(engine).begin() as session:
        session.add(
            Cdr(
                call_id="late",
                start_time=utc(2026, 2, 28, 12),
                end_time=utc(2026, 2, 28, 12, 1),
                account_id=1,
                account_code="C1",
                phone_id=4,
                caller="1001",
                callee="4420",
                currency="GBP",
                fee=Decimal("0.05"),
                termination_reason="no_answer",
            )
        )
    rerun = await job.run_day(FEB28)
    assert [item.kind for item in rerun] == [
        ReportKind.GATEWAY_FEE,
        ReportKind.PHONE_FEE,
        ReportKind.GATEWAY_AREA,
    ]
    phones = list(csv.DictReader(io.StringIO((day_dir / "phone_fee.csv").read_text())))
    assert [(row["calls"], row["fee"]) for row in phones] == [("2", "0.650000")]
    kept = list(csv.DictReader(io.StringIO((day_dir / "customer_fee.csv").read_text())))
    assert [row["fee"] for row in kept] == ["0.600000"]  # the file of the first run
    assert not [name for name in os.listdir(day_dir) if name.endswith(".tmp")]


@SQLITE
async def test_the_loop_runs_at_01_00_for_the_day_before(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await seed(engine)
    clock = Clock(utc(2026, 2, 28, 22))  # 22:00 GMT: the run is three hours ahead
    job = make_job(engine, tmp_path, clock, ParamStore(load_catalog()))
    await job.start()
    try:
        async with asyncio.timeout(30):
            while job.runs < 1:
                await asyncio.sleep(0.01)
    finally:
        await job.stop()
    assert clock.now == utc(2026, 3, 1, 1)  # it slept exactly until 01:00 GMT
    assert all(0 < seconds <= MAX_SLEEP for seconds in clock.sleeps)
    assert sum(clock.sleeps) == 3 * 3600
    files = await job.files()
    assert {item.day for item in files} == {FEB28}
    assert len(files) == len(ReportKind)  # every switch is On by default
    profit = list(csv.DictReader(io.StringIO((tmp_path / "2026-02-28" / "profit.csv").read_text())))
    assert [(row["currency"], row["revenue"]) for row in profit] == [("GBP", "0.600000")]


@SQLITE
async def test_a_failed_run_is_logged_and_the_loop_goes_on(
    engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(utc(2026, 3, 1, 0, 59, 30))
    clock.park_after = 2
    job = make_job(engine, tmp_path, clock, ParamStore(load_catalog()))
    calls: list[date] = []

    async def failing(day: date) -> list[Any]:
        calls.append(day)
        raise RuntimeError("database unreachable")

    job.run_day = failing  # type: ignore[method-assign]
    await job.start()
    try:
        async with asyncio.timeout(30):
            while job.runs < 2:
                await asyncio.sleep(0.01)
    finally:
        await job.stop()
    assert calls == [FEB28, date(2026, 3, 1)]
    assert "daily reports of 2026-02-28 failed" in caplog.text


# -- softswitch reports ----------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="softswitch")
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path)
    common.add_argument("--data-dir")
    reports_cli.add_parser(commands, common)
    return parser.parse_args(["reports", *argv])


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    for name in [n for n in os.environ if n.startswith("SOFTSWITCH_")]:
        monkeypatch.delenv(name)
    return lambda name, value: monkeypatch.setenv(name, value)


def test_the_cli_knows_every_report() -> None:
    assert tuple(kind.value for kind in ReportKind) == reports_cli.KINDS
    args = parse("profit", "--from", "2026-03-01", "--to", "2026-03-02")
    assert (args.kind, args.first, args.last, args.group, args.tz, args.csv) == (
        "profit",
        "2026-03-01",
        "2026-03-02",
        "day",
        None,
        False,
    )


async def run_cli(args: argparse.Namespace) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(reports_cli.run, args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@SQLITE
async def test_the_cli_prints_a_report_of_the_running_switch(
    engine: AsyncEngine, clean_env: Callable[[str, str], None]
) -> None:
    await seed(engine)
    params = ParamStore(load_catalog())

    def now() -> datetime:
        return utc(2026, 3, 1, 9)

    operators = OperatorService(sessions(engine), params, now)
    await operators.ensure_admin("reports-cli-admin-1")
    app = create_app(engine=engine, params=params, operators=operators, clock=now)
    server = await serve_http(app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=10.0) as client:
            login = await client.post(
                "/auth/login", json={"username": "admin", "password": "reports-cli-admin-1"}
            )
            token = {"Authorization": f"Bearer {login.json()['access_token']}"}
            made = await client.post("/api-keys", headers=token, json={"name": "reports-cli"})
            key = str(made.json()["key"])
        common = ("--from", "2026-02-28", "--to", "2026-02-28", "--url", server.url)

        code, out, err = await run_cli(parse("profit", *common))
        assert code == 1 and "SOFTSWITCH_API_KEY" in err and out == ""

        clean_env("SOFTSWITCH_API_KEY", key)
        code, out, err = await run_cli(parse("profit", *common, "--tz", "Europe/London"))
        assert (code, err) == (0, "")
        lines = out.splitlines()
        assert lines[0] == "profit 2026-02-28 to 2026-02-28 (Europe/London days, per day)"
        assert lines[2].split() == [
            "DAY", "CURRENCY", "CALLS", "ANSWERED", "BILLED_SECONDS", "MINUTES", "REVENUE",
            "AGENT_INCOME", "COST", "PROFIT",
        ]  # fmt: skip
        assert lines[3].split() == [
            "2026-02-28", "GBP", "1", "1", "60", "1.00", "0.600000", "0.100000", "0.400000",
            "0.100000",
        ]  # fmt: skip
        assert lines[-1].split()[0] == "GBP" and lines[-3] == "totals:"

        code, out, err = await run_cli(parse("customer_fee", *common, "--group", "period", "--csv"))
        assert code == 0, err
        assert list(csv.reader(io.StringIO(out))) == [
            ["from", "to", "account_id", "account_code", "currency", "calls", "answered",
             "billed_seconds", "minutes", "fee"],
            ["2026-02-28", "2026-02-28", "1", "C1", "GBP", "1", "1", "60", "1.00", "0.600000"],
        ]  # fmt: skip

        code, out, err = await run_cli(parse("profit", *common, "--tz", "Mars/Base"))
        assert code == 1 and "unknown time zone" in err and "(tz)" in err

        empty = ("--from", "2026-01-01", "--to", "2026-01-01", "--url", server.url)
        code, out, err = await run_cli(parse("gateway_fee", *empty))
        assert code == 0 and out.splitlines()[-1] == "no calls in this period"
    finally:
        await server.stop()
