"""The B2BUA: every call from its INVITE to its durable CDR (issue 4 §2-§6).

The engine is the transaction user of the endpoint for calls. The dispatcher hands it every
event first (:meth:`CallEngine.handle`); it keeps what belongs to a call — new INVITEs, requests
within its dialogs, responses and timeouts of its client transactions, CANCELs of its INVITEs —
and returns False for the rest (REGISTER, OPTIONS, stray requests), which the dispatcher
answers.

The parts, each in its module: ``admission`` (may this INVITE become a call), ``targets``
(where its attempts go), ``hunter`` (the attempts up to the answer), ``bridge`` (requests within
the dialogs of the two legs), ``wire`` (what they share). The engine owns the live calls and
their end: the CDR is written first, then the caller's final answer (the non-2xx, or the 200 to
its BYE) goes out, then the call's state is dropped. When a peer sees a call finished, its CDR
is in the writer's journal and survives a ``kill -9``.

Time: ``sender.now()`` (the loop's monotonic clock) for durations and timers; the injected wall
clock only for the UTC times a CDR records. Live calls are also the one source of concurrency
counts (``table``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from softswitch.calls import build
from softswitch.calls.admission import Admission, Shield
from softswitch.calls.bridge import Bridge, Relay
from softswitch.calls.build import Local
from softswitch.calls.call import Call, Leg
from softswitch.calls.control import (
    CallbackOutcome,
    CallbackRequest,
    CallState,
    GatewayFigures,
    LiveCallView,
    MonitorFigures,
    PrefixFigures,
)
from softswitch.calls.hunter import AttemptRef, Hunter
from softswitch.calls.ingress import Identified, Kind, Refused
from softswitch.calls.metering import Metering, RateSource, ReservationStore, SnapshotSource
from softswitch.calls.sessions import RefreshRef, Sessions, settings_from
from softswitch.calls.table import CallTable, Holder
from softswitch.calls.targets import Locator, Routing
from softswitch.calls.wire import Wire
from softswitch.cdr.record import TerminationReason
from softswitch.params import ParamChange, ParamStore
from softswitch.routing import QualityWindows
from softswitch.sip.dialog import Role, dialog_id_of
from softswitch.sip.digest_server import DigestAuthenticator
from softswitch.sip.events import (
    CancelReceived,
    Event,
    Peer,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailed,
)
from softswitch.sip.ids import IdSource
from softswitch.sip.message import Request
from softswitch.sip.status import make_response
from softswitch.sip.transaction import TransactionKey
from softswitch.snapshot import Snapshot
from softswitch.snapshot.rates import EMPTY_RATES, RateSnapshot
from softswitch.transport.driver import Sender

__all__ = ["CallEngine", "CdrSink", "Locator"]

_log = logging.getLogger(__name__)
R = TerminationReason

_DROP_HOLD = 32.0
"""Seconds a silently dropped INVITE's transaction absorbs retransmissions (64*T1): one
request, one decision, one CDR."""
_CPS_WINDOW = 10
_HOUSEKEEPING = 60.0


class CdrSink(Protocol):
    """Where finished calls go: the durable CDR writer."""

    async def submit(self, values: Mapping[str, Any]) -> str | None: ...

    @property
    def pending(self) -> int: ...


class _NoRates:
    """Rate books of a switch without billing (tests of the call path alone)."""

    @property
    def current(self) -> RateSnapshot:
        return EMPTY_RATES


class CallEngine:
    """All live calls of one switch; implements ``calls.control.CallControl``."""

    def __init__(
        self,
        params: ParamStore,
        snapshots: SnapshotSource,
        locator: Locator,
        cdrs: CdrSink,
        *,
        locals_: Mapping[str, Local],
        ids: IdSource,
        wall_clock: Callable[[], datetime],
        authenticator: Callable[[], DigestAuthenticator],
        challenge_code: Callable[[], int],
        abandon: Callable[[TransactionKey], None],
        product: str,
        allow: frozenset[str],
        rng: random.Random | None = None,
        rates: RateSource | None = None,
        reservations: ReservationStore | None = None,
        zone: str = "UTC",
        shield: Shield | None = None,
    ) -> None:
        self._params = params
        self._shield = shield
        self._snapshots = snapshots
        self._locator = locator
        self._cdrs = cdrs
        self._wall = wall_clock
        self._abandon = abandon
        self.wire = wire = Wire(ids, locals_, product)
        self.table = CallTable()
        self.quality = QualityWindows(
            asr_window=float(params.get_int("SS_GATEWAY_ASR_RESERVE_TIME")),
            acd_window=float(params.get_int("SS_GATEWAY_ACD_RESERVE_TIME")),
        )
        self._admission = Admission(
            wire,
            params,
            self.table,
            authenticator=authenticator,
            challenge_code=challenge_code,
            wall_clock=wall_clock,
            shield=shield,
        )
        routing = Routing(locator, self.quality, rng if rng is not None else random.Random())
        self.metering = Metering(
            wire,
            params,
            snapshots,
            rates if rates is not None else _NoRates(),
            reservations,
            clear=self._clear,
            wall_clock=wall_clock,
            zone=zone,
        )
        self._sessions = Sessions(wire, self._clear)
        self._hunter = Hunter(
            wire,
            params,
            self.table,
            self.quality,
            routing,
            snapshots,
            wall_clock=wall_clock,
            allow=sorted(allow),
            finish=self._finish,
            clear=self._clear,
            order=self.metering.order,
            answered=self.metering.answered,
            sessions=self._sessions,
        )
        self._bridge = Bridge(wire, self._clear, self._caller_cancelled, self._sessions)
        self._calls: dict[str, Call] = {}
        self._by_inbound: dict[TransactionKey, Call] = {}
        self._dropped: set[TransactionKey] = set()
        self._starts: deque[float] = deque()
        self.calls_total = 0
        self._unsubscribe = params.subscribe(self._on_param)
        self._housekeeping: asyncio.TimerHandle | None = None

    # ================================================================ control surface
    def calls(self) -> list[LiveCallView]:
        now = self.wire.now()
        return [call.view(now) for call in self._calls.values()]

    def call(self, call_id: str) -> LiveCallView | None:
        found = self._calls.get(call_id)
        return None if found is None else found.view(self.wire.now())

    def hangup(self, call_id: str) -> bool:
        call = self._calls.get(call_id)
        if call is None or call.ended:
            return False
        self._clear(call, R.OPERATOR_HANGUP, "operator")
        return True

    def monitor(self) -> MonitorFigures:
        now = self.wire.now()
        self._trim_starts(now)
        snapshot = self._snapshots.current
        prefixes: dict[int, list[PrefixFigures]] = {}
        kept = self.quality.keys()
        for key in sorted(k for k in kept if isinstance(k, tuple)):
            found = self.quality.stats(key, now)
            if found.attempts or found.acd_calls:
                prefixes.setdefault(key[0], []).append(
                    PrefixFigures(key[1], found.attempts, found.answered, found.asr, found.acd)
                )
        gateways = []
        for gateway in sorted(snapshot.gateways.values(), key=lambda g: g.id):
            stats = self.quality.stats(gateway.id, now)
            gateways.append(
                GatewayFigures(
                    id=gateway.id,
                    name=gateway.route.name,
                    in_use=self.table.in_use(Holder.GATEWAY, gateway.id),
                    capacity=gateway.route.capacity,
                    attempts=stats.attempts,
                    answered=stats.answered,
                    asr=stats.asr,
                    acd=stats.acd,
                    prefixes=tuple(prefixes.get(gateway.id, ())),
                )
            )
        counts = self._locator.counts(now)
        live = [c for c in self._calls.values() if not c.ended]
        return MonitorFigures(
            at=self._wall(),
            concurrent_calls=len(live),
            answered_calls=sum(1 for c in live if c.state is CallState.ANSWERED),
            calls_per_second=len(self._starts) / _CPS_WINDOW,
            cps_window_s=_CPS_WINDOW,
            calls_total=self.calls_total,
            answered_total=self._hunter.answered_total,
            registered_aors=counts.aors,
            registered_bindings=counts.bindings,
            registered_behind_nat=counts.behind_nat,
            cdr_pending=self._cdrs.pending,
            gateways=tuple(gateways),
        )

    def callback(self, request: CallbackRequest) -> CallbackOutcome:
        """Call A, then B, and bridge them (RFC 3725 flow I, see ``calls.hunter``)."""
        wire = self.wire
        if wire.sender is None:
            return CallbackOutcome(None, R.SERVER_ERROR.value, "the SIP transport is not running")
        snapshot = self._snapshots.current
        account = snapshot.accounts.get(request.account_id)
        if account is None:
            return CallbackOutcome(None, R.CALLER_LOCKED.value, "unknown account")
        if account.at_call_limit(self.table.in_use(Holder.ACCOUNT, account.id)):
            return CallbackOutcome(
                None, R.ACCOUNT_CONCURRENCY_LIMIT.value, "the account is at its call limit"
            )
        shown = request.caller_id or request.b
        ident = Identified(
            Kind.TRUNK,
            shown,
            request.a,
            shown,
            request.a,
            account,
            lines=((Holder.ACCOUNT, account.id),),
        )
        now = wire.now()
        call = Call(
            id=wire.ids.tag(),
            start_mono=now,
            start_wall=self._wall(),
            ident=ident,
            caller=Leg("a", Peer("UDP", "0.0.0.0", 0), wire.local("UDP")),
            inbound=None,
            inbound_key=None,
            to_tag="",
            callback_b=request.b,
            record_id=str(uuid.uuid4()),
            sessions=settings_from(self._params),
        )
        self._admit(call, now)
        self._start(call, snapshot, request.a, b"", None)
        return CallbackOutcome(call.id)

    # ================================================================ the dispatcher's entry
    def attach(self, sender: Sender) -> None:
        """Give the engine its way out before any event arrives: calls it starts itself
        (callbacks) need one. Starts the minute housekeeping."""
        self.wire.attach(sender)
        if self._housekeeping is None:
            self._housekeeping = self.wire.later(_HOUSEKEEPING, self._tidy)

    def _tidy(self) -> None:
        """Forget ASR/ACD series of gateways and prefixes that carried nothing in their
        windows (deleted gateways, dead destinations), so the figures stay bounded."""
        self.quality.prune(self.wire.now())
        self._housekeeping = self.wire.later(_HOUSEKEEPING, self._tidy)

    def handle(self, event: Event, sender: Sender) -> bool:
        """Take ``event`` if it belongs to call control; False lets the dispatcher answer.

        A fault while handling one call's event clears that call (ServerError, BYE or a final
        answer, a CDR) instead of leaving it half-open with its lines taken."""
        self.wire.attach(sender)
        if isinstance(event, RequestReceived):
            request = event.request
            key = event.transaction
            if request.method == "INVITE" and request.to.tag is None:
                if key is not None:
                    self._new_call(request, key, event.peer)
                return True
            did = dialog_id_of(request, Role.UAS)
            entry = self.wire.dialogs.get(did) if did is not None else None
            if entry is None:
                return self._bridge.request(request, key)  # not ours: 481 from the dispatcher
            return self._guarded(entry[0], lambda: self._bridge.request(request, key))
        if isinstance(event, ResponseReceived):
            key = event.transaction
            found = self.wire.client.get(key) if key is not None else None
            if isinstance(found, AttemptRef):
                ref, response = found, event.response
                return self._guarded(
                    ref.call, lambda: self._hunter.response(ref.call, ref.attempt, response)
                )
            if isinstance(found, Relay) and key is not None:
                relay, answer = found, event.response
                return self._guarded(relay.call, lambda: self._bridge.response(relay, key, answer))
            if isinstance(found, RefreshRef) and key is not None:
                refresh, answer = found, event.response
                return self._guarded(
                    refresh.call, lambda: self._sessions.response(refresh, key, answer)
                )
            return found is not None
        if isinstance(event, CancelReceived):
            cancelled = self._by_inbound.get(event.transaction)
            if cancelled is None:
                return False
            return self._guarded(cancelled, lambda: self._caller_cancelled(cancelled))
        if isinstance(event, TransactionTimeout | TransportFailed):
            found = self.wire.client.get(event.transaction)
            timeout = isinstance(event, TransactionTimeout)
            if isinstance(found, AttemptRef):
                ref = found
                return self._guarded(
                    ref.call, lambda: self._hunter.failed(ref.call, ref.attempt, timeout)
                )
            if isinstance(found, Relay):
                relay = found
                return self._guarded(relay.call, lambda: self._bridge.failed(relay, timeout))
            if isinstance(found, RefreshRef):
                refresh, failed_key = found, event.transaction
                return self._guarded(
                    refresh.call, lambda: self._sessions.failed(refresh, failed_key)
                )
            return found is not None
        if isinstance(event, TransactionTerminated):
            self._terminated(event.transaction)
        return False

    def _shut(self, call: Call) -> None:
        self._clear(call, R.SYSTEM_SHUTDOWN, "system")

    def _guarded(self, call: Call | None, work: Callable[[], object]) -> bool:
        try:
            work()
        except Exception:
            _log.exception("call %s: unexpected fault; clearing it", call.id if call else "-")
            if call is not None and not call.ended:
                try:
                    self._clear(call, R.SERVER_ERROR, "system")
                except Exception:
                    _log.exception("call %s: could not be cleared", call.id)
        return True

    async def stop(self) -> None:
        """Clear every live call (BYE or 503, reason SystemShutdown), wait until their CDRs
        are written, then stop: a stopped switch leaves no call unrecorded. Runs before the
        transport closes, so the BYEs and answers still go out."""
        self._unsubscribe()
        self.metering.close()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        if self.wire.sender is not None:
            for call in list(self._calls.values()):
                if not call.ended:
                    self._guarded(call, functools.partial(self._shut, call))
        for call in self._calls.values():
            call.cancel_timers()
        await self.wire.drain()

    # ================================================================ new calls
    def _new_call(self, request: Request, key: TransactionKey, peer: Peer) -> None:
        if key in self._by_inbound or key in self._dropped:
            return
        wire = self.wire
        snapshot = self._snapshots.current
        # Read once per call: a parameter changed through the API applies to the next call.
        sessions = settings_from(self._params)
        found = self._admission.check(request, key, peer, snapshot, sessions)
        if found is None:
            return
        now = wire.now()
        if isinstance(found, Refused):
            self._refuse(request, key, peer, found, now)
            return
        wire.answer(request, key, 100)
        call = Call(
            id=wire.ids.tag(),
            start_mono=now,
            start_wall=self._wall(),
            ident=found,
            caller=Leg("caller", peer, wire.local(peer.transport)),
            inbound=request,
            inbound_key=key,
            to_tag=wire.ids.tag(),
            late_offer=not request.body,
            record_id=str(uuid.uuid4()),
            sessions=sessions,
        )
        self._by_inbound[key] = call
        self._admit(call, now)
        self._guarded(
            call,
            lambda: self._start(
                call, snapshot, found.callee, request.body, request.get("content-type")
            ),
        )

    def _start(
        self,
        call: Call,
        snapshot: Snapshot,
        callee: str,
        body: bytes,
        content_type: str | None,
    ) -> None:
        """Rate the call, reserve its first credit if it needs some (in the database, so the
        routing waits for it), then route it."""
        refusal = self.metering.open(call)
        if refusal is not None:
            self._finish(call, refusal, refusal.caller_status or 403, "system")
            return
        meter = call.meter
        if meter is None or meter.want is None:
            self._hunter.route(
                call, snapshot, callee, self.wire.now(), body=body, content_type=content_type
            )
            return

        async def reserve_then_route() -> None:
            refused = await self.metering.reserve(call)
            if call.ended:
                # Cancelled while the reservation was being taken: give it back now rather
                # than when the CDR is settled (which may have run already).
                await self.metering.release(call)
                return
            if refused is not None:
                self._guarded(
                    call,
                    lambda: self._finish(call, refused, refused.caller_status or 403, "system"),
                )
                return
            self._guarded(
                call,
                lambda: self._hunter.route(
                    call, snapshot, callee, self.wire.now(), body=body, content_type=content_type
                ),
            )

        self.wire.spawn(reserve_then_route())

    def _caller_cancelled(self, call: Call) -> None:
        """The caller's CANCEL (or BYE of an early dialog): 487, also while its credit is
        still being reserved (no hunt yet)."""
        if call.hunt is None and not call.final_sent and not call.ended:
            self._finish(call, R.CANCELLED, 487, "caller")
            return
        self._hunter.cancel_by_caller(call)

    def _admit(self, call: Call, now: float) -> None:
        self._calls[call.id] = call
        self.calls_total += 1
        self._starts.append(now)
        self._trim_starts(now)
        call.lines.extend(call.ident.lines)
        self.table.take(call.ident.lines)

    def _refuse(
        self, request: Request, key: TransactionKey, peer: Peer, refused: Refused, now: float
    ) -> None:
        """Answer (or ignore) a refused INVITE, and record it: every refusal leaves a CDR with
        its reason, illegal calls only with SERVER_BILLING_RECORD_ILLEGAL_CALL."""
        if not refused.record:
            # Ignored without a trace (a suspended source): the suspension was logged once.
            self._dropped.add(key)
            self.wire.later(_DROP_HOLD, lambda: self._forget_dropped(key))
            return
        _log.info(
            "INVITE %s from %s refused: %s (%s)",
            request.call_id,
            peer.host,
            refused.reason.value,
            refused.message,
        )
        wire = self.wire
        if refused.status is None:
            self._dropped.add(key)
            wire.later(_DROP_HOLD, lambda: self._forget_dropped(key))
        illegal = refused.reason in (R.ILLEGAL_CALL, R.AUTHENTICATION_FAILED)
        if illegal and not self._params.get_bool("SERVER_BILLING_RECORD_ILLEGAL_CALL"):
            if refused.status is not None:
                wire.answer(request, key, refused.status, refused.message)
            return
        ident = Identified(
            Kind.PHONE if refused.phone is not None else Kind.TRUNK,
            build.caller_number(request),
            build.callee_number(request) or "",
            refused.caller,
            refused.callee,
            refused.account,
            phone=refused.phone,
            trunk=refused.trunk,
        )
        call = Call(
            id=wire.ids.tag(),
            start_mono=now,
            start_wall=self._wall(),
            ident=ident,
            caller=Leg("caller", peer, wire.local(peer.transport)),
            inbound=request,
            inbound_key=key,
            to_tag=wire.ids.tag(),
        )
        self._calls[call.id] = call
        self.calls_total += 1
        answer = None if refused.status is None else (refused.status, refused.message)
        self._finish(call, refused.reason, refused.status, "system", answer=answer)

    def _forget_dropped(self, key: TransactionKey) -> None:
        self._dropped.discard(key)
        self._abandon(key)

    # ================================================================ ending
    def _clear(
        self,
        call: Call,
        reason: TerminationReason,
        side: str,
        *,
        after: Callable[[], None] | None = None,
    ) -> None:
        """End a call from any state: BYE the confirmed legs, CANCEL a pending attempt, and
        answer an unanswered caller."""
        if call.ended:
            return
        wire = self.wire
        if call.answer_mono is None:
            if call.hunt is not None and not call.hunt.finished:
                self._hunter.abandon_attempt(call)
            if call.first_leg is not None:
                wire.bye(call.first_leg.leg)
            self._finish(call, reason, reason.caller_status or 480, side, after=after)
            return
        for leg in (call.caller, call.callee):
            if leg is not None:
                wire.bye(leg)
        self._finish(call, reason, call.sip_status, side, after=after)

    def _finish(
        self,
        call: Call,
        reason: TerminationReason,
        status: int | None,
        side: str,
        *,
        answer: tuple[int, str] | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        """Record the end of ``call``: its lines are free at once; its CDR is written, then the
        caller's final answer (when it still needs one; ``status`` None: none, the INVITE is
        ignored) and ``after`` go out, then the call is dropped."""
        wire = self.wire
        now = wire.now()
        call.reason = reason
        call.hangup_side = side
        call.end_mono = now
        call.end_wall = self._wall()
        call.state = CallState.ENDING
        call.cancel_timers()
        if status is not None and call.answer_mono is None:
            call.sip_status = status
        attempt = call.attempt
        if call.answer_mono is not None and attempt is not None:
            gateway = attempt.target.gateway
            if gateway is not None:
                held = now - call.answer_mono
                self.quality.record(gateway.id, True, held, now)
                self.quality.record((gateway.id, attempt.target.prefix), True, held, now)
        self.table.release(call.lines)
        call.lines.clear()
        shield = self._shield
        if shield is not None and call.hunt is not None:
            # A call that was routed: runs of unanswered calls blacklist their callee.
            account = call.ident.account
            shield.call_ended(
                account.id if account is not None else None,
                call.ident.callee,
                call.answer_mono is not None,
                now,
            )
        final: Callable[[], None] | None = None
        inbound, key = call.inbound, call.inbound_key
        if inbound is not None and key is not None and not call.final_sent and status is not None:
            call.final_sent = True
            code, text = answer if answer is not None else (status, None)
            response = make_response(
                inbound, code, text, to_tag=call.to_tag, headers=(("Server", wire.product),)
            )

            def final() -> None:
                wire.send().send_response(key, response)

        wire.spawn(self._write_cdr(call, final, after))

    async def _write_cdr(
        self, call: Call, final: Callable[[], None] | None, after: Callable[[], None] | None
    ) -> None:
        precision = self._params.get_int("SERVER_BILLING_HOLD_TIME_PRECISION")
        try:
            record = call.cdr(self.wire.now(), precision)
            try:
                self.metering.price(call, record)
            except Exception:
                # Never lose the CDR for a pricing fault: it is written unpriced and logged.
                _log.exception("call %s: pricing failed; CDR written without charges", call.id)
            await self._cdrs.submit(record)
        except Exception:
            _log.exception("call %s: CDR not written", call.id)
        finally:
            for action in (final, after):
                if action is not None:
                    try:
                        action()
                    except Exception:
                        _log.exception("call %s: final answer failed", call.id)
            self._drop(call)

    def _drop(self, call: Call) -> None:
        wire = self.wire
        self._calls.pop(call.id, None)
        if call.inbound_key is not None:
            self._by_inbound.pop(call.inbound_key, None)
        legs = [call.caller, call.callee, *(a.leg for a in call.attempts)]
        if call.first_leg is not None:
            legs.append(call.first_leg.leg)
        for leg in legs:
            if leg is not None and leg.dialog is not None:
                wire.dialogs.pop(leg.dialog.id, None)
        for attempt in call.attempts:
            if not attempt.abandoned:
                wire.client.pop(attempt.key, None)

    def _terminated(self, key: TransactionKey) -> None:
        """A transaction ended: forget it, unless it is the current attempt of a live call
        (its 2xx retransmissions still need our ACK until the call ends)."""
        client = self.wire.client
        entry = client.get(key)
        if entry is not None and (
            not isinstance(entry, AttemptRef)
            or entry.call.ended
            or entry.attempt is not entry.call.attempt
        ):
            del client[key]
        call = self._by_inbound.get(key)
        if call is not None and call.final_sent:
            del self._by_inbound[key]

    # ================================================================ small helpers
    def _trim_starts(self, now: float) -> None:
        starts = self._starts
        while starts and starts[0] <= now - _CPS_WINDOW:
            starts.popleft()

    def _on_param(self, change: ParamChange) -> None:
        if change.name in ("SS_GATEWAY_ASR_RESERVE_TIME", "SS_GATEWAY_ACD_RESERVE_TIME"):
            self.quality.set_windows(
                float(self._params.get_int("SS_GATEWAY_ASR_RESERVE_TIME")),
                float(self._params.get_int("SS_GATEWAY_ACD_RESERVE_TIME")),
            )
