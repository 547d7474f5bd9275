"""Dialogs (RFC 3261 §12): creation on both sides, in-dialog requests, CSeq rules, refreshes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.dialog import (
    Dialog,
    DialogId,
    DialogState,
    Role,
    dialog_id_of,
)
from softswitch.sip.errors import LocalProtocolError, RemoteProtocolError
from softswitch.sip.message import Request, Response
from softswitch.sip.parser import parse_message
from softswitch.sip.status import make_response

INVITE = (
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    "{extra}"
    "Content-Length: 0\r\n\r\n"
)
CALL_ID = "a84b4c76e66710@pc33.atlanta.example.com"
BOB_CONTACT = "sip:bob@192.0.2.4"
ALICE_CONTACT = "sip:alice@pc33.atlanta.example.com"

P1 = "<sip:p1.example.com;lr>"
P2 = "<sip:p2.example.com;lr>"
P3 = "<sip:p3.example.com;lr>"


def invite(extra: str = "") -> Request:
    msg = parse_message(INVITE.format(extra=extra).encode())
    assert isinstance(msg, Request)
    return msg


def response_to(
    request: Request,
    status: int,
    *,
    to_tag: str | None = "a6c85cf",
    contact: str | None = BOB_CONTACT,
    record_route: tuple[str, ...] = (),
) -> Response:
    headers: list[tuple[str, str]] = [("Record-Route", rr) for rr in record_route]
    if contact is not None:
        headers.append(("Contact", f"<{contact}>"))
    resp = make_response(request, status, to_tag=to_tag, headers=headers)
    # Round trip through bytes, as a received response would be.
    parsed = parse_message(bytes(resp))
    assert isinstance(parsed, Response)
    return parsed


def uac_dialog(status: int = 200, record_route: tuple[str, ...] = (P1, P2, P3)) -> Dialog:
    req = invite()
    return Dialog.from_uac(req, response_to(req, status, record_route=record_route))


def build(dialog: Dialog, method: str, **kw: Any) -> tuple[Dialog, Request]:
    kw.setdefault("branch", "z9hG4bKnashds7")
    kw.setdefault("via_host", "192.0.2.1")
    return dialog.request(method, **kw)


def peer_request(dialog: Dialog, method: str, seq: int, contact: str | None = None) -> Request:
    """A request the remote party sends us within ``dialog``."""
    lines = [
        f"{method} {ALICE_CONTACT} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKpeer",
        "Max-Forwards: 70",
        f"From: <sip:bob@biloxi.example.com>;tag={dialog.id.remote_tag}",
        f"To: <sip:alice@atlanta.example.com>;tag={dialog.id.local_tag}",
        f"Call-ID: {dialog.id.call_id}",
        f"CSeq: {seq} {method}",
    ]
    if contact is not None:
        lines.append(f"Contact: <{contact}>")
    msg = parse_message(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


# ----------------------------------------------------------------------------- UAC creation
def test_uac_dialog_from_2xx() -> None:
    dialog = uac_dialog(200)
    assert dialog.id == DialogId(CALL_ID, "1928301774", "a6c85cf")
    assert dialog.state is DialogState.CONFIRMED
    assert dialog.role is Role.UAC
    assert dialog.local_seq == 314159 and dialog.remote_seq is None
    assert dialog.remote_target == BOB_CONTACT
    # Record-Route reversed on the UAC side (§12.1.2).
    assert [r.uri for r in dialog.route_set] == [
        "sip:p3.example.com;lr",
        "sip:p2.example.com;lr",
        "sip:p1.example.com;lr",
    ]
    assert dialog.local_uri.uri == "sip:alice@atlanta.example.com"
    assert dialog.local_uri.display_name == "Alice" and dialog.local_uri.tag is None
    assert dialog.remote_uri.uri == "sip:bob@biloxi.example.com"
    assert not dialog.secure


def test_uac_early_dialog_then_confirmed_with_recomputed_route_set() -> None:
    req = invite()
    ringing = response_to(req, 180, record_route=(P1,), contact=None)
    early = Dialog.from_uac(req, ringing)
    assert early.state is DialogState.EARLY
    assert early.remote_target == req.uri  # no Contact in the 180: fall back to the R-URI
    ok = response_to(req, 200, record_route=(P1, P2))
    confirmed = early.receive_response(ok)
    assert confirmed.state is DialogState.CONFIRMED
    assert [str(r) for r in confirmed.route_set] == [P2, P1]
    assert confirmed.remote_target == BOB_CONTACT
    assert confirmed.id == early.id
    # Once confirmed, the route set is fixed: a later 2xx (re-INVITE) does not change it.
    assert confirmed.receive_response(response_to(req, 200, record_route=(P3,))).route_set == (
        confirmed.route_set
    )


def test_uac_early_dialog_terminated_by_final_error() -> None:
    req = invite()
    early = Dialog.from_uac(req, response_to(req, 183))
    assert early.receive_response(response_to(req, 486)).state is DialogState.TERMINATED
    confirmed = early.receive_response(response_to(req, 200))
    # A failed re-INVITE leaves a confirmed dialog alone; 481 and 408 end it (§12.2.1.2).
    assert confirmed.receive_response(response_to(req, 488)).state is DialogState.CONFIRMED
    for status in (481, 408):
        assert confirmed.receive_response(response_to(req, status)).state is (
            DialogState.TERMINATED
        )


def test_uac_creation_errors() -> None:
    req = invite()
    with pytest.raises(RemoteProtocolError):
        Dialog.from_uac(req, response_to(req, 180, to_tag=None))
    with pytest.raises(LocalProtocolError):
        Dialog.from_uac(req, response_to(req, 100, to_tag=None))
    with pytest.raises(LocalProtocolError):
        Dialog.from_uac(req, response_to(req, 486))


def test_secure_flag_needs_tls_and_sips() -> None:
    req = invite().with_uri("sips:bob@biloxi.example.com")
    resp = response_to(req, 200)
    assert Dialog.from_uac(req, resp, over_tls=True).secure
    assert not Dialog.from_uac(req, resp, over_tls=False).secure
    plain = invite()
    assert not Dialog.from_uac(plain, response_to(plain, 200), over_tls=True).secure


# ----------------------------------------------------------------------------- UAS creation
def test_uas_dialog_keeps_record_route_order() -> None:
    req = invite(f"Record-Route: {P1}, {P2}\r\nRecord-Route: {P3}\r\n")
    resp = make_response(req, 180, to_tag="bobtag")
    dialog = Dialog.from_uas(req, resp)
    assert dialog.id == DialogId(CALL_ID, "bobtag", "1928301774")
    assert dialog.state is DialogState.EARLY
    assert dialog.role is Role.UAS
    assert [str(r) for r in dialog.route_set] == [P1, P2, P3]
    assert dialog.remote_target == ALICE_CONTACT
    assert dialog.remote_seq == 314159 and dialog.local_seq is None
    assert dialog.local_uri.uri == "sip:bob@biloxi.example.com"
    assert dialog.remote_uri.display_name == "Alice"
    confirmed = dialog.send_response(make_response(req, 200, to_tag="bobtag"))
    assert confirmed.state is DialogState.CONFIRMED
    refused = dialog.send_response(make_response(req, 603, to_tag="bobtag"))
    assert refused.state is DialogState.TERMINATED
    # Our first request in a dialog we did not start uses CSeq 1.
    _, bye = build(confirmed, "BYE")
    assert bye.cseq.seq == 1


def test_uas_without_from_tag_has_null_remote_tag() -> None:
    req = invite().replacing("From", "<sip:alice@atlanta.example.com>")
    dialog = Dialog.from_uas(req, make_response(req, 200, to_tag="t"), local_seq=41)
    assert dialog.id.remote_tag == ""
    _, bye = build(dialog, "BYE")
    assert bye.to.tag is None and bye.cseq.seq == 42


def test_uas_creation_errors() -> None:
    req = invite().without("Contact")
    with pytest.raises(RemoteProtocolError):
        Dialog.from_uas(req, make_response(req, 200, to_tag="t"))
    with pytest.raises(LocalProtocolError):
        Dialog.from_uas(invite(), make_response(invite(), 200))


# ----------------------------------------------------------------------------- requests
def test_bye_bytes_parse_back_with_loose_routes() -> None:
    dialog = uac_dialog()
    new, bye = build(dialog, "BYE", via_port=5062, transport="tcp")
    assert new.local_seq == 314160 and dialog.local_seq == 314159
    parsed = parse_message(bytes(bye))
    assert isinstance(parsed, Request)
    assert parsed.method == "BYE"
    assert parsed.uri == BOB_CONTACT
    assert [str(r) for r in parsed.routes] == [P3, P2, P1]
    assert parsed.cseq.seq == 314160 and parsed.cseq.method == "BYE"
    assert parsed.call_id == CALL_ID
    assert parsed.from_.tag == "1928301774" and parsed.from_.display_name == "Alice"
    assert parsed.to.tag == "a6c85cf" and parsed.to.uri == "sip:bob@biloxi.example.com"
    assert parsed.max_forwards == 70
    via = parsed.top_via
    assert via.transport == "TCP" and via.sent_by == "192.0.2.1:5062"
    assert via.branch == "z9hG4bKnashds7" and via.rport is True
    assert parsed.contacts == [] and parsed.body == b""
    assert parsed.get("Content-Length") == "0"
    assert dialog_id_of(parsed, Role.UAC) == dialog.id


def test_strict_first_route() -> None:
    strict = "<sip:strict.example.com;transport=tcp;method=INVITE?x=y>"
    dialog = uac_dialog(record_route=(P1, strict))  # reversed: strict router first
    _, req = build(dialog, "BYE")
    parsed = parse_message(bytes(req))
    assert isinstance(parsed, Request)
    # Request-URI is the strict router without method and headers; target goes last in Route.
    assert parsed.uri == "sip:strict.example.com;transport=tcp"
    assert [str(r) for r in parsed.routes] == [P1, f"<{BOB_CONTACT}>"]


def test_no_route_set_means_no_route_header() -> None:
    dialog = uac_dialog(record_route=())
    _, req = build(dialog, "INFO", body=b"Signal=1\r\n", content_type="application/dtmf-relay")
    assert req.uri == BOB_CONTACT and not req.has("Route")
    parsed = parse_message(bytes(req))
    assert parsed.body == b"Signal=1\r\n"
    assert parsed.content_type is not None and parsed.content_type.mime == "application/dtmf-relay"


def test_cseq_increments_across_requests() -> None:
    dialog = uac_dialog()
    seqs = []
    for method in ("INFO", "OPTIONS", "BYE"):
        dialog, req = build(dialog, method)
        seqs.append(req.cseq.seq)
    assert seqs == [314160, 314161, 314162]
    assert dialog.local_seq == 314162


def test_reinvite_needs_contact_and_carries_it() -> None:
    dialog = uac_dialog()
    with pytest.raises(LocalProtocolError):
        build(dialog, "INVITE")
    with pytest.raises(LocalProtocolError):
        build(dialog, "UPDATE")
    _, reinvite = build(
        dialog,
        "INVITE",
        contact=f"<{ALICE_CONTACT}>",
        body=b"v=0\r\n",
        content_type="application/sdp",
        headers=[("Session-Expires", "1800;refresher=uac"), ("Supported", "timer")],
    )
    parsed = parse_message(bytes(reinvite))
    assert isinstance(parsed, Request)
    assert parsed.contacts is not None and parsed.contacts[0].uri == ALICE_CONTACT
    assert parsed.session_expires is not None and parsed.session_expires.delta == 1800
    assert parsed.supported == ("timer",)
    assert parsed.get("Content-Length") == "5"


def test_request_refusals() -> None:
    dialog = uac_dialog()
    for method in ("ACK", "CANCEL"):
        with pytest.raises(LocalProtocolError):
            build(dialog, method)
    with pytest.raises(LocalProtocolError):
        build(dialog, "BYE", branch="nocookie")
    with pytest.raises(LocalProtocolError):
        build(dialog, "INFO", body=b"x")
    with pytest.raises(LocalProtocolError):
        build(dialog.terminated(), "BYE")


def test_ack_for_2xx() -> None:
    dialog = uac_dialog()
    dialog, reinvite = build(dialog, "INVITE", contact=f"<{ALICE_CONTACT}>")
    ack = dialog.ack_for(
        reinvite.cseq.seq,
        branch="z9hG4bKack1",
        via_host="192.0.2.1",
        headers=[("Proxy-Authorization", 'Digest username="a"')],
    )
    parsed = parse_message(bytes(ack))
    assert isinstance(parsed, Request)
    assert parsed.method == "ACK"
    assert parsed.cseq.seq == reinvite.cseq.seq and parsed.cseq.method == "ACK"
    assert parsed.top_via.branch == "z9hG4bKack1" != reinvite.top_via.branch
    assert parsed.uri == reinvite.uri
    assert parsed.routes == reinvite.routes
    assert parsed.max_forwards == 70
    assert parsed.get("Proxy-Authorization") == 'Digest username="a"'
    assert not parsed.has("Contact")


# ----------------------------------------------------------------------------- receiving
def test_remote_cseq_accepted_and_out_of_order_refused() -> None:
    dialog = uac_dialog()
    assert dialog.remote_seq is None
    dialog = dialog.receive_request(peer_request(dialog, "INFO", 10))
    assert dialog.remote_seq == 10
    dialog = dialog.receive_request(peer_request(dialog, "INFO", 10))  # retransmission-equal
    dialog = dialog.receive_request(peer_request(dialog, "INFO", 12))
    assert dialog.remote_seq == 12
    with pytest.raises(RemoteProtocolError) as exc:
        dialog.receive_request(peer_request(dialog, "INFO", 11))
    assert exc.value.status_hint == 500
    # ACK and CANCEL reuse an INVITE's number: no check, no update.
    assert dialog.receive_request(peer_request(dialog, "ACK", 3)).remote_seq == 12


def test_terminated_dialog_answers_481() -> None:
    dialog = uac_dialog().terminated()
    with pytest.raises(RemoteProtocolError) as exc:
        dialog.receive_request(peer_request(dialog, "BYE", 1))
    assert exc.value.status_hint == 481


def test_remote_target_refresh_by_request() -> None:
    dialog = uac_dialog()
    moved = "sip:bob@198.51.100.7:5070"
    refreshed = dialog.receive_request(peer_request(dialog, "INVITE", 5, contact=moved))
    assert refreshed.remote_target == moved
    updated = refreshed.receive_request(peer_request(dialog, "UPDATE", 6, contact=BOB_CONTACT))
    assert updated.remote_target == BOB_CONTACT
    # INFO is not a target refresh: its Contact is ignored; no Contact keeps the target.
    info = updated.receive_request(peer_request(dialog, "INFO", 7, contact=moved))
    assert info.remote_target == BOB_CONTACT
    kept = info.receive_request(peer_request(dialog, "INVITE", 8))
    assert kept.remote_target == BOB_CONTACT
    _, bye = build(refreshed, "BYE")
    assert bye.uri == moved


def test_remote_target_refresh_by_response() -> None:
    dialog = uac_dialog()
    dialog, reinvite = build(dialog, "INVITE", contact=f"<{ALICE_CONTACT}>")
    moved = "sip:bob@198.51.100.9"
    ok = parse_message(bytes(make_response(reinvite, 200, headers=[("Contact", f"<{moved}>")])))
    assert isinstance(ok, Response)
    assert dialog.receive_response(ok).remote_target == moved
    dialog2, info = build(dialog, "INFO")
    info_ok = parse_message(bytes(make_response(info, 200, headers=[("Contact", f"<{moved}>")])))
    assert isinstance(info_ok, Response)
    assert dialog2.receive_response(info_ok).remote_target == BOB_CONTACT


def test_messages_of_another_dialog_are_refused() -> None:
    dialog = uac_dialog()
    other = Dialog.from_uac(invite(), response_to(invite(), 200, to_tag="other"))
    with pytest.raises(LocalProtocolError):
        dialog.receive_request(peer_request(other, "BYE", 1))
    with pytest.raises(LocalProtocolError):
        dialog.receive_response(response_to(invite(), 200, to_tag="other"))


# ----------------------------------------------------------------------------- dialog ids
def test_dialog_id_of_both_sides() -> None:
    req = invite()
    assert dialog_id_of(req, Role.UAS) is None  # no To tag: not in a dialog
    resp = response_to(req, 180)
    assert dialog_id_of(resp, Role.UAC) == DialogId(CALL_ID, "1928301774", "a6c85cf")
    assert dialog_id_of(resp, Role.UAS) == DialogId(CALL_ID, "a6c85cf", "1928301774")
    assert dialog_id_of(response_to(req, 100, to_tag=None), Role.UAC) is None
    dialog = uac_dialog()
    bye = peer_request(dialog, "BYE", 1)
    assert dialog_id_of(bye, Role.UAS) == dialog.id


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 2**31), min_size=1, max_size=20))
def test_remote_cseq_is_monotonic(seqs: list[int]) -> None:
    dialog = uac_dialog()
    highest = 0
    for seq in seqs:
        try:
            dialog = dialog.receive_request(peer_request(dialog, "INFO", seq))
        except RemoteProtocolError as exc:
            assert exc.status_hint == 500 and seq < highest
            continue
        assert seq >= highest
        highest = seq
        assert dialog.remote_seq == highest
