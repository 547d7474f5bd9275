"""``softswitch calls``: the command talks to the running switch over its HTTP API.

``main`` runs in a worker thread (the command is a blocking HTTP client) while the switch serves
in the test's event loop; the switch is found through ``SOFTSWITCH_HTTP_LISTEN``, as the other
commands find the data directory, and authenticated with ``SOFTSWITCH_API_KEY``. The refusals
(no key, nobody listening, a refused key, a switch without call engine) need no call; the
call-carrying cases place a real call with SIPp through the in-process switch.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from fixtures.sipp import HOLDING_CARRIER, udp_bound
from softswitch.api import create_app, serve_http
from softswitch.api.serve import HttpServer
from softswitch.cli import main
from softswitch.operators import OperatorService
from softswitch.params import ParamStore, load_catalog
from softswitch.runtime.calls_cli import call_details, call_table, monitor_lines, switch_url
from softswitch.runtime.settings import load_settings
from softswitch.storage.db import create_engine, sessions

ADMIN_PASSWORD = "calls-cli-admin-1"


@dataclass
class Outcome:
    code: int
    out: str
    err: str


@pytest.fixture
def run_calls(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Awaitable[Outcome]]:
    """``softswitch calls ARGS`` in a thread with only the given SOFTSWITCH_* variables."""
    for name in [n for n in os.environ if n.startswith("SOFTSWITCH_")]:
        monkeypatch.delenv(name)

    async def run(*args: str, env: dict[str, str] | None = None) -> Outcome:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["calls", *args])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


async def admin_key(base_url: str, password: str = ADMIN_PASSWORD) -> str:
    """An API key of ``admin``, made the documented way (log in, POST /api-keys)."""
    async with httpx.AsyncClient(base_url=f"{base_url}/api/v1", timeout=10.0) as client:
        login = await client.post("/auth/login", json={"username": "admin", "password": password})
        assert login.status_code == 200, login.text
        token = {"Authorization": f"Bearer {login.json()['access_token']}"}
        made = await client.post("/api-keys", headers=token, json={"name": "calls-cli"})
        assert made.status_code == 201, made.text
        return str(made.json()["key"])


@pytest.fixture
async def engineless(data_dir: Path) -> AsyncIterator[HttpServer]:
    """The HTTP API of a switch without call engine, on the migrated ``data_dir``."""
    settings = load_settings({"SOFTSWITCH_DATA_DIR": str(data_dir)})
    engine = create_engine(settings.database_url)
    params = ParamStore(load_catalog())

    def now() -> datetime:
        return datetime.now(UTC)

    operators = OperatorService(sessions(engine), params, now)
    await operators.ensure_admin(ADMIN_PASSWORD)
    app = create_app(engine=engine, params=params, operators=operators, clock=now)
    server = await serve_http(app, "127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop()
        await engine.dispose()


def listen_env(server: HttpServer, key: str | None = None) -> dict[str, str]:
    env = {"SOFTSWITCH_HTTP_LISTEN": f"{server.host}:{server.port}"}
    if key is not None:
        env["SOFTSWITCH_API_KEY"] = key
    return env


async def test_without_an_api_key_it_says_how_to_get_one(run_calls) -> None:
    result = await run_calls("list")
    assert result.code == 1
    assert "SOFTSWITCH_API_KEY" in result.err and "/api/v1/api-keys" in result.err
    assert result.out == ""


async def test_when_no_switch_listens_it_says_so(run_calls, free_port_for) -> None:
    port = free_port_for("127.0.0.1")
    env = {"SOFTSWITCH_HTTP_LISTEN": f"127.0.0.1:{port}", "SOFTSWITCH_API_KEY": "sk_x"}
    result = await run_calls("monitor", env=env)
    assert result.code == 1
    assert f"no switch answers at http://127.0.0.1:{port}" in result.err
    assert "softswitch run" in result.err


async def test_a_refused_key_is_reported(run_calls, engineless: HttpServer) -> None:
    result = await run_calls("list", env=listen_env(engineless, "sk_not-a-key"))
    assert result.code == 1
    assert "refused the API key" in result.err and "SOFTSWITCH_API_KEY" in result.err


async def test_a_switch_without_call_engine_is_reported(run_calls, engineless: HttpServer) -> None:
    key = await admin_key(engineless.url)
    for args in (("list",), ("show", "x"), ("hangup", "x"), ("monitor",)):
        result = await run_calls(*args, env=listen_env(engineless, key))
        assert result.code == 1, args
        assert "runs no call engine" in result.err, (args, result.err)
    # --api-key and --url beat the environment
    result = await run_calls(
        "list", "--api-key", key, "--url", engineless.url, env={"SOFTSWITCH_API_KEY": "sk_wrong"}
    )
    assert "runs no call engine" in result.err, result.err


async def test_a_bad_callback_is_refused_with_the_field(run_calls, engineless: HttpServer) -> None:
    key = await admin_key(engineless.url)
    result = await run_calls(
        "callback", "1001", "", "--account", "1", env=listen_env(engineless, key)
    )
    assert result.code == 1
    assert result.err.startswith("softswitch: b:") and "(b)" in result.err


def test_the_url_comes_from_http_listen() -> None:
    def url(listen: str) -> str:
        return switch_url(load_settings({"SOFTSWITCH_HTTP_LISTEN": listen}))

    assert url("127.0.0.1:9000") == "http://127.0.0.1:9000"
    assert url("0.0.0.0:9000") == "http://127.0.0.1:9000"
    assert url("[::]:9000") == "http://[::1]:9000"
    assert url("[::1]:9001") == "http://[::1]:9001"
    assert switch_url(load_settings({}), "http://10.0.0.5:8080/") == "http://10.0.0.5:8080"


CALL = {
    "id": "c-1",
    "state": "answered",
    "caller": "1001",
    "callee": "4420001",
    "caller_out": "1001",
    "callee_out": "004420001",
    "account_id": 4,
    "account_code": "ACME",
    "agent_id": None,
    "phone_id": None,
    "mapping_gateway_id": 2,
    "routing_gateway_id": 3,
    "routing_gateway_name": "CARRIER-A",
    "source_ip": "127.0.0.2",
    "start_time": "2026-03-01T08:00:00Z",
    "ring_time": "2026-03-01T08:00:01Z",
    "answer_time": "2026-03-01T08:00:02Z",
    "hold_ms": 3_725_000,
    "attempts": 1,
    "legs": [
        {
            "side": "caller",
            "call_id": "abc@127.0.0.2",
            "local_tag": "l1",
            "remote_tag": "r1",
            "peer": "UDP:127.0.0.2:5060",
            "state": "confirmed",
        }
    ],
}


def test_the_call_table_and_details() -> None:
    lines = call_table({"items": [CALL], "total": 3, "limit": 1})
    assert lines[0].split() == [
        "ID", "STATE", "ACCOUNT", "CALLER", "CALLEE", "GATEWAY", "STARTED", "(UTC)", "HOLD"
    ]  # fmt: skip
    assert lines[1].split() == [
        "c-1", "answered", "ACME", "1001", "4420001", "CARRIER-A", "2026-03-01", "08:00:00",
        "1:02:05",
    ]  # fmt: skip
    assert lines[-1] == "1 of 3 live call(s)"
    assert call_table({"items": [], "total": 0, "limit": 1000}) == ["no live calls"]
    details = "\n".join(call_details(CALL))
    assert "callee:             4420001 (sent as 004420001)" in details
    assert "leg caller: confirmed peer UDP:127.0.0.2:5060 call-id abc@127.0.0.2" in details


def test_the_monitor_lines() -> None:
    figures = {
        "at": "2026-03-01T08:00:00Z",
        "concurrent_calls": 2,
        "answered_calls": 1,
        "calls_per_second": 0.5,
        "cps_window_s": 10,
        "calls_total": 9,
        "answered_total": 6,
        "registered_aors": 3,
        "registered_bindings": 4,
        "registered_behind_nat": 1,
        "cdr_pending": 0,
        "gateways": [
            {
                "id": 3,
                "name": "CARRIER-A",
                "in_use": 2,
                "capacity": None,
                "attempts": 8,
                "answered": 6,
                "asr": 75.0,
                "acd": 42.25,
                "prefixes": [
                    {"prefix": "4420", "attempts": 8, "answered": 6, "asr": 75.0, "acd": 42.25},
                    {"prefix": "", "attempts": 0, "answered": 0, "asr": None, "acd": None},
                ],
            }
        ],
    }
    text = "\n".join(monitor_lines(figures))
    assert "concurrent calls:   2 (1 answered)" in text
    assert "calls per second:   0.50 (last 10 s)" in text
    assert "registrations:      3 AORs, 4 bindings (1 behind NAT)" in text
    *_, row, by_prefix, by_any = text.splitlines()
    assert row.split() == ["3", "CARRIER-A", "2/-", "8", "6", "75.0%", "42.2s"]
    assert by_prefix.split() == ["prefix", "4420", "8", "6", "75.0%", "42.2s"]
    assert by_any.split() == ["prefix", "(any)", "0", "0", "-", "-"]


# -- against the real switch, with a real call -------------------------------------------------
# A callback started from the command line: the switch calls A and then B at a carrier (SIPp on
# 127.0.0.3 answering both and holding them), the command lists, shows and counts the bridged
# call and hangs it up, and the carrier gets a BYE on both legs. SIPp is bounded by its call
# count, its own global timeout and a wait in a thread (the switch runs in this event loop).

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SIPP_TIMEOUT_S = 25
CARRIER_IP = "127.0.0.3"


@pytest.fixture
async def carrier(
    tmp_path: Path, free_port_for
) -> AsyncIterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """SIPp answering two calls on 127.0.0.3 and holding each until its BYE; stopped by PID."""
    port = free_port_for(CARRIER_IP)
    directory = tmp_path / "carrier"
    directory.mkdir()
    (directory / "scenario.xml").write_text(HOLDING_CARRIER, encoding="ascii")
    command = [
        SIPP, "-sf", str(directory / "scenario.xml"), "-t", "u1", "-i", CARRIER_IP,
        "-p", str(port), "-mi", CARRIER_IP, "-m", "2", "-timeout", f"{SIPP_TIMEOUT_S}s",
        "-timeout_error", "-nostdin", "-trace_logs", "-log_file", str(directory / "actions.log"),
        "-trace_err", "-error_file", str(directory / "errors.log"),
    ]  # fmt: skip
    with (directory / "stdout.log").open("wb") as stdout:
        process = subprocess.Popen(
            command, cwd=directory, stdout=stdout, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        for _ in range(250):
            if udp_bound(CARRIER_IP, port):
                break
            assert process.poll() is None, (directory / "stdout.log").read_text()
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the carrier SIPp did not listen")
        yield process, port, directory
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(5)


async def test_calls_list_show_monitor_and_hangup_a_real_callback(
    run_calls, start_server, free_port_for, carrier
) -> None:
    process, carrier_port, directory = carrier
    http = free_port_for("127.0.0.1")
    await start_server(http_listen=f"127.0.0.1:{http}", admin_password=ADMIN_PASSWORD)
    base = f"http://127.0.0.1:{http}"
    key = await admin_key(base)
    async with httpx.AsyncClient(
        base_url=f"{base}/api/v1", timeout=10.0, headers={"Authorization": f"Bearer {key}"}
    ) as api:
        account = await api.post(
            "/accounts",
            json={"code": "CBCO", "currency": "USD", "billing_mode": "postpaid",
                  "credit_limit": "1000"},
        )  # fmt: skip
        assert account.status_code == 201, account.text
        gateway = await api.post(
            "/routing-gateways",
            json={"name": "CARRIER", "host": CARRIER_IP, "port": carrier_port, "prefixes": ["44"]},
        )
        assert gateway.status_code == 201, gateway.text
        env = {"SOFTSWITCH_HTTP_LISTEN": f"127.0.0.1:{http}", "SOFTSWITCH_API_KEY": key}

        started = await run_calls(
            "callback", "4411111", "4422222", "--account", str(account.json()["id"]), env=env
        )
        assert started.code == 0, started.err
        found = re.fullmatch(r"callback started: call (\S+) is calling 4411111\n", started.out)
        assert found is not None, started.out
        call_id = found[1]

        for _ in range(150):  # bounded wait for the switch to bridge A and B
            listed = (await api.get("/calls")).json()["items"]
            if listed and listed[0]["state"] == "answered" and len(listed[0]["legs"]) == 2:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the callback was not bridged: {listed}")

        table = await run_calls("list", env=env)
        assert table.code == 0, table.err
        rows = table.out.splitlines()
        assert rows[0].split()[:3] == ["ID", "STATE", "ACCOUNT"]
        assert rows[1].split()[:6] == [call_id, "answered", "CBCO", "4422222", "4422222", "CARRIER"]
        assert rows[-1] == "1 live call(s)"
        as_json = await run_calls("list", "--json", env=env)
        assert json.loads(as_json.out)["items"][0]["id"] == call_id

        shown = await run_calls("show", call_id, env=env)
        assert shown.code == 0, shown.err
        assert f"id:                 {call_id}" in shown.out
        assert "leg caller: confirmed" in shown.out and "leg callee: confirmed" in shown.out

        monitor = await run_calls("monitor", env=env)
        assert monitor.code == 0, monitor.err
        assert "concurrent calls:   1 (1 answered)" in monitor.out
        (figures,) = (await api.get("/monitor")).json()["gateways"]
        rows = [line.split() for line in monitor.out.splitlines()]
        assert [str(gateway.json()["id"]), "CARRIER", f"{figures['in_use']}/-"] in [
            row[:3] for row in rows
        ]

        hung = await run_calls("hangup", call_id, env=env)
        assert (hung.code, hung.out) == (0, f"call {call_id} hung up\n"), hung.err
        code = await asyncio.to_thread(process.wait, SIPP_TIMEOUT_S + 10)
        actions = (directory / "actions.log").read_text()
        assert code == 0, (directory / "errors.log").read_text()
        assert actions.count("bye-received") == 2, actions

        for _ in range(50):
            if (await api.get("/calls")).json()["items"] == []:
                break
            await asyncio.sleep(0.1)
        empty = await run_calls("list", env=env)
        assert empty.out == "no live calls\n"
        gone = await run_calls("show", call_id, env=env)
        assert gone.code == 1 and f"no live call {call_id}" in gone.err
