"""Exact deadlines of Timers A-M through the endpoint, over UDP and TCP (RFC 3261 §17, RFC 6026).

Time is only ever what the test passes as ``now``; every deadline is compared with ``==``.
"""

from __future__ import annotations

import pytest
from test_tx_support import (
    TCP,
    UDP,
    events,
    new_endpoint,
    our_request,
    request,
    response_to,
    sent,
    wire,
)

from softswitch.sip.endpoint import Endpoint
from softswitch.sip.events import (
    Peer,
    RequestReceived,
    TransactionTerminated,
    TransactionTimeout,
)
from softswitch.sip.message import Request
from softswitch.sip.status import make_response
from softswitch.sip.timers import DEFAULT_RESEND_INTERVALS, Timer, TimerConfig
from softswitch.sip.transaction import TransactionKey

A_TIMES = (0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5)


def _fire_until(ep: Endpoint, until: float) -> list[float]:
    """Fire every deadline up to ``until``; return the deadlines seen."""
    seen: list[float] = []
    while (deadline := ep.next_deadline()) is not None and deadline <= until:
        seen.append(deadline)
        ep.handle_deadlines(deadline)
    return seen


def test_timer_config_values() -> None:
    cfg = TimerConfig()
    assert cfg.resend_intervals == DEFAULT_RESEND_INTERVALS
    assert cfg.t1 == 0.5 and cfg.timeout == 32.0
    assert cfg.retransmission_times() == A_TIMES
    udp = {t: cfg.duration(t, reliable=False) for t in Timer}
    tcp = {t: cfg.duration(t, reliable=True) for t in Timer}
    assert udp == {
        Timer.A: 0.5, Timer.B: 32.0, Timer.D: 32.0, Timer.E: 0.5, Timer.F: 32.0, Timer.G: 0.5,
        Timer.H: 32.0, Timer.I: 5.0, Timer.J: 32.0, Timer.K: 5.0, Timer.L: 32.0, Timer.M: 32.0,
    }  # fmt: skip
    assert tcp == {
        Timer.A: None, Timer.B: 32.0, Timer.D: 0.0, Timer.E: None, Timer.F: 32.0, Timer.G: None,
        Timer.H: 32.0, Timer.I: 0.0, Timer.J: 0.0, Timer.K: 0.0, Timer.L: 32.0, Timer.M: 32.0,
    }  # fmt: skip
    assert [cfg.response_interval(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    with pytest.raises(ValueError):
        TimerConfig(resend_intervals=())
    with pytest.raises(ValueError):
        TimerConfig(resend_intervals=(0.5, 0.0))


def test_timer_a_schedule_and_timer_b_over_udp() -> None:
    ep = new_endpoint()
    invite = our_request(ep)
    key = ep.send_request(invite, UDP, 0.0)
    assert [m for m, _ in sent(ep)] and ep.next_deadline() == 0.5
    for when in A_TIMES:
        assert ep.next_deadline() == when
        ep.handle_deadlines(when - 0.001)
        assert ep.outgoing() == []  # not a moment early
        ep.handle_deadlines(when)
        (msg, peer), *rest = sent(ep)
        assert rest == [] and bytes(msg) == bytes(invite) and peer == UDP
    assert ep.next_deadline() == 32.0  # schedule used up: only Timer B is left
    ep.handle_deadlines(32.0)
    assert events(ep) == [TransactionTimeout(key, invite), TransactionTerminated(key)]
    assert ep.next_deadline() is None and ep.transaction_state(key) is None


def test_timer_b_follows_t1_of_a_custom_schedule() -> None:
    ep = new_endpoint(TimerConfig(resend_intervals=(1.0, 2.0)))
    invite = our_request(ep)
    ep.send_request(invite, UDP, 100.0)
    assert _fire_until(ep, 1000.0) == [101.0, 103.0, 164.0]


def test_tcp_invite_client_has_no_timer_a() -> None:
    ep = new_endpoint()
    key = ep.send_request(our_request(ep), TCP, 0.0)
    assert len(sent(ep)) == 1 and ep.next_deadline() == 32.0
    ep.handle_deadlines(32.0)
    assert isinstance(events(ep)[0], TransactionTimeout)
    assert ep.transaction_state(key) is None


@pytest.mark.parametrize(("peer", "timer_d"), [(UDP, 32.0), (TCP, 0.0)])
def test_timer_d(peer: Peer, timer_d: float) -> None:
    ep = new_endpoint()
    invite = our_request(ep)
    key = ep.send_request(invite, peer, 0.0)
    sent(ep)
    ep.receive(bytes(response_to(invite, 486)), peer, 1.0)
    assert [m.method for m, _ in sent(ep) if isinstance(m, Request)] == ["ACK"]
    if timer_d:
        assert ep.transaction_state(key) == "Completed"
        assert ep.next_deadline() == 1.0 + timer_d
        ep.handle_deadlines(1.0 + timer_d)
    assert ep.transaction_state(key) is None and ep.next_deadline() is None


def test_timer_m_after_2xx() -> None:
    ep = new_endpoint()
    invite = our_request(ep)
    key = ep.send_request(invite, UDP, 0.0)
    ep.receive(bytes(response_to(invite, 200)), UDP, 2.0)
    assert ep.transaction_state(key) == "Accepted"
    assert ep.next_deadline() == 34.0
    ep.handle_deadlines(34.0)
    assert ep.transaction_state(key) is None


def test_timer_e_f_over_udp() -> None:
    ep = new_endpoint()
    options = our_request(ep, "OPTIONS")
    key = ep.send_request(options, UDP, 0.0)
    sent(ep)
    assert _fire_until(ep, 31.9) == list(A_TIMES)
    assert len(sent(ep)) == 10
    assert ep.next_deadline() == 32.0
    ep.handle_deadlines(32.0)
    assert isinstance(events(ep)[0], TransactionTimeout)
    assert ep.transaction_state(key) is None


def test_timer_e_is_capped_at_t2_and_uses_t2_in_proceeding() -> None:
    ep = new_endpoint(TimerConfig(resend_intervals=(0.5, 8.0, 0.5, 0.5, 0.5, 0.5)))
    options = our_request(ep, "OPTIONS")
    ep.send_request(options, UDP, 0.0)
    assert _fire_until(ep, 4.5) == [0.5, 4.5]  # 8 s capped at T2 = 4 s
    ep.handle_deadlines(4.5)
    assert ep.next_deadline() == 5.0  # Trying: the schedule's 0.5 s
    ep.receive(bytes(response_to(options, 100)), UDP, 4.8)
    # Proceeding: the pending retransmission still happens, then every T2 (§17.1.2.2), and no
    # more retransmissions than the schedule has entries (6).
    assert _fire_until(ep, 31.9) == [5.0, 9.0, 13.0, 17.0]
    assert ep.next_deadline() == 32.0  # Timer F


def test_timer_e_in_proceeding_over_tcp_never_runs() -> None:
    ep = new_endpoint()
    options = our_request(ep, "OPTIONS")
    ep.send_request(options, TCP, 0.0)
    ep.receive(bytes(response_to(options, 100)), TCP, 1.0)
    assert ep.next_deadline() == 32.0


@pytest.mark.parametrize(("peer", "timer_k"), [(UDP, 5.0), (TCP, 0.0)])
def test_timer_k(peer: Peer, timer_k: float) -> None:
    ep = new_endpoint()
    options = our_request(ep, "OPTIONS")
    key = ep.send_request(options, peer, 0.0)
    ep.receive(bytes(response_to(options, 200)), peer, 3.0)
    if timer_k:
        assert ep.transaction_state(key) == "Completed" and ep.next_deadline() == 8.0
        ep.receive(bytes(response_to(options, 200)), peer, 4.0)  # absorbed
        assert [type(e).__name__ for e in events(ep)] == ["ResponseReceived"]
        ep.handle_deadlines(8.0)
    assert ep.transaction_state(key) is None


def _invite_server(ep: Endpoint, peer: Peer) -> tuple[Request, TransactionKey]:
    data = wire("INVITE", "z9hG4bK-srv-1", transport=peer.transport)
    ep.receive(data, peer, 0.0)
    (event,) = events(ep)
    assert isinstance(event, RequestReceived) and event.transaction is not None
    return event.request, event.transaction


def test_timers_g_h_i_over_udp() -> None:
    ep = new_endpoint()
    invite, key = _invite_server(ep, UDP)
    assert statuses_of(ep) == [100]
    ep.send_response(key, make_response(invite, 486, to_tag="x"), 1.0)
    assert statuses_of(ep) == [486]
    # G: T1 doubling up to T2 from the final response; H = 64*T1.
    assert _fire_until(ep, 20.0) == [1.5, 2.5, 4.5, 8.5, 12.5, 16.5]
    assert statuses_of(ep) == [486] * 6
    ep.receive(wire("ACK", "z9hG4bK-srv-1", to_tag="x"), UDP, 20.0)
    assert events(ep) == [] and ep.transaction_state(key) == "Confirmed"
    assert ep.next_deadline() == 25.0  # Timer I = T4
    ep.handle_deadlines(25.0)
    assert ep.transaction_state(key) is None


def test_timer_h_without_ack() -> None:
    ep = new_endpoint()
    invite, key = _invite_server(ep, UDP)
    ep.send_response(key, make_response(invite, 486, to_tag="x"), 1.0)
    _fire_until(ep, 32.9)
    assert ep.next_deadline() == 33.0
    ep.handle_deadlines(33.0)
    assert [type(e).__name__ for e in events(ep)] == [
        "TransactionTimeout",
        "TransactionTerminated",
    ]


def test_ist_over_tcp_has_no_timer_g_and_zero_timer_i() -> None:
    ep = new_endpoint()
    invite, key = _invite_server(ep, TCP)
    ep.send_response(key, make_response(invite, 486, to_tag="x"), 1.0)
    assert ep.next_deadline() == 33.0  # H only
    ep.receive(wire("ACK", "z9hG4bK-srv-1", to_tag="x", transport="TCP"), TCP, 2.0)
    assert ep.transaction_state(key) is None and ep.next_deadline() is None


@pytest.mark.parametrize("peer", [UDP, TCP])
def test_timer_l_after_2xx(peer: Peer) -> None:
    ep = new_endpoint()
    invite, key = _invite_server(ep, peer)
    ep.send_response(key, make_response(invite, 200, to_tag="x"), 1.0)
    assert statuses_of(ep) == [100, 200]
    assert ep.next_deadline() == 33.0  # no retransmission of the 2xx by the transaction
    ep.handle_deadlines(33.0)
    assert ep.transaction_state(key) is None


@pytest.mark.parametrize(("peer", "timer_j"), [(UDP, 32.0), (TCP, 0.0)])
def test_timer_j(peer: Peer, timer_j: float) -> None:
    ep = new_endpoint()
    ep.receive(wire("OPTIONS", "z9hG4bK-nist-1", transport=peer.transport), peer, 0.0)
    (event,) = events(ep)
    assert isinstance(event, RequestReceived) and event.transaction is not None
    assert ep.next_deadline() is None  # no 100 Trying for non-INVITE, no timer in Trying
    ep.send_response(event.transaction, make_response(event.request, 200, to_tag="x"), 2.0)
    if timer_j:
        assert ep.next_deadline() == 2.0 + timer_j
        ep.receive(wire("OPTIONS", "z9hG4bK-nist-1"), peer, 3.0)
        assert statuses_of(ep) == [200, 200]  # the retransmission got the final response again
        ep.handle_deadlines(2.0 + timer_j)
    assert ep.transaction_state(event.transaction) is None


def statuses_of(ep: Endpoint) -> list[int]:
    return [m.status for m, _ in sent(ep) if not isinstance(m, Request)]


def test_request_helper_builds_what_it_says() -> None:
    req = request("BYE", "z9hG4bK-x", to_tag="t", cseq=5)
    assert req.method == "BYE" and req.to.tag == "t" and req.cseq.seq == 5


def test_stale_timers_never_fire_on_a_reused_key() -> None:
    ep = new_endpoint()
    invite, key = _invite_server(ep, UDP)
    ep.send_response(key, make_response(invite, 486, to_tag="x"), 0.0)  # G at 0.5, H at 32
    ep.receive(wire("ACK", "z9hG4bK-srv-1", to_tag="x"), UDP, 0.1)  # G, H stopped; I at 5.1
    ep.handle_deadlines(5.1)
    assert ep.transaction_state(key) is None and events(ep) == [TransactionTerminated(key)]
    # A very late copy of the INVITE starts a new transaction under the same key.
    ep.receive(wire("INVITE", "z9hG4bK-srv-1"), UDP, 6.0)
    (event,) = events(ep)
    assert isinstance(event, RequestReceived) and event.transaction == key
    ep.send_response(key, make_response(invite, 486, to_tag="y"), 6.0)
    sent(ep)
    # The first transaction's H (32.0) is stale; only the new one's (38.0) may end it.
    assert _fire_until(ep, 37.9) == [6.5, 7.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5, 33.5, 37.5]
    assert ep.transaction_state(key) == "Completed"
    assert ep.next_deadline() == 38.0
