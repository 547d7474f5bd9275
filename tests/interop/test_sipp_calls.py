"""The call path over real sockets (issue 4 §7): SIPp as the customer's trunk, as carriers and as
phones, the softswitch in between as a subprocess configured only through its HTTP API.

Addresses tell the roles apart: the customer trunk (a mapping gateway for 127.0.0.2/32) sends
from 127.0.0.2, carriers (routing gateways) listen on 127.0.0.3, a stranger calls from
127.0.0.4, phones use 127.0.0.1 like the switch. Each test starts its own switch, so parameters
and live ASR figures never leak between tests.

What the SIPp scenarios require is checked by SIPp itself (an unexpected message fails the
call, and the run must exit 0); what the switch must have done to each leg (new Call-ID, same
SDP, rewritten Request-URI ...) is read from the message traces; what it recorded is read from
``GET /api/v1/cdrs``.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from callkit import (
    ADMIN_PASSWORD,
    CARRIER_IP,
    PHONE_IP,
    STRANGER_IP,
    TRUNK_IP,
    Operator,
    Silent,
    SipMessage,
    Sipp,
)

CALLER = "5551000"


@dataclass
class Bed:
    """One switch with a customer account and its trunk, and the SIPp processes of a test."""

    switch: Any
    api: Operator
    account: dict[str, Any]
    trunk: dict[str, Any]
    workdir: Path
    free_port: Callable[[str], int]
    processes: list[Sipp] = field(default_factory=list)
    listeners: list[Silent] = field(default_factory=list)
    used: set[tuple[str, int]] = field(default_factory=set)

    @property
    def target(self) -> str:
        return f"{self.switch.host}:{self.switch.sip_port}"

    def port(self, ip: str) -> int:
        """A free port on ``ip`` not yet handed out in this test."""
        while True:
            port = self.free_port(ip)
            if (ip, port) not in self.used:
                self.used.add((ip, port))
                return port

    def carrier(self, name: str, scenario: str, port: int, calls: int = 1, **kw: Any) -> Sipp:
        """A carrier SIPp (UAS) on 127.0.0.3:``port``, listening when this returns."""
        sipp = Sipp(name, scenario, self.workdir, CARRIER_IP, port, calls=calls, **kw)
        self.processes.append(sipp)
        return sipp.start()

    def call(self, name: str, scenario: str, callee: str, ip: str = TRUNK_IP, **kw: Any) -> Sipp:
        """A caller SIPp (UAC) from ``ip`` to the switch, started."""
        sipp = Sipp(
            name, scenario, self.workdir, ip, self.port(ip), self.target, service=callee, **kw
        )
        self.processes.append(sipp)
        return sipp.start()

    def silent(self) -> Silent:
        """A carrier address that must not be tried: it records anything sent to it."""
        listener = Silent(CARRIER_IP, self.port(CARRIER_IP))
        self.listeners.append(listener)
        return listener

    def ok(self, sipp: Sipp) -> Sipp:
        return sipp.succeeded(self.switch.log())

    def close(self) -> None:
        for sipp in self.processes:
            sipp.stop()
        for listener in self.listeners:
            listener.close()
        self.api.close()


def start_bed(launch_switch: Any, free_port_for: Any, workdir: Path, **env: str) -> Bed:
    http = f"127.0.0.1:{free_port_for('127.0.0.1')}"
    switch = launch_switch(
        {"SOFTSWITCH_ADMIN_PASSWORD": ADMIN_PASSWORD, "SOFTSWITCH_HTTP_LISTEN": http, **env}
    )
    api = Operator(f"http://{http}/api/v1")
    account = api.account()
    trunk = api.trunk(account["id"])
    return Bed(switch, api, account, trunk, workdir, free_port_for)


@pytest.fixture
def bed(launch_switch: Any, free_port_for: Any, tmp_path: Path) -> Iterator[Bed]:
    test_bed = start_bed(launch_switch, free_port_for, tmp_path / "sipp")
    yield test_bed
    test_bed.close()


def first(messages: list[SipMessage], what: str) -> SipMessage:
    assert messages, f"no {what} in the trace"
    return messages[0]


def only(items: list[Any], what: str) -> Any:
    assert len(items) == 1, f"expected exactly one {what}, got {len(items)}: {items}"
    return items[0]


def statuses(cdr: dict[str, Any]) -> list[tuple[int, int]]:
    """(gateway_id, status) of every attempt of a CDR, in order."""
    return [(attempt["gateway_id"], attempt["status"]) for attempt in cdr["attempts"]]


def nothing_sent_to(listener: Silent) -> list[str]:
    """The start lines of what the switch sent to a gateway that must not be tried."""
    return [data.split(b"\r\n", 1)[0].decode(errors="replace") for data in listener.received()]


# -- 1. a trunk call, end to end --------------------------------------------------------------


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_trunk_call_is_bridged_to_the_best_gateway_and_leaves_a_cdr(
    bed: Bed, transport: str
) -> None:
    """Longest prefix first, then lower priority: 4420 at priority 0 beats 44 and 4420 at
    priority 1. The gateway leg is a new dialog (own Call-ID, From tag, Via, Contact) carrying
    the caller's SDP unchanged to the rewritten callee; 100 comes from the switch, 180 and 183
    (with its SDP) and the 200 (with the carrier's SDP) are relayed, ACK and BYE reach the
    gateway. The caller leg runs over UDP and over TCP (the carrier leg is UDP)."""
    shorter, lower, best = bed.silent(), bed.silent(), bed.port(CARRIER_IP)
    bed.api.carrier("GW-SHORT", shorter.port, ["44"], priority=0)
    bed.api.carrier("GW-LOWER", lower.port, ["4420"], priority=1)
    gateway = bed.api.carrier("GW-BEST", best, ["4420"], priority=0, callee_rewrite=["add 99"])
    carrier = bed.carrier("carrier", "call_uas_answer.xml", best)

    caller = bed.ok(bed.call("caller", "call_uac.xml", "442071234567", transport=transport))
    bed.ok(carrier)

    offer = first(caller.sent("INVITE"), "INVITE from the caller")
    relayed = first(carrier.received("INVITE"), "INVITE at the carrier")
    assert relayed.request_uri.startswith("sip:99442071234567@"), relayed.start_line
    assert relayed.call_id and relayed.call_id != offer.call_id
    assert relayed.tag("From") != offer.tag("From")
    via = only(relayed.headers("Via"), "Via on the gateway leg")
    assert f"{bed.switch.host}:{bed.switch.sip_port}" in via, via
    contact = relayed.header("Contact") or ""
    assert TRUNK_IP not in contact and f"{bed.switch.host}:{bed.switch.sip_port}" in contact
    assert relayed.body == offer.body

    assert caller.received(100), "no 100 Trying from the switch"
    assert first(caller.received(180), "180 relayed to the caller")
    early = first(caller.received(183), "183 relayed to the caller")
    assert early.body == first(carrier.sent(183), "183 from the carrier").body
    answer = first(caller.received(200), "200 to the INVITE")
    assert answer.cseq_method == "INVITE"
    assert answer.body == first(carrier.sent(200), "200 from the carrier").body
    assert [m.call_id for m in carrier.received("ACK")] == [relayed.call_id]
    assert [m.call_id for m in carrier.received("BYE")] == [relayed.call_id]
    assert nothing_sent_to(shorter) == [] and nothing_sent_to(lower) == []

    cdr = bed.api.cdr(offer.call_id)
    assert cdr["termination_reason"] == "CallerHangup"
    assert cdr["sip_status"] == 200
    assert cdr["hold_time_ms"] > 0
    assert (cdr["caller"], cdr["callee"], cdr["callee_out"]) == (
        CALLER,
        "442071234567",
        "99442071234567",
    )
    assert (cdr["call_id"], cdr["call_id_out"]) == (offer.call_id, relayed.call_id)
    assert cdr["account_id"] == bed.account["id"]
    assert cdr["mapping_gateway_id"] == bed.trunk["id"]
    assert cdr["routing_gateway_id"] == gateway["id"]
    attempt = only(cdr["attempts"], "attempt")
    assert set(attempt) >= {"gateway_id", "gateway", "status", "reason"}
    assert (attempt["gateway_id"], attempt["gateway"], attempt["status"]) == (
        gateway["id"],
        "GW-BEST",
        200,
    )


# -- 2-6. failures and failover ---------------------------------------------------------------


def test_busy_is_relayed_and_no_other_gateway_is_tried(bed: Bed) -> None:
    busy_port, spare = bed.port(CARRIER_IP), bed.silent()
    busy = bed.api.carrier("GW-BUSY", busy_port, ["33"], priority=0)
    bed.api.carrier("GW-SPARE", spare.port, ["33"], priority=1)
    carrier = bed.carrier("carrier", "call_uas_reject_486.xml", busy_port)

    caller = bed.ok(bed.call("caller", "call_uac_busy.xml", "33123456"))
    bed.ok(carrier)

    assert carrier.received("ACK"), "the switch did not ACK the 486"
    assert nothing_sent_to(spare) == []
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert cdr["termination_reason"] == "CalleeBusy"
    assert cdr["sip_status"] == 486
    assert statuses(cdr) == [(busy["id"], 486)]


def test_unanswered_gateway_is_cancelled_at_invite_timeout_and_the_next_one_answers(
    bed: Bed,
) -> None:
    bed.api.set_param("SS_SIP_INVITE_TIMEOUT", "2000")
    ringing_port, answering_port = bed.port(CARRIER_IP), bed.port(CARRIER_IP)
    ringing = bed.api.carrier("GW-RING", ringing_port, ["34"], priority=0)
    answering = bed.api.carrier("GW-ANSWER", answering_port, ["34"], priority=1)
    first_carrier = bed.carrier("ringing", "call_uas_ring_cancel.xml", ringing_port)
    second_carrier = bed.carrier("answering", "call_uas_answer.xml", answering_port)

    caller = bed.ok(bed.call("caller", "call_uac.xml", "34123456"))
    bed.ok(first_carrier)
    bed.ok(second_carrier)

    assert first_carrier.received("CANCEL") and first_carrier.received("ACK")
    assert second_carrier.received("INVITE") and second_carrier.received("BYE")
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert cdr["termination_reason"] == "CallerHangup"
    assert statuses(cdr) == [(ringing["id"], 408), (answering["id"], 200)], cdr["attempts"]
    assert cdr["routing_gateway_id"] == answering["id"]


def test_gateway_503_fails_over_to_the_next_gateway(bed: Bed) -> None:
    failing_port, answering_port = bed.port(CARRIER_IP), bed.port(CARRIER_IP)
    failing = bed.api.carrier("GW-503", failing_port, ["35"], priority=0)
    answering = bed.api.carrier("GW-OK", answering_port, ["35"], priority=1)
    first_carrier = bed.carrier("failing", "call_uas_reject_503.xml", failing_port)
    second_carrier = bed.carrier("answering", "call_uas_answer.xml", answering_port)

    caller = bed.ok(bed.call("caller", "call_uac.xml", "35123456"))
    bed.ok(first_carrier)
    bed.ok(second_carrier)

    assert not caller.received(503), "the 503 of the first gateway reached the caller"
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert statuses(cdr) == [(failing["id"], 503), (answering["id"], 200)]
    assert cdr["routing_gateway_id"] == answering["id"]
    assert cdr["termination_reason"] == "CallerHangup"


def test_a_gateways_own_failover_code_moves_the_call_on(bed: Bed) -> None:
    """404 is a definitive answer by default, but this carrier says 404 when its route is
    missing: with 404 among its failover codes the next gateway is tried."""
    first_port, second_port = bed.port(CARRIER_IP), bed.port(CARRIER_IP)
    odd = bed.api.carrier("GW-404", first_port, ["37"], priority=0, failover_codes=[404])
    answering = bed.api.carrier("GW-AFTER-404", second_port, ["37"], priority=1)
    first_carrier = bed.carrier("odd", "call_uas_reject_404.xml", first_port)
    second_carrier = bed.carrier("answering", "call_uas_answer.xml", second_port)

    caller = bed.ok(bed.call("caller", "call_uac.xml", "37123456"))
    bed.ok(first_carrier)
    bed.ok(second_carrier)

    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert statuses(cdr) == [(odd["id"], 404), (answering["id"], 200)]


def test_switch_limit_stops_the_hunt_after_that_many_gateways(bed: Bed) -> None:
    bed.api.set_param("SS_GATEWAY_SWITCH_LIMIT", "1")
    failing_port = bed.port(CARRIER_IP)
    failing = bed.api.carrier("GW-ONLY-TRY", failing_port, ["38"], priority=0)
    untried = bed.silent()
    bed.api.carrier("GW-NEVER", untried.port, ["38"], priority=1)
    first_carrier = bed.carrier("failing", "call_uas_reject_503.xml", failing_port)

    caller = bed.ok(bed.call("caller", "call_uac_failed.xml", "38123456"))
    bed.ok(first_carrier)

    assert nothing_sent_to(untried) == []
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert statuses(cdr) == [(failing["id"], 503)]
    assert (cdr["termination_reason"], cdr["sip_status"]) == ("AllGatewaysFailed", 500)


def test_no_failover_once_early_media_started(bed: Bed) -> None:
    """SS_GATEWAY_SWITCH_STOP_AFTER_RTP_START is On by default: after the first carrier's
    183 with SDP the caller hears that carrier; its 503 ends the call, no second carrier."""
    first_port = bed.port(CARRIER_IP)
    announcing = bed.api.carrier("GW-EARLY", first_port, ["39"], priority=0)
    untried = bed.silent()
    bed.api.carrier("GW-NOT-AFTER-MEDIA", untried.port, ["39"], priority=1)
    first_carrier = bed.carrier("announcing", "call_uas_early_media_503.xml", first_port)

    caller = bed.ok(bed.call("caller", "call_uac_failed.xml", "39123456"))
    bed.ok(first_carrier)

    assert caller.received(183), "the early media (183 with SDP) did not reach the caller"
    assert nothing_sent_to(untried) == []
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert statuses(cdr) == [(announcing["id"], 503)]
    assert cdr["ring_time"] is not None


def test_gateway_at_its_line_limit_is_skipped(bed: Bed) -> None:
    full_port, free_port = bed.port(CARRIER_IP), bed.port(CARRIER_IP)
    full = bed.api.carrier("GW-ONE-LINE", full_port, ["36"], priority=0, capacity=1)
    spare = bed.api.carrier("GW-SPARE", free_port, ["36"], priority=1)
    first_carrier = bed.carrier("one-line", "call_uas_answer.xml", full_port)
    second_carrier = bed.carrier("spare", "call_uas_answer.xml", free_port)

    holding = bed.call("holding", "call_uac.xml", "36000001", hold_ms=4000)
    deadline = time.monotonic() + 5
    while not holding.logged("answered") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert holding.logged("answered"), f"the first call was not answered\n{holding.report()}"

    second = bed.ok(bed.call("second", "call_uac.xml", "36000002"))
    bed.ok(holding)
    bed.ok(first_carrier)
    bed.ok(second_carrier)

    assert len(first_carrier.received("INVITE")) == 1
    cdr = bed.api.cdr(first(second.sent("INVITE"), "INVITE").call_id)
    assert cdr["routing_gateway_id"] == spare["id"]
    assert statuses(cdr) == [(spare["id"], 200)]
    held = bed.api.cdr(first(holding.sent("INVITE"), "INVITE").call_id)
    assert held["routing_gateway_id"] == full["id"]


def test_callee_no_gateway_serves_gets_503_no_available_router(bed: Bed) -> None:
    elsewhere = bed.silent()
    bed.api.carrier("GW-ELSEWHERE", elsewhere.port, ["44"])

    caller = bed.ok(bed.call("caller", "call_uac_unavailable.xml", "99123456"))

    assert nothing_sent_to(elsewhere) == []
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert cdr["termination_reason"] == "NoAvailableRouter"
    assert cdr["sip_status"] == 503
    assert cdr["routing_gateway_id"] is None and cdr["attempts"] == []


# -- 7-9. in-call signalling -------------------------------------------------------------------


def test_caller_cancel_while_ringing_is_propagated(bed: Bed) -> None:
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-RING", port, ["37"])
    carrier = bed.carrier("carrier", "call_uas_ring_cancel.xml", port)

    caller = bed.ok(bed.call("caller", "call_uac_cancel.xml", "37123456"))
    bed.ok(carrier)

    invite = first(carrier.received("INVITE"), "INVITE at the carrier")
    cancel = first(carrier.received("CANCEL"), "CANCEL at the carrier")
    assert cancel.call_id == invite.call_id
    assert cancel.headers("Via")[0] == invite.headers("Via")[0], "CANCEL must match the INVITE"
    assert carrier.received("ACK"), "the switch did not ACK the carrier's 487"
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert cdr["termination_reason"] == "Cancelled"


def test_bye_from_the_gateway_reaches_the_caller(bed: Bed) -> None:
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-HANGUP", port, ["38"])
    carrier = bed.carrier("carrier", "call_uas_hangup.xml", port, hold_ms=300)

    caller = bed.ok(bed.call("caller", "call_uac_callee_bye.xml", "38123456"))
    bed.ok(carrier)

    offer = first(caller.sent("INVITE"), "INVITE")
    bye = first(caller.received("BYE"), "BYE at the caller")
    assert bye.call_id == offer.call_id
    assert bye.tag("To") == offer.tag("From"), "the BYE must be in the caller's dialog"
    cdr = bed.api.cdr(offer.call_id)
    assert cdr["termination_reason"] == "CalleeHangup"
    assert cdr["hold_time_ms"] > 0


def test_reinvite_and_info_from_the_caller_are_relayed_with_their_bodies(bed: Bed) -> None:
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-MIDCALL", port, ["39"])
    carrier = bed.carrier("carrier", "call_uas_reinvite_info.xml", port)

    caller = bed.ok(bed.call("caller", "call_uac_reinvite_info.xml", "39123456"))
    bed.ok(carrier)

    sent_invites = caller.sent("INVITE")
    got_invites = carrier.received("INVITE")
    assert len(sent_invites) == 2 and len(got_invites) == 2, [m.summary() for m in got_invites]
    reoffer, relayed = sent_invites[1], got_invites[1]
    assert relayed.call_id == got_invites[0].call_id, "the re-INVITE must be in the same dialog"
    assert relayed.body == reoffer.body
    reanswer = [m for m in caller.received(200) if "carrier-reanswer" in m.body]
    assert [m.body for m in reanswer] == [carrier.sent(200)[1].body]
    assert len(carrier.received("ACK")) == 2, "both 200s to INVITE must be ACKed on the gateway leg"

    info_sent = first(caller.sent("INFO"), "INFO from the caller")
    info_got = first(carrier.received("INFO"), "INFO at the carrier")
    assert info_got.body == info_sent.body
    assert info_got.header("Content-Type") == "application/dtmf-relay"
    assert any(m.cseq_method == "INFO" for m in caller.received(200)), "INFO's 200 not relayed"


# -- 10. phone to phone ------------------------------------------------------------------------


def test_registered_phone_calls_another_phone_with_digest(bed: Bed) -> None:
    caller_phone = bed.api.phone("1001", bed.account["id"], "secret-1001")
    bed.api.phone("1002", bed.account["id"], "secret-1002")
    phone_port = bed.port(PHONE_IP)
    register = Sipp(
        "register-1002",
        "register.xml",
        bed.workdir,
        PHONE_IP,
        phone_port,
        bed.target,
        service="1002",
        user="1002",
        password="secret-1002",
    )
    bed.ok(register.start())
    assert register.received(401) and register.received(200)
    callee = Sipp("phone-1002", "call_uas_answer.xml", bed.workdir, PHONE_IP, phone_port)
    bed.processes.append(callee)
    callee.start()

    caller = bed.ok(
        bed.call(
            "phone-1001",
            "call_phone_uac.xml",
            "1002",
            ip=PHONE_IP,
            caller="1001",
            user="1001",
            password="secret-1001",
            extra=["-auth_uri", f"1002@{bed.target}"],
        )
    )
    bed.ok(callee)

    challenge = first(caller.received(401), "401 challenge")
    assert (challenge.header("WWW-Authenticate") or "").startswith("Digest ")
    offer = caller.sent("INVITE")[-1]
    assert offer.header("Authorization"), "the second INVITE carries the digest"
    relayed = first(callee.received("INVITE"), "INVITE at phone 1002")
    assert relayed.call_id != offer.call_id and relayed.body == offer.body
    cdr = bed.api.cdr(offer.call_id)
    assert cdr["termination_reason"] == "CallerHangup"
    assert cdr["phone_id"] == caller_phone["id"]
    assert cdr["routing_gateway_id"] is None


# -- 11. strangers -----------------------------------------------------------------------------


def test_unknown_source_is_ignored_or_refused_per_parameter_and_recorded(bed: Bed) -> None:
    ignored = bed.ok(
        bed.call("ignored", "call_uac_unanswered.xml", "44123456", ip=STRANGER_IP, caller="9999")
    )
    assert ignored.logged("unanswered"), ignored.report()
    assert not [m for m in ignored.messages() if m.direction == "received"]

    bed.api.set_param("SS_REPLY_UNAUTHORIZED", "On")
    refused = bed.ok(
        bed.call("refused", "call_uac_forbidden.xml", "44123456", ip=STRANGER_IP, caller="9999")
    )

    call_ids = [first(run.sent("INVITE"), "INVITE").call_id for run in (ignored, refused)]
    cdrs = bed.api.cdrs_of(call_ids)
    assert sorted(cdrs) == sorted(call_ids), f"missing CDRs: {set(call_ids) - set(cdrs)}"
    assert [cdrs[call_id]["termination_reason"] for call_id in call_ids] == ["IllegalCall"] * 2
    assert cdrs[call_ids[1]]["sip_status"] == 403


# -- 12. ASR -----------------------------------------------------------------------------------


def test_gateway_whose_asr_fell_below_threshold_is_tried_after_a_healthy_one(bed: Bed) -> None:
    """Priority ranks before ASR (issue 4 §3: prefix, priority, then ASR health, then weight),
    so the two gateways share a priority; weight 1 against 0 makes the sick one first while it
    is healthy, deterministically. One failed attempt (503) takes its ASR to 0 % < 50 %."""
    sick_port, healthy_port = bed.port(CARRIER_IP), bed.port(CARRIER_IP)
    sick = bed.api.carrier(
        "GW-SICK", sick_port, ["66"], priority=0, weight=1, asr_threshold_percent=50
    )
    healthy = bed.api.carrier("GW-HEALTHY", healthy_port, ["66"], priority=0, weight=0)
    failing = bed.carrier("sick-503", "call_uas_reject_503.xml", sick_port)
    second = bed.carrier("healthy", "call_uas_answer.xml", healthy_port, calls=2)

    before = bed.ok(bed.call("before", "call_uac.xml", "66123456"))
    bed.ok(failing)
    first_cdr = bed.api.cdr(first(before.sent("INVITE"), "INVITE").call_id)
    assert statuses(first_cdr) == [(sick["id"], 503), (healthy["id"], 200)]

    recovered = bed.carrier("sick-answers", "call_uas_answer.xml", sick_port)
    after = bed.ok(bed.call("after", "call_uac.xml", "66123457"))

    assert recovered.received("INVITE") == [], "the demoted gateway was tried first"
    recovered.stop()
    bed.ok(second)
    cdr = bed.api.cdr(first(after.sent("INVITE"), "INVITE").call_id)
    assert cdr["routing_gateway_id"] == healthy["id"]
    assert statuses(cdr) == [(healthy["id"], 200)]


# -- 13. max call duration ---------------------------------------------------------------------


def test_max_call_duration_clears_both_legs(bed: Bed) -> None:
    bed.api.set_param("SS_MAX_CALL_DURATION", "2")
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-LONG", port, ["40"])
    carrier = bed.carrier("carrier", "call_uas_answer.xml", port)

    caller = bed.ok(bed.call("caller", "call_uac_callee_bye.xml", "40123456"))
    bed.ok(carrier)

    assert caller.received("BYE") and carrier.received("BYE")
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert cdr["termination_reason"] == "MaxCallDuration"
    assert cdr["hold_time_ms"] >= 1500, cdr["hold_time_ms"]


# -- 14. kill -9 -------------------------------------------------------------------------------

KILL_CALLS = 200
KILL_AFTER_COMPLETED = 50


def test_kill_9_during_load_loses_no_cdr_of_a_finished_call(
    launch_switch: Any, free_port_for: Any, tmp_path: Path
) -> None:
    """200 short calls at 50 per second; once 50 have finished (their BYE got its 200) the
    switch is killed with SIGKILL mid-load and restarted on the same data directory: every
    call that finished must have exactly one CDR."""
    bed = start_bed(launch_switch, free_port_for, tmp_path / "sipp")
    try:
        port = bed.port(CARRIER_IP)
        bed.api.carrier("GW-LOAD", port, ["41"])
        carrier = bed.carrier("carrier", "call_uas_answer.xml", port, calls=KILL_CALLS)
        caller = bed.call(
            "load",
            "call_uac.xml",
            "41123456",
            calls=KILL_CALLS,
            hold_ms=1500,
            extra=["-r", "50", "-l", str(KILL_CALLS), "-recv_timeout", "5000"],
        )
        deadline = time.monotonic() + 15
        while len(caller.logged("completed")) < KILL_AFTER_COMPLETED:
            assert time.monotonic() < deadline, f"calls do not complete\n{caller.report()}"
            assert caller.process is not None and caller.process.poll() is None, caller.report()
            time.sleep(0.05)
        os.kill(bed.switch.process.pid, signal.SIGKILL)
        bed.switch.process.wait(10)
        caller.stop()
        carrier.stop()
        completed = caller.logged("completed")
        assert len(completed) >= KILL_AFTER_COMPLETED
        assert len(completed) < KILL_CALLS, "the switch was killed after the load, not during it"

        http = f"127.0.0.1:{free_port_for('127.0.0.1')}"
        launch_switch(
            {
                "SOFTSWITCH_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "SOFTSWITCH_HTTP_LISTEN": http,
                "SOFTSWITCH_DATA_DIR": str(bed.switch.data_dir),
            }
        )
        after = Operator(f"http://{http}/api/v1")
        try:
            found = after.cdrs_of(completed, timeout=10.0)
            every = [cdr["call_id"] for cdr in after.cdrs()]
        finally:
            after.close()
        missing = sorted(set(completed) - set(found))
        assert not missing, f"{len(missing)} finished calls have no CDR: {missing[:10]}"
        duplicated = sorted({call_id for call_id in every if every.count(call_id) > 1})
        assert not duplicated, f"calls with more than one CDR: {duplicated[:10]}"
    finally:
        bed.close()
