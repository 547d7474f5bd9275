"""Issue 7 §3 over real sockets: the switch registering to carriers that require it, and the SIP
timer and transport parameters applied without a restart when changed through the HTTP API.

Carriers listen on 127.0.0.3: SIPp as a registrar that checks the digest answers itself
(``verifyauth``), or a small Python registrar on a UDP socket where exact counts and arrival
times matter (it records each datagram with its time and its IP TOS byte).
"""

from __future__ import annotations

import itertools
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from callkit import CARRIER_IP, Sipp
from test_sipp_calls import Bed, first, start_bed, statuses

_IP_TOS = 1  # the ancillary data type of IP_RECVTOS (Linux <netinet/in.h>: IP_TOS)


@pytest.fixture
def bed(launch_switch: Any, free_port_for: Any, tmp_path: Path) -> Iterator[Bed]:
    test_bed = start_bed(launch_switch, free_port_for, tmp_path / "sipp")
    yield test_bed
    test_bed.close()


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log[-4000:]}")
        time.sleep(0.05)


@dataclass
class Datagram:
    at: float
    """``time.time()`` of arrival."""
    tos: int | None
    text: str

    @property
    def start_line(self) -> str:
        return self.text.split("\r\n", 1)[0]

    def header(self, name: str) -> str | None:
        for line in self.text.split("\r\n")[1:]:
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == name.lower():
                return value.strip()
        return None


@dataclass
class UdpCarrier:
    """A carrier on a UDP socket of its own: records every datagram (time, TOS byte, text) and,
    as a registrar, answers REGISTERs with ``register_status`` (401 with a fresh nonce, or 200);
    anything else gets no answer (a silent gateway)."""

    port: int
    register_status: int | None = None
    got: list[Datagram] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        self.sock.bind((CARRIER_IP, self.port))
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self._nonce = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, ancillary, _, source = self.sock.recvmsg(65535, 64)
            except TimeoutError:
                continue
            except OSError:
                return
            tos = None
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IP and kind == _IP_TOS and value:
                    tos = value[0]
            datagram = Datagram(time.time(), tos, data.decode(errors="replace"))
            self.got.append(datagram)
            if datagram.start_line.startswith("REGISTER ") and self.register_status is not None:
                self.sock.sendto(self._answer(datagram), source)

    def _answer(self, request: Datagram) -> bytes:
        lines = [
            line
            for line in request.text.split("\r\n")
            if line.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")
        ]
        if self.register_status == 401:
            self._nonce += 1
            head = "SIP/2.0 401 Unauthorized"
            lines.append(f'WWW-Authenticate: Digest realm="carrier.test", nonce="n{self._nonce}"')
        else:
            head = "SIP/2.0 200 OK"
            lines.append(f"Expires: {request.header('Expires') or '3600'}")
        return "\r\n".join([head, *lines, "Content-Length: 0", "", ""]).encode()

    def invites_of(self, call_id: str | None) -> list[Datagram]:
        return [d for d in self.received("INVITE") if d.header("Call-ID") == call_id]

    def received(self, method: str) -> list[Datagram]:
        return [d for d in list(self.got) if d.start_line.startswith(f"{method} ")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def udp_carrier(bed: Bed) -> Iterator[Callable[..., UdpCarrier]]:
    made: list[UdpCarrier] = []

    def make(register_status: int | None = None) -> UdpCarrier:
        carrier = UdpCarrier(bed.port(CARRIER_IP), register_status)
        made.append(carrier)
        return carrier

    yield make
    for carrier in made:
        carrier.close()


_STAMP = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d[ \t][\d:.]+)$", re.MULTILINE)


def trace_times(sipp: Sipp, start_line: str) -> list[float]:
    """Arrival times (``time.time()``) of the messages of a SIPp trace starting with
    ``start_line``, from the time stamps SIPp writes before each message."""
    text = (sipp.dir / "messages.log").read_text(errors="replace")
    found = []
    parts = _STAMP.split(text)
    for stamp, body in zip(parts[1::2], parts[2::2], strict=True):
        direction, _, message = body.lstrip("\r\n").partition("\n")
        if direction.startswith("UDP message received") and message.lstrip().startswith(start_line):
            found.append(datetime.fromisoformat(stamp.replace("\t", " ")).timestamp())
    return found


