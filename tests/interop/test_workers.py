"""The multi-process switch (SOFTSWITCH_SIP_WORKERS, EXPERIMENTAL, issue 8 §2) over real sockets.

Two workers behind one SIP address: SIPp's customer trunk (127.0.0.2) sends every call from
one source port, so only the Call-ID tells the distributor which worker gets it. What is
checked: every call passes; both workers carried calls (each worker journals its CDRs in its
own directory, ``cdr`` and ``cdr/worker-1``, so the files say who wrote what); the carrier
leg's Call-ID of every call hashes to the same worker as the caller's (otherwise the carrier's
answers would have reached the other worker and the call would have failed); one CDR per call
in the database; and SIGTERM to the parent stops every worker.

The distributor's Call-ID scan and the identifier constraint are checked without sockets first.
"""

from __future__ import annotations

import json
import os
import re
import time
import zlib
from pathlib import Path
from typing import Any

from callkit import CARRIER_IP
from test_sipp_calls import start_bed

from softswitch.sip.ids import RandomIds
from softswitch.transport.relay import call_id_of, owns, pack, unpack, worker_of

CALLS = 200
RATE = 100
WORKERS = 2


# -- the pieces, without sockets -----------------------------------------------------------------


def _message(call_id_line: str) -> bytes:
    return (
        "INVITE sip:1@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-1\r\n"
        f"{call_id_line}\r\n"
        "CSeq: 1 INVITE\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def test_the_call_id_is_found_in_long_and_compact_form_in_any_case() -> None:
    assert call_id_of(_message("Call-ID: abc@host")) == b"abc@host"
    assert call_id_of(_message("call-id  :  abc@host  ")) == b"abc@host"
    assert call_id_of(_message("CALL-ID:abc@host")) == b"abc@host"
    assert call_id_of(_message("i: abc@host")) == b"abc@host"
    assert call_id_of(_message("I:abc@host")) == b"abc@host"
    # Not at a line start, or another header whose name ends like it: not a Call-ID.
    assert call_id_of(_message("X-Call-ID: abc")) is None
    assert call_id_of(_message("Reply-To: <sip:i:x@y>")) is None


def test_a_datagram_without_a_call_id_goes_to_worker_0() -> None:
    assert worker_of(_message("Subject: none"), 4) == 0
    assert worker_of(b"\r\n\r\n", 4) == 0  # a keep-alive
    assert worker_of(b"", 4) == 0


def test_our_own_call_ids_hash_back_to_the_worker_that_minted_them() -> None:
    for index in range(3):
        ids = RandomIds(b"seed", call_ids=lambda value, i=index: owns(value, i, 3))
        for _ in range(50):
            call_id = ids.call_id("192.0.2.1")
            assert worker_of(_message(f"Call-ID: {call_id}"), 3) == index


def test_the_relay_header_round_trips_the_source_address() -> None:
    for source in (("127.0.0.2", 5060), ("2001:db8::1", 65535)):
        address, data = unpack(pack(source, b"SIP/2.0 200 OK\r\n"))
        assert (address.host, address.port) == source
        assert data == b"SIP/2.0 200 OK\r\n"


# -- the switch --------------------------------------------------------------------------------


def _journal(directory: Path) -> list[dict[str, Any]]:
    """The CDR lines a worker journaled (its ``cdr-*.jsonl`` files, not subdirectories)."""
    return [
        json.loads(line)
        for path in sorted(directory.glob("cdr-*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def _worker(call_id: str) -> int:
    return zlib.crc32(call_id.encode()) % WORKERS


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_workers_share_the_calls_behind_one_address_and_stop_together(
    launch_switch: Any, free_port_for: Any, tmp_path: Path
) -> None:
    bed = start_bed(
        launch_switch, free_port_for, tmp_path / "sipp", SOFTSWITCH_SIP_WORKERS=str(WORKERS)
    )
    try:
        log = bed.switch.log()
        pids = [int(pid) for pid in re.findall(r"worker \d+ started \(pid (\d+)\)", log)]
        assert len(pids) == WORKERS, log
        assert "EXPERIMENTAL multi-process mode: 2 workers" in log

        port = bed.port(CARRIER_IP)
        bed.api.carrier("GW-WORKERS", port, ["41"])
        # Worker 0 applies its API's changes at once; worker 1 reads them from the change
        # feed, about a second later.
        deadline = time.monotonic() + 5
        while not re.search(r"\[worker 1\] .*snapshot version \d+: 1 gateways", bed.switch.log()):
            assert time.monotonic() < deadline, bed.switch.log()[-4000:]
            time.sleep(0.05)
        carrier = bed.carrier("carrier", "call_uas_answer.xml", port, calls=CALLS)
        caller = bed.call(
            "load",
            "call_uac.xml",
            "41123456",
            calls=CALLS,
            hold_ms=200,
            extra=["-r", str(RATE), "-l", str(CALLS), "-recv_timeout", "5000"],
        )
        bed.ok(caller)
        bed.ok(carrier)
        assert caller.successful_calls() == CALLS
        completed = caller.logged("completed")
        assert len(completed) == CALLS

        found = bed.api.cdrs_of(completed, timeout=10.0)
        assert sorted(found) == sorted(completed), "calls without a CDR"
        every = [cdr["call_id"] for cdr in bed.api.cdrs()]
        assert len(every) == len(set(every)) == CALLS, "a call with more than one CDR"

        cdr_dir = bed.switch.data_dir / "cdr"
        journals = {0: _journal(cdr_dir), 1: _journal(cdr_dir / "worker-1")}
        for index, lines in journals.items():
            assert len(lines) >= CALLS // 5, f"worker {index} journaled {len(lines)} CDRs"
            for line in lines:
                # The distributor gave the caller's Call-ID to this worker, and the Call-ID
                # the worker minted for the carrier leg hashes back to it.
                assert _worker(line["call_id"]) == index, line["call_id"]
                assert _worker(line["call_id_out"]) == index, line["call_id_out"]
        assert sum(len(lines) for lines in journals.values()) == CALLS
    finally:
        bed.close()
        code = bed.switch.stop()
    assert code == 0, bed.switch.log()[-4000:]
    assert not [pid for pid in pids if _alive(pid)], "a worker outlived the parent"
    assert "worker 0 (pid" in bed.switch.log() and "stopped (0)" in bed.switch.log()
