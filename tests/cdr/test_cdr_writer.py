"""The durable CDR writer (issue 4 §5): journal + fsync before the ack, group commit, batched
idempotent inserts, rotation and pruning, replay after a real ``kill -9``, a database outage,
and the real-time UDP report — on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from softswitch.cdr.writer import CHECKPOINT, CdrWriter, CdrWriterConfig, encode, file_name
from softswitch.storage.models.cdrs import Cdr

CHILD = Path(__file__).with_name("cdr_writer_child.py")
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
FAST = {"batch_interval_s": 0.02, "retry_initial_s": 0.02, "retry_max_s": 0.1}


@dataclass
class FakeClock:
    now: datetime = field(default=T0)

    def __call__(self) -> datetime:
        return self.now


def record(n: int = 0, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "call_id": f"call-{n}@test",
        "start_time": T0,
        "end_time": T0 + timedelta(seconds=30),
        "caller": "1000",
        "callee": f"4930{n:06d}",
        "termination_reason": "NormalClearing",
    }
    values.update(overrides)
    return values


def config(**values: Any) -> CdrWriterConfig:
    return CdrWriterConfig(**{**FAST, **values})


def journal_lines(directory: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(directory.glob("cdr-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


async def rows(engine: AsyncEngine) -> list[Cdr]:
    async with AsyncSession(engine) as session:
        return list((await session.scalars(select(Cdr).order_by(Cdr.id))).all())


async def set_table_away(engine: AsyncEngine, away: bool) -> None:
    """A database outage for the writer: its table disappears, then comes back."""
    old, new = ("cdrs", "cdrs_away") if away else ("cdrs_away", "cdrs")
    async with engine.begin() as connection:
        await connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


@pytest.fixture
async def writer(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[CdrWriter]:
    running = CdrWriter(tmp_path / "cdr", engine, config(), FakeClock())
    await running.start()
    yield running
    await running.stop()


async def test_submit_writes_every_field_exactly(writer: CdrWriter, engine: AsyncEngine) -> None:
    full = record(
        7,
        record_id="6f1c2a4e-0000-4000-8000-000000000007",
        call_id_out="out-7@carrier",
        ring_time=T0 + timedelta(seconds=2, microseconds=125000),
        answer_time=T0 + timedelta(seconds=5, microseconds=1000),
        hold_time_ms=25_999,
        billed_seconds=26,
        account_id=11,
        account_code="C1",
        agent_id=3,
        caller_out="+4930999",
        callee_out="004930000007",
        caller_ip="192.0.2.10",
        phone_id=None,
        mapping_gateway_id=4,
        mapping_gateway_name="in-gw",
        routing_gateway_id=9,
        routing_gateway_name="carrier-a",
        callee_ip="198.51.100.7",
        rate_prefix="4930",
        area_name="Berlin",
        currency="EUR",
        fee=Decimal("0.123456"),
        agent_fee=Decimal("0.1"),
        cost=Decimal("-0.000001"),
        codec="PCMA",
        attempts=[{"gateway_id": 8, "gateway": "b", "status": 503, "reason": "busy"}],
        sip_status=200,
        hangup_side="callee",
    )
    assert await writer.submit(full) == full["record_id"]
    await writer.flush()
    (row,) = await rows(engine)
    for name, value in full.items():
        assert getattr(row, name) == value, name
    (line,) = journal_lines(writer.directory)
    assert line["ring_time"] == "2026-03-01T08:00:02.125000Z"
    assert line["fee"] == "0.123456" and line["cost"] == "-0.000001"
    assert writer.pending == 0


async def test_concurrent_submits_share_fsyncs(writer: CdrWriter, engine: AsyncEngine) -> None:
    ids = await asyncio.gather(*(writer.submit(record(n)) for n in range(200)))
    assert len(set(ids)) == 200
    assert writer.fsync_batches <= 10  # group commit: a handful, not 200
    await writer.flush()
    stored = await rows(engine)
    assert sorted(r.record_id or "" for r in stored) == sorted(i or "" for i in ids)
    assert len(journal_lines(writer.directory)) == 200


async def test_no_cdr_e164s_are_not_written(engine: AsyncEngine, tmp_path: Path) -> None:
    writer = CdrWriter(tmp_path, engine, config(no_cdr_e164s=" 0800, 112 "), FakeClock())
    await writer.start()
    assert await writer.submit(record(callee="08001234")) is None
    assert await writer.submit(record(callee="112")) is None
    kept = await writer.submit(record(callee="4930112"))
    writer.reconfigure(config(no_cdr_e164s="4930"))
    assert await writer.submit(record(callee="4930555")) is None
    assert await writer.submit(record(callee="08001234")) is not None
    await writer.stop()
    assert writer.dropped == 3
    assert [r.callee for r in await rows(engine)] == ["4930112", "08001234"]
    assert journal_lines(tmp_path)[0]["record_id"] == kept


async def test_refuses_records_the_table_would_refuse(writer: CdrWriter) -> None:
    bad = [
        record(colour="red"),
        record(id=5),
        {k: v for k, v in record().items() if k != "caller"},
        record(start_time=datetime(2026, 3, 1, 8, 0)),  # naive
        record(fee=0.1),  # float money
        record(fee=Decimal("0.0000001")),  # finer than a micro-unit
        record(caller="1" * 65),
        record(billed_seconds=True),
    ]
    for values in bad:
        with pytest.raises(ValueError):
            encode(values)
        with pytest.raises(ValueError):
            await writer.submit(values)
    assert journal_lines(writer.directory) == []


async def test_rotation_by_clock_and_pruning(engine: AsyncEngine, tmp_path: Path) -> None:
    clock = FakeClock()
    writer = CdrWriter(tmp_path, engine, config(file_interval_s=60, max_files=2), clock)
    await writer.start()
    for minute in range(4):
        clock.now = T0 + timedelta(minutes=minute, seconds=1)
        await writer.submit(record(minute))
        await writer.submit(record(10 + minute))
        await writer.flush()
    names = sorted(p.name for p in tmp_path.glob("cdr-*.jsonl"))
    assert names == ["cdr-20260301T080201Z.jsonl", "cdr-20260301T080301Z.jsonl"]
    assert len(await rows(engine)) == 8
    # A clock stepped back never starts a file that sorts before the newest one.
    clock.now = T0
    await writer.submit(record(99))
    await writer.stop()
    assert sorted(p.name for p in tmp_path.glob("cdr-*.jsonl"))[-1] == names[-1]
    assert len(journal_lines(tmp_path)) == 5


async def test_pruning_never_deletes_undelivered_lines(
    engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    writer = CdrWriter(tmp_path, engine, config(file_interval_s=60, max_files=1), clock)
    await writer.start()
    await set_table_away(engine, True)
    with caplog.at_level(logging.WARNING, logger="softswitch.cdr.writer"):
        for minute in range(3):
            clock.now = T0 + timedelta(minutes=minute)
            await writer.submit(record(minute))
    assert len(list(tmp_path.glob("cdr-*.jsonl"))) == 3  # over the limit, all kept
    assert "not yet in the database" in caplog.text
    await set_table_away(engine, False)
    await asyncio.wait_for(writer.flush(), 5)
    await writer.stop()
    assert [p.name for p in tmp_path.glob("cdr-*.jsonl")] == [file_name(T0 + timedelta(minutes=2))]
    assert sorted(r.callee for r in await rows(engine)) == [record(n)["callee"] for n in range(3)]


async def test_database_outage_keeps_lines_and_delivers_later(
    engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = CdrWriter(tmp_path, engine, config(), FakeClock())
    await writer.start()
    await set_table_away(engine, True)
    with caplog.at_level(logging.WARNING, logger="softswitch.cdr.writer"):
        first = await asyncio.wait_for(
            asyncio.gather(*(writer.submit(record(n)) for n in range(5))), 2
        )
        await asyncio.sleep(0.2)  # several failed, backed-off attempts
        assert writer.pending == 5
        assert "database insert failed" in caplog.text
        await writer.stop(timeout=0.2)  # cannot deliver: lines stay in the files
    assert len(journal_lines(tmp_path)) == 5
    await set_table_away(engine, False)
    assert await rows(engine) == []
    second = CdrWriter(tmp_path, engine, config(), FakeClock())
    await second.start()  # replays the five
    await second.submit(record(5))
    await second.stop()
    stored = await rows(engine)
    assert [r.record_id for r in stored[:5]] == list(first)
    assert len(stored) == 6


async def test_replay_is_idempotent(engine: AsyncEngine, tmp_path: Path) -> None:
    writer = CdrWriter(tmp_path, engine, config(), FakeClock())
    await writer.start()
    await asyncio.gather(*(writer.submit(record(n)) for n in range(20)))
    await writer.stop()
    # A crash between the commit and the checkpoint: the checkpoint is behind the database.
    (tmp_path / CHECKPOINT).unlink()
    for _ in range(2):
        again = CdrWriter(tmp_path, engine, config(), FakeClock())
        await again.start()
        await again.stop()
    async with AsyncSession(engine) as session:
        total = await session.scalar(select(func.count()).select_from(Cdr))
        distinct = await session.scalar(select(func.count(func.distinct(Cdr.record_id))))
    assert total == distinct == 20
    assert json.loads((tmp_path / CHECKPOINT).read_text())["lines"] == 20


async def test_torn_tail_is_cut_and_later_lines_are_clean(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    writer = CdrWriter(tmp_path, engine, config(), FakeClock())
    await writer.start()
    await writer.submit(record(1))
    await writer.stop()
    (path,) = tmp_path.glob("cdr-*.jsonl")
    with path.open("ab") as handle:
        handle.write(b'{"call_id":"half')  # a write cut short by a crash, never acknowledged
    again = CdrWriter(tmp_path, engine, config(), FakeClock())  # same clock: same file
    await again.start()
    await again.submit(record(2))
    await again.stop()
    assert [line["call_id"] for line in journal_lines(tmp_path)] == ["call-1@test", "call-2@test"]
    assert len(await rows(engine)) == 2


async def test_real_time_report_datagram(engine: AsyncEngine, tmp_path: Path) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    try:
        writer = CdrWriter(
            tmp_path, engine, config(report_server=f"127.0.0.1:{port}"), clock=FakeClock()
        )
        await writer.start()
        record_id = await writer.submit(record(3, fee=Decimal("1.50")))
        payload = await asyncio.to_thread(receiver.recv, 65535)
        await writer.stop()
    finally:
        receiver.close()
    report = json.loads(payload)
    assert report == journal_lines(tmp_path)[0]
    assert report["record_id"] == record_id and report["fee"] == "1.50"


def test_report_server_must_be_host_port() -> None:
    for bad in ("localhost", "host:0", "host:99999", ":5000", "host:x"):
        with pytest.raises(ValueError):
            CdrWriterConfig(report_server=bad)
    assert CdrWriterConfig(report_server="[::1]:5000").report_server == "[::1]:5000"


async def test_kill_9_loses_no_acknowledged_record(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        str(tmp_path),
        database_url,
        "1000000",
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    acknowledged: list[str] = []
    try:
        assert await asyncio.wait_for(child.stdout.readline(), 20) == b"started\n"
        while len(acknowledged) < 300:
            line = await asyncio.wait_for(child.stdout.readline(), 10)
            assert line, "the child stopped on its own"
            acknowledged.append(line.decode().strip())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL
    writer = CdrWriter(tmp_path, engine, config(), FakeClock())
    await writer.start()
    await writer.stop()
    stored = [r.record_id for r in await rows(engine)]
    assert set(acknowledged) <= set(stored)
    assert len(stored) == len(set(stored))  # exactly once
    assert len(stored) == len(journal_lines(tmp_path))  # every complete line, nothing else
