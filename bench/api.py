"""Management-plane benchmark (issue 3 §6), run by hand, not a test.

    .venv/bin/python bench/api.py [--rates 1000000] [--cdrs 10000000]
                                  [--engine sqlite|postgresql|both] [--postgres-url URL]
                                  [--runs 15]

1. Rate import: a generated N-row rate table (CSV file) imported through
   ``RateImportService`` (replace mode, one transaction); time, rows per second and the peak
   RSS of the process doing it (``resource.getrusage``; each phase runs in a fresh
   subprocess so the figure is its own). The export of the same table is timed too.
   Target: a million rows in under 60 s.
2. CDR query: N CDRs spread over 60 days and 3,000 accounts, bulk-loaded (indexes dropped,
   rows inserted in start-time order, indexes rebuilt: COPY on PostgreSQL, executemany on
   SQLite), then the first page of ``GET /api/v1/cdrs`` for a few typical queries, measured
   through ``CdrService.page`` directly and over real HTTP (the app served by uvicorn on
   127.0.0.1, as the API tests do): median and p95 of ``--runs`` runs after one warm-up.
   Target: first page under 200 ms.

SQLite uses a file in a temporary directory. PostgreSQL uses ``--postgres-url`` (a database
is created there and dropped afterwards; the role must be allowed to create databases) or a
throwaway cluster started like the tests start theirs (``tests/fixtures/postgres.py``).
Results go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # fixtures.postgres: the tests' throwaway cluster

END = datetime(2026, 3, 1, tzinfo=UTC)
"""CDRs end here and reach back 60 days."""
DAYS = 60
ACCOUNTS = 3000
PASSWORD = "bench-admin-password"


# -- orchestration --------------------------------------------------------------------------------


def _child(phase: str, url: str, count: int, runs: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", phase, "--url", url, "--count", str(count)]
    command += ["--runs", str(runs)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU(s), {model}, Python {platform.python_version()}"


def _report(engine: str, rates: dict[str, Any] | None, cdrs: dict[str, Any] | None) -> None:
    print(f"\n## {engine}")
    if rates:
        print(
            f"rate import: {rates['rows']:,} rows in {rates['seconds']:.1f} s "
            f"({rates['rows'] / rates['seconds']:,.0f} rows/s), "
            f"peak RSS {rates['peak_rss_mb']:.0f} MB; export {rates['export_seconds']:.1f} s"
        )
    if cdrs:
        print(f"CDR load: {cdrs['rows']:,} rows in {cdrs['load_seconds']:.0f} s")
        print("| query | page size | service median / p95 ms | HTTP median / p95 ms |")
        print("|---|---:|---:|---:|")
        for case in cdrs["cases"]:
            print(
                f"| {case['name']} | {case['page_size']} | {case['service_median']:.1f} / "
                f"{case['service_p95']:.1f} | {case['http_median']:.1f} / {case['http_p95']:.1f} |"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=int, default=1_000_000)
    parser.add_argument("--cdrs", type=int, default=10_000_000)
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", help="postgresql+asyncpg://… (else a throwaway cluster)")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per query")
    parser.add_argument("--phase", choices=("rates", "cdrs"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase is not None:
        work = _rates_phase if args.phase == "rates" else _cdrs_phase
        print(json.dumps(asyncio.run(work(args.url, args.count, args.runs))))
        return 0
    print(f"machine: {_machine()}; {datetime.now(UTC):%Y-%m-%d}")
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    with ExitStack() as stack:
        for engine in engines:
            if engine == "sqlite":
                directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                url = f"sqlite+aiosqlite:///{directory / 'bench.db'}"
            else:
                from fixtures.postgres import (
                    fresh_postgres_database,
                    server_binaries,
                    throwaway_postgres,
                )

                server = args.postgres_url
                if server is None:
                    bin_dir = server_binaries()
                    if bin_dir is None:
                        raise SystemExit("no PostgreSQL server binaries; give --postgres-url")
                    server = stack.enter_context(throwaway_postgres(bin_dir))
                url = stack.enter_context(fresh_postgres_database(server))
            rates = _child("rates", url, args.rates, args.runs) if args.rates > 0 else None
            cdrs = _child("cdrs", url, args.cdrs, args.runs) if args.cdrs > 0 else None
            _report(engine, rates, cdrs)
    return 0


# -- 1. rate import ----------------------------------------------------------------------------


def _rate_file(path: Path, count: int) -> None:
    """``count`` rates: unique prefixes, three start dates, six-place money."""
    draw = random.Random(3)
    areas = [f"Area {n}" for n in range(500)]
    starts = ["2026-01-01", "2026-02-01T00:00:00Z", "2026-03-01 12:00"]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("prefix,area,rate,initial_increment,subsequent_increment,connection_fee,")
        out.write("effective_from\n")
        for i in range(count):
            rate = draw.randrange(1, 2_000_000)
            out.write(
                f"{10_000_000 + i // 3},{areas[i % 500]},{rate // 1_000_000}.{rate % 1_000_000:06d}"
                f",60,{(1, 6, 60)[i % 3]},0,{starts[i % 3]}\n"
            )


async def _rates_phase(url: str, count: int, runs: int) -> dict[str, Any]:
    from softswitch.manage import ChangeFeed, ManageContext, Who
    from softswitch.manage.rate_import import RateImportService
    from softswitch.operators import SYSTEM
    from softswitch.params import ParamStore, load_catalog
    from softswitch.storage import create_engine, upgrade_engine
    from softswitch.storage.db import sessions
    from softswitch.storage.models import RateTable
    from softswitch.storage.repos import ChangeFeedRepo

    engine = create_engine(url)
    await upgrade_engine(engine)
    factory = sessions(engine)
    async with factory.begin() as session:
        table = RateTable(name="bench", currency="USD")
        session.add(table)
        await session.flush()
        table_id = table.id
    ctx = ManageContext(
        sessions=factory,
        params=ParamStore(load_catalog()),
        clock=lambda: datetime.now(UTC),
        feed=ChangeFeed(ChangeFeedRepo(factory)),
    )
    service = RateImportService(ctx)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "rates.csv"
        _rate_file(path, count)
        began = time.perf_counter()
        with path.open(encoding="utf-8", newline="") as source:
            result = await service.import_csv(Who(SYSTEM), table_id, source, file_name=path.name)
        seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    async for _piece in await service.export_csv(SYSTEM, table_id):
        pass
    export_seconds = time.perf_counter() - began
    await engine.dispose()
    return {
        "rows": result.imported,
        "seconds": seconds,
        "peak_rss_mb": peak,
        "export_seconds": export_seconds,
    }


# -- 2. CDR query ------------------------------------------------------------------------------

_CDR_COLUMNS = (
    "call_id", "start_time", "answer_time", "end_time", "hold_time_ms", "billed_seconds",
    "account_id", "account_code", "caller", "callee", "callee_out", "caller_ip", "phone_id",
    "mapping_gateway_id", "mapping_gateway_name", "routing_gateway_id", "routing_gateway_name",
    "callee_ip", "rate_prefix", "area_name", "currency", "fee", "agent_fee", "cost",
    "termination_reason", "sip_status", "hangup_side",
)  # fmt: skip
_REASONS = ("normal_clearing", "normal_clearing", "normal_clearing", "no_answer", "busy")


def _caller(account: int, k: int) -> str:
    return f"8610{account:05d}{k:02d}"


def _cdr_rows(count: int, sqlite: bool) -> Iterator[tuple[Any, ...]]:
    """``count`` CDRs in start-time order over DAYS days; times as SQLAlchemy's SQLite text
    format when ``sqlite`` (what ``UtcDateTime`` stores there), aware datetimes otherwise."""
    draw = random.Random(7)
    first = END - timedelta(days=DAYS)
    step = DAYS * 86400 / count
    base = first.timestamp()

    def stamp(seconds: float) -> Any:
        moment = datetime.fromtimestamp(seconds, UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else moment

    for i in range(count):
        start = base + i * step
        account = draw.randrange(1, ACCOUNTS + 1)
        answered = draw.random() < 0.6
        hold = draw.randrange(1_000, 600_000) if answered else 0
        reason = _REASONS[draw.randrange(5)] if answered else "no_answer"
        callee = f"{draw.choice(('44', '33', '49', '1', '86'))}{draw.randrange(10**8, 10**9)}"
        fee = hold * 20 if answered else 0
        yield (
            f"c{i}@bench", stamp(start), stamp(start + 3) if answered else None,
            stamp(start + 3 + hold / 1000), hold, (hold + 999) // 1000, account,
            f"A{account}", _caller(account, draw.randrange(5)), callee, callee, "192.0.2.10",
            None, 1 + account % 20, f"in{account % 20}", 1 + account % 30, f"out{account % 30}",
            "198.51.100.7", callee[:4], "somewhere", "USD", fee, fee // 2, fee // 3, reason,
            200 if answered else 487, "caller",
        )  # fmt: skip


async def _load_cdrs_postgres(url: str, count: int) -> None:
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'cdrs' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        for index in indexes:
            await connection.execute(f'DROP INDEX "{index["indexname"]}"')
        rows = _cdr_rows(count, sqlite=False)
        while chunk := [row for _, row in zip(range(100_000), rows, strict=False)]:
            await connection.copy_records_to_table("cdrs", records=chunk, columns=_CDR_COLUMNS)
        for index in indexes:
            await connection.execute(index["indexdef"])
        await connection.execute("ANALYZE cdrs")
    finally:
        await connection.close()


def _load_cdrs_sqlite(url: str, count: int) -> None:
    import sqlite3

    from sqlalchemy.engine import make_url

    connection = sqlite3.connect(str(make_url(url).database))
    try:
        connection.execute("PRAGMA synchronous=OFF")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cdrs' "
            "AND sql IS NOT NULL"
        ).fetchall()
        for name, _sql in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        marks = ", ".join("?" for _ in _CDR_COLUMNS)
        insert = f"INSERT INTO cdrs ({', '.join(_CDR_COLUMNS)}) VALUES ({marks})"
        rows = _cdr_rows(count, sqlite=True)
        while chunk := [row for _, row in zip(range(100_000), rows, strict=False)]:
            connection.executemany(insert, chunk)
            connection.commit()
        for _name, sql in indexes:
            connection.execute(sql)
        connection.execute("ANALYZE")
        connection.commit()
    finally:
        connection.close()


async def _timed(runs: int, call: Callable[[], Awaitable[int]]) -> tuple[float, float, int]:
    """Median and p95 in ms of ``runs`` calls after one warm-up, and the rows of the last."""
    await call()
    times, rows = [], 0
    for _ in range(runs):
        began = time.perf_counter()
        rows = await call()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * len(times)))], rows


async def _cdrs_phase(url: str, count: int, runs: int) -> dict[str, Any]:
    import httpx

    from softswitch.api import create_app, serve_http
    from softswitch.manage import ChangeFeed, ManageContext
    from softswitch.manage.cdrs import CdrQuery, CdrService
    from softswitch.operators import ADMIN_USERNAME, SYSTEM, OperatorService
    from softswitch.params import ParamStore, load_catalog
    from softswitch.storage import create_engine, upgrade_engine
    from softswitch.storage.db import sessions
    from softswitch.storage.repos import ChangeFeedRepo

    engine = create_engine(url)
    await upgrade_engine(engine)
    began = time.perf_counter()
    if engine.dialect.name == "postgresql":
        await _load_cdrs_postgres(url, count)
    else:
        await asyncio.to_thread(_load_cdrs_sqlite, url, count)
    load_seconds = time.perf_counter() - began
    await engine.dispose()  # connections opened before the load do not see the new statistics
    engine = create_engine(url)
    factory = sessions(engine)
    params = ParamStore(load_catalog())
    clock = lambda: datetime.now(UTC)  # noqa: E731
    ctx = ManageContext(
        sessions=factory, params=params, clock=clock, feed=ChangeFeed(ChangeFeedRepo(factory))
    )
    operators = OperatorService(factory, params, clock)
    await operators.ensure_admin(PASSWORD)
    app = create_app(engine=engine, params=params, operators=operators, clock=clock)
    server = await serve_http(app, "127.0.0.1", 0)
    client = httpx.AsyncClient(base_url=server.url, timeout=60.0)
    login = await client.post(
        "/api/v1/auth/login", json={"username": ADMIN_USERNAME, "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    month, day = END - timedelta(days=30), END - timedelta(days=1)
    cases = [
        ("last 30 days, all accounts", month, {}, 100),
        ("last 30 days, all accounts", month, {}, None),
        ("last 30 days, one account", month, {"account_id": 42}, 100),
        ("last day, one caller", day, {"caller": _caller(42, 1)}, 100),
        ("last 30 days, one callee prefix*", month, {"callee": "4420*"}, 100),
    ]
    service = CdrService(ctx)
    results = []
    try:
        for name, start, filters, size in cases:
            query = CdrQuery(start=start, end=END, **filters)

            async def direct(query: CdrQuery = query, size: int | None = size) -> int:
                return len((await service.page(SYSTEM, query, page_size=size)).items)

            params_ = {"start": start.isoformat(), "end": END.isoformat(), **filters}
            if size is not None:
                params_["page_size"] = size

            async def http(params_: dict[str, Any] = params_) -> int:
                answer = await client.get("/api/v1/cdrs", params=params_, headers=headers)
                answer.raise_for_status()
                return len(answer.json()["items"])

            service_median, service_p95, rows = await _timed(runs, direct)
            http_median, http_p95, _ = await _timed(runs, http)
            results.append(
                {
                    "name": name,
                    "page_size": size or params.get_int("SERVER_QUERY_ONE_PAGE_SIZE"),
                    "rows": rows,
                    "service_median": service_median,
                    "service_p95": service_p95,
                    "http_median": http_median,
                    "http_p95": http_p95,
                }
            )
    finally:
        await client.aclose()
        await server.stop()
        await engine.dispose()
    return {"rows": count, "load_seconds": load_seconds, "cases": results}


if __name__ == "__main__":
    sys.exit(main())
