"""The bridge between a call's two legs: requests within their dialogs (issue 4 §4).

What one leg's peer sends within its dialog reaches the other leg's peer as a request of
ours in that leg's dialog, with the same method, body and end-to-end headers (re-INVITE and
UPDATE with their SDP, INFO with its DTMF, NOTIFY, REFER, MESSAGE ...); its final response
comes back the same way. ACKs are per leg: the 2xx of a relayed re-INVITE is ACKed at once on
the far leg when the re-INVITE carried the offer, or with the originator's ACK (which holds the
answer) when it did not (RFC 3264 §4). A BYE from either side ends the call.

Glare: a re-INVITE while another is in progress on either leg gets 491 (RFC 3261 §14.2).

Session timers (``calls.sessions``): a pure session refresh (an UPDATE without body, or an
offer equal to the one that peer sent last) is answered on its own leg and not relayed; a
relayed re-INVITE or UPDATE carries the target leg's own Session-Expires, and its 2xx refreshes
both legs. The bridge also keeps, per leg, the last SDP each way (what a refresh repeats).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from softswitch.calls import build
from softswitch.calls.call import Call, Leg
from softswitch.calls.sessions import Sessions
from softswitch.calls.wire import Wire
from softswitch.cdr.record import TerminationReason
from softswitch.sip.dialog import Role, dialog_id_of
from softswitch.sip.errors import ProtocolError
from softswitch.sip.message import Request, Response
from softswitch.sip.status import make_response
from softswitch.sip.transaction import TransactionKey

__all__ = ["Bridge", "Relay"]

R = TerminationReason
_RETRY = (("Retry-After", "1"),)

Clear = Callable[..., None]
"""``clear(call, reason, side, after=None)``: end a call from any state (the engine's)."""


@dataclass(slots=True)
class Relay:
    """An in-dialog request relayed from ``origin`` to ``target``; its final response goes
    back through ``server_key``."""

    call: Call
    origin: Leg
    target: Leg
    server_key: TransactionKey
    request: Request


class Bridge:
    """Relays within dialogs; ``clear`` ends a call, ``give_up`` is the caller's BYE on an
    early dialog (handled like its CANCEL)."""

    def __init__(
        self,
        wire: Wire,
        clear: Clear,
        give_up: Callable[[Call], None],
        sessions: Sessions | None = None,
    ) -> None:
        self._wire = wire
        self._clear = clear
        self._give_up = give_up
        self._sessions = sessions

    def request(self, request: Request, key: TransactionKey | None) -> bool:
        """A request with a To tag; False when it matches no dialog of ours (481 elsewhere)."""
        wire = self._wire
        did = dialog_id_of(request, Role.UAS)
        entry = wire.dialogs.get(did) if did is not None else None
        if entry is None:
            return request.method == "ACK"
        call, leg = entry
        method = request.method
        if method == "ACK":
            self._ack_received(call, leg, request)
            return True
        if key is None or leg.dialog is None:
            return key is None
        try:
            leg.dialog = leg.dialog.receive_request(request)
        except ProtocolError as exc:
            wire.answer(request, key, exc.status_hint or 500)
            return True
        if method == "BYE":
            self._bye(call, leg, request, key)
            return True
        other = _other(call, leg)
        if method == "PRACK" or other is None or other.dialog is None:
            # We never send reliable provisionals, and before the other leg has a dialog there
            # is no one to relay to.
            wire.answer(request, key, 481 if method == "PRACK" else 500, headers=_RETRY)
            return True
        if method == "INVITE" and (leg.pending_invite or other.pending_invite):
            wire.answer(request, key, 491)
            return True
        sessions = self._sessions
        if sessions is not None and sessions.answer_locally(call, leg, request, key):
            return True
        self._relay(call, leg, other, request, key)
        return True

    def response(self, relay: Relay, key: TransactionKey, response: Response) -> None:
        """A response to a relayed request; the final one goes back to the originator."""
        status = response.status
        if status < 200:
            return
        wire = self._wire
        wire.client.pop(key, None)
        origin, target, request = relay.origin, relay.target, relay.request
        if target.dialog is not None:
            with contextlib.suppress(ProtocolError):
                target.dialog = target.dialog.receive_response(response)
        if request.method == "INVITE":
            origin.pending_invite = target.pending_invite = False
            if 200 <= status < 300:
                if request.body:
                    wire.ack(target, response.cseq.seq)
                else:
                    origin.pending_ack = (target, response.cseq.seq)
        headers: tuple[tuple[str, str], ...] = ()
        if 200 <= status < 300 and request.method in ("INVITE", "UPDATE"):
            if response.body:
                target.remote_sdp = response.body
                origin.local_sdp = (response.body, response.get("content-type"))
            if self._sessions is not None and not relay.call.ended:
                headers = self._sessions.relayed(relay.call, origin, target, request, response)
        ours = build.response_to(
            request,
            status,
            response.reason,
            to_tag=None,
            local=origin.local,
            source=response,
            headers=headers,
        )
        wire.send().send_response(relay.server_key, ours)
        call = relay.call
        if status in (408, 481) and not call.ended:
            # §12.2.1.2: the far end no longer has the dialog; the call is over.
            side = "caller" if target is call.caller else "callee"
            self._clear(call, R.CALLER_HANGUP if side == "caller" else R.CALLEE_HANGUP, side)

    def failed(self, relay: Relay, timeout: bool) -> None:
        """The relayed request got no answer (timeout) or could not be sent."""

        self._wire.answer(relay.request, relay.server_key, 408 if timeout else 503)
        relay.origin.pending_invite = relay.target.pending_invite = False

    # ------------------------------------------------------------------ internals
    def _ack_received(self, call: Call, leg: Leg, request: Request) -> None:
        wire = self._wire
        if leg is call.caller and not call.acked:
            call.acked = True
            call.cancel_timer("2xx")
            callee = call.callee
            if call.late_offer and callee is not None and call.attempt is not None:
                seq = call.attempt.request.cseq.seq
                wire.ack(callee, seq, request.body, request.get("content-type"))
                _answered_in_ack(leg, callee, request)
            return
        pending = leg.pending_ack
        if pending is not None:
            target, seq = pending
            leg.pending_ack = None
            wire.ack(target, seq, request.body, request.get("content-type"))
            _answered_in_ack(leg, target, request)

    def _relay(
        self, call: Call, origin: Leg, target: Leg, request: Request, key: TransactionKey
    ) -> None:
        wire = self._wire
        assert target.dialog is not None
        local = target.local
        content_type = request.get("content-type") if request.body else None
        contact = local.contact() if request.method in ("INVITE", "UPDATE") else None
        sessions = self._sessions
        session_headers = (
            sessions.relay_headers(call, target, request.method) if sessions is not None else ()
        )
        try:
            target.dialog, out = target.dialog.request(
                request.method,
                branch=wire.ids.branch(),
                via_host=local.host,
                via_port=local.port,
                transport=local.transport,
                contact=contact,
                body=request.body,
                content_type=content_type,
                headers=[*build.relayed_headers(request), *session_headers],
            )
        except ProtocolError:
            wire.answer(request, key, 500)
            return
        if request.method == "INVITE":
            origin.pending_invite = target.pending_invite = True
        if request.body and request.method in ("INVITE", "UPDATE"):
            origin.remote_sdp = request.body
            target.local_sdp = (request.body, content_type)
        sent = wire.send().send_request(out, target.peer)
        wire.client[sent] = Relay(call, origin, target, key, request)

    def _bye(self, call: Call, leg: Leg, request: Request, key: TransactionKey) -> None:
        wire = self._wire
        side = "caller" if leg is call.caller else "callee"
        if leg.dialog is not None:
            leg.dialog = leg.dialog.terminated()
        ok = make_response(request, 200, headers=(("Server", wire.product),))
        if call.ended:
            wire.send().send_response(key, ok)
            return
        if call.answer_mono is None:
            wire.send().send_response(key, ok)
            if side == "caller":
                self._give_up(call)  # BYE on an early dialog: the caller gives up (§15)
            else:
                self._clear(call, R.CALLEE_HANGUP, "callee")
            return
        reason = R.CALLER_HANGUP if side == "caller" else R.CALLEE_HANGUP
        # The 200 waits for the CDR: when the peer sees the call ended, its record is durable.
        self._clear(call, reason, side, after=lambda: wire.send().send_response(key, ok))


def _answered_in_ack(origin: Leg, target: Leg, ack: Request) -> None:
    """An ACK carrying the answer to an offer made in a 2xx (RFC 3264 §4) crossed the bridge."""
    if ack.body:
        origin.remote_sdp = ack.body
        target.local_sdp = (ack.body, ack.get("content-type"))


def _other(call: Call, leg: Leg) -> Leg | None:
    if leg is call.caller:
        if call.callee is not None:
            return call.callee
        return call.attempt.leg if call.attempt is not None else None
    return call.caller
