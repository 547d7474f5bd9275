"""Hunting: a call's attempts from the first INVITE to the answer (issue 4 §3, §4).

For each target in routing's order the hunter sends an INVITE of ours (new Call-ID and tags,
the caller's SDP, the number as that gateway wants it), relays the provisionals to the caller
(early media included; a carrier's reliable 18x is PRACKed on its own leg), and feeds what
happens into the pure hunting policy (``calls.hunting``), which says: wait, fail over (CANCEL
the current attempt when its INVITE timeout fired), connect, or stop. On the answer it ACKs
the carrier, relays the 2xx to the caller, retransmits it until the caller's ACK (RFC 3261
§13.3.1.4) and arms SS_MAX_CALL_DURATION.

An attempt given up (failover, the caller's CANCEL) is CANCELled once it had a provisional
(§9.1: not before); if it answers anyway, its 2xx is ACKed and the dialog ended with BYE (§15).

A carrier that answers an INVITE with 401/407 is answered with the credentials of the switch's
account there (the gateway's ``register_username``/``register_password``): the same INVITE goes
again as a new transaction of the same attempt, at most SS_SIP_AUTHENTICATION_RETRY times; a
further challenge, or none we can answer, is an ordinary failure of the attempt (RFC 3261 §22.2).

A callback call (RFC 3725 flow I) hunts twice: first for A with an INVITE without SDP, whose
2xx carries A's offer; then for B with that offer; B's answer goes to A in our ACK.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Protocol

from softswitch.calls import build
from softswitch.calls.call import Attempt, Call, Leg
from softswitch.calls.control import CallState
from softswitch.calls.hunting import (
    Answered,
    CallerCancelled,
    Connect,
    Decision,
    EarlyMedia,
    FinalResponse,
    Hunt,
    HuntingPolicy,
    Stop,
    StopReason,
    Timeout,
    TryNext,
    Wait,
)
from softswitch.calls.sessions import Sessions
from softswitch.calls.table import CallTable, Holder
from softswitch.calls.targets import Routing
from softswitch.calls.wire import IGNORE, Wire
from softswitch.cdr.record import TerminationReason, reason_for_gateway_status
from softswitch.params import ParamStore
from softswitch.routing import GatewayRoute, QualityWindows
from softswitch.sdp import first_audio_encoding
from softswitch.sip.dialog import Dialog
from softswitch.sip.digest_client import DigestClient
from softswitch.sip.errors import ProtocolError, RemoteProtocolError
from softswitch.sip.message import Response
from softswitch.sip.session_timer import (
    TIMER,
    answer_headers,
    from_answer,
    from_request,
    offer_headers,
)
from softswitch.snapshot import Snapshot

__all__ = ["AttemptRef", "Hunter"]

_log = logging.getLogger(__name__)
R = TerminationReason

_ACK_WAIT = 32.0  # 64*T1: how long our 2xx waits for its ACK (RFC 3261 §13.3.1.4)
_T2 = 4.0

Finish = Callable[..., None]
"""``finish(call, reason, status, side)``: record the end of a call (the engine's)."""
Clear = Callable[..., None]
"""``clear(call, reason, side)``: end a call from any state, BYE included (the engine's)."""
Order = Callable[[list[GatewayRoute]], list[GatewayRoute]]
"""Re-ranks a call's gateways (least-cost routing, from ``metering``)."""


class SnapshotSource(Protocol):
    @property
    def current(self) -> Snapshot: ...


@dataclass(slots=True)
class AttemptRef:
    """The ``Wire.client`` entry of an attempt's INVITE transaction."""

    call: Call
    attempt: Attempt


class Hunter:
    """Sends and follows the attempts of every call."""

    def __init__(
        self,
        wire: Wire,
        params: ParamStore,
        table: CallTable,
        quality: QualityWindows,
        routing: Routing,
        snapshots: SnapshotSource,
        *,
        wall_clock: Callable[[], datetime],
        allow: list[str],
        finish: Finish,
        clear: Clear,
        order: Callable[[Call, Snapshot], Order | None] | None = None,
        answered: Callable[[Call], None] | None = None,
        sessions: Sessions | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._wire = wire
        self._params = params
        self._table = table
        self._quality = quality
        self._routing = routing
        self._snapshots = snapshots
        self._wall = wall_clock
        self._allow = allow
        self._finish = finish
        self._clear = clear
        self._order = order
        self._answered = answered
        self._sessions = sessions
        self._random = random_bytes
        self.answered_total = 0

    def route(
        self,
        call: Call,
        snapshot: Snapshot,
        callee: str,
        now: float,
        *,
        body: bytes,
        content_type: str | None,
    ) -> None:
        """Find the call's targets and send its first attempt (or end it: no route)."""
        targets, refusal = self._routing.targets(
            call.ident,
            snapshot,
            callee,
            now,
            in_use=self._table.gateways,
            asr_enabled=self._params.get_bool("SS_GATEWAY_ASR_CALCULATE"),
            order=self._order(call, snapshot) if self._order is not None else None,
        )
        if refusal is not None:
            self._finish(call, refusal, refusal.caller_status or 503, "system")
            return
        call.targets = targets
        policy = HuntingPolicy(
            invite_timeout_ms=self._params.get_int("SS_SIP_INVITE_TIMEOUT"),
            switch_limit=self._params.get_int("SS_GATEWAY_SWITCH_LIMIT"),
            stop_after_rtp_start=self._params.get_bool("SS_GATEWAY_SWITCH_STOP_AFTER_RTP_START"),
        )
        call.hunt = Hunt(policy, [t.failover_codes for t in targets])
        call.auth_retries = self._params.get_int("SS_SIP_AUTHENTICATION_RETRY")
        call.offer = (body, content_type)
        self._decide(call, call.hunt.start(now))

    def _decide(self, call: Call, decision: Decision) -> None:
        if call.ended:
            return
        call.cancel_timer("hunt")
        if isinstance(decision, TryNext):
            if decision.cancel_current:
                self.abandon_attempt(call)
            self._send_attempt(call, decision.index)
            self._arm_hunt(call)
        elif isinstance(decision, Stop):
            if decision.cancel_current:
                self.abandon_attempt(call)
            reason = _stop_reason(decision)
            self._finish(call, reason, decision.status, _stop_side(decision.reason))
        elif isinstance(decision, Wait):
            self._arm_hunt(call)
        elif isinstance(decision, Connect):
            pass  # the 2xx path connects (it has the response)

    def _arm_hunt(self, call: Call) -> None:
        hunt = call.hunt
        deadline = hunt.next_deadline() if hunt is not None else None
        if deadline is None:
            return

        def fire() -> None:
            call.timers.pop("hunt", None)
            if call.ended or call.hunt is None or call.hunt.finished:
                return
            now = self._wire.now()
            attempt = call.attempt
            decision = call.hunt.handle_deadline(now)
            if attempt is not None and attempt.status is None and not isinstance(decision, Wait):
                # The INVITE timeout counts as 408 for this gateway (its ASR and the CDR),
                # whatever it answers to our CANCEL afterwards.
                attempt.status = 408
                attempt.reason = "no answer within SS_SIP_INVITE_TIMEOUT"
                self._record_failure(attempt, now)
            self._decide(call, decision)

        call.timers["hunt"] = self._wire.at(deadline, fire)

    def _send_attempt(self, call: Call, index: int) -> None:
        sender = self._wire.send()
        target = call.targets[index]
        local = self._wire.local(target.peer.transport)
        body, content_type = call.offer
        inbound = call.inbound
        forwards = 70
        supported: tuple[str, ...] = ()
        if inbound is not None:
            forwards = max(1, (inbound.max_forwards or 70) - 1)
            supported = inbound.supported
        display = target.display or (call.ident.phone.display_name if call.ident.phone else "")
        from_addr = f"<sip:{target.caller_out}@{local.sent_by}>"
        if display:
            from_addr = f'"{_quoted(display)}" {from_addr}'
        request = build.invite(
            ruri=target.ruri,
            from_addr=from_addr,
            to_addr=target.to_addr,
            call_id=self._wire.ids.call_id(local.host),
            from_tag=self._wire.ids.tag(),
            branch=self._wire.ids.branch(),
            local=local,
            body=body,
            content_type=content_type,
            max_forwards=forwards,
            supported=supported,
            own_options=(TIMER,),
            allow=self._allow,
            user_agent=self._wire.product,
            extra=(
                *offer_headers(call.sessions),
                *(build.relayed_headers(inbound) if inbound is not None else ()),
            ),
        )
        key = sender.send_request(request, target.peer)
        leg = Leg("callee", target.peer, local)
        attempt = Attempt(index, target, request, key, leg)
        call.attempt = attempt
        call.attempts.append(attempt)
        self._wire.client[key] = AttemptRef(call, attempt)
        if target.gateway is not None:
            line = (Holder.GATEWAY, target.gateway.id)
            self._table.take((line,))
            call.lines.append(line)

    def abandon_attempt(self, call: Call) -> None:
        """Stop the current attempt: CANCEL it once it had a provisional (RFC 3261 §9.1: not
        before), else mark it so a later provisional is cancelled and a 2xx ACKed and BYEd."""
        attempt = call.attempt
        if attempt is None or attempt.abandoned:
            return
        attempt.abandoned = True
        self._release_gateway(call, attempt)
        if attempt.provisional:
            self._wire.cancel(attempt)

    def _release_gateway(self, call: Call, attempt: Attempt) -> None:
        gateway = attempt.target.gateway
        if gateway is None:
            return
        line = (Holder.GATEWAY, gateway.id)
        if line in call.lines:
            call.lines.remove(line)
            self._table.release((line,))

    def response(self, call: Call, attempt: Attempt, response: Response) -> None:
        """A response to one of the call's INVITEs."""
        status = response.status
        now = self._wire.now()
        if status == 100:
            return
        if attempt is call.first_leg:
            if 200 <= status < 300 and attempt.leg.ack is not None:
                self._wire.send().send_stateless(attempt.leg.ack, attempt.leg.peer)
            return
        if attempt.abandoned or call.ended or attempt is not call.attempt:
            self._late_response(attempt, response)
            return
        if call.callee is not None and call.callee is attempt.leg:
            if 200 <= status < 300 and attempt.leg.ack is not None:
                self._wire.send().send_stateless(attempt.leg.ack, attempt.leg.peer)
            return
        hunt = call.hunt
        assert hunt is not None
        if status < 200:
            attempt.provisional = True
            self._early_dialog(call, attempt, response)
            self._prack(attempt, response)
            if status in (180, 183) and call.ring_wall is None:
                call.ring_wall = self._wall()
            call.state = CallState.RINGING
            if response.body:
                self._decide(call, hunt.handle(EarlyMedia(), now))
            self._relay_provisional(call, response)
            return
        if status < 300:
            if hunt.finished:
                self._late_response(attempt, response)
                return
            decision = hunt.handle(Answered(), now)
            if isinstance(decision, Connect):
                self._connect(call, attempt, response, now)
            return
        if (
            status in (401, 407)
            and not hunt.finished
            and self._answer_challenge(call, attempt, response)
        ):
            return
        attempt.status = status
        attempt.reason = response.reason
        self._release_gateway(call, attempt)
        self._record_failure(attempt, now)
        call.sip_status = status
        if hunt.finished:
            return
        self._decide(call, hunt.handle(FinalResponse(status), now))

    def _answer_challenge(self, call: Call, attempt: Attempt, response: Response) -> bool:
        """Send the attempt's INVITE again with credentials for a 401/407 (RFC 3261 §22.2);
        False when it is a failure instead: the limit reached, no account at this carrier, or
        no challenge we can answer.

        The 401/407 itself was ACKed by its INVITE client transaction (§17.1.1.3). The retry is
        a new transaction of the same attempt: the hunt's INVITE timeout keeps running, the
        gateway's line stays taken, and the CDR keeps one entry with the attempt's last answer.
        """
        if attempt.challenges >= call.auth_retries:
            return False
        account = self._carrier_account(attempt)
        if account is None:
            return False
        status = response.status
        try:
            challenges = response.auth(
                "www-authenticate" if status == 401 else "proxy-authenticate"
            )
        except RemoteProtocolError:
            return False
        if attempt.digest is None:
            attempt.digest = DigestClient(account[0], account[1], self._random)
        request = attempt.request
        credentials = attempt.digest.answer_all(challenges, request.method, request.uri)
        if not credentials:
            return False
        attempt.challenges += 1
        retry = build.authorized(
            request,
            local=attempt.leg.local,
            branch=self._wire.ids.branch(),
            header="Authorization" if status == 401 else "Proxy-Authorization",
            credentials=credentials,
        )
        wire = self._wire
        # The challenged transaction is over (a retransmitted 401/407 is absorbed by it); the
        # attempt now follows the new one, which is also what a CANCEL must name (§9.1).
        wire.client.pop(attempt.key, None)
        leg = attempt.leg
        if leg.dialog is not None:
            wire.dialogs.pop(leg.dialog.id, None)
            leg.dialog = None
        attempt.request = retry
        attempt.provisional = False
        attempt.rseqs.clear()
        attempt.key = wire.send().send_request(retry, attempt.target.peer)
        wire.client[attempt.key] = AttemptRef(call, attempt)
        return True

    def _carrier_account(self, attempt: Attempt) -> tuple[str, str] | None:
        """The switch's username and password at the attempt's gateway (its ``register_*``
        fields, the account it registers with), from the current snapshot."""
        gateway = attempt.target.gateway
        if gateway is None:
            return None
        info = self._snapshots.current.gateways.get(gateway.id)
        if info is None or not info.register_username or info.register_password is None:
            return None
        return info.register_username, info.register_password

    def _late_response(self, attempt: Attempt, response: Response) -> None:
        """A response of an attempt we gave up: CANCEL on its first provisional; ACK and BYE a
        2xx (RFC 3261 §15: a UAC that does not want the call sends BYE after the ACK)."""
        status = response.status
        if status < 200:
            if not attempt.provisional:
                attempt.provisional = True
                self._wire.cancel(attempt)
            return
        if status >= 300:
            if attempt.status is None:
                attempt.status = status
                attempt.reason = response.reason
            return
        try:
            dialog = Dialog.from_uac(attempt.request, response)
        except ProtocolError:
            return
        sender = self._wire.send()
        leg = attempt.leg
        local = leg.local
        ack = dialog.ack_for(
            attempt.request.cseq.seq,
            branch=self._wire.ids.branch(),
            via_host=local.host,
            via_port=local.port,
            transport=local.transport,
        )
        sender.send_stateless(ack, leg.peer)
        if attempt.status == 200:
            return  # a retransmitted 2xx: ACKed again, BYE already sent
        attempt.status = status
        attempt.reason = "answered after cancel; cleared"
        dialog, bye = dialog.request(
            "BYE",
            branch=self._wire.ids.branch(),
            via_host=local.host,
            via_port=local.port,
            transport=local.transport,
        )
        self._wire.client[sender.send_request(bye, leg.peer)] = IGNORE

    def _early_dialog(self, call: Call, attempt: Attempt, response: Response) -> None:
        if response.to.tag is None:
            return
        leg = attempt.leg
        if leg.dialog is None or leg.dialog.id.remote_tag != response.to.tag:
            try:
                leg.dialog = Dialog.from_uac(attempt.request, response)
            except ProtocolError:
                return
            self._wire.dialogs[leg.dialog.id] = (call, leg)

    def _prack(self, attempt: Attempt, response: Response) -> None:
        """Acknowledge a reliable provisional (RFC 3262 §4): the carrier leg handles 100rel on
        its own; the caller gets the provisional unreliably."""
        if "100rel" not in (tag.lower() for tag in response.require):
            return
        rseq_text = response.get("rseq")
        leg = attempt.leg
        if rseq_text is None or leg.dialog is None or not rseq_text.strip().isdigit():
            return
        rseq = int(rseq_text.strip())
        if rseq in attempt.rseqs:
            return
        attempt.rseqs.add(rseq)
        local = leg.local
        cseq = attempt.request.cseq
        leg.dialog, prack = leg.dialog.request(
            "PRACK",
            branch=self._wire.ids.branch(),
            via_host=local.host,
            via_port=local.port,
            transport=local.transport,
            headers=(("RAck", f"{rseq} {cseq.seq} {cseq.method}"),),
        )
        self._wire.client[self._wire.send().send_request(prack, leg.peer)] = IGNORE

    def _relay_provisional(self, call: Call, response: Response) -> None:
        inbound, key = call.inbound, call.inbound_key
        if inbound is None or key is None or call.final_sent:
            return
        ours = build.response_to(
            inbound,
            response.status,
            response.reason,
            to_tag=call.to_tag,
            local=call.caller.local,
            source=response,
        )
        self._wire.send().send_response(key, ours)
        if call.caller.dialog is None and inbound.contacts:
            try:
                call.caller.dialog = Dialog.from_uas(inbound, ours)
            except ProtocolError:
                return
            self._wire.dialogs[call.caller.dialog.id] = (call, call.caller)

    def _connect(self, call: Call, attempt: Attempt, response: Response, now: float) -> None:
        call.cancel_timer("hunt")
        sender = self._wire.send()
        leg = attempt.leg
        try:
            leg.dialog = Dialog.from_uac(attempt.request, response)
        except ProtocolError as exc:
            _log.info("call %s: unusable 2xx from %s: %s", call.id, leg.peer.host, exc)
            self._late_response(attempt, response)
            self._finish(call, R.SERVER_ERROR, 502, "callee")
            return
        attempt.status = response.status
        attempt.reason = response.reason
        call.callee = leg
        call.answer_mono = now
        call.answer_wall = self._wall()
        call.sip_status = response.status
        call.state = CallState.ANSWERED
        call.codec = first_audio_encoding(response.body)
        self.answered_total += 1
        self._wire.dialogs[leg.dialog.id] = (call, leg)
        # The callee leg's session timer, from its 2xx (RFC 4028 §7.2), and the SDP each way.
        leg.timer = from_answer(response, now)
        leg.local_sdp = call.offer
        leg.remote_sdp = response.body
        content_type = response.get("content-type")
        if call.inbound is None:
            if call.first_leg is None:
                self._callback_answered(call, attempt, response)
                return
            # B answered the offer of A: ACK B, and give A the answer in its ACK.
            self._wire.ack(leg, attempt.request.cseq.seq, b"", None)
            first = call.first_leg
            self._wire.ack(call.caller, first.request.cseq.seq, response.body, content_type)
            call.caller.local_sdp = (response.body, content_type)
            call.acked = True
            self._arm_max_duration(call)
            return
        if not call.late_offer:
            self._wire.ack(leg, attempt.request.cseq.seq, b"", None)
        inbound, key = call.inbound, call.inbound_key
        assert key is not None
        # The caller leg's session timer, from its INVITE (RFC 4028 §9), told in our 2xx.
        caller = call.caller
        caller.timer = from_request(inbound, call.sessions, now)
        caller.remote_sdp = inbound.body
        caller.local_sdp = (response.body, content_type)
        answer = build.response_to(
            inbound,
            response.status,
            response.reason,
            to_tag=call.to_tag,
            local=call.caller.local,
            source=response,
            headers=(*answer_headers(caller.timer), ("Supported", TIMER)),
        )
        sender.send_response(key, answer)
        call.final_sent = True
        call.answer = answer
        if caller.dialog is None:
            try:
                caller.dialog = Dialog.from_uas(inbound, answer)
            except ProtocolError:
                self._clear(call, R.SERVER_ERROR, "system")
                return
            self._wire.dialogs[caller.dialog.id] = (call, caller)
        else:
            caller.dialog = caller.dialog.send_response(answer)
        self._retransmit_answer(call)
        self._arm_max_duration(call)

    def _retransmit_answer(self, call: Call) -> None:
        """§13.3.1.4: our 2xx goes again at T1, 2*T1 ... T2 until the ACK; without one within
        64*T1 the call is cleared with BYE on both legs."""
        reliable = call.caller.peer.reliable
        deadline = self._wire.now() + _ACK_WAIT
        call.retransmit_interval = 0.5
        call.timers["2xx"] = self._wire.later(
            _ACK_WAIT if reliable else 0.5, partial(self._resend_answer, call, deadline, reliable)
        )

    def _resend_answer(self, call: Call, deadline: float, reliable: bool) -> None:
        # A method and a partial, not a closure that re-arms itself: such a closure is a
        # reference cycle (function -> cell -> function) holding the whole call until the
        # garbage collector's next full pass.
        call.timers.pop("2xx", None)
        if call.acked or call.ended:
            return
        if self._wire.now() >= deadline:
            self._clear(call, R.ACK_TIMEOUT, "caller")
            return
        if not reliable and call.answer is not None and call.inbound_key is not None:
            self._wire.send().send_response(call.inbound_key, call.answer)
        call.retransmit_interval = min(call.retransmit_interval * 2, _T2)
        call.timers["2xx"] = self._wire.later(
            min(call.retransmit_interval, max(0.0, deadline - self._wire.now())),
            partial(self._resend_answer, call, deadline, reliable),
        )

    def _arm_max_duration(self, call: Call) -> None:
        """The call is answered and confirmed on our side: arm its time limits (the
        duration cap here, the credit's end in ``metering``)."""
        if self._answered is not None:
            self._answered(call)
        if self._sessions is not None:
            self._sessions.start(call)
        limit = self._params.get_int("SS_MAX_CALL_DURATION")
        if limit <= 0:
            return

        def fire() -> None:
            call.timers.pop("max", None)
            if not call.ended:
                self._clear(call, R.MAX_CALL_DURATION, "system")

        call.timers["max"] = self._wire.later(float(limit), fire)

    def _record_failure(self, attempt: Attempt, now: float) -> None:
        gateway = attempt.target.gateway
        if gateway is None:
            return
        self._quality.record(gateway.id, False, 0.0, now)
        self._quality.record((gateway.id, attempt.target.prefix), False, 0.0, now)

    def _callback_answered(self, call: Call, attempt: Attempt, response: Response) -> None:
        """A answered our offerless INVITE with its offer: A becomes the caller leg, and B is
        routed with that offer; A's ACK waits for B's answer."""
        a_leg = attempt.leg
        a_leg.side = "caller"
        # A's offer is in its 2xx; B's answer will be what we send A (in our ACK).
        a_leg.local_sdp = (b"", None)
        call.caller = a_leg
        call.answer_mono = None
        call.answer_wall = None
        call.state = CallState.ROUTING
        self.answered_total -= 1
        b = call.callback_b
        call.callback_b = None
        call.callee = None
        call.attempt = None
        call.inbound = None
        call.late_offer = False
        call.ident = replace(call.ident, callee=b or "", callee_in=b or "")
        # A's line on its carrier stays taken until the call ends (released with the rest).
        call.attempts.remove(attempt)
        call.first_leg = attempt
        self.route(
            call,
            self._snapshots.current,
            b or "",
            self._wire.now(),
            body=response.body,
            content_type=response.get("content-type"),
        )

    def cancel_by_caller(self, call: Call) -> None:
        """The caller's CANCEL (or BYE on an early dialog): stop hunting, answer 487."""
        if call.final_sent or call.ended or call.hunt is None or call.hunt.finished:
            return
        self._decide(call, call.hunt.handle(CallerCancelled(), self._wire.now()))

    def failed(self, call: Call, attempt: Attempt, timeout: bool) -> None:
        """An attempt got no response at all (Timer B) or could not be sent."""
        hunt = call.hunt
        live = attempt is call.attempt and not call.ended
        if not live or hunt is None or hunt.finished:
            return
        now = self._wire.now()
        attempt.status = 408 if timeout else 503
        attempt.reason = "no response" if timeout else "transport failed"
        self._release_gateway(call, attempt)
        self._record_failure(attempt, now)
        event = Timeout() if timeout else FinalResponse(503)
        self._decide(call, hunt.handle(event, now))


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _stop_side(reason: StopReason) -> str:
    if reason is StopReason.CANCELLED:
        return "caller"
    if reason is StopReason.NO_GATEWAY:
        return "system"
    return "callee"


def _stop_reason(decision: Stop) -> TerminationReason:
    reason = decision.reason
    if reason is StopReason.NO_GATEWAY:
        return R.NO_AVAILABLE_ROUTER
    if reason is StopReason.BUSY:
        return R.CALLEE_BUSY
    if reason is StopReason.CANCELLED:
        return R.CANCELLED
    return reason_for_gateway_status(decision.status)
