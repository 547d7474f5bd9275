"""The endpoint's behaviour as a peer sees it: matching, CANCEL, 482s, RFC 6026, routing, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tx_support import (
    LOCAL,
    TCP,
    UDP,
    events,
    new_endpoint,
    our_request,
    request,
    response_to,
    sent,
    statuses,
    wire,
)

from softswitch.sip.endpoint import Endpoint, EndpointConfig
from softswitch.sip.errors import LocalProtocolError
from softswitch.sip.events import (
    CancelReceived,
    CloseConnection,
    ConnectionFailed,
    MessageDropped,
    Outgoing,
    Peer,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransportFailed,
)
from softswitch.sip.ict import make_ack, make_cancel
from softswitch.sip.ids import RandomIds, is_rfc3261_branch
from softswitch.sip.message import Request, Response
from softswitch.sip.parser import parse_message
from softswitch.sip.status import make_response
from softswitch.sip.transaction import TransactionKey

BRANCH = "z9hG4bK-peer-1"


def _invite(ep: Endpoint, peer: Peer = UDP, **kwargs: object) -> tuple[Request, TransactionKey]:
    ep.receive(wire("INVITE", BRANCH, transport=peer.transport, **kwargs), peer, 0.0)  # type: ignore[arg-type]
    found = [e for e in events(ep) if isinstance(e, RequestReceived)]
    assert len(found) == 1 and found[0].transaction is not None
    return found[0].request, found[0].transaction


# ---------------------------------------------------------------- server side
def test_invite_gets_100_trying_and_reaches_the_tu() -> None:
    ep = new_endpoint()
    _, key = _invite(ep)
    ((trying, peer),) = sent(ep)
    assert isinstance(trying, Response) and trying.status == 100 and peer == UDP
    assert trying.top_via.branch == BRANCH and trying.cseq.method == "INVITE"
    assert ep.transaction_state(key) == "Proceeding"


def test_auto_trying_can_be_turned_off() -> None:
    ep = new_endpoint(auto_trying=False)
    _invite(ep)
    assert sent(ep) == []


def test_retransmitted_invite_is_absorbed_and_last_response_resent() -> None:
    ep = new_endpoint()
    invite, key = _invite(ep)
    sent(ep)
    ep.send_response(key, make_response(invite, 180, to_tag="x"), 0.1)
    assert statuses(sent(ep)) == [180]
    ep.receive(wire("INVITE", BRANCH), UDP, 0.5)
    assert events(ep) == []
    assert statuses(sent(ep)) == [180]


def test_cancel_matched_then_487_and_ack_absorbed() -> None:
    ep = new_endpoint()
    invite, key = _invite(ep)
    sent(ep)
    cancel_bytes = wire("CANCEL", BRANCH)
    ep.receive(cancel_bytes, UDP, 1.0)
    ((ok, _),) = sent(ep)
    assert isinstance(ok, Response) and ok.status == 200 and ok.cseq.method == "CANCEL"
    (event,) = events(ep)
    assert isinstance(event, CancelReceived) and event.transaction == key
    assert event.cancel.method == "CANCEL"
    ep.send_response(key, make_response(invite, 487, to_tag="x"), 1.1)
    assert statuses(sent(ep)) == [487]
    ep.receive(cancel_bytes, UDP, 1.2)  # a retransmitted CANCEL gets its 200 again
    assert statuses(sent(ep)) == [200] and events(ep) == []
    ep.receive(wire("ACK", BRANCH, to_tag="x"), UDP, 1.3)
    assert events(ep) == [] and ep.transaction_state(key) == "Confirmed"


def test_cancel_without_invite_gets_481() -> None:
    ep = new_endpoint()
    ep.receive(wire("CANCEL", "z9hG4bK-nothing"), UDP, 0.0)
    ((resp, peer),) = sent(ep)
    assert isinstance(resp, Response) and resp.status == 481 and peer == UDP
    assert events(ep) == []
    assert ep.stats.errors_answered == 1


def test_cancel_after_final_response_has_no_effect_but_gets_200() -> None:
    ep = new_endpoint()
    invite, key = _invite(ep)
    ep.send_response(key, make_response(invite, 200, to_tag="x"), 0.5)
    sent(ep)
    ep.receive(wire("CANCEL", BRANCH), UDP, 1.0)
    ((ok, _),) = sent(ep)
    assert isinstance(ok, Response) and ok.status == 200 and ok.to.tag == "x"
    assert events(ep) == []


def test_merged_request_gets_482() -> None:
    ep = new_endpoint()
    _invite(ep)
    sent(ep)
    ep.receive(wire("INVITE", "z9hG4bK-other-path"), UDP, 0.2)
    assert events(ep) == []
    assert statuses(sent(ep)) == [482]
    # The rejection is a transaction: its retransmission is absorbed and answered again.
    ep.receive(wire("INVITE", "z9hG4bK-other-path"), UDP, 0.3)
    assert statuses(sent(ep)) == [482] and events(ep) == []


def test_same_cseq_with_to_tag_is_not_merged() -> None:
    ep = new_endpoint()
    _invite(ep)
    ep.receive(wire("INVITE", "z9hG4bK-other", to_tag="dialog"), UDP, 0.2)
    assert [type(e) for e in events(ep)] == [RequestReceived]


def test_looped_request_gets_482() -> None:
    ep = new_endpoint()
    ours = ep.ids.branch()
    ep.receive(wire("INVITE", "z9hG4bK-p", vias=(f"SIP/2.0/UDP {LOCAL};branch={ours}",)), UDP, 0)
    assert events(ep) == [] and statuses(sent(ep)) == [482]


def test_our_branch_with_a_foreign_address_is_not_a_loop() -> None:
    ep = new_endpoint()
    ours = ep.ids.branch()
    via = f"SIP/2.0/UDP 198.51.100.1:5060;branch={ours}"
    ep.receive(wire("OPTIONS", "z9hG4bK-p", vias=(via,)), UDP, 0)
    assert [type(e) for e in events(ep)] == [RequestReceived]


def test_foreign_branch_at_our_address_is_not_a_loop() -> None:
    ep = new_endpoint()
    other = RandomIds(b"another-process").branch()
    ep.receive(wire("OPTIONS", "z9hG4bK-p", vias=(f"SIP/2.0/UDP {LOCAL};branch={other}",)), UDP, 0)
    assert [type(e) for e in events(ep)] == [RequestReceived]


def test_accepted_state_absorbs_invites_and_passes_acks() -> None:
    ep = new_endpoint()
    invite, key = _invite(ep)
    sent(ep)
    ok = make_response(invite, 200, to_tag="x")
    ep.send_response(key, ok, 0.5)
    assert statuses(sent(ep)) == [200]
    assert ep.transaction_state(key) == "Accepted"
    ep.receive(wire("INVITE", BRANCH), UDP, 1.0)
    assert sent(ep) == [] and events(ep) == []  # absorbed: the TU retransmits the 2xx
    ep.send_response(key, ok, 1.0)  # the TU's retransmission goes through the transaction
    assert statuses(sent(ep)) == [200]
    ep.receive(wire("ACK", BRANCH, to_tag="x"), UDP, 1.5)  # same branch: matches, passed up
    (event,) = events(ep)
    assert isinstance(event, RequestReceived) and event.request.method == "ACK"
    assert event.transaction is None
    ep.receive(wire("ACK", "z9hG4bK-ack-2xx", to_tag="x"), UDP, 1.6)  # the usual new branch
    (event,) = events(ep)
    assert isinstance(event, RequestReceived) and event.transaction is None


def test_second_final_response_is_discarded_by_nist() -> None:
    ep = new_endpoint()
    ep.receive(wire("OPTIONS", "z9hG4bK-o"), UDP, 0)
    (event,) = events(ep)
    assert isinstance(event, RequestReceived) and event.transaction is not None
    ep.send_response(event.transaction, make_response(event.request, 200, to_tag="a"), 0.1)
    ep.send_response(event.transaction, make_response(event.request, 500, to_tag="a"), 0.2)
    assert statuses(sent(ep)) == [200]


def test_send_response_to_unknown_transaction_raises() -> None:
    ep = new_endpoint()
    invite, key = _invite(ep)
    ep.send_response(key, make_response(invite, 486, to_tag="x"), 0.0)
    ep.receive(wire("ACK", BRANCH, to_tag="x"), UDP, 0.1)
    ep.handle_deadlines(100.0)
    with pytest.raises(LocalProtocolError) as info:
        ep.send_response(key, make_response(invite, 200), 101.0)
    assert info.value.status_hint == 481


def test_rfc2543_invite_retransmission_and_ack_matching() -> None:
    ep = new_endpoint()
    data = wire("INVITE", None, from_tag=None)
    ep.receive(data, UDP, 0.0)
    ((event,),) = [events(ep)]
    assert isinstance(event, RequestReceived) and event.transaction is not None
    assert event.transaction.branch == "" and event.transaction.legacy
    sent(ep)
    ep.receive(data, UDP, 0.5)
    assert events(ep) == [] and statuses(sent(ep)) == [100]
    ep.send_response(event.transaction, make_response(event.request, 404, to_tag="t9"), 1.0)
    sent(ep)
    ep.receive(wire("ACK", None, from_tag=None, to_tag="t9"), UDP, 1.5)
    assert events(ep) == [] and ep.transaction_state(event.transaction) == "Confirmed"


def test_exact_cookie_branch_falls_back_to_rfc2543_matching() -> None:
    ep = new_endpoint()
    ep.receive(wire("OPTIONS", "z9hG4bK"), UDP, 0.0)
    (event,) = events(ep)
    assert isinstance(event, RequestReceived) and event.transaction is not None
    assert event.transaction.legacy
    ep.receive(wire("OPTIONS", "z9hG4bK"), UDP, 0.1)
    assert events(ep) == []
    assert not is_rfc3261_branch("z9hG4bK") and is_rfc3261_branch("z9hG4bKx")


# ---------------------------------------------------------------- client side
def test_ack_for_non_2xx_is_built_by_the_transaction() -> None:
    ep = new_endpoint()
    invite = our_request(ep, extra=("Route: <sip:p1.example.net;lr>", "Route: <sip:p2;lr>"))
    ep.send_request(invite, UDP, 0.0)
    sent(ep)
    final = response_to(invite, 486, to_tag="callee")
    ep.receive(bytes(final), UDP, 1.0)
    ((ack, peer),) = sent(ep)
    assert isinstance(ack, Request) and peer == UDP
    assert ack.method == "ACK" and ack.uri == invite.uri
    assert ack.call_id == invite.call_id and ack.from_ == invite.from_
    assert ack.to.tag == "callee" and ack.to.uri == invite.to.uri
    assert (ack.cseq.seq, ack.cseq.method) == (invite.cseq.seq, "ACK")
    assert len(ack.vias) == 1 and ack.top_via == invite.top_via
    assert ack.get_all("route") == invite.get_all("route")
    assert ack.body == b"" and ack.get("content-length") == "0"
    (event,) = events(ep)
    assert isinstance(event, ResponseReceived) and event.response.status == 486
    ep.receive(bytes(final), UDP, 2.0)  # retransmitted final: ACKed again, not passed up
    assert [m.method for m, _ in sent(ep) if isinstance(m, Request)] == ["ACK"]
    assert events(ep) == []
    assert make_ack(invite, final).to.tag == "callee"


def test_make_cancel_follows_section_9_1() -> None:
    ids = RandomIds(b"c")
    invite = request("INVITE", ids.branch(), vias=("SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKz",))
    invite = invite.with_header("Route", "<sip:edge;lr>").with_body(b"v=0\r\n", "application/sdp")
    cancel = make_cancel(invite)
    assert cancel.method == "CANCEL" and cancel.uri == invite.uri
    assert len(cancel.vias) == 1 and cancel.top_via.branch == invite.top_via.branch
    assert cancel.to == invite.to and cancel.from_ == invite.from_
    assert cancel.call_id == invite.call_id and cancel.cseq.seq == invite.cseq.seq
    assert cancel.cseq.method == "CANCEL" and cancel.body == b""
    assert cancel.get_all("route") == ["<sip:edge;lr>"]


def test_cancel_is_its_own_client_transaction() -> None:
    ep = new_endpoint()
    invite = our_request(ep)
    ikey = ep.send_request(invite, UDP, 0.0)
    ep.receive(bytes(response_to(invite, 180)), UDP, 0.2)
    cancel = make_cancel(invite)
    ckey = ep.send_request(cancel, UDP, 0.3)
    assert ckey != ikey and ckey.method == "CANCEL"
    sent(ep)
    events(ep)
    ep.receive(bytes(response_to(cancel, 200)), UDP, 0.4)
    ep.receive(bytes(response_to(invite, 487)), UDP, 0.5)
    got = [
        (e.transaction, e.response.status) for e in events(ep) if isinstance(e, ResponseReceived)
    ]
    assert got == [(ckey, 200), (ikey, 487)]


def test_accepted_client_passes_2xx_retransmissions_and_forks() -> None:
    ep = new_endpoint()
    invite = our_request(ep)
    key = ep.send_request(invite, UDP, 0.0)
    for tag in ("a", "a", "b"):
        ep.receive(bytes(response_to(invite, 200, to_tag=tag)), UDP, 1.0)
    got = [e for e in events(ep) if isinstance(e, ResponseReceived)]
    assert [(e.transaction, e.response.to.tag) for e in got] == [(key, "a"), (key, "a"), (key, "b")]
    assert [m for m, _ in sent(ep) if isinstance(m, Request) and m.method == "ACK"] == []
    ep.handle_deadlines(33.0)
    assert events(ep) == [TransactionTerminated(key)]
    ep.receive(bytes(response_to(invite, 200, to_tag="a")), UDP, 40.0)
    (late,) = events(ep)
    assert isinstance(late, ResponseReceived) and late.transaction is None


def test_unmatched_responses_are_dropped() -> None:
    ep = new_endpoint()
    stray = response_to(request("OPTIONS", "z9hG4bK-gone", via=LOCAL), 200)
    ep.receive(bytes(stray), UDP, 0.0)
    (event,) = events(ep)
    assert isinstance(event, MessageDropped) and sent(ep) == []
    foreign = response_to(request("INVITE", "z9hG4bK-x", via="198.51.100.7"), 200)
    ep.receive(bytes(foreign), UDP, 0.0)
    (event,) = events(ep)
    assert isinstance(event, MessageDropped) and "sent-by" in event.reason


def test_malformed_response_is_dropped_never_answered() -> None:
    ep = new_endpoint()
    invite = our_request(ep)
    ep.send_request(invite, UDP, 0.0)
    sent(ep)
    bad = bytes(response_to(invite, 180)).replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE")
    ep.receive(bad, UDP, 0.1)
    (event,) = events(ep)
    assert isinstance(event, MessageDropped) and sent(ep) == []


def test_send_request_refuses_what_it_must_not_fix() -> None:
    ep = new_endpoint()
    with pytest.raises(LocalProtocolError):
        ep.send_request(request("OPTIONS", None), UDP, 0.0)
    with pytest.raises(LocalProtocolError):
        ep.send_request(request("OPTIONS", "old-2543-branch"), UDP, 0.0)
    with pytest.raises(LocalProtocolError):
        ep.send_request(our_request(ep, "ACK"), UDP, 0.0)
    invite = our_request(ep)
    ep.send_request(invite, UDP, 0.0)
    with pytest.raises(LocalProtocolError):
        ep.send_request(invite, UDP, 0.0)


def test_send_stateless_and_transport_failure() -> None:
    ep = new_endpoint()
    ack = our_request(ep, "ACK", to_tag="x")
    ep.send_stateless(ack, UDP)
    assert ep.outgoing() == [Outgoing(bytes(ack), UDP, None)]
    invite = our_request(ep)
    key = ep.send_request(invite, TCP, 0.0)
    (item,) = ep.outgoing()
    assert isinstance(item, Outgoing) and item.transaction == key
    ep.send_failed(item, 0.1)
    assert events(ep) == [TransportFailed(key, invite), TransactionTerminated(key)]
    assert ep.next_deadline() is None


def test_lazy_deadlines_skip_stopped_timers() -> None:
    ep = new_endpoint()
    invite = our_request(ep)
    ep.send_request(invite, UDP, 0.0)
    ep.receive(bytes(response_to(invite, 180)), UDP, 0.2)  # A and B stop in Proceeding
    assert ep.next_deadline() is None
    ep.handle_deadlines(1000.0)
    assert sent(ep)[1:] == []


# ---------------------------------------------------------------- transport rules (§18)
def test_received_and_rport_are_stamped_and_used() -> None:
    ep = new_endpoint()
    nat = Peer("UDP", "203.0.113.5", 61000)
    ep.receive(wire("OPTIONS", "z9hG4bK-n", via="10.1.1.1:5060;rport"), nat, 0.0)
    (event,) = events(ep)
    assert isinstance(event, RequestReceived)
    top = event.request.top_via
    assert top.received == "203.0.113.5" and top.rport == 61000
    assert event.transaction is not None
    ep.send_response(event.transaction, make_response(event.request, 200, to_tag="x"), 0.1)
    ((resp, peer),) = sent(ep)
    assert peer == Peer("UDP", "203.0.113.5", 61000)
    assert isinstance(resp, Response) and resp.top_via.rport == 61000


@pytest.mark.parametrize(
    ("via", "source", "expected"),
    [
        ("192.0.2.10:5070", UDP, Peer("UDP", "192.0.2.10", 5070)),
        ("192.0.2.10", UDP, Peer("UDP", "192.0.2.10", 5060)),
        ("pbx.example.com:5080", UDP, Peer("UDP", "192.0.2.10", 5080)),  # received + sent-by port
        ("192.0.2.99:5080", UDP, Peer("UDP", "192.0.2.10", 5080)),
        ("192.0.2.10:5070;maddr=239.1.1.1", UDP, Peer("UDP", "239.1.1.1", 5070)),
        ("[2001:db8::1]:5062", Peer("UDP", "2001:db8::1", 9), Peer("UDP", "2001:db8::1", 5062)),
        ("192.0.2.10:5070", TCP, TCP),  # reliable: the same connection
    ],
)
def test_response_destination(via: str, source: Peer, expected: Peer) -> None:
    ep = new_endpoint()
    ep.receive(wire("OPTIONS", "z9hG4bK-d", via=via, transport=source.transport), source, 0.0)
    (event,) = events(ep)
    assert isinstance(event, RequestReceived) and event.transaction is not None
    ep.send_response(event.transaction, make_response(event.request, 404, to_tag="x"), 0.0)
    ((_, peer),) = sent(ep)
    assert peer == expected


def test_closed_connection_sends_responses_to_sent_by() -> None:
    ep = new_endpoint()
    invite, key = _invite(ep, TCP, via="198.51.100.20:5090")
    sent(ep)
    ep.connection_closed(TCP)
    ep.send_response(key, make_response(invite, 486, to_tag="x"), 1.0)
    ((_, peer),) = sent(ep)
    assert peer == Peer("TCP", "192.0.2.10", 5090)  # the received address, the sent-by port


def test_malformed_request_answered_statelessly_with_the_reason() -> None:
    ep = new_endpoint()
    nat = Peer("UDP", "203.0.113.5", 61000)
    bad = wire("OPTIONS", "z9hG4bK-b", via="10.0.0.1;rport", extra=("Expires: soon",))
    ep.receive(bad, nat, 0.0)
    ((resp, peer),) = sent(ep)
    assert isinstance(resp, Response) and resp.status == 400 and "Expires" in resp.reason
    assert peer == nat and resp.top_via.received == "203.0.113.5"
    assert resp.to.tag is not None
    assert ep.stats.errors_answered == 1 and ep.stats.transactions == 0


def test_unknown_method_gets_501_with_allow() -> None:
    ep = new_endpoint()
    ep.receive(wire("FROB", "z9hG4bK-f"), UDP, 0.0)
    ((resp, _),) = sent(ep)
    assert isinstance(resp, Response) and resp.status == 501
    assert "INVITE" in (resp.get("allow") or "")


def test_malformed_ack_and_viafree_requests_are_dropped() -> None:
    ep = new_endpoint()
    # An ACK is only dropped for the headers that match it (a bad Max-Forwards is let through).
    ep.receive(wire("ACK", "z9hG4bK-a", extra=("From: <sip:a@b>;tag=2",)), UDP, 0.0)
    no_via = b"OPTIONS sip:x@y SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n"
    ep.receive(no_via, UDP, 0.0)
    assert sent(ep) == []
    assert [type(e) for e in events(ep)] == [MessageDropped, MessageDropped]
    assert ep.stats.dropped == 2


def test_bad_request_line_is_still_answered() -> None:
    ep = new_endpoint()
    data = wire("OPTIONS", "z9hG4bK-v").replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1)
    ep.receive(data, UDP, 0.0)
    assert statuses(sent(ep)) == [505]


def test_stream_framing_error_closes_the_connection() -> None:
    ep = new_endpoint()
    bad = wire("OPTIONS", "z9hG4bK-s").replace(b"Content-Length: 0", b"Content-Length: -1")
    ep.receive(bad, TCP, 0.0)
    (event,) = events(ep)
    assert isinstance(event, ConnectionFailed) and event.peer == TCP
    assert ep.outgoing() == [CloseConnection(TCP, event.reason)]
    # A new connection from the same peer starts from a clean framer.
    ep.receive(wire("OPTIONS", "z9hG4bK-s2"), TCP, 1.0)
    assert [type(e) for e in events(ep)] == [RequestReceived]


def test_two_messages_in_one_segment_and_a_partial_tail() -> None:
    ep = new_endpoint()
    one, two = wire("OPTIONS", "z9hG4bK-1"), wire("OPTIONS", "z9hG4bK-2", cseq=2)
    three = wire("OPTIONS", "z9hG4bK-3", cseq=3)
    ep.receive(one + two + three[:20], TCP, 0.0)
    assert [type(e) for e in events(ep)] == [RequestReceived, RequestReceived]
    ep.receive(three[20:], TCP, 0.1)
    assert [type(e) for e in events(ep)] == [RequestReceived]


def test_stats_count_messages() -> None:
    ep = new_endpoint()
    _invite(ep)
    ep.receive(b"\x00garbage", UDP, 0.0)
    stats = ep.stats
    assert (stats.received, stats.sent, stats.dropped, stats.transactions) == (2, 1, 1, 1)


PONG = b"\r\n"  # RFC 5626 §3.5.1: the answer to a double-CRLF ping on a stream
SAMPLE = wire("INVITE", "z9hG4bK-g", extra=("Contact: <sip:a@192.0.2.10>",))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=600), transport=st.sampled_from(["UDP", "TCP"]))
def test_garbage_bytes_never_raise(data: bytes, transport: str) -> None:
    ep = new_endpoint()  # strict: an unexpected exception would propagate and fail here
    peer = Peer(transport, "192.0.2.10", 5060, 1 if transport == "TCP" else None)
    ep.receive(data, peer, 0.0)
    for item in ep.outgoing():
        if isinstance(item, Outgoing) and item.data != PONG:
            assert isinstance(parse_message(item.data), Response)


@settings(max_examples=200, deadline=None)
@given(
    cut=st.integers(0, len(SAMPLE)),
    flips=st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 255)), max_size=6),
    transport=st.sampled_from(["UDP", "TCP"]),
)
def test_mutated_messages_never_raise(
    cut: int, flips: list[tuple[int, int]], transport: str
) -> None:
    data = bytearray(SAMPLE)
    for index, value in flips:
        data[index] = value
    ep = new_endpoint()
    peer = Peer(transport, "192.0.2.10", 5060, 1 if transport == "TCP" else None)
    ep.receive(bytes(data[:cut]), peer, 0.0)
    ep.receive(bytes(data[cut:]), peer, 0.1)
    for item in ep.outgoing():
        if isinstance(item, Outgoing) and item.data != PONG:
            assert isinstance(parse_message(item.data), Response)


def test_non_strict_endpoint_turns_internal_errors_into_drops() -> None:
    ep = Endpoint()

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    ep._receive_request = boom  # type: ignore[method-assign]
    ep.receive(wire("OPTIONS", "z9hG4bK-q"), UDP, 0.0)
    (event,) = events(ep)
    assert isinstance(event, MessageDropped) and "RuntimeError" in event.reason
    strict = new_endpoint()
    strict._receive_request = boom  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        strict.receive(wire("OPTIONS", "z9hG4bK-q"), UDP, 0.0)


def test_internal_transactions_stay_silent() -> None:
    ep = new_endpoint()
    _, key = _invite(ep, TCP)
    ep.receive(wire("CANCEL", BRANCH, transport="TCP"), TCP, 1.0)  # its NIST ends at once (J=0)
    assert [type(e) for e in events(ep)] == [CancelReceived]
    ep.receive(wire("INVITE", "z9hG4bK-merged"), UDP, 1.1)  # 482 through an IST of its own
    assert statuses(sent(ep))[-1] == 482
    ep.handle_deadlines(100.0)  # that IST's Timer H fires without an ACK: not the TU's business
    assert events(ep) == []
    assert ep.transaction_state(key) == "Proceeding"


def test_local_addresses_are_checked() -> None:
    with pytest.raises(ValueError):
        Endpoint(EndpointConfig(local_addresses=frozenset({"bad host:x"})))
    ep = Endpoint(EndpointConfig(local_addresses=frozenset({"[2001:db8::1]"})), RandomIds(b"6"))
    via = f"SIP/2.0/UDP [2001:DB8::1]:5060;branch={ep.ids.branch()}"
    ep.receive(wire("OPTIONS", "z9hG4bK-6", vias=(via,)), UDP, 0.0)
    assert statuses(sent(ep)) == [482]


def test_request_with_a_malformed_header_line_still_gets_its_400() -> None:
    """A line without a colon is skipped so the rest can address the 400 (§8.2.6)."""
    from softswitch.sip.endpoint import Endpoint, EndpointConfig
    from softswitch.sip.events import Outgoing, Peer
    from softswitch.sip.message import Response
    from softswitch.sip.parser import parse_message

    endpoint = Endpoint(EndpointConfig(strict=True))
    data = (
        b"REGISTER sip:example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKnocolon\r\n"
        b"To: <sip:u@example.com>\r\nFrom: <sip:u@example.com>;tag=1\r\n"
        b"Call-ID: nocolon\r\nCSeq: 1 REGISTER\r\nThis line has no colon\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    endpoint.receive(data, Peer("UDP", "192.0.2.1", 5062), 0.0)
    sent = [o for o in endpoint.outgoing() if isinstance(o, Outgoing)]
    assert len(sent) == 1
    response = parse_message(sent[0].data)
    assert isinstance(response, Response)
    assert (response.status, response.reason) == (400, "Malformed header line")
    assert response.call_id == "nocolon" and sent[0].peer.port == 5062


# ---------------------------------------------------------------- review fixes
SOURCE = Peer("UDP", "198.51.100.7", 5060)


def _answer_options(ep: Endpoint, via: str, source: Peer = SOURCE) -> tuple[Response, Peer]:
    """Send an OPTIONS with top Via ``via`` from ``source``; answer it 200; return what went out."""
    ep.receive(wire("OPTIONS", None, via=via, call_id=via), source, 0.0)
    (event,) = events(ep)
    assert isinstance(event, RequestReceived) and event.transaction is not None
    ep.send_response(event.transaction, make_response(event.request, 200, to_tag="x"), 0.0)
    ((resp, peer),) = sent(ep)
    assert isinstance(resp, Response)
    return resp, peer


@pytest.mark.parametrize(
    ("params", "port"),
    [
        (";received=203.0.113.99", 5060),
        (";rport=19", 5060),
        (";rport=70000", 5060),
        (";received=203.0.113.99;rport=19", 5060),
        (";rport=abc", 5060),  # overwritten, not refused: the client's value never counts
        (";received=203.0.113.99;maddr=203.0.113.99", 5062),
        (";maddr=pbx.example.com", 5062),
    ],
)
def test_peer_written_received_rport_and_maddr_never_redirect_responses(
    params: str, port: int
) -> None:
    """§18.2.1, RFC 3581 §4: the server overwrites received/rport; a foreign maddr is ignored."""
    ep = new_endpoint()
    source = Peer("UDP", "198.51.100.7", port)
    resp, peer = _answer_options(ep, f"198.51.100.7:5062;branch=z9hG4bK-1{params}", source)
    assert peer.host == "198.51.100.7"
    assert peer.port == (port if "rport" in params else 5062)
    top = resp.top_via
    if "received" in params or "rport" in params:
        assert top.received == "198.51.100.7"
    if "rport" in params:
        assert top.rport == port


def test_maddr_is_honoured_when_multicast_or_the_source() -> None:
    ep = new_endpoint()
    _, peer = _answer_options(ep, "198.51.100.7:5070;maddr=239.1.1.1;branch=z9hG4bK-m1")
    assert peer == Peer("UDP", "239.1.1.1", 5070)
    _, peer = _answer_options(ep, "198.51.100.7:5070;maddr=198.51.100.7;branch=z9hG4bK-m2")
    assert peer == Peer("UDP", "198.51.100.7", 5070)


def test_any_framer_exception_closes_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A framer that fails in an unexpected way must not leave a wedged, growing connection."""
    from softswitch.sip import framing

    real_feed = framing.StreamFramer.feed
    broken = {"on": True}

    def feed(self: framing.StreamFramer, data: bytes) -> list[bytes]:
        if broken["on"]:
            raise ValueError("bug")
        return real_feed(self, data)

    monkeypatch.setattr(framing.StreamFramer, "feed", feed)
    ep = Endpoint(EndpointConfig(local_addresses=frozenset({LOCAL})), RandomIds(b"f"))
    ep.receive(wire("OPTIONS", "z9hG4bK-w1", transport="TCP"), TCP, 0.0)
    (event,) = events(ep)
    assert (
        isinstance(event, ConnectionFailed) and event.peer == TCP and "ValueError" in event.reason
    )
    assert ep.outgoing() == [CloseConnection(TCP, event.reason)]
    assert ep.stats.dropped == 1
    broken["on"] = False  # a fresh framer for the next connection
    ep.receive(wire("OPTIONS", "z9hG4bK-w2", transport="TCP"), TCP, 1.0)
    assert [type(e) for e in events(ep)] == [RequestReceived]
    # Strict mode still surfaces the bug, but only after the connection was dealt with.
    broken["on"] = True
    strict = new_endpoint()
    with pytest.raises(ValueError):
        strict.receive(b"x", TCP, 0.0)
    assert [type(o) for o in strict.outgoing()] == [CloseConnection]


