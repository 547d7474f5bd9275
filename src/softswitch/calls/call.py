"""The state of one live call: two legs, the hunt between them, and what its CDR will say.

The engine (``calls.engine``) owns these objects and is the only code that changes them; the
API reads them only through :meth:`Call.view` copies. A call is a bridge between two
independent user agents (one per :class:`Leg`), after Sippy B2BUA's shape: each leg has its own
dialog, peer and local address; nothing of one leg's SIP state leaks into the other's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from softswitch.billing import BillingRules, Rate, RateBook, billable_seconds
from softswitch.calls.build import Local
from softswitch.calls.control import CallState, LegView, LiveCallView
from softswitch.calls.hunting import Hunt
from softswitch.calls.ingress import Identified
from softswitch.calls.table import Holder
from softswitch.cdr.record import TerminationReason
from softswitch.routing import GatewayRoute
from softswitch.sip.dialog import Dialog
from softswitch.sip.digest_client import DigestClient
from softswitch.sip.events import Peer
from softswitch.sip.message import Request, Response
from softswitch.sip.session_timer import LegTimer, TimerSettings
from softswitch.sip.transaction import TransactionKey
from softswitch.snapshot.rates import RateSnapshot

__all__ = ["Attempt", "Call", "Leg", "Meter", "Target"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes: a routing gateway (``gateway`` set) or a phone of the switch.
    ``prefix`` is the gateway prefix the callee matched (per-prefix ASR/ACD)."""

    peer: Peer
    ruri: str
    to_addr: str
    callee_out: str
    caller_out: str
    display: str = ""
    gateway: GatewayRoute | None = None
    prefix: str = ""
    failover_codes: frozenset[int] = frozenset()


@dataclass(slots=True)
class Leg:
    """One user agent of the bridge. ``peer`` is where its in-dialog requests go (the address
    its messages came from, so a NATed customer is reached through its pinhole)."""

    side: str
    peer: Peer
    local: Local
    dialog: Dialog | None = None
    ack: Request | None = None
    """The ACK we sent for the INVITE of this dialog: re-sent when the 2xx is retransmitted."""
    pending_invite: bool = False
    """A re-INVITE of ours or theirs is in progress on this leg (RFC 3261 §14.1/§14.2: 491)."""
    pending_ack: tuple[Leg, int] | None = None
    """An offerless re-INVITE from this leg was answered by the other leg's 2xx: its ACK
    (with the answer) is relayed to that leg with this CSeq number."""
    timer: LegTimer | None = None
    """This leg's session timer (RFC 4028), None when its peer does not do timers."""
    local_sdp: tuple[bytes, str | None] = (b"", None)
    """The last SDP (and Content-Type) we sent this leg's peer: a refresh re-INVITE of ours
    repeats it unchanged (same o= version, RFC 3264 §8), and a refresh of theirs is answered
    with it."""
    remote_sdp: bytes = b""
    """The last SDP this leg's peer sent us: an offer equal to it is a pure session refresh."""

    def view(self) -> LegView:
        dialog = self.dialog
        peer = f"{self.peer.transport}:{self.peer.host}:{self.peer.port}"
        if dialog is None:
            return LegView(self.side, "", "", "", peer, "trying")
        return LegView(
            self.side,
            dialog.id.call_id,
            dialog.id.local_tag,
            dialog.id.remote_tag,
            peer,
            dialog.state.value,
        )


@dataclass(slots=True)
class Attempt:
    """One INVITE the hunt sent to one target."""

    index: int
    target: Target
    request: Request
    key: TransactionKey
    leg: Leg
    provisional: bool = False
    abandoned: bool = False
    ringing: bool = False
    status: int | None = None
    reason: str = ""
    rseqs: set[int] = field(default_factory=set)
    challenges: int = 0
    """401/407s of this attempt answered with credentials (bounded by the call's
    ``auth_retries``); ``request`` and ``key`` are then those of the latest INVITE."""
    digest: DigestClient | None = None
    """The carrier account's digest client, kept for the attempt so a nonce answered twice
    gets the next nonce-count (RFC 7616 §3.4)."""