# -- outbound registration ---------------------------------------------------------------------


def test_switch_registers_with_digest_refreshes_and_unregisters_when_the_gateway_goes(
    bed: Bed,
) -> None:
    port = bed.port(CARRIER_IP)
    registrar = bed.carrier("registrar", "outbound_registrar.xml", port)
    gateway = bed.api.carrier(
        "GW-REGISTRAR",
        port,
        ["77"],
        register_username="trunk77",
        register_password="s3cret",
        register_expires=300,
    )

    # Two registrations (the first, the refresh 2 s into its 4 s grant), then delete.
    wait_for(
        lambda: "Expires: 3600" in registrar_log(registrar), 10, "the refresh", bed.switch.log()
    )
    answer = bed.api.client.delete(f"/routing-gateways/{gateway['id']}")
    assert answer.status_code == 204, answer.text
    bed.ok(registrar)

    assert registrar.sent(403) == [], "SIPp refused a digest answer"
    registers = registrar.received("REGISTER")
    assert len(registers) == 6, [m.summary() for m in registers]
    first_register = registers[0]
    assert first_register.request_uri == f"sip:{CARRIER_IP}:{port}"
    assert f"<sip:trunk77@{CARRIER_IP}>" in (first_register.header("From") or "")
    assert f"<sip:trunk77@{CARRIER_IP}>" in (first_register.header("To") or "")
    contact = first_register.header("Contact") or ""
    assert f"{bed.switch.host}:{bed.switch.sip_port}" in contact
    assert [m.header("Expires") for m in registers] == ["300", "300", "300", "300", "0", "0"]
    assert {m.call_id for m in registers} == {first_register.call_id}
    assert all(m.header("Authorization") for m in registers[1::2])
    assert not any(m.header("Authorization") for m in registers[0::2])
    refreshed_after = trace_times(registrar, "REGISTER")
    assert 1.0 < refreshed_after[2] - refreshed_after[1] < 4.0, "refresh at half of 4 s"
    log = bed.switch.log()
    assert "gateway GW-REGISTRAR: registered to" in log
    assert "gateway GW-REGISTRAR: unregistered" in log


def registrar_log(sipp: Sipp) -> str:
    path = sipp.dir / "messages.log"
    return path.read_text(errors="replace") if path.exists() else ""


def test_answers_to_a_rejecting_registrar_are_bounded_and_a_raised_limit_applies_at_once(
    bed: Bed, udp_carrier: Callable[..., UdpCarrier]
) -> None:
    bed.api.set_param("SS_SIP_AUTHENTICATION_RETRY", "2")
    carrier = udp_carrier(register_status=401)
    bed.api.carrier(
        "GW-REJECTS",
        carrier.port,
        ["78"],
        register_username="trunk78",
        register_password="wrong-password",
    )

    wait_for(lambda: len(carrier.received("REGISTER")) >= 3, 5, "3 REGISTERs", bed.switch.log())
    time.sleep(2.0)  # nothing more: the attempt gave up, the next waits for its back-off
    registers = carrier.received("REGISTER")
    assert len(registers) == 3, [r.start_line for r in registers]
    assert [bool(r.header("Authorization")) for r in registers] == [False, True, True]
    log = bed.switch.log()
    assert "GW-REJECTS: registration to" in log and "SS_SIP_AUTHENTICATION_RETRY" in log

    bed.api.set_param("SS_SIP_AUTHENTICATION_RETRY", "4")
    wait_for(lambda: len(carrier.received("REGISTER")) >= 8, 5, "5 more REGISTERs")
    time.sleep(1.5)
    assert len(carrier.received("REGISTER")) == 8


def test_switch_removes_its_bindings_when_it_stops(
    bed: Bed, udp_carrier: Callable[..., UdpCarrier]
) -> None:
    carrier = udp_carrier(register_status=200)
    bed.api.carrier(
        "GW-ACCEPTS",
        carrier.port,
        ["79"],
        register_username="trunk79",
        register_password="password79",
        register_expires=600,
    )
    wait_for(lambda: bool(carrier.received("REGISTER")), 5, "the REGISTER", bed.switch.log())
    wait_for(lambda: "GW-ACCEPTS: registered" in bed.switch.log(), 5, "registered")

    assert bed.switch.stop() == 0
    registers = carrier.received("REGISTER")
    assert [r.header("Expires") for r in registers] == ["600", "0"], bed.switch.log()[-3000:]


