"""``softswitch rates import|export`` (issue 3 §4): ``main`` in process on an SQLite data
directory migrated once per module; what the command wrote is read back independently from
the same database file."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from softswitch.cli import main
from softswitch.runtime.settings import load_settings
from softswitch.storage.db import create_engine, sessions
from softswitch.storage.models import AuditEntry, ChangeRow, Rate, RateTable

HEADER = "prefix,area,rate,initial_increment,subsequent_increment,connection_fee,effective_from\n"
GOOD = f"{HEADER}44,UK,0.0125,60,60,0,2026-03-01\n33,France,0.02,6,6,0.01,2026-03-01\n"
BAD = (
    f"{HEADER}44,UK,0.0125,60,60,0,2026-03-01\n33,France,cheap,6,6,0,2026-03-01\n7,RU,0.1,0,6,0,\n"
)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(monkeypatch: pytest.MonkeyPatch, data_dir: Path, *args: str) -> int:
    for name in [n for n in os.environ if n.startswith("SOFTSWITCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SOFTSWITCH_DATA_DIR", str(data_dir))
    return main(["rates", *args])


def write(tmp_path: Path, text: str, name: str = "rates.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def stored(data_dir: Path) -> dict[str, list[tuple[str, Decimal]]]:
    """Rates per table name, as (prefix, rate) sorted by prefix."""

    async def read() -> dict[str, list[tuple[str, Decimal]]]:
        engine = create_engine(load_settings({"SOFTSWITCH_DATA_DIR": str(data_dir)}).database_url)
        try:
            async with sessions(engine)() as session:
                query = (
                    select(RateTable.name, Rate.prefix, Rate.rate_per_minute)
                    .join(Rate, Rate.rate_table_id == RateTable.id, isouter=True)
                    .order_by(RateTable.name, Rate.prefix)
                )
                found: dict[str, list[tuple[str, Decimal]]] = {}
                for name, prefix, rate in (await session.execute(query)).all():
                    found.setdefault(name, [])
                    if prefix is not None:
                        found[name].append((prefix, rate))
                return found
        finally:
            await engine.dispose()

    return asyncio.run(read())


def journal(data_dir: Path) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(who, action, entity) of the audit rows and (entity, action) of the feed rows."""

    async def read() -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
        engine = create_engine(load_settings({"SOFTSWITCH_DATA_DIR": str(data_dir)}).database_url)
        try:
            async with sessions(engine)() as session:
                audit = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
                feed = (await session.scalars(select(ChangeRow).order_by(ChangeRow.id))).all()
                return (
                    [(a.username, a.action, a.entity) for a in audit],
                    [(c.entity, c.action) for c in feed],
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_import_creates_the_table_and_writes_one_audit_and_one_feed_row(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(tmp_path, GOOD)
    code = run(monkeypatch, data_dir, "import", str(path), "--table", "retail", "--create")
    assert code == 1  # --create needs a currency
    assert "--currency" in capsys.readouterr().err
    args = ("import", str(path), "--table", "retail", "--create", "--currency", "USD")
    assert run(monkeypatch, data_dir, *args) == 0
    assert "2 rate(s) imported into retail (replace)" in capsys.readouterr().out
    assert stored(data_dir) == {"retail": [("33", Decimal("0.02")), ("44", Decimal("0.0125"))]}
    audit, feed = journal(data_dir)
    assert audit == [("system", "create", "rate_table"), ("system", "import", "rate_table")]
    assert feed.count(("rate_table", "replace")) == 1


def test_a_bad_row_imports_nothing_and_prints_line_numbers(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good, bad = write(tmp_path, GOOD, "good.csv"), write(tmp_path, BAD, "bad.csv")
    args = ("--table", "retail", "--create", "--currency", "EUR")
    assert run(monkeypatch, data_dir, "import", str(bad), *args) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3: rate: 'cheap' is not an amount" in err
    assert f"{bad}:4: initial_increment: 0 is outside 1..3600" in err
    assert "2 bad row(s); nothing imported" in err
    assert stored(data_dir) == {}  # the table made by --create went away again
    assert run(monkeypatch, data_dir, "import", str(good), *args) == 0
    before = stored(data_dir)
    assert run(monkeypatch, data_dir, "import", str(bad), "--table", "retail") == 1
    assert stored(data_dir) == before


def test_skip_bad_imports_the_good_rows(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = write(tmp_path, BAD)
    args = ("import", str(bad), "--table", "t", "--create", "--currency", "USD", "--skip-bad")
    assert run(monkeypatch, data_dir, *args) == 0
    captured = capsys.readouterr()
    assert "1 rate(s) imported into t (replace), 2 bad row(s) skipped" in captured.out
    assert f"{bad}:3: rate:" in captured.err
    assert stored(data_dir) == {"t": [("44", Decimal("0.0125"))]}


def test_merge_then_export_round_trips(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = write(tmp_path, GOOD, "first.csv")
    more = write(tmp_path, f"{HEADER}44,UK,0.03,1,1,0,2026-03-01\n1,USA,0.005,6,6,0,2026-03-01\n")
    create = ("--create", "--currency", "USD")
    assert run(monkeypatch, data_dir, "import", str(first), "--table", "t", *create) == 0
    assert run(monkeypatch, data_dir, "import", str(more), "--table", "t", "--mode", "merge") == 0
    expected = [("1", Decimal("0.005")), ("33", Decimal("0.02")), ("44", Decimal("0.03"))]
    assert stored(data_dir) == {"t": expected}
    capsys.readouterr()
    output = tmp_path / "out.csv"
    assert run(monkeypatch, data_dir, "export", "--table", "t", "--output", str(output)) == 0
    assert "3 rate(s) of table t" in capsys.readouterr().out
    assert run(monkeypatch, data_dir, "export", "--table", "t") == 0
    printed = capsys.readouterr().out
    assert printed == output.read_bytes().decode()  # CRLF line ends, as RFC 4180 has them
    assert printed.splitlines()[1] == "1,USA,0.005000,6,6,0.000000,2026-03-01T00:00:00Z,,0,,0,"
    # The export imported into a new table gives the same rates.
    assert run(monkeypatch, data_dir, "import", str(output), "--table", "u", *create) == 0
    assert stored(data_dir)["u"] == expected


def test_unknown_table_and_missing_file_are_refused(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(tmp_path, GOOD)
    assert run(monkeypatch, data_dir, "import", str(path), "--table", "nope") == 1
    assert "no rate table named 'nope': create it with --create" in capsys.readouterr().err
    assert run(monkeypatch, data_dir, "export", "--table", "nope") == 1
    assert "no rate table named 'nope'" in capsys.readouterr().err
    missing = tmp_path / "missing.csv"
    assert run(monkeypatch, data_dir, "import", str(missing), "--table", "nope") == 1
    assert "missing.csv" in capsys.readouterr().err


def test_a_progress_bar_is_drawn_only_on_a_terminal(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = "".join(f"{1000 + i},A,0.01,60,60,0,2026-03-01\n" for i in range(25_000))
    path = write(tmp_path, HEADER + rows)
    args = ("import", str(path), "--table", "t", "--create", "--currency", "USD")
    assert run(monkeypatch, data_dir, *args) == 0
    assert capsys.readouterr().err == ""  # not a terminal: no bar
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert run(monkeypatch, data_dir, *args[:3], "t") == 0
    drawn = terminal.getvalue()
    assert "[" + "#" * 30 + "] 100.0% 25,001/25,001 lines" in drawn
    assert drawn.endswith("\n")