@dataclass(slots=True)
class Meter:
    """What the call costs and what it holds of its account's credit (``calls.metering``).

    ``rates`` are the books in force when the call started: a rate edit never reprices a live
    call. ``reserved_seconds`` None means the call has no time limit from its money (a free
    callee, an unrated postpaid account, a zero rate)."""

    rates: RateSnapshot
    rules: BillingRules
    book: RateBook | None = None
    rate: Rate | None = None
    free: bool = False
    want: tuple[Decimal, int] | None = None
    """The first reservation still to take: (amount, billable seconds it covers)."""
    reserved_amount: Decimal = Decimal(0)
    reserved_seconds: int | None = None
    extending: bool = False


@dataclass(slots=True)
class Call:
    """One live call, from the INVITE to its durable CDR."""

    id: str
    start_mono: float
    start_wall: datetime
    ident: Identified
    caller: Leg
    inbound: Request | None
    """The caller's INVITE (None for a callback call, whose first leg is ours)."""
    inbound_key: TransactionKey | None
    to_tag: str
    state: CallState = CallState.ROUTING
    hunt: Hunt | None = None
    targets: list[Target] = field(default_factory=list)
    attempt: Attempt | None = None
    attempts: list[Attempt] = field(default_factory=list)
    callee: Leg | None = None
    ring_wall: datetime | None = None
    answer_wall: datetime | None = None
    answer_mono: float | None = None
    end_wall: datetime | None = None
    end_mono: float | None = None
    final_sent: bool = False
    answer: Response | None = None
    """Our 2xx to the caller, retransmitted until its ACK (RFC 3261 §13.3.1.4)."""
    acked: bool = False
    late_offer: bool = False
    """The caller's INVITE had no SDP: the offer is in the callee's 2xx and the answer in the
    caller's ACK, which is relayed in the callee leg's ACK (RFC 3264 §4)."""
    reason: TerminationReason | None = None
    sip_status: int | None = None
    hangup_side: str = ""
    codec: str = ""
    lines: list[tuple[Holder, int]] = field(default_factory=list)
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    retransmit_interval: float = 0.5
    offer: tuple[bytes, str | None] = (b"", None)
    """The body (and its Content-Type) every attempt's INVITE carries."""
    callback_b: str | None = None
    """For a callback call: the number to call once the first leg answered."""
    first_leg: Attempt | None = None
    """For a callback call: the answered INVITE to A, whose ACK waits for B's answer."""
    record_id: str = ""
    """The CDR's ``record_id``, known from the start: the call's credit reservation is filed
    under it, so settling the CDR finds and releases it."""
    meter: Meter | None = None
    sessions: TimerSettings = field(default_factory=TimerSettings)
    """The session-timer parameters read when the call started (``sip.session_timer``)."""
    auth_retries: int = 0
    """SS_SIP_AUTHENTICATION_RETRY when the call was routed: how many challenges of one
    attempt are answered."""
    alive_until: float | None = None
    """The last proof of life of a call ended by its session timer: its hold time ends there,
    not at the BYE (a dead peer is not billed for the interval it took to notice)."""

    # ------------------------------------------------------------------ helpers
    @property
    def ended(self) -> bool:
        return self.reason is not None

    @property
    def gateway(self) -> GatewayRoute | None:
        attempt = self.attempt
        return None if attempt is None else attempt.target.gateway

    def cancel_timer(self, name: str) -> None:
        handle = self.timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def cancel_timers(self) -> None:
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()

    def hold_ms(self, now: float) -> int:
        if self.answer_mono is None:
            return 0
        end = self.end_mono if self.end_mono is not None else now
        if self.alive_until is not None:
            end = min(end, self.alive_until)
        return max(0, round((end - self.answer_mono) * 1000))

    def view(self, now: float) -> LiveCallView:
        ident = self.ident
        account = ident.account
        attempt = self.attempt
        gateway = attempt.target.gateway if attempt is not None else None
        legs = [self.caller.view()]
        if self.callee is not None:
            legs.append(self.callee.view())
        elif attempt is not None:
            legs.append(attempt.leg.view())
        return LiveCallView(
            id=self.id,
            state=self.state,
            caller=ident.caller,
            callee=ident.callee,
            caller_out=attempt.target.caller_out if attempt is not None else "",
            callee_out=attempt.target.callee_out if attempt is not None else "",
            account_id=account.id if account is not None else None,
            account_code=account.code if account is not None else "",
            agent_id=account.agent_id if account is not None else None,
            phone_id=ident.phone.id if ident.phone is not None else None,
            mapping_gateway_id=ident.trunk.id if ident.trunk is not None else None,
            routing_gateway_id=gateway.id if gateway is not None else None,
            routing_gateway_name=gateway.name if gateway is not None else "",
            source_ip=self.caller.peer.host,
            start_time=self.start_wall,
            ring_time=self.ring_wall,
            answer_time=self.answer_wall,
            hold_ms=self.hold_ms(now),
            attempts=len(self.attempts),
            legs=tuple(legs),
        )

    def cdr(self, now: float, hold_precision_ms: int) -> dict[str, Any]:
        """The CDR of this call (``cdrs`` columns); billing fills fee and cost later."""
        ident = self.ident
        account = ident.account
        attempt = self.attempt
        answered = attempt if self.answer_mono is not None else None
        target = answered.target if answered is not None else None
        gateway = target.gateway if target is not None else None
        if target is None and attempt is not None:
            target = attempt.target
        # A call whose answer the caller never acknowledged was never confirmed: not billed.
        hold = 0 if self.reason is TerminationReason.ACK_TIMEOUT else self.hold_ms(now)
        callee_leg = self.callee or (attempt.leg if attempt is not None else None)
        assert self.reason is not None and self.end_wall is not None
        return {
            "record_id": self.record_id or None,
            "call_id": self.caller.dialog.id.call_id
            if self.caller.dialog is not None
            else (self.inbound.call_id if self.inbound is not None else ""),
            "call_id_out": attempt.request.call_id if attempt is not None else "",
            "start_time": self.start_wall,
            "ring_time": self.ring_wall,
            "answer_time": self.answer_wall,
            "end_time": self.end_wall,
            "hold_time_ms": hold,
            "billed_seconds": billable_seconds(hold, hold_precision_ms),
            "account_id": account.id if account is not None else None,
            "account_code": account.code if account is not None else "",
            "agent_id": account.agent_id if account is not None else None,
            "currency": account.currency if account is not None else "",
            "caller": ident.caller[:64],
            "callee": ident.callee[:64],
            "caller_in": ident.caller_in[:64],
            "callee_in": ident.callee_in[:64],
            "caller_out": target.caller_out[:64] if target is not None else "",
            "callee_out": target.callee_out[:64] if target is not None else "",
            "caller_ip": self.caller.peer.host,
            "callee_ip": callee_leg.peer.host if callee_leg is not None else "",
            "phone_id": ident.phone.id if ident.phone is not None else None,
            "mapping_gateway_id": ident.trunk.id if ident.trunk is not None else None,
            "mapping_gateway_name": ident.trunk.name[:64] if ident.trunk is not None else "",
            "routing_gateway_id": gateway.id if gateway is not None else None,
            "routing_gateway_name": gateway.name[:64] if gateway is not None else "",
            "codec": self.codec[:32],
            "attempts": [_attempt_record(a) for a in self.attempts],
            "termination_reason": self.reason.value,
            "sip_status": self.sip_status,
            "hangup_side": self.hangup_side,
        }


def _attempt_record(attempt: Attempt) -> dict[str, Any]:
    gateway = attempt.target.gateway
    return {
        "gateway_id": gateway.id if gateway is not None else None,
        "gateway": gateway.name if gateway is not None else attempt.target.ruri,
        "status": attempt.status,
        "reason": attempt.reason,
    }
