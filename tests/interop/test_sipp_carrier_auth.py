"""Carriers that challenge the switch's INVITEs (call-path.md §3, "Carriers that challenge"), over
real sockets: SIPp carriers on 127.0.0.3 answer the first INVITE with 401 and check the digest
answer themselves (``verifyauth``), or challenge every INVITE.

The gateways carry the switch's account at the carrier in ``register_username`` /
``register_password``, so the switch also registers there; the carrier scenarios answer that
REGISTER with 200 as a SIPp call of its own (hence ``calls=2``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callkit import CARRIER_IP
from test_sipp_calls import Bed, first, only, start_bed, statuses


@pytest.fixture
def bed(launch_switch: Any, free_port_for: Any, tmp_path: Path) -> Iterator[Bed]:
    test_bed = start_bed(launch_switch, free_port_for, tmp_path / "sipp")
    yield test_bed
    test_bed.close()


def test_a_401_to_the_invite_is_answered_with_the_carrier_account_and_the_call_completes(
    bed: Bed,
) -> None:
    port = bed.port(CARRIER_IP)
    gateway = bed.api.carrier(
        "GW-AUTH", port, ["91"], register_username="trunk91", register_password="s3cret"
    )
    carrier = bed.carrier("carrier", "carrier_auth_answer.xml", port, calls=2)

    caller = bed.ok(bed.call("caller", "call_uac.xml", "91123456"))
    bed.ok(carrier)

    assert carrier.sent(403) == [], "SIPp refused the digest answer"
    offer = first(caller.sent("INVITE"), "INVITE from the caller")
    invites = carrier.received("INVITE")
    assert len(invites) == 2, [m.summary() for m in invites]
    challenged, retry = invites
    assert retry.call_id == challenged.call_id
    assert retry.tag("From") == challenged.tag("From")
    assert retry.header("CSeq") == "2 INVITE" and challenged.header("CSeq") == "1 INVITE"
    assert retry.headers("Via")[0] != challenged.headers("Via")[0], "a new branch"
    assert retry.request_uri == challenged.request_uri
    assert retry.body == challenged.body == offer.body
    authorization = retry.header("Authorization") or ""
    assert 'username="trunk91"' in authorization and "qop=auth" in authorization
    assert challenged.header("Authorization") is None
    acks = carrier.received("ACK")
    assert [m.header("CSeq") for m in acks] == ["1 ACK", "2 ACK"], "the 401 and the 200 ACKed"
    assert not caller.received(401), "the carrier's challenge reached the caller"

    cdr = bed.api.cdr(offer.call_id)
    assert cdr["termination_reason"] == "CallerHangup"
    assert cdr["sip_status"] == 200
    assert cdr["routing_gateway_id"] == gateway["id"]
    assert cdr["call_id_out"] == retry.call_id
    attempt = only(cdr["attempts"], "attempt")
    assert (attempt["gateway_id"], attempt["gateway"], attempt["status"]) == (
        gateway["id"],
        "GW-AUTH",
        200,
    )


def test_a_carrier_that_always_challenges_gets_the_retry_limit_then_the_call_fails_over(
    bed: Bed,
) -> None:
    bed.api.set_param("SS_SIP_AUTHENTICATION_RETRY", "2")
    challenging_port, answering_port = bed.port(CARRIER_IP), bed.port(CARRIER_IP)
    challenging = bed.api.carrier(
        "GW-WRONG-PASSWORD",
        challenging_port,
        ["92"],
        priority=0,
        failover_codes=[401],
        register_username="trunk92",
        register_password="not-what-the-carrier-has",
    )
    answering = bed.api.carrier("GW-OPEN", answering_port, ["92"], priority=1)
    first_carrier = bed.carrier("challenging", "carrier_auth_always.xml", challenging_port, calls=2)
    second_carrier = bed.carrier("answering", "call_uas_answer.xml", answering_port)

    caller = bed.ok(bed.call("caller", "call_uac.xml", "92123456"))
    bed.ok(first_carrier)
    bed.ok(second_carrier)

    invites = first_carrier.received("INVITE")
    assert len(invites) == 3, [m.summary() for m in invites]  # 1 + SS_SIP_AUTHENTICATION_RETRY
    assert [m.header("CSeq") for m in invites] == ["1 INVITE", "2 INVITE", "3 INVITE"]
    assert [bool(m.header("Authorization")) for m in invites] == [False, True, True]
    assert len({m.call_id for m in invites}) == 1
    assert len(first_carrier.received("ACK")) == 3
    assert second_carrier.received("INVITE") and second_carrier.received("BYE")

    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert statuses(cdr) == [(challenging["id"], 401), (answering["id"], 200)], cdr["attempts"]
    assert cdr["routing_gateway_id"] == answering["id"]
    assert cdr["termination_reason"] == "CallerHangup"


def test_a_challenge_without_failover_ends_the_hunt_and_the_caller_gets_500(bed: Bed) -> None:
    """401 is not a failover code by default: after the retries the hunt stops with the 401
    (leg-local, so the caller gets 500), and the next gateway is not tried."""
    bed.api.set_param("SS_SIP_AUTHENTICATION_RETRY", "2")
    port = bed.port(CARRIER_IP)
    challenging = bed.api.carrier(
        "GW-CHALLENGES",
        port,
        ["93"],
        priority=0,
        register_username="trunk93",
        register_password="not-what-the-carrier-has",
    )
    untried = bed.silent()
    bed.api.carrier("GW-NOT-TRIED", untried.port, ["93"], priority=1)
    carrier = bed.carrier("challenging", "carrier_auth_always.xml", port, calls=2)

    caller = bed.ok(bed.call("caller", "call_uac_failed.xml", "93123456"))
    bed.ok(carrier)

    assert len(carrier.received("INVITE")) == 3
    assert untried.received() == []
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert statuses(cdr) == [(challenging["id"], 401)]
    assert cdr["sip_status"] == 500


def test_caller_cancel_while_the_authorized_invite_rings_cancels_that_invite(bed: Bed) -> None:
    port = bed.port(CARRIER_IP)
    bed.api.carrier(
        "GW-AUTH-RING", port, ["94"], register_username="trunk94", register_password="s3cret"
    )
    carrier = bed.carrier("carrier", "carrier_auth_ring_cancel.xml", port, calls=2)

    caller = bed.ok(bed.call("caller", "call_uac_cancel.xml", "94123456"))
    bed.ok(carrier)

    invites = carrier.received("INVITE")
    assert len(invites) == 2, [m.summary() for m in invites]
    cancel = only(carrier.received("CANCEL"), "CANCEL at the carrier")
    assert cancel.headers("Via")[0] == invites[1].headers("Via")[0], "CANCEL the second INVITE"
    assert cancel.header("CSeq") == "2 CANCEL"
    cdr = bed.api.cdr(first(caller.sent("INVITE"), "INVITE").call_id)
    assert cdr["termination_reason"] == "Cancelled"
