"""Bootstrap settings, the ``softswitch`` command, and the run process's life cycle."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from softswitch import __version__
from softswitch.cli import main
from softswitch.runtime.settings import SettingsError, load_settings
from softswitch.transport.addresses import HostPort, parse_hostport


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5070", HostPort("127.0.0.1", 5070)),
        ("127.0.0.1", HostPort("127.0.0.1", 5060)),
        ("[::1]:5080", HostPort("::1", 5080)),
        ("[0:0::1]", HostPort("::1", 5060)),
        ("::1", HostPort("::1", 5060)),
        ("[::ffff:10.0.0.1]:5060", HostPort("10.0.0.1", 5060)),
    ],
)
def test_parse_hostport(text: str, expected: HostPort) -> None:
    assert parse_hostport(text, 5060) == expected


@pytest.mark.parametrize("text", ["", "example.com:5060", "[::1", "1.2.3.4:x", "1.2.3.4:70000"])
def test_parse_hostport_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hostport(text, 5060)


def test_settings_defaults() -> None:
    settings = load_settings({})
    assert settings.data_dir == Path("data")
    assert settings.sip_listen == (HostPort("127.0.0.1", 5060),)
    assert settings.sip_tls_listen == (HostPort("127.0.0.1", 5061),)
    assert settings.http_listen == HostPort("127.0.0.1", 8080)
    assert settings.params_file is None
    assert settings.log_level == "INFO"
    assert settings.tls_cert is None and settings.tls_verify is False
    assert settings.sip_digest_algorithms == ("MD5",)
    assert settings.database_url == f"sqlite+aiosqlite:///{Path('data/softswitch.db').resolve()}"


def test_database_url_must_name_a_supported_driver() -> None:
    with pytest.raises(SettingsError, match="database_url must be"):
        load_settings({"SOFTSWITCH_DATABASE_URL": "mysql://root@localhost/voip"})
    url = "postgresql+asyncpg://softswitch@127.0.0.1/softswitch"
    assert load_settings({"SOFTSWITCH_DATABASE_URL": url}).database_url == url


def test_settings_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "softswitch.conf"
    config.write_text(
        "# comment\nSOFTSWITCH_SIP_LISTEN = 127.0.0.1:6000\nlog_level = debug\n"
        "data_dir = /from/file\nsip_tls_listen =\n"
    )
    env = {"SOFTSWITCH_DATA_DIR": "/from/env", "SOFTSWITCH_LOG_LEVEL": "warning", "OTHER": "x"}

    settings = load_settings(env, config_file=config, overrides={"log_level": "error"})

    assert settings.sip_listen == (HostPort("127.0.0.1", 6000),)  # file beats default
    assert settings.data_dir == Path("/from/env")  # env beats file
    assert settings.log_level == "ERROR"  # flag beats env
    assert settings.sip_tls_listen == ()  # an empty list turns TLS off


def test_settings_from_toml(tmp_path: Path) -> None:
    config = tmp_path / "softswitch.toml"
    config.write_text(
        'sip_listen = ["127.0.0.1:5070", "[::1]:5070"]\ntls_verify = true\ntcp_idle_timeout = 30\n'
    )
    settings = load_settings({}, config_file=config)
    assert settings.sip_listen == (HostPort("127.0.0.1", 5070), HostPort("::1", 5070))
    assert settings.tls_verify is True
    assert settings.tcp_idle_timeout == 30.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SOFTSWITCH_SIP_LISTEN": "nowhere:5060"}, "sip_listen"),
        ({"SOFTSWITCH_LOG_LEVEL": "LOUD"}, "log_level"),
        ({"SOFTSWITCH_TLS_CERT": "/x.pem"}, "together"),
        ({"SOFTSWITCH_TCP_IDLE_TIMEOUT": "-1"}, "tcp_idle_timeout"),
        ({"SOFTSWITCH_SIP_DIGEST_ALGORITHMS": "SHA-1"}, "sip_digest_algorithms"),
    ],
)
def test_bad_settings_are_refused_with_their_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_unknown_key_in_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.conf"
    config.write_text("sip_lisen = 127.0.0.1\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings({}, config_file=config)


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"softswitch {__version__}"


def test_cli_params_list_get_and_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOFTSWITCH_PARAMS_FILE", raising=False)
    # Away from any ./data a developer's own `softswitch run` left in the checkout.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOFTSWITCH_DATA_DIR", raising=False)
    monkeypatch.delenv("SOFTSWITCH_DATABASE_URL", raising=False)
    assert main(["params", "list", "--group", "softswitch.sip"]) == 0
    listing = capsys.readouterr().out
    assert "SS_TCP_CLOSE_RESET\tbool\tOff" in listing
    assert "SS_QOS_SIGNAL" not in listing  # another group

    assert main(["params", "get", "ss_qos_signal"]) == 0
    assert capsys.readouterr().out.strip() == "SS_QOS_SIGNAL = 0xa0"

    overrides = tmp_path / "params.conf"
    overrides.write_text("SS_QOS_SIGNAL = 0x28\nSS_TCP_CLOSE_RESET = On\n")
    assert main(["params", "get", "SS_QOS_SIGNAL", "--file", str(overrides)]) == 0
    assert capsys.readouterr().out.strip() == "SS_QOS_SIGNAL = 0x28"
    assert main(["params", "check", str(overrides)]) == 0
    assert "OK, 2 override(s)" in capsys.readouterr().out

    overrides.write_text("SS_QOS_SIGNAL = 0x100\n")
    assert main(["params", "check", str(overrides)]) == 1
    assert "SS_QOS_SIGNAL" in capsys.readouterr().err


def test_run_refuses_bad_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOFTSWITCH_SIP_LISTEN", "not-an-address")
    assert main(["run"]) == 1
    assert "sip_listen" in capsys.readouterr().err


def test_run_logs_listeners_and_stops_cleanly_on_sigint(launch_switch) -> None:
    switch = launch_switch()

    code = switch.stop(signal.SIGINT)

    assert code == 0
    log = switch.log()
    assert switch.data_dir.is_dir()
    for kind, port in (
        ("UDP", switch.sip_port),
        ("TCP", switch.sip_port),
        ("TLS", switch.tls_port),
    ):
        assert f"listening for SIP over {kind} on 127.0.0.1:{port}" in log
    assert "ready" in log and "stopping" in log
    assert "Traceback" not in log


def test_first_start_creates_admin_and_prints_its_password_once(launch_switch) -> None:
    first = launch_switch()
    assert first.stop(signal.SIGINT) == 0
    shown = [line for line in first.log().splitlines() if "created operator 'admin'" in line]
    assert len(shown) == 1 and "with password " in shown[0]
    again = launch_switch({"SOFTSWITCH_DATA_DIR": str(first.data_dir)})
    assert again.stop(signal.SIGINT) == 0
    assert "created operator 'admin'" not in again.log()


def test_admin_password_from_the_environment_is_never_printed(launch_switch) -> None:
    switch = launch_switch({"SOFTSWITCH_ADMIN_PASSWORD": "Correct-Horse-9"})
    assert switch.stop(signal.SIGINT) == 0
    assert "Correct-Horse-9" not in switch.log()
    assert "created operator 'admin'" not in switch.log()


def test_run_creates_and_migrates_the_embedded_database(launch_switch) -> None:
    """`softswitch run` on its defaults: an SQLite file in the data dir, migrated to head, WAL."""
    import sqlite3

    from softswitch.storage.migrate import head_revision

    switch = launch_switch()
    assert switch.stop(signal.SIGINT) == 0
    database = switch.data_dir / "softswitch.db"
    assert f"at schema revision {head_revision()}" in switch.log()
    with sqlite3.connect(database) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert revision == head_revision() and mode == "wal"
    assert {"accounts", "cdrs", "rates", "routing_gateways"} <= tables


def test_run_applies_a_parameter_override_file(launch_switch, tmp_path: Path) -> None:
    overrides = tmp_path / "params.conf"
    overrides.write_text("SS_SIP_AUTHENTICATION_REALM = example.net\n")
    switch = launch_switch({"SOFTSWITCH_PARAMS_FILE": str(overrides)})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        register = (
            f"REGISTER sip:127.0.0.1:{switch.sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-realm1;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=r\r\n"
            "To: <sip:1001@127.0.0.1>\r\nCall-ID: realm@test\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:1001@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(register.encode(), ("127.0.0.1", switch.sip_port))
        answer = sock.recv(65535).decode()
    assert answer.startswith("SIP/2.0 401 ")
    assert 'WWW-Authenticate: Digest realm="example.net"' in answer
    assert switch.stop() == 0


def test_run_on_ipv6_loopback(launch_switch) -> None:
    switch = launch_switch(host="::1")
    assert f"listening for SIP over UDP on [::1]:{switch.sip_port}" in switch.log()
    assert switch.stop() == 0


def test_run_serves_the_http_api_with_the_first_admin(launch_switch) -> None:
    """`softswitch run` serves /api/v1 on http_listen; the first-start admin can log in and
    change a parameter, and the change is kept across a restart on the same data directory."""
    import json
    import re
    import urllib.request

    def call(base: str, method: str, path: str, body: object = None, token: str = "") -> object:
        request = urllib.request.Request(
            base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {token}"} if token else {}),
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read() or b"null")

    def http_base(log: str) -> str:
        found = re.search(r"listening for HTTP on (\S+)", log)
        assert found is not None, log
        return f"http://{found.group(1)}"

    env = {"SOFTSWITCH_ADMIN_PASSWORD": "Correct-Horse-9"}
    switch = launch_switch(env)
    base = http_base(switch.log())
    assert call(base, "GET", "/api/v1/health") == {"status": "ok", "database": True}
    login = call(
        base,
        "POST",
        "/api/v1/auth/login",
        {"username": "admin", "password": env["SOFTSWITCH_ADMIN_PASSWORD"]},
    )
    assert isinstance(login, dict)
    token = login["access_token"]
    changed = call(base, "PUT", "/api/v1/params/SS_SIP_SESSION_TTL", {"value": "900"}, token)
    assert isinstance(changed, dict) and changed["value"] == "900"
    assert switch.stop(signal.SIGINT) == 0

    again = launch_switch({"SOFTSWITCH_DATA_DIR": str(switch.data_dir)})
    base = http_base(again.log())
    login = call(
        base,
        "POST",
        "/api/v1/auth/login",
        {"username": "admin", "password": env["SOFTSWITCH_ADMIN_PASSWORD"]},
    )
    assert isinstance(login, dict)
    kept = call(base, "GET", "/api/v1/params/SS_SIP_SESSION_TTL", token=login["access_token"])
    assert isinstance(kept, dict) and kept["value"] == "900" and kept["overridden"] is True
    assert again.stop(signal.SIGINT) == 0


def _register_realm(switch) -> str:
    """The realm of the digest challenge the switch answers an unauthenticated REGISTER with."""
    import re
    import uuid

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        call_id = uuid.uuid4().hex
        register = (
            f"REGISTER sip:127.0.0.1:{switch.sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{call_id};rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=r\r\n"
            f"To: <sip:1001@127.0.0.1>\r\nCall-ID: {call_id}@test\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:1001@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(register.encode(), ("127.0.0.1", switch.sip_port))
        answer = sock.recv(65535).decode()
    found = re.search(r'realm="([^"]*)"', answer)
    assert found is not None, answer
    return found.group(1)


def test_a_parameter_set_from_the_shell_reaches_the_running_switch(launch_switch) -> None:
    """`softswitch param set` in another process writes the database and a change-feed row;
    the running switch follows the feed and applies the value without a restart."""
    import time

    switch = launch_switch()
    assert _register_realm(switch) != "changed.example"
    code = main(
        [
            "param",
            "set",
            "SS_SIP_AUTHENTICATION_REALM",
            "changed.example",
            "--data-dir",
            str(switch.data_dir),
        ]
    )
    assert code == 0
    deadline = time.monotonic() + 15
    realm = _register_realm(switch)
    while realm != "changed.example" and time.monotonic() < deadline:
        time.sleep(0.2)
        realm = _register_realm(switch)
    assert realm == "changed.example"
    assert "SS_SIP_AUTHENTICATION_REALM = changed.example (changed outside this process)" in (
        switch.log()
    )
    assert switch.stop() == 0


def test_run_keeps_cdr_files_in_the_data_directory(launch_switch, tmp_path: Path) -> None:
    """The CDR writer starts with the switch (its journal, the CDR files, under data/cdr) and
    an unusable real-time report address is ignored with a warning, not a failed start."""
    overrides = tmp_path / "params.conf"
    overrides.write_text("SERVER_CDR_REAL_TIME_REPORT_SERVER = not-an-address\n")
    switch = launch_switch({"SOFTSWITCH_PARAMS_FILE": str(overrides)})
    log = switch.log()
    assert f"CDR files in {switch.data_dir / 'cdr'}" in log
    assert (switch.data_dir / "cdr").is_dir()
    assert "SERVER_CDR_REAL_TIME_REPORT_SERVER 'not-an-address' ignored" in log
    assert switch.stop() == 0
