"""``softswitch config export|apply`` (issue 3 §4): ``main`` in process on an SQLite data
directory migrated once per module; the file's mode, the plan printed, --dry-run and refusals
(exit 1, every error with its YAML path, nothing changed) are checked against the database."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from softswitch.cli import main
from softswitch.runtime.settings import load_settings
from softswitch.storage.db import create_engine, sessions
from softswitch.storage.models import Account, AuditEntry, Phone

CONFIG = """version: 1
params: {SERVER_QUERY_ONE_PAGE_SIZE: '40'}
rate_tables:
  - name: retail
    currency: EUR
    rates: [{prefix: '33', rate_per_minute: '0.02', effective_from: '2026-01-01T00:00:00Z'}]
accounts: [{code: A1, currency: EUR, rate_table: retail}]
phones: [{number: '100', account: A1, password: phone-secret}]
"""


def run(monkeypatch: pytest.MonkeyPatch, data_dir: Path, *args: str) -> int:
    for name in [n for n in os.environ if n.startswith("SOFTSWITCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SOFTSWITCH_DATA_DIR", str(data_dir))
    return main(["config", *args])


def counts(data_dir: Path) -> tuple[int, int, int]:
    """Accounts, phones and audit rows in the data directory's database."""

    async def read() -> tuple[int, int, int]:
        engine = create_engine(load_settings({"SOFTSWITCH_DATA_DIR": str(data_dir)}).database_url)
        try:
            async with sessions(engine)() as session:
                found = []
                for model in (Account, Phone, AuditEntry):
                    query = select(func.count()).select_from(model)
                    found.append(int(await session.scalar(query) or 0))
                return found[0], found[1], found[2]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_apply_then_export_writes_a_private_file_that_reapplies_as_unchanged(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "config.yaml"
    source.write_text(CONFIG, encoding="utf-8")
    assert run(monkeypatch, data_dir, "apply", str(source)) == 0
    out = capsys.readouterr().out
    assert "create account A1" in out and "create phone 100" in out
    assert "set param SERVER_QUERY_ONE_PAGE_SIZE: default -> 40" in out
    assert "accounts: 1 created, 0 unchanged" in out
    assert counts(data_dir)[:2] == (1, 1)

    backup = tmp_path / "backup.yaml"
    assert run(monkeypatch, data_dir, "export", str(backup)) == 0
    err = capsys.readouterr().err
    assert "mode 0600" in err and "passwords" in err
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    text = backup.read_text(encoding="utf-8")
    assert "password: phone-secret" in text and "rate_table: retail" in text

    audits = counts(data_dir)[2]
    assert run(monkeypatch, data_dir, "apply", str(backup)) == 0
    out = capsys.readouterr().out
    assert "nothing to change" in out and "accounts: 1 unchanged" in out
    assert counts(data_dir)[2] == audits  # no audit rows for an unchanged configuration

    assert run(monkeypatch, data_dir, "export", "-") == 0
    assert capsys.readouterr().out == text  # deterministic


def test_dry_run_prints_the_plan_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "config.yaml"
    source.write_text(CONFIG, encoding="utf-8")
    assert run(monkeypatch, data_dir, "apply", "--dry-run", str(source)) == 0
    out = capsys.readouterr().out
    assert "create rate_table" not in out and "create rate table retail" in out
    assert "accounts: 1 to create, 0 unchanged" in out and "dry run" in out
    assert counts(data_dir) == (0, 0, 0)


def test_prune_deletes_rows_the_file_lacks(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "config.yaml"
    source.write_text(CONFIG, encoding="utf-8")
    assert run(monkeypatch, data_dir, "apply", str(source)) == 0
    source.write_text(CONFIG.split("phones:")[0], encoding="utf-8")
    assert run(monkeypatch, data_dir, "apply", str(source)) == 0  # without --prune: kept
    assert counts(data_dir)[:2] == (1, 1)
    capsys.readouterr()
    assert run(monkeypatch, data_dir, "apply", "--prune", str(source)) == 0
    assert "delete phone 100" in capsys.readouterr().out
    assert counts(data_dir)[:2] == (1, 0)


def test_a_bad_file_lists_every_error_with_its_path_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        CONFIG.replace("currency: EUR, rate_table", "currency: euro, rate_table").replace(
            "account: A1", "account: A2"
        ),
        encoding="utf-8",
    )
    assert run(monkeypatch, data_dir, "apply", str(bad)) == 1
    err = capsys.readouterr().err
    assert f"{bad}: accounts[0].currency:" in err
    assert f"{bad}: phones[0].account: no account 'A2'" in err
    assert "2 error(s)" in err and "nothing was changed" in err
    assert counts(data_dir) == (0, 0, 0)

    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\naccounts: [\n", encoding="utf-8")
    assert run(monkeypatch, data_dir, "apply", str(broken)) == 1
    assert "not valid YAML" in capsys.readouterr().err
