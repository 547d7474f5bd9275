"""SIPp (Debian sip-tester) against the running softswitch over real sockets on 127.0.0.1.

Scenarios are ours (``scenarios/*.xml``): OPTIONS expecting 200 with capabilities; REGISTER
expecting a 401 digest challenge and then, with SIPp's ``[authentication]`` answering it, 200
with the binding for phone 1001 (created through the switch's HTTP API), or 403 for a wrong
password or an unknown user. Each runs once over UDP (``-t u1``) and once over TCP (``-t t1``).
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

SCENARIOS = Path(__file__).parent / "scenarios"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
TRANSPORTS = {"u1": "UDP", "t1": "TCP"}
ADMIN_PASSWORD = "interop-admin-pw-1"
PHONE, PHONE_PASSWORD = "1001", "secret1001"


def run_sipp(
    switch,
    scenario: str,
    transport: str,
    workdir: Path,
    port: int,
    user: str = PHONE,
    password: str = PHONE_PASSWORD,
    timeout: str = "10s",
    check: bool = True,
) -> Path:
    """Run one SIPp call of ``scenario``; returns the working directory with its traces.
    ``user`` and ``password`` fill the REGISTER scenarios (``[service]``, ``[authentication]``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        SIPP,
        f"{switch.host}:{switch.sip_port}",
        "-sf",
        str(SCENARIOS / scenario),
        "-m",
        "1",
        "-timeout",
        timeout,
        "-timeout_error",
        "-t",
        transport,
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-s",
        user,
        "-au",
        user,
        "-ap",
        password,
        "-nostdin",
        "-trace_msg",
        "-message_file",
        str(workdir / "messages.log"),
        "-trace_logs",
        "-log_file",
        str(workdir / "actions.log"),
        "-trace_stat",
        "-stf",
        str(workdir / "stats.csv"),
        "-trace_err",
        "-error_file",
        str(workdir / "errors.log"),
    ]
    result = subprocess.run(command, cwd=workdir, capture_output=True, timeout=30, check=False)
    errors = workdir / "errors.log"
    assert result.returncode == 0 or not check, (
        f"sipp exited {result.returncode}\n"
        f"{errors.read_text() if errors.exists() else ''}\n{switch.log()}"
    )
    return workdir


def successful_calls(stats: Path) -> int:
    rows = list(csv.DictReader(stats.read_text().splitlines(), delimiter=";"))
    assert rows, "SIPp wrote no statistics"
    return int(rows[-1]["SuccessfulCall(C)"])


@pytest.fixture
def answering_switch(launch_switch, tmp_path: Path):
    """A switch that answers sources it does not know (SS_REPLY_UNAUTHORIZED On): SIPp probes
    from 127.0.0.1, which is no gateway or phone of it."""
    overrides = tmp_path / "params.conf"
    overrides.write_text("SS_REPLY_UNAUTHORIZED = On\n")
    return launch_switch({"SOFTSWITCH_PARAMS_FILE": str(overrides)})


def test_options_from_an_unknown_source_gets_no_answer_by_default(
    switch_process, tmp_path, free_port_for
) -> None:
    """SS_REPLY_UNAUTHORIZED Off (the default): 127.0.0.1 is no gateway or phone of this
    switch, so its OPTIONS is ignored; a scanner finds nothing listening."""
    out = run_sipp(
        switch_process,
        "options.xml",
        "u1",
        tmp_path,
        free_port_for("127.0.0.1"),
        timeout="2s",
        check=False,
    )

    assert not (out / "stats.csv").exists() or successful_calls(out / "stats.csv") == 0
    messages = (out / "messages.log").read_text()
    assert "message received" not in messages


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_sipp_options_gets_200(answering_switch, tmp_path, free_port_for, transport) -> None:
    out = run_sipp(answering_switch, "options.xml", transport, tmp_path, free_port_for("127.0.0.1"))

    assert successful_calls(out / "stats.csv") == 1
    actions = (out / "actions.log").read_text()
    assert "OPTIONS answered; Allow:OPTIONS Accept:application/sdp Server:softswitch/" in actions
    messages = (out / "messages.log").read_text()
    assert f"{TRANSPORTS[transport]} message received" in messages
    assert "SIP/2.0 200 OK" in messages


@pytest.fixture
def switch_with_phone(launch_switch, free_port_for):
    """A switch with phone 1001 (password secret1001), created through its HTTP API as an
    operator would; returns the switch and its API base URL."""
    http = f"127.0.0.1:{free_port_for('127.0.0.1')}"
    switch = launch_switch(
        {"SOFTSWITCH_ADMIN_PASSWORD": ADMIN_PASSWORD, "SOFTSWITCH_HTTP_LISTEN": http}
    )
    base = f"http://{http}/api/v1"
    with httpx.Client(base_url=base, timeout=10.0) as client:
        login = client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        account = client.post(
            "/accounts", json={"code": "INTEROP", "currency": "USD"}, headers=headers
        )
        assert account.status_code == 201, account.text
        phone = client.post(
            "/phones",
            json={"number": PHONE, "account_id": account.json()["id"], "password": PHONE_PASSWORD},
            headers=headers,
        )
        assert phone.status_code == 201, phone.text
    return switch, base, headers


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_sipp_register_with_digest_gets_200_then_wrong_password_403(
    switch_with_phone, tmp_path, free_port_for, transport
) -> None:
    switch, base, headers = switch_with_phone
    port = free_port_for("127.0.0.1")

    out = run_sipp(switch, "register.xml", transport, tmp_path / "ok", port)

    assert successful_calls(out / "stats.csv") == 1
    messages = (out / "messages.log").read_text()
    assert "SIP/2.0 401 Unauthorized" in messages
    assert 'Authorization: Digest username="1001"' in messages
    assert "SIP/2.0 200 OK" in messages
    contact = f"Contact: <sip:1001@127.0.0.1:{port};transport={TRANSPORTS[transport]}>;expires=300"
    assert contact.lower() in messages.lower()
    actions = (out / "actions.log").read_text()
    assert "registered: sip:1001@127.0.0.1" in actions
    with httpx.Client(base_url=base, timeout=10.0) as client:
        listed = client.get("/registrations", params={"aor": "sip:1001@127.0.0.1"}, headers=headers)
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert item["source_transport"] == TRANSPORTS[transport] and item["expires"] == 300

    refused = run_sipp(
        switch, "register_refused.xml", transport, tmp_path / "bad", port, password="wrong"
    )

    assert successful_calls(refused / "stats.csv") == 1
    # The same answer as an unknown user's: a password cracker learns nothing from it.
    assert "SIP/2.0 403 Forbidden\n" in (refused / "messages.log").read_text()


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_sipp_register_of_an_unknown_user_is_challenged_then_refused(
    switch_process, tmp_path, free_port_for, transport
) -> None:
    out = run_sipp(
        switch_process, "register_refused.xml", transport, tmp_path, free_port_for("127.0.0.1")
    )

    assert successful_calls(out / "stats.csv") == 1
    messages = (out / "messages.log").read_text()
    assert "SIP/2.0 401 Unauthorized" in messages
    assert 'WWW-Authenticate: Digest realm="127.0.0.1"' in messages
    assert 'Authorization: Digest username="1001"' in messages
    assert "SIP/2.0 403 Forbidden\n" in messages
    actions = (out / "actions.log").read_text()
    assert "REGISTER refused as expected" in actions
