"""Session timers (RFC 4028, issue 7 §1) over real sockets: the switch as a subprocess set up
through its HTTP API, SIPp as the customer trunk (127.0.0.2) and as carriers (127.0.0.3).

The catalogue's ranges bound how fast a real session can expire: SS_SIP_SESSION_MIN_SE is at
least 90 s and SS_SIP_SESSION_UPDATE_SEGMENT at most 10, so the earliest refresh of the switch is
9 s after the answer. The one test that needs a dead peer (``test_a_callee_that_stops_answering
_refreshes_is_hung_up``) therefore takes about 25 s: one refresh answered at 9 s, the next one
at 18 s left unanswered, its transaction timing out 64*T1 later (T1 set to 50 ms through
SS_SIP_RESEND_INTERVAL). Exact deadlines (refresh at TTL/SEGMENT, hang-up at the expiry less
the margin, the 422 and refresher tables) are tested with a fake clock in
tests/sip/test_session_timer.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callkit import CARRIER_IP
from test_sipp_calls import Bed, first, start_bed


@pytest.fixture
def bed(launch_switch: Any, free_port_for: Any, tmp_path: Path) -> Iterator[Bed]:
    test_bed = start_bed(launch_switch, free_port_for, tmp_path / "sipp")
    yield test_bed
    test_bed.close()


def test_a_callee_that_stops_answering_refreshes_is_hung_up(bed: Bed) -> None:
    """The carrier makes the switch its refresher (refresher=uac, 90 s) and allows UPDATE: the
    switch refreshes every 90/10 = 9 s with an UPDATE without body. The first is answered; the
    second never is: when its transaction times out the switch sends BYE on both legs, the CDR
    says SessionTimeout and its hold time ends at the last proof of life (the refresh at 9 s),
    not at the BYE (about 21 s)."""
    bed.api.set_param("SS_SIP_SESSION_UPDATE_SEGMENT", "10")
    bed.api.set_param("SS_SIP_RESEND_INTERVAL", "0.05")
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-ST", port, ["40"])
    carrier = bed.carrier("carrier", "st_uas_refresh_once.xml", port, timeout_s=40)
    started = time.monotonic()

    caller = bed.ok(bed.call("caller", "st_uac_wait_bye.xml", "40123456", timeout_s=40))
    bed.ok(carrier)
    elapsed = time.monotonic() - started

    invite = first(carrier.received("INVITE"), "INVITE at the carrier")
    assert "timer" in (invite.header("Supported") or "")
    assert invite.header("Session-Expires") == "600"
    assert invite.header("Min-SE") == "90"
    updates = carrier.received("UPDATE")
    assert updates, carrier.report()
    refresh = updates[0]
    assert refresh.header("Session-Expires") == "90;refresher=uac"
    assert refresh.body == ""
    assert caller.received("BYE") and carrier.received("BYE")
    assert 18 <= elapsed < 35, elapsed
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert cdr["termination_reason"] == "SessionTimeout"
    # Hold time up to the answered refresh at 9 s, not to the BYE at about 21 s.
    assert 8000 <= cdr["hold_time_ms"] <= 11000, cdr["hold_time_ms"]


def test_a_too_small_interval_gets_422_and_the_retry_completes(bed: Bed) -> None:
    """Session-Expires 60 below SS_SIP_SESSION_MIN_SE (90): 422 with Min-SE 90 and no call; the
    retry with 90 is connected, its 200 carries Session-Expires 90;refresher=uac and Require:
    timer; the caller's UPDATE refresh is answered by the switch on the caller's leg and never
    reaches the carrier (whose scenario would fail on it)."""
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-422", port, ["40"])
    carrier = bed.carrier("carrier", "call_uas_answer.xml", port)

    caller = bed.ok(bed.call("caller", "st_uac_422_then_refresh.xml", "40123456"))
    bed.ok(carrier)

    rejected = first(caller.received(422), "422")
    assert rejected.header("Min-SE") == "90"
    answer = first([m for m in caller.received(200) if m.cseq_method == "INVITE"], "200 OK")
    assert answer.header("Session-Expires") == "90;refresher=uac"
    assert "timer" in (answer.header("Require") or "")
    assert len(carrier.received("INVITE")) == 1
    assert carrier.received("UPDATE") == []
    cdrs = bed.api.cdrs_of([first(caller.sent("INVITE"), "INVITE").call_id])
    (cdr,) = cdrs.values()
    assert cdr["termination_reason"] == "CallerHangup"


def test_a_call_without_session_timers_is_cut_at_the_no_timer_limit(bed: Bed) -> None:
    """Neither the caller nor the carrier supports timers: SS_SIP_NO_TIMER_REINVITE_INTERVAL
    (3 s here) after the answer the switch sends BYE on both legs; reason SessionTimeout."""
    bed.api.set_param("SS_SIP_NO_TIMER_REINVITE_INTERVAL", "3")
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-NT", port, ["40"])
    carrier = bed.carrier("carrier", "call_uas_answer.xml", port)

    caller = bed.ok(bed.call("caller", "st_uac_wait_bye.xml", "40123456"))
    bed.ok(carrier)

    assert caller.received("BYE") and carrier.received("BYE")
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert cdr["termination_reason"] == "SessionTimeout"
    assert 2500 <= cdr["hold_time_ms"] <= 5000, cdr["hold_time_ms"]


def test_a_parameter_changed_through_the_api_applies_to_the_next_call(bed: Bed) -> None:
    """Same switch, two calls: the first offers the defaults (600, Min-SE 90); after
    SS_SIP_SESSION_TTL and SS_SIP_SESSION_MIN_SE are changed through the API the second offers
    the new values, without a restart."""
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-P", port, ["40"])
    carrier = bed.carrier("carrier", "call_uas_answer.xml", port, calls=2)

    bed.ok(bed.call("before", "call_uac.xml", "40123456"))
    bed.api.set_param("SS_SIP_SESSION_TTL", "1800")
    bed.api.set_param("SS_SIP_SESSION_MIN_SE", "120")
    bed.ok(bed.call("after", "call_uac.xml", "40123457"))
    bed.ok(carrier)

    offers = [(m.header("Session-Expires"), m.header("Min-SE")) for m in carrier.received("INVITE")]
    assert offers == [("600", "90"), ("1800", "120")]
