"""SIPp (Debian sip-tester) against the running softswitch over real sockets on 127.0.0.1.

Scenarios are ours (``scenarios/*.xml``): OPTIONS expecting 200 with capabilities, and REGISTER
expecting a 401 digest challenge, then the authenticated retry refused with 403 (no user store
exists yet). Each runs once over UDP (``-t u1``) and once over TCP (``-t t1``).
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).parent / "scenarios"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
TRANSPORTS = {"u1": "UDP", "t1": "TCP"}


def run_sipp(switch, scenario: str, transport: str, workdir: Path, port: int) -> Path:
    """Run one SIPp call of ``scenario``; returns the working directory with its traces."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        SIPP,
        f"{switch.host}:{switch.sip_port}",
        "-sf",
        str(SCENARIOS / scenario),
        "-m",
        "1",
        "-timeout",
        "10s",
        "-timeout_error",
        "-t",
        transport,
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
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
    assert result.returncode == 0, (
        f"sipp exited {result.returncode}\n"
        f"{errors.read_text() if errors.exists() else ''}\n{switch.log()}"
    )
    return workdir


def successful_calls(stats: Path) -> int:
    rows = list(csv.DictReader(stats.read_text().splitlines(), delimiter=";"))
    assert rows, "SIPp wrote no statistics"
    return int(rows[-1]["SuccessfulCall(C)"])


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_sipp_options_gets_200(switch_process, tmp_path, free_port_for, transport) -> None:
    out = run_sipp(switch_process, "options.xml", transport, tmp_path, free_port_for("127.0.0.1"))

    assert successful_calls(out / "stats.csv") == 1
    actions = (out / "actions.log").read_text()
    assert "OPTIONS answered; Allow:OPTIONS Accept:application/sdp Server:softswitch/" in actions
    messages = (out / "messages.log").read_text()
    assert f"{TRANSPORTS[transport]} message received" in messages
    assert "SIP/2.0 200 OK" in messages


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_sipp_register_is_challenged_then_refused(
    switch_process, tmp_path, free_port_for, transport
) -> None:
    out = run_sipp(switch_process, "register.xml", transport, tmp_path, free_port_for("127.0.0.1"))

    assert successful_calls(out / "stats.csv") == 1
    messages = (out / "messages.log").read_text()
    assert "SIP/2.0 401 Unauthorized" in messages
    assert 'WWW-Authenticate: Digest realm="127.0.0.1"' in messages
    assert 'Authorization: Digest username="1001"' in messages
    assert "SIP/2.0 403 No such user" in messages
    actions = (out / "actions.log").read_text()
    assert "REGISTER refused as expected" in actions
