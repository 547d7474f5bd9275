"""``softswitch cdr export``: the real ``main([...])`` on an SQLite file in a temporary data
directory, with CDRs written straight into it with the ORM.

Checked: the CSV equals the stored rows (stdout and ``--output``), filters, the progress line
and the batches, the system parameters (deny hours, day interval, row cap) and the flags that
lift the first two, and the refusals (bad time, no database). One case runs the command in a
subprocess, as an operator would.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from softswitch.cli import main
from softswitch.manage.cdrs import CSV_COLUMNS, CdrQuery
from softswitch.runtime.cdr_export import export_cdrs, parse_time
from softswitch.runtime.settings import load_settings
from softswitch.storage.db import create_engine, sessions
from softswitch.storage.models.cdrs import Cdr

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
FROM, TO = "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"


@pytest.fixture(autouse=True)
def _environment(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``main`` finds the test's data directory through the environment."""
    for name in [n for n in os.environ if n.startswith("SOFTSWITCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SOFTSWITCH_DATA_DIR", str(data_dir))


def cdr(start: datetime, **values: Any) -> Cdr:
    row: dict[str, Any] = {
        "call_id": f"call-{start.timestamp()}-{values.get('callee', '')}",
        "start_time": start,
        "answer_time": start + timedelta(seconds=3),
        "end_time": start + timedelta(seconds=33),
        "caller": "4420700000",
        "callee": "4930100000",
        "termination_reason": "normal_clearing",
        "fee": Decimal("0.000001"),
        "cost": Decimal("12.5"),
    }
    row.update(values)
    return Cdr(**row)


def insert(data_dir: Path, rows: Sequence[Cdr]) -> list[int]:
    """Store ``rows`` in the data directory's database; their ids, newest first."""

    async def write() -> list[int]:
        engine = create_engine(load_settings({"SOFTSWITCH_DATA_DIR": str(data_dir)}).database_url)
        try:
            async with sessions(engine).begin() as session:
                session.add_all(rows)
                await session.flush()
                keyed = sorted(rows, key=lambda row: (row.start_time, row.id), reverse=True)
                return [row.id for row in keyed]
        finally:
            await engine.dispose()

    return asyncio.run(write())


def parse(text: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    assert tuple(next(reader)) == CSV_COLUMNS
    return [dict(zip(CSV_COLUMNS, line, strict=True)) for line in reader]


def export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["cdr", "export", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_export_to_stdout_equals_the_rows(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = insert(
        data_dir,
        [cdr(T0 + timedelta(minutes=n), callee=f"44{n}") for n in range(5)]
        + [cdr(T0 - timedelta(seconds=1)), cdr(T0 + timedelta(days=1))],  # outside the range
    )[1:-1]
    code, out, err = export(capsys, "--from", FROM, "--to", TO)
    assert code == 0, err
    assert err == ""
    lines = parse(out)
    assert [int(line["id"]) for line in lines] == expected
    assert {line["cost"] for line in lines} == {"12.500000"}
    assert {line["fee"] for line in lines} == {"0.000001"}
    assert lines[0]["start_time"] == "2026-03-01T00:04:00Z"
    assert out.count("\r\n") == len(lines) + 1  # RFC 4180 line ends


def test_filters_and_naive_times_as_utc(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = insert(
        data_dir,
        [
            cdr(T0 + timedelta(hours=1), callee="4412", account_id=4),
            cdr(T0 + timedelta(hours=2), callee="4413", answer_time=None),
            cdr(T0 + timedelta(hours=3), callee="3312", account_id=4),
        ],
    )
    code, out, _ = export(
        capsys, "--from", "2026-03-01", "--to", "2026-03-01T12:00", "--callee", "44*"
    )
    assert code == 0
    assert [int(line["id"]) for line in parse(out)] == ids[1:]
    code, out, _ = export(capsys, "--from", FROM, "--to", TO, "--account-id", "4", "--answered")
    assert [int(line["id"]) for line in parse(out)] == [ids[0], ids[2]]
    code, out, _ = export(capsys, "--from", FROM, "--to", TO, "--unanswered")
    assert [int(line["id"]) for line in parse(out)] == [ids[1]]


def test_export_to_a_file_reports_the_rows_on_stderr(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = insert(data_dir, [cdr(T0 + timedelta(seconds=n)) for n in range(3)])
    target = tmp_path / "out.csv"
    code, out, err = export(capsys, "--from", FROM, "--to", TO, "--output", str(target))
    assert code == 0, err
    assert out == ""
    assert f"3 rows written to {target}" in err
    assert [int(line["id"]) for line in parse(target.read_bytes().decode())] == expected


def test_export_reads_in_batches_and_reports_progress_after_each(data_dir: Path) -> None:
    expected = insert(data_dir, [cdr(T0 + timedelta(seconds=n // 2)) for n in range(7)])
    settings = load_settings({"SOFTSWITCH_DATA_DIR": str(data_dir)})
    out = io.StringIO(newline="")
    seen: list[int] = []
    query = CdrQuery(start=T0, end=T0 + timedelta(days=1))
    result = asyncio.run(export_cdrs(settings, query, out, progress=seen.append, batch=3))
    assert seen == [3, 6, 7]
    assert (result.rows, result.capped) == (7, False)
    assert [int(line["id"]) for line in parse(out.getvalue())] == expected


def test_deny_time_applies_unless_ignored(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    insert(data_dir, [cdr(T0)])
    assert main(["param", "set", "SERVER_QUERY_CDR_DENY_TIME", "0-23"]) == 0
    capsys.readouterr()
    target = tmp_path / "refused.csv"
    code, out, err = export(capsys, "--from", FROM, "--to", TO, "--output", str(target))
    assert code == 1
    assert "refused at every hour" in err and "SERVER_QUERY_CDR_DENY_TIME" in err
    assert not target.exists()  # no empty file left behind
    code, out, err = export(capsys, "--from", FROM, "--to", TO, "--ignore-deny-time")
    assert code == 0, err
    assert len(parse(out)) == 1


def test_day_interval_applies_unless_full_range(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    insert(data_dir, [cdr(T0 - timedelta(days=100)), cdr(T0)])
    code, _, err = export(capsys, "--from", "2025-01-01", "--to", TO)
    assert code == 1
    assert "SERVER_QUERY_CDR_MAX_DAY_INTERVAL" in err and "(end)" in err
    code, out, err = export(capsys, "--from", "2025-01-01", "--to", TO, "--full-range")
    assert code == 0, err
    assert len(parse(out)) == 2


def test_row_cap_stops_the_export_and_exits_1(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = insert(data_dir, [cdr(T0 + timedelta(seconds=n)) for n in range(4)])
    assert main(["param", "set", "SERVER_QUERY_MAX_SIZE", "3"]) == 0
    capsys.readouterr()
    code, out, err = export(capsys, "--from", FROM, "--to", TO)
    assert code == 1
    assert [int(line["id"]) for line in parse(out)] == expected[:3]
    assert "SERVER_QUERY_MAX_SIZE = 3" in err
    assert main(["param", "set", "SERVER_QUERY_MAX_SIZE", "4"]) == 0
    capsys.readouterr()
    code, out, _ = export(capsys, "--from", FROM, "--to", TO)
    assert code == 0  # exactly the cap, nothing more matched: not capped
    assert len(parse(out)) == 4


def test_bad_times_and_missing_database_are_refused(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = export(capsys, "--from", "yesterday", "--to", TO)
    assert code == 1 and "--from 'yesterday' is not an ISO 8601 time" in err
    code, _, err = export(capsys, "--from", TO, "--to", FROM)
    assert code == 1 and "end must be after start" in err
    with pytest.raises(SystemExit) as usage:
        main(["cdr", "export", "--from", FROM])
    assert usage.value.code == 2
    capsys.readouterr()
    monkeypatch.setenv("SOFTSWITCH_DATA_DIR", str(tmp_path / "nothing"))
    code, _, err = export(capsys, "--from", FROM, "--to", TO)
    assert code == 1 and "softswitch db upgrade" in err
    assert not (tmp_path / "nothing").exists()


def test_parse_time_reads_offsets_and_defaults_to_utc() -> None:
    assert parse_time("2026-03-01", "--from") == T0
    assert parse_time("2026-03-01T02:00+02:00", "--from") == T0
    assert parse_time("2026-03-01T00:00:00Z", "--to") == T0


def test_the_command_in_a_subprocess(data_dir: Path, tmp_path: Path) -> None:
    expected = insert(data_dir, [cdr(T0 + timedelta(seconds=n)) for n in range(2)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOFTSWITCH_")}
    target = tmp_path / "cdrs.csv"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "softswitch.cli", "cdr", "export"),
            *("--from", FROM, "--to", TO, "--output", str(target), "--data-dir", str(data_dir)),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "2 rows written" in done.stderr
    assert [int(line["id"]) for line in parse(target.read_bytes().decode())] == expected
