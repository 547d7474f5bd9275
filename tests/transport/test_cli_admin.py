"""``softswitch db`` and ``softswitch user``: the real command in a subprocess, on an SQLite file
in a temporary data directory, with the password fed on standard input.

What the commands wrote is checked independently, through ``OperatorService.authenticate`` and
the audit log on the same file. A subprocess costs about half a second of imports, so the
refusals that need no real process (scope, unknown user, flags, prompting) call ``main`` in
process with the environment and standard input patched.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from softswitch.cli import main
from softswitch.operators import LOCKOUT_THRESHOLD, LoginOutcome, OperatorService
from softswitch.params import ParamStore, load_catalog
from softswitch.runtime.settings import load_settings
from softswitch.storage.db import DEFAULT_DB_FILE, create_engine, sessions
from softswitch.storage.migrate import head_revision
from softswitch.storage.models import AuditEntry
from softswitch.storage.repos import ParamOverrideRepo

PASSWORD = "correct-horse-1"
NEW_PASSWORD = "battery-staple-2"


def softswitch(
    *args: str, data_dir: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m softswitch.cli ARGS`` with only SOFTSWITCH_DATA_DIR set among the
    softswitch variables; without ``stdin`` standard input is /dev/null (not a terminal)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOFTSWITCH_")}
    env["SOFTSWITCH_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "softswitch.cli", *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def in_process(
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    data_dir: Path,
    stdin: str = "",
    terminal: bool = False,
) -> int:
    """``main(ARGS)`` with the environment ``softswitch`` gives a subprocess; standard input
    reads ``stdin`` and is a terminal only when ``terminal``."""
    for name in [n for n in os.environ if n.startswith("SOFTSWITCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SOFTSWITCH_DATA_DIR", str(data_dir))
    monkeypatch.setattr(sys, "stdin", _Terminal(stdin) if terminal else io.StringIO(stdin))
    return main(list(args))


def logins(data_dir: Path, username: str, passwords: list[str]) -> list[LoginOutcome]:
    """Outcomes of logging in with each password in turn, on the command's database file."""

    async def attempt() -> list[LoginOutcome]:
        settings = load_settings({"SOFTSWITCH_DATA_DIR": str(data_dir)})
        engine = create_engine(settings.database_url)
        try:
            service = OperatorService(
                sessions(engine), ParamStore(load_catalog()), lambda: datetime.now(UTC)
            )
            return [(await service.authenticate(username, p)).outcome for p in passwords]
        finally:
            await engine.dispose()

    return asyncio.run(attempt())


def audit_actions(data_dir: Path) -> list[tuple[str, str]]:
    """(who, what) of every audit row, oldest first."""

    async def read() -> list[tuple[str, str]]:
        settings = load_settings({"SOFTSWITCH_DATA_DIR": str(data_dir)})
        engine = create_engine(settings.database_url)
        try:
            async with sessions(engine)() as session:
                rows = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
                return [(row.username, row.action) for row in rows]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_db_status_of_a_new_data_dir_says_upgrade_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    assert in_process(monkeypatch, "db", "status", data_dir=data_dir) == 1
    out = capsys.readouterr().out
    assert "is empty" in out and "softswitch db upgrade" in out
    assert not (data_dir / DEFAULT_DB_FILE).exists()  # looking creates nothing