def test_stream_ping_gets_a_pong_on_the_same_connection() -> None:
    """RFC 5626 §3.5.1: a double CRLF is answered by a single CRLF, even around messages."""
    ep = new_endpoint()
    ep.receive(b"\r\n\r\n", TCP, 0.0)
    assert ep.outgoing() == [Outgoing(PONG, TCP)]
    assert events(ep) == [] and ep.stats.keepalives == 1 and ep.stats.dropped == 0
    ep.receive(b"\r\n", TCP, 0.1)  # half a ping: nothing yet
    assert ep.outgoing() == []
    ep.receive(b"\r\n" + wire("OPTIONS", "z9hG4bK-p1", transport="TCP"), TCP, 0.2)
    assert ep.outgoing() == [Outgoing(PONG, TCP)]
    assert [type(e) for e in events(ep)] == [RequestReceived]
    assert ep.stats.keepalives == 2 and ep.stats.received == 1


@pytest.mark.parametrize("data", [b"\r\n\r\n", b"\r\n", b" \r\n", b"\t", b""])
def test_udp_crlf_keepalive_is_ignored_silently(data: bytes) -> None:
    ep = new_endpoint()
    ep.receive(data, UDP, 0.0)
    assert events(ep) == [] and ep.outgoing() == []
    stats = ep.stats
    assert (stats.received, stats.dropped, stats.keepalives) == (0, 0, 1)


