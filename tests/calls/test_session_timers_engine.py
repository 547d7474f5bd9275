"""Session timers through the call engine over real UDP sockets, with hand-written SIP: the
switch refreshing a leg whose peer does not allow UPDATE (a re-INVITE repeating the last SDP
it sent, RFC 3264 §8), and a pure refresh from the caller answered on its own leg.

The carrier's 2xx asks for a 20 s interval, below our Min-SE: RFC 4028 forbids that, but the
switch tolerates it (it uses what the 2xx says, §7.2), which keeps this test at a few seconds.
"""

from __future__ import annotations

import pytest
from test_engine_edges import (
    SDP_A,
    SDP_B,
    Bed,
    _answer,
    _cdr,
    _invite_uri,
    _next,
    _request_from,
    bed,
)

from softswitch.sip import Request, Response, make_response

__all__ = ["bed"]


async def _set(bed: Bed, name: str, value: str) -> None:
    answer = await bed.api.put(f"/params/{name}", json={"value": value})
    assert answer.status_code == 200, answer.text


async def test_a_leg_without_update_is_refreshed_by_re_invite_and_pure_refreshes_stay_local(
    bed: Bed,
) -> None:
    await _set(bed, "SS_SIP_SESSION_UPDATE_SEGMENT", "10")
    uri = _invite_uri(bed)
    bed.caller.send(
        _request_from(bed.caller, "INVITE", uri, call_id="st-reinvite", body=SDP_A), *bed.sip
    )
    invite = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(invite, Request)
    assert invite.get("session-expires") == "600" and invite.get("min-se") == "90"
    assert "timer" in invite.supported
    ok = _answer(
        invite,
        200,
        tag="gw-st",
        client=bed.gateway,
        host="127.0.0.3",
        body=SDP_B,
        headers=(
            ("Session-Expires", "20;refresher=uac"),
            ("Require", "timer"),
            ("Allow", "INVITE, ACK, BYE, CANCEL"),
        ),
    )
    bed.gateway.send(ok, "127.0.0.1", bed.sip[1])
    answer = await _next(bed.caller, lambda m: isinstance(m, Response) and m.status == 200)
    assert isinstance(answer, Response)
    # The caller did not offer timers: no Session-Expires on its leg.
    assert answer.get("session-expires") is None
    to = answer.get("to") or ""
    bed.caller.send(_request_from(bed.caller, "ACK", uri, call_id="st-reinvite", to=to), *bed.sip)

    # 20 / 10 = 2 s after the answer: a re-INVITE with the SDP we sent that leg, unchanged.
    refresh = await _next(
        bed.gateway,
        lambda m: isinstance(m, Request) and m.method == "INVITE" and m.cseq.seq > 1,
        timeout=4.0,
    )
    assert isinstance(refresh, Request)
    assert refresh.body == SDP_A
    assert refresh.get("session-expires") == "20;refresher=uac"
    bed.gateway.send(
        bytes(
            make_response(
                refresh,
                200,
                headers=(
                    ("Contact", f"<sip:gw@127.0.0.3:{bed.gateway.port}>"),
                    ("Session-Expires", "20;refresher=uac"),
                ),
                body=SDP_B,
                content_type="application/sdp",
            )
        ),
        "127.0.0.1",
        bed.sip[1],
    )
    ack = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "ACK")
    assert isinstance(ack, Request) and ack.cseq.seq == refresh.cseq.seq

    # The caller re-offers the same SDP: answered on its leg with the SDP it got, not relayed.
    reoffer = _request_from(
        bed.caller, "INVITE", uri, call_id="st-reinvite", to=to, cseq=2, body=SDP_A
    )
    bed.caller.send(reoffer, *bed.sip)
    local = await _next(
        bed.caller, lambda m: isinstance(m, Response) and m.cseq.seq == 2 and m.status >= 200
    )
    assert isinstance(local, Response) and local.status == 200 and local.body == SDP_B
    ack2 = _request_from(bed.caller, "ACK", uri, call_id="st-reinvite", to=to, cseq=2)
    bed.caller.send(ack2, *bed.sip)
    with pytest.raises(TimeoutError):
        await _next(
            bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE", timeout=0.5
        )

    bye = _request_from(bed.caller, "BYE", uri, call_id="st-reinvite", to=to, cseq=3)
    bed.caller.send(bye, *bed.sip)
    their_bye = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "BYE")
    assert isinstance(their_bye, Request)
    bed.gateway.send(bytes(make_response(their_bye, 200)), "127.0.0.1", bed.sip[1])
    cdr = await _cdr(bed, "st-reinvite")
    assert cdr["termination_reason"] == "CallerHangup"


async def test_a_peer_that_does_not_refresh_is_hung_up_before_expiry(bed: Bed) -> None:
    """The carrier is the refresher (refresher=uas) of a 6 s session and never refreshes: the
    switch hangs up min(32, 6/3) = 2 s before the expiry, 4 s after the answer, with BYE on
    both legs; the hold time ends at the answer (the last proof of life)."""
    uri = _invite_uri(bed)
    bed.caller.send(
        _request_from(bed.caller, "INVITE", uri, call_id="st-expire", body=SDP_A), *bed.sip
    )
    invite = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(invite, Request)
    ok = _answer(
        invite,
        200,
        tag="gw-ex",
        client=bed.gateway,
        host="127.0.0.3",
        body=SDP_B,
        headers=(("Session-Expires", "6;refresher=uas"), ("Require", "timer")),
    )
    bed.gateway.send(ok, "127.0.0.1", bed.sip[1])
    answer = await _next(bed.caller, lambda m: isinstance(m, Response) and m.status == 200)
    assert isinstance(answer, Response)
    to = answer.get("to") or ""
    bed.caller.send(_request_from(bed.caller, "ACK", uri, call_id="st-expire", to=to), *bed.sip)

    bye = await _next(
        bed.gateway, lambda m: isinstance(m, Request) and m.method == "BYE", timeout=6.0
    )
    assert isinstance(bye, Request)
    bed.gateway.send(bytes(make_response(bye, 200)), "127.0.0.1", bed.sip[1])
    caller_bye = await _next(bed.caller, lambda m: isinstance(m, Request) and m.method == "BYE")
    assert isinstance(caller_bye, Request)
    bed.caller.send(bytes(make_response(caller_bye, 200)), *bed.sip)
    cdr = await _cdr(bed, "st-expire")
    assert cdr["termination_reason"] == "SessionTimeout"
    assert isinstance(cdr["hold_time_ms"], int) and cdr["hold_time_ms"] < 500