def test_db_status_upgrade_status(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    upgraded = softswitch("db", "upgrade", data_dir=data_dir)
    head = head_revision()
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"at revision {head} (head)" in upgraded.stdout
    assert str((data_dir / DEFAULT_DB_FILE).resolve()) in upgraded.stdout

    after = softswitch("db", "status", data_dir=data_dir)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == upgraded.stdout.strip()


def test_data_dir_flag_beats_the_environment_and_config_file_is_read(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    elsewhere = tmp_path / "elsewhere"
    flag = ("--data-dir", str(data_dir))
    assert in_process(monkeypatch, "db", "status", *flag, data_dir=elsewhere) == 0
    assert str(data_dir.resolve()) in capsys.readouterr().out

    # The same settings file `run` reads: here it names the database directly.
    config = tmp_path / "softswitch.conf"
    url = load_settings({"SOFTSWITCH_DATA_DIR": str(data_dir)}).database_url
    config.write_text(f"database_url = {url}\n")
    assert in_process(monkeypatch, "db", "status", "--config", str(config), data_dir=elsewhere) == 0
    assert f"database {url} at revision" in capsys.readouterr().out


def test_user_add_then_passwd_changes_the_password_and_lifts_a_lockout(data_dir: Path) -> None:
    added = softswitch(
        "user", "add", "alice", "--role", "operator", "--password-stdin",
        data_dir=data_dir, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("created user alice (id ")
    assert "role operator" in added.stdout
    assert PASSWORD not in added.stdout + added.stderr
    assert logins(data_dir, "alice", [PASSWORD]) == [LoginOutcome.OK]

    # Lock her out, then set a new password from the shell: the lock goes with the old one.
    outcomes = logins(data_dir, "alice", ["wrong-password"] * LOCKOUT_THRESHOLD)
    assert outcomes[-1] is LoginOutcome.LOCKED

    changed = softswitch(
        "user", "passwd", "alice", "--password-stdin", data_dir=data_dir, stdin=NEW_PASSWORD
    )
    assert changed.returncode == 0, changed.stderr
    assert "password of alice set" in changed.stdout
    assert logins(data_dir, "alice", [PASSWORD, NEW_PASSWORD]) == [
        LoginOutcome.BAD_CREDENTIALS,
        LoginOutcome.OK,
    ]
    # The shell acts as the system actor, and the audit log says so.
    actions = audit_actions(data_dir)
    assert ("system", "create") in actions
    assert ("system", "set_password") in actions


def test_too_short_password_is_refused(data_dir: Path) -> None:
    done = softswitch(
        "user", "add", "bob", "--role", "admin", "--password-stdin",
        data_dir=data_dir, stdin="short\n",
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "password too short" in lines[0] and "SERVER_PASSWORD_LENGTH" in lines[0]
    assert logins(data_dir, "bob", ["short"]) == [LoginOutcome.BAD_CREDENTIALS]  # no such user


def test_duplicate_username_is_refused(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ("user", "add", "carol", "--role", "admin", "--password-stdin")
    assert in_process(monkeypatch, *args, data_dir=data_dir, stdin=PASSWORD) == 0
    again = softswitch(*args, data_dir=data_dir, stdin=NEW_PASSWORD)
    assert again.returncode == 1
    assert again.stderr.strip() == "softswitch: username 'carol' is taken"
    assert logins(data_dir, "carol", [PASSWORD]) == [LoginOutcome.OK]  # the first one stays


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ((), "an agent user needs agent_id"),
        (("--agent-id", "7"), "no agent with id 7"),
        (("--account-id", "7"), "an agent user needs agent_id (and no account_id)"),
    ],
)
def test_bad_scope_is_refused(
    data_dir: Path,
    scope: tuple[str, ...],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ("user", "add", "dave", "--role", "agent", *scope, "--password-stdin")
    assert in_process(monkeypatch, *args, data_dir=data_dir, stdin=PASSWORD) == 1
    assert message in capsys.readouterr().err


def test_passwd_of_unknown_user_is_refused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("user", "passwd", "nobody", "--password-stdin")
    assert in_process(monkeypatch, *args, data_dir=data_dir, stdin=PASSWORD) == 1
    assert capsys.readouterr().err.strip() == "softswitch: no user 'nobody'"


def test_empty_standard_input_is_refused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("user", "passwd", "nobody", "--password-stdin")
    assert in_process(monkeypatch, *args, data_dir=data_dir, stdin="") == 1
    assert "no password on standard input" in capsys.readouterr().err


def test_without_password_stdin_and_no_terminal_is_a_usage_error(data_dir: Path) -> None:
    done = softswitch("user", "add", "erin", "--role", "admin", data_dir=data_dir)
    assert done.returncode == 2
    assert "--password-stdin" in done.stderr
    assert logins(data_dir, "erin", [PASSWORD]) == [LoginOutcome.BAD_CREDENTIALS]


def test_user_commands_refuse_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    args = ("user", "add", "frank", "--role", "admin", "--password-stdin")
    assert in_process(monkeypatch, *args, data_dir=data_dir, stdin=PASSWORD) == 1
    assert "run 'softswitch db upgrade' first" in capsys.readouterr().err
    assert not (data_dir / DEFAULT_DB_FILE).exists()

    # An existing but empty database file is refused the same way, and left empty.
    data_dir.mkdir()
    (data_dir / DEFAULT_DB_FILE).touch()
    assert in_process(monkeypatch, *args, data_dir=data_dir, stdin=PASSWORD) == 1
    assert "is empty, this release needs" in capsys.readouterr().err


def test_prompted_password_must_be_typed_twice_alike(
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The interactive path, in process: a terminal on stdin, getpass answering."""
    typed = iter([PASSWORD, PASSWORD + "x", PASSWORD, PASSWORD])
    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(typed)

    monkeypatch.setattr("getpass.getpass", getpass)
    args = ("user", "add", "grace", "--role", "admin")

    assert in_process(monkeypatch, *args, data_dir=data_dir, terminal=True) == 1
    assert "do not match" in capsys.readouterr().err
    assert in_process(monkeypatch, *args, data_dir=data_dir, terminal=True) == 0
    assert len(prompts) == 4 and "grace" in prompts[0]
    assert "created user grace" in capsys.readouterr().out
    assert logins(data_dir, "grace", [PASSWORD]) == [LoginOutcome.OK]


# -- softswitch param ---------------------------------------------------------------------------


def audit_params(data_dir: Path) -> list[tuple[str, str, str, object, object]]:
    """(who, action, parameter, before, after) of every parameter audit row, oldest first."""

    async def read() -> list[tuple[str, str, str, object, object]]:
        settings = load_settings({"SOFTSWITCH_DATA_DIR": str(data_dir)})
        engine = create_engine(settings.database_url)
        try:
            async with sessions(engine)() as session:
                rows = await session.scalars(
                    select(AuditEntry).where(AuditEntry.entity == "param").order_by(AuditEntry.id)
                )
                return [
                    (row.username, row.action, row.entity_id, row.before, row.after) for row in rows
                ]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def stored_overrides(data_dir: Path) -> dict[str, str]:
    """The override rows in the command's database, read through the repository."""

    async def read() -> dict[str, str]:
        settings = load_settings({"SOFTSWITCH_DATA_DIR": str(data_dir)})
        engine = create_engine(settings.database_url)
        try:
            return await ParamOverrideRepo(sessions(engine)).load()
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_param_set_is_in_force_for_get_and_list_and_audited_as_system(data_dir: Path) -> None:
    done = softswitch("param", "set", "ss_qos_signal", "0x28", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("SS_QOS_SIGNAL: 0xa0 -> 0x28 (stored;")
    assert "a running switch applies it within about a second" in done.stdout
    assert stored_overrides(data_dir) == {"SS_QOS_SIGNAL": "0x28"}
    assert audit_params(data_dir) == [
        (
            "system",
            "update",
            "SS_QOS_SIGNAL",
            {"name": "SS_QOS_SIGNAL", "value": "0xa0"},
            {"name": "SS_QOS_SIGNAL", "value": "0x28"},
        )
    ]

    got = softswitch("param", "get", "SS_QOS_SIGNAL", data_dir=data_dir)
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "SS_QOS_SIGNAL = 0x28"

    listed = softswitch("param", "list", "--overridden", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("SS_QOS_SIGNAL\thex\t0x28\tdatabase\t")


def test_param_list_marks_database_overrides_among_defaults(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        in_process(monkeypatch, "param", "set", "SS_TCP_CLOSE_RESET", "on", data_dir=data_dir) == 0
    )
    capsys.readouterr()
    assert (
        in_process(monkeypatch, "param", "list", "--group", "softswitch.sip", data_dir=data_dir)
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    by_name = {line.split("\t")[0]: line.split("\t") for line in lines}
    assert by_name["SS_TCP_CLOSE_RESET"][2:4] == ["On", "database"]
    assert len(by_name) == len(load_catalog().in_group("softswitch.sip"))
    others = [fields for name, fields in by_name.items() if name != "SS_TCP_CLOSE_RESET"]
    assert others and all(fields[3] == "default" for fields in others)
    # --overridden with nothing overridden in the group prints nothing.
    args = ("param", "list", "--group", "softswitch.sip", "--overridden")
    assert in_process(monkeypatch, "param", "reset", "SS_TCP_CLOSE_RESET", data_dir=data_dir) == 0
    capsys.readouterr()
    assert in_process(monkeypatch, *args, data_dir=data_dir) == 0
    assert capsys.readouterr().out == ""


def test_param_set_invalid_value_is_refused_and_nothing_is_written(data_dir: Path) -> None:
    done = softswitch("param", "set", "SS_QOS_SIGNAL", "0x100", data_dir=data_dir)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SS_QOS_SIGNAL must be a hexadecimal number from 0x00 to 0xff" in lines[0]
    assert "'0x100'" in lines[0]
    assert done.stdout == ""
    assert stored_overrides(data_dir) == {}
    assert audit_params(data_dir) == []


def test_param_unknown_name_suggests_the_close_one(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for verb in (
        ("get", "SS_QOS_SIGNL"),
        ("set", "SS_QOS_SIGNL", "0x28"),
        ("reset", "SS_QOS_SIGNL"),
    ):
        assert in_process(monkeypatch, "param", *verb, data_dir=data_dir) == 1
        err = capsys.readouterr().err.strip()
        assert err == "softswitch: unknown parameter 'SS_QOS_SIGNL'; did you mean SS_QOS_SIGNAL?"
    assert stored_overrides(data_dir) == {}


def test_param_reset_removes_the_override_with_an_audit_row(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert in_process(monkeypatch, "param", "set", "SS_QOS_SIGNAL", "0x28", data_dir=data_dir) == 0
    capsys.readouterr()
    assert in_process(monkeypatch, "param", "reset", "ss_qos_signal", data_dir=data_dir) == 0
    assert capsys.readouterr().out.startswith("SS_QOS_SIGNAL: 0x28 -> 0xa0 (reset;")
    assert stored_overrides(data_dir) == {}
    assert [row[:3] for row in audit_params(data_dir)] == [
        ("system", "update", "SS_QOS_SIGNAL"),
        ("system", "reset", "SS_QOS_SIGNAL"),
    ]
    assert in_process(monkeypatch, "param", "get", "SS_QOS_SIGNAL", data_dir=data_dir) == 0
    assert capsys.readouterr().out.strip() == "SS_QOS_SIGNAL = 0xa0"

    # A second reset finds nothing to remove, says so, and writes no audit row.
    assert in_process(monkeypatch, "param", "reset", "SS_QOS_SIGNAL", data_dir=data_dir) == 0
    assert "no override stored" in capsys.readouterr().out
    assert len(audit_params(data_dir)) == 2


def test_params_plural_is_the_same_command(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert in_process(monkeypatch, "params", "set", "ss_qos_signal", "0x30", data_dir=data_dir) == 0
    assert "0xa0 -> 0x30" in capsys.readouterr().out
    assert stored_overrides(data_dir) == {"SS_QOS_SIGNAL": "0x30"}
    assert in_process(monkeypatch, "params", "get", "ss_qos_signal", data_dir=data_dir) == 0
    assert capsys.readouterr().out.strip() == "SS_QOS_SIGNAL = 0x30"
    assert in_process(monkeypatch, "params", "list", "--overridden", data_dir=data_dir) == 0
    assert capsys.readouterr().out.startswith("SS_QOS_SIGNAL\thex\t0x30\tdatabase\t")


def test_param_database_override_beats_the_override_file(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The order `run` applies them: defaults, then the file, then the database."""
    overrides = tmp_path / "params.conf"
    overrides.write_text("SS_QOS_SIGNAL = 0x28\n")
    file = ("--file", str(overrides))
    assert in_process(monkeypatch, "param", "list", "--overridden", *file, data_dir=data_dir) == 0
    assert capsys.readouterr().out.startswith("SS_QOS_SIGNAL\thex\t0x28\tfile\t")
    assert in_process(monkeypatch, "param", "set", "SS_QOS_SIGNAL", "0x30", data_dir=data_dir) == 0
    capsys.readouterr()
    assert in_process(monkeypatch, "param", "get", "SS_QOS_SIGNAL", *file, data_dir=data_dir) == 0
    assert capsys.readouterr().out.strip() == "SS_QOS_SIGNAL = 0x30"


def test_param_without_database_reads_defaults_but_refuses_to_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    assert in_process(monkeypatch, "param", "get", "SS_QOS_SIGNAL", data_dir=data_dir) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "SS_QOS_SIGNAL = 0xa0"
    assert "no database yet" in captured.err
    assert in_process(monkeypatch, "param", "set", "SS_QOS_SIGNAL", "0x28", data_dir=data_dir) == 1
    assert "run 'softswitch db upgrade' first" in capsys.readouterr().err
    assert not (data_dir / DEFAULT_DB_FILE).exists()  # neither reading nor refusing creates it