def test_200_to_cancel_after_only_100_trying_has_a_remembered_to_tag() -> None:
    """§8.2.6.2: only a 100 may lack a To tag; the tag is kept for later CANCELs and the 487."""
    ep = new_endpoint()
    _, key = _invite(ep, TCP)
    sent(ep)
    ep.receive(wire("CANCEL", BRANCH, transport="TCP"), TCP, 1.0)  # its NIST ends at once
    ((ok, _),) = sent(ep)
    assert isinstance(ok, Response) and ok.status == 200 and ok.to.tag
    (event,) = [e for e in events(ep) if isinstance(e, CancelReceived)]
    assert event.transaction == key and event.to_tag == ok.to.tag
    ep.receive(wire("CANCEL", BRANCH, transport="TCP"), TCP, 2.0)  # a new CANCEL transaction
    ((again, _),) = sent(ep)
    assert isinstance(again, Response) and again.status == 200 and again.to.tag == ok.to.tag


def test_200_to_cancel_reuses_the_tag_of_the_180() -> None:
    ep = new_endpoint()
    invite, key = _invite(ep)
    ep.send_response(key, make_response(invite, 180, to_tag="abc"), 0.5)
    sent(ep)
    ep.receive(wire("CANCEL", BRANCH), UDP, 1.0)
    ((ok, _),) = sent(ep)
    assert isinstance(ok, Response) and ok.status == 200 and ok.to.tag == "abc"
    (event,) = events(ep)
    assert isinstance(event, CancelReceived) and event.to_tag == "abc"