# -- SIP timers and transport parameters through the API ---------------------------------------


def test_resend_interval_invite_timeout_and_qos_apply_without_restart(
    bed: Bed, udp_carrier: Callable[..., UdpCarrier]
) -> None:
    """A silent carrier first, an answering one second. Call 1 runs on the defaults but for
    SS_SIP_INVITE_TIMEOUT (1.5 s): INVITEs at 0 and 0.5 s (Timer A, default schedule) with TOS
    0xa0, then the next carrier. Then SS_SIP_RESEND_INTERVAL=0.2,0.4, SS_SIP_INVITE_TIMEOUT=1000
    and SS_QOS_SIGNAL=0x28 through the API; call 2: INVITEs at 0, 0.2 and 0.6 s carrying 0x28,
    the next carrier at 1 s."""
    bed.api.set_param("SS_SIP_INVITE_TIMEOUT", "1500")
    silent = udp_carrier()
    answering_port = bed.port(CARRIER_IP)
    quiet = bed.api.carrier("GW-SILENT", silent.port, ["80"], priority=0)
    answering = bed.api.carrier("GW-ANSWERS", answering_port, ["80"], priority=1)
    carrier = bed.carrier("answering", "call_uas_answer.xml", answering_port, calls=2)

    caller = bed.ok(bed.call("caller1", "call_uac.xml", "80123456"))
    # The abandoned INVITE keeps its transaction (to CANCEL a late provisional, RFC 3261 §9.1),
    # so its retransmissions go on in the background: look at the first two only.
    invites = silent.invites_of(silent.received("INVITE")[0].header("Call-ID"))[:2]
    assert [d.tos for d in invites] == [0xA0, 0xA0], [d.start_line for d in invites]
    assert 0.35 < invites[1].at - invites[0].at < 0.75
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert statuses(cdr) == [(quiet["id"], 408), (answering["id"], 200)]
    handed_over = trace_times(carrier, "INVITE")[0] - invites[0].at
    assert 1.3 < handed_over < 2.5, handed_over

    bed.api.set_param("SS_SIP_RESEND_INTERVAL", "0.2,0.4")
    bed.api.set_param("SS_SIP_INVITE_TIMEOUT", "1000")
    bed.api.set_param("SS_QOS_SIGNAL", "0x28")
    seen = len(silent.got)
    caller = bed.ok(bed.call("caller2", "call_uac.xml", "80123457"))
    bed.ok(carrier)

    call_id = next(d for d in silent.got[seen:] if d.start_line.startswith("INVITE ")).header(
        "Call-ID"
    )
    time.sleep(max(0.0, silent.invites_of(call_id)[0].at + 2.0 - time.time()))
    invites = silent.invites_of(call_id)  # the schedule is used up: no more until Timer B
    assert [d.tos for d in invites] == [0x28, 0x28, 0x28], [d.start_line for d in invites]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(invites)]
    assert 0.1 < gaps[0] < 0.4 and 0.25 < gaps[1] < 0.65, gaps
    handed_over = trace_times(carrier, "INVITE")[1] - invites[0].at
    assert 0.8 < handed_over < 1.8, handed_over


def test_tcp_close_reset_applies_without_restart(bed: Bed) -> None:
    """An oversize header block makes the switch close the connection (framing cannot go on):
    with FIN by default, with RST once SS_TCP_CLOSE_RESET is On through the API."""

    def close_of_an_oversize_message() -> str:
        with socket.create_connection((bed.switch.host, bed.switch.sip_port), timeout=5) as conn:
            conn.sendall(b"OPTIONS sip:x SIP/2.0\r\nX-Filler: " + b"a" * 70_000)
            try:
                while conn.recv(65536):
                    pass
            except ConnectionResetError:
                return "RST"
            return "FIN"

    assert close_of_an_oversize_message() == "FIN"
    bed.api.set_param("SS_TCP_CLOSE_RESET", "On")
    assert close_of_an_oversize_message() == "RST"
    bed.api.set_param("SS_TCP_CLOSE_RESET", "Off")
    assert close_of_an_oversize_message() == "FIN"
