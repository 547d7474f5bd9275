"""Session timers on both legs of a call (RFC 4028, issue 7 §1), driven by the pure policy in
``sip.session_timer``.

Each leg negotiates on its own: the caller's INVITE and our 2xx fix the caller leg's interval
and refresher, our INVITE's offer and the carrier's 2xx fix the callee leg's. One may refresh
with UPDATE while the other does not support timers; nothing of one leg's timer crosses to
the other (``build`` drops the ``timer`` option tag from what crosses).

* When the switch is a leg's refresher it sends, every interval / SS_SIP_SESSION_UPDATE_SEGMENT
  seconds, an UPDATE without body when the peer allows UPDATE, else a re-INVITE with the last
  SDP it sent that peer, byte for byte (same o= version: the session did not change, RFC 3264
  §8). A timeout, 408 or 481 ends the call (§10).
* When the peer refreshes, the switch expects its refresh before the expiry less the margin
  (§10) and otherwise ends the call.
* Pure refreshes from a peer are answered here, on their own leg, not relayed: an UPDATE
  without body, or a re-INVITE/UPDATE whose SDP is the one that peer sent last (same o=
  line). They prove that leg alive and say nothing the other leg needs; relaying them would
  make one peer's timer the other's business (a carrier refreshing every 45 s would make the
  customer's phone answer every 45 s too, and a carrier failing the refresh would end a leg
  that is fine). The answer is 200 with the SDP we last sent that peer (the offer is
  unchanged, so is the answer) and the renegotiated Session-Expires. Requests that change
  something (a new SDP, an offerless re-INVITE) are relayed end to end as before; their 2xx
  refreshes both legs.
* A leg without a session timer (the peer does not support timers, or its 2xx declined one)
  gives no proof of life at all: such a call is ended after SS_SIP_NO_TIMER_REINVITE_INTERVAL
  seconds (0: no limit), with reason SessionTimeout (the call's session could not be
  supervised; MaxCallDuration stays SS_MAX_CALL_DURATION's).

A call ended by a dead leg records the hold time up to that leg's last proof of life (the
answer or its last successful refresh), not up to the BYE (``Call.alive_until``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from softswitch.calls.call import Call, Leg
from softswitch.calls.wire import Wire
from softswitch.cdr.record import TerminationReason
from softswitch.params import ParamStore
from softswitch.sip.dialog import DialogState
from softswitch.sip.errors import ProtocolError
from softswitch.sip.message import Request, Response
from softswitch.sip.session_timer import (
    TIMER,
    Due,
    LegTimer,
    Outcome,
    TimerSettings,
    answer_headers,
    from_request,
    refresh_headers,
    refresh_outcome,
    renegotiated,
    supports_timer,
)
from softswitch.sip.status import make_response
from softswitch.sip.transaction import TransactionKey

__all__ = ["RefreshRef", "Sessions", "same_sdp", "settings_from"]

_log = logging.getLogger(__name__)
R = TerminationReason

_GLARE_RETRY = 2.5
"""Seconds before a refresh that met 491 (or a re-INVITE in progress) is tried again (RFC 3261
§14.1 asks for 2.1-4 s when we own the Call-ID; one value serves both roles here)."""

Clear = Callable[..., None]
"""``clear(call, reason, side)``: end a call from any state (the engine's)."""


def settings_from(params: ParamStore) -> TimerSettings:
    """The session-timer parameters, read when a call starts (an API change applies to the
    next call)."""
    return TimerSettings(
        ttl=params.get_int("SS_SIP_SESSION_TTL"),
        min_se=params.get_int("SS_SIP_SESSION_MIN_SE"),
        segment=params.get_int("SS_SIP_SESSION_UPDATE_SEGMENT"),
        early_hangup=params.get_int("SS_SIP_SESSION_TIMEOUT_EARLY_HANGUP"),
        no_timer_limit=params.get_int("SS_SIP_NO_TIMER_REINVITE_INTERVAL"),
    )


def _origin(sdp: bytes) -> bytes | None:
    for line in sdp.splitlines():
        if line.startswith(b"o="):
            return line.strip()
    return None


def same_sdp(previous: bytes, offered: bytes) -> bool:
    """Whether ``offered`` repeats ``previous``: the same o= line (session id and version,
    RFC 3264 §8: an unchanged description keeps its version), or the same bytes."""
    if not previous or not offered:
        return False
    before, now = _origin(previous), _origin(offered)
    if before is not None and now is not None:
        return before == now
    return previous.strip() == offered.strip()


@dataclass(slots=True)
class RefreshRef:
    """The ``Wire.client`` entry of a session refresh of ours."""

    call: Call
    leg: Leg
    method: str


class Sessions:
    """Arms, sends and checks the session timers of every call."""

    def __init__(self, wire: Wire, clear: Clear) -> None:
        self._wire = wire
        self._clear = clear

    # ------------------------------------------------------------------ lifecycle
    def start(self, call: Call) -> None:
        """The call is answered and its legs' timers negotiated: arm them, and the limit of a
        call with a leg that has none."""
        legs = [leg for leg in (call.caller, call.callee) if leg is not None]
        for leg in legs:
            self.arm(call, leg)
        limit = call.sessions.no_timer_limit
        if limit > 0 and any(leg.timer is None for leg in legs):

            def fire() -> None:
                call.timers.pop("no-timer", None)
                if not call.ended:
                    _log.info("call %s: no session timer on a leg; limit reached", call.id)
                    self._clear(call, R.SESSION_TIMEOUT, "system")

            call.timers["no-timer"] = self._wire.later(float(limit), fire)

    def arm(self, call: Call, leg: Leg) -> None:
        """(Re)arm ``leg``'s next deadline: our refresh, or its expiry."""
        name = _name(leg)
        call.cancel_timer(name)
        timer = leg.timer
        if timer is None or call.ended:
            return
        when, due = timer.next_due(call.sessions)

        def fire() -> None:
            call.timers.pop(name, None)
            if call.ended or leg.timer is None:
                return
            if due is Due.REFRESH:
                self._refresh(call, leg)
            else:
                self._expire(call, leg)

        call.timers[name] = self._wire.at(when, fire)

    def _expire(self, call: Call, leg: Leg) -> None:
        """``leg``'s session is gone: BYE both legs; the hold time ends at its last proof of
        life."""
        if call.ended:
            return
        timer = leg.timer
        if timer is not None:
            call.alive_until = timer.proof
        _log.info("call %s: session of the %s leg expired", call.id, leg.side)
        self._clear(call, R.SESSION_TIMEOUT, "system")

    # ------------------------------------------------------------------ our refreshes
    def _refresh(self, call: Call, leg: Leg, method: str | None = None) -> None:
        timer, dialog = leg.timer, leg.dialog
        if call.ended or timer is None or dialog is None:
            return
        if dialog.state is DialogState.TERMINATED:
            return
        body, content_type = leg.local_sdp
        if method is None:
            method = "UPDATE" if timer.update or not body else "INVITE"
        if method == "INVITE" and not body:
            # No SDP of ours to repeat (should not happen after an answer): an offerless
            # re-INVITE would ask the peer for a new offer. Leave it to the expiry.
            leg.timer = replace(timer, pending=True)
            self.arm(call, leg)
            return
        if method == "INVITE" and leg.pending_invite:
            self._retry(call, leg, timer)
            return
        if method == "UPDATE":
            body, content_type = b"", None
        wire = self._wire
        local = leg.local
        try:
            leg.dialog, request = dialog.request(
                method,
                branch=wire.ids.branch(),
                via_host=local.host,
                via_port=local.port,
                transport=local.transport,
                contact=local.contact(),
                body=body,
                content_type=content_type,
                headers=refresh_headers(timer, call.sessions),
            )
        except ProtocolError:
            return
        leg.timer = replace(timer, pending=True)
        if method == "INVITE":
            leg.pending_invite = True
        key = wire.send().send_request(request, leg.peer)
        wire.client[key] = RefreshRef(call, leg, method)
        self.arm(call, leg)

    def _retry(self, call: Call, leg: Leg, timer: LegTimer) -> None:
        leg.timer = replace(timer, pending=True)
        self.arm(call, leg)
        name = f"{_name(leg)}-retry"
        call.cancel_timer(name)

        def again() -> None:
            call.timers.pop(name, None)
            if not call.ended and leg.timer is not None:
                self._refresh(call, leg)

        call.timers[name] = self._wire.later(_GLARE_RETRY, again)

    def response(self, ref: RefreshRef, key: TransactionKey, response: Response) -> None:
        """A response to a refresh of ours."""
        status = response.status
        if status < 200:
            return
        wire = self._wire
        wire.client.pop(key, None)
        call, leg = ref.call, ref.leg
        if leg.dialog is not None:
            with contextlib.suppress(ProtocolError):
                leg.dialog = leg.dialog.receive_response(response)
        if ref.method == "INVITE":
            leg.pending_invite = False
            if 200 <= status < 300:
                wire.ack(leg, response.cseq.seq)
        timer = leg.timer
        if call.ended or timer is None:
            return
        outcome = refresh_outcome(status, ref.method)
        if outcome is Outcome.REFRESHED:
            leg.timer = renegotiated(timer, response, wire.now())
            if ref.method == "INVITE" and response.body:
                leg.remote_sdp = response.body
            self.arm(call, leg)
        elif outcome is Outcome.FATAL:
            self._expire(call, leg)
        elif outcome is Outcome.LARGER:
            try:
                asked = response.min_se or 0
            except ProtocolError:
                asked = 0
            if asked <= timer.interval:
                leg.timer = replace(timer, pending=True)  # nothing better to offer
                self.arm(call, leg)
                return
            leg.timer = replace(timer, interval=asked, pending=False)
            self._refresh(call, leg, ref.method)
        elif outcome is Outcome.USE_INVITE:
            leg.timer = replace(timer, update=False, pending=False)
            self._refresh(call, leg, "INVITE")
        elif outcome is Outcome.RETRY:
            self._retry(call, leg, timer)
        else:
            # Not refreshed, but not dead either: its expiry decides (§10).
            leg.timer = replace(timer, pending=True)
            self.arm(call, leg)

    def failed(self, ref: RefreshRef, key: TransactionKey) -> None:
        """A refresh of ours got no answer at all, or could not be sent (§10: end the call)."""
        self._wire.client.pop(key, None)
        if ref.method == "INVITE":
            ref.leg.pending_invite = False
        if not ref.call.ended and ref.leg.timer is not None:
            self._expire(ref.call, ref.leg)

    # ------------------------------------------------------------------ the peers' requests
    def answer_locally(self, call: Call, leg: Leg, request: Request, key: TransactionKey) -> bool:
        """Answer a pure session refresh from ``leg``'s peer here (see the module docstring);
        False when ``request`` must be relayed."""
        method = request.method
        if method not in ("INVITE", "UPDATE") or call.answer_mono is None:
            return False
        if request.body:
            if not same_sdp(leg.remote_sdp, request.body):
                return False
        elif method == "INVITE":
            return False  # an offerless re-INVITE asks the far end for a new offer: relay it
        wire = self._wire
        now = wire.now()
        timer = self._renegotiate(call, leg, request, now)
        body, content_type = leg.local_sdp if request.body else (b"", None)
        headers = (
            *answer_headers(timer),
            ("Supported", TIMER),
            ("Contact", leg.local.contact()),
            ("Server", wire.product),
        )
        response = make_response(
            request, 200, headers=headers, body=body, content_type=content_type
        )
        wire.send().send_response(key, response)
        if timer is not None:
            self.arm(call, leg)
        return True

    def _renegotiate(self, call: Call, leg: Leg, request: Request, now: float) -> LegTimer | None:
        """``leg``'s timer after a refresh request of its peer: renegotiated from the request
        when it speaks timers (§9), else the same timer with a new proof of life."""
        old = leg.timer
        new = from_request(request, call.sessions, now) if supports_timer(request) else None
        if new is not None:
            new = replace(new, update=new.update or (old is not None and old.update))
        elif old is not None:
            new = old.refreshed(now)
        leg.timer = new
        return new

    def relay_headers(self, call: Call, target: Leg, method: str) -> tuple[tuple[str, str], ...]:
        """Session headers of a request relayed to ``target`` (a re-INVITE or UPDATE on a leg
        with a timer must carry them, or the peer turns its timer off, §9)."""
        if method not in ("INVITE", "UPDATE") or target.timer is None:
            return ()
        return refresh_headers(target.timer, call.sessions)

    def relayed(
        self, call: Call, origin: Leg, target: Leg, request: Request, response: Response
    ) -> tuple[tuple[str, str], ...]:
        """A relayed re-INVITE/UPDATE was answered: a 2xx refreshes both legs. Returns the
        session headers of the answer to ``origin``."""
        if request.method not in ("INVITE", "UPDATE") or not 200 <= response.status < 300:
            return ()
        now = self._wire.now()
        if target.timer is not None:
            target.timer = renegotiated(target.timer, response, now)
            self.arm(call, target)
        timer = self._renegotiate(call, origin, request, now)
        if timer is not None:
            self.arm(call, origin)
        return answer_headers(timer)


def _name(leg: Leg) -> str:
    return f"session-{leg.side}"
