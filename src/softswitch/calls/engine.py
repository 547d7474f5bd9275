"""The B2BUA: every call from its INVITE to its durable CDR (issue 4 §2-§5).

The engine is the transaction user of the endpoint for calls. The dispatcher hands it every
event first (:meth:`CallEngine.handle`); it keeps what belongs to a call — new INVITEs, requests
within its dialogs, responses and timeouts of its client transactions, CANCELs of its INVITEs —
and returns False for the rest (REGISTER, OPTIONS, stray requests), which the dispatcher
answers.

One call is two legs and a hunt between them (``calls.call``): the caller's leg answers the
caller's INVITE; each attempt of the hunt is a new INVITE of ours to a routing gateway or to a
registered phone. The hunt's decisions (``calls.hunting``) say when to fail over; routing
(``routing.candidates``) says in which order. After the answer the bridge relays in-dialog
requests (re-INVITE, UPDATE, INFO, ...) leg to leg with their bodies, and a BYE from either side
ends both.

Durability: a call's final answer to the caller (the non-2xx final response, or the 200 to a
BYE) is sent only after its CDR is on disk in the writer's journal. When the caller sees the
call finished, its CDR survives a ``kill -9``.

Time: ``sender.now()`` (the loop's monotonic clock) for every duration and timer; the injected
wall clock only for the UTC times a CDR records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from softswitch.calls import build
from softswitch.calls.build import Local
from softswitch.calls.call import Attempt, Call, Leg, Target
from softswitch.calls.control import (
    CallbackOutcome,
    CallbackRequest,
    CallState,
    GatewayFigures,
    LiveCallView,
    MonitorFigures,
)
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
from softswitch.calls.ingress import Challenge, Identified, Kind, Refused, identify
from softswitch.calls.table import CallTable, Holder
from softswitch.cdr.record import TerminationReason, reason_for_gateway_status
from softswitch.params import ParamStore
from softswitch.registrar.bindings import Binding, BindingCounts
from softswitch.routing import GatewayRoute, QualityWindows, Transport, candidates
from softswitch.sdp import SdpError, parse
from softswitch.sip.dialog import Dialog, DialogId, DialogState, Role, dialog_id_of
from softswitch.sip.digest_server import (
    AuthOutcome,
    DigestAuthenticator,
    challenge_header_name,
    credentials_header_name,
    find_credentials,
)
from softswitch.sip.errors import ProtocolError
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
from softswitch.sip.ict import make_cancel
from softswitch.sip.ids import IdSource
from softswitch.sip.message import Request, Response
from softswitch.sip.status import make_response
from softswitch.sip.transaction import TransactionKey
from softswitch.sip.uri import SipUri, UriError, parse_uri
from softswitch.snapshot import GatewayInfo, PhoneInfo, Snapshot
from softswitch.storage.models import Registration
from softswitch.transport.driver import Sender

__all__ = ["CallEngine", "CdrSink", "Locator"]

_log = logging.getLogger(__name__)
R = TerminationReason

_ACK_WAIT = 32.0  # 64*T1: how long a 2xx waits for its ACK (RFC 3261 §13.3.1.4)
_T2 = 4.0
_DROP_HOLD = 32.0  # how long a silently dropped INVITE's transaction absorbs retransmissions
_CPS_WINDOW = 10


class CdrSink(Protocol):
    """Where finished calls go: the durable CDR writer."""

    async def submit(self, values: Mapping[str, Any]) -> str | None: ...

    @property
    def pending(self) -> int: ...


class Locator(Protocol):
    """The registrar, as call routing needs it."""

    def lookup_user(self, user: str, now: float | None = None) -> list[Binding]: ...

    def counts(self, now: float | None = None) -> BindingCounts: ...


class SnapshotSource(Protocol):
    @property
    def current(self) -> Snapshot: ...


@dataclass(slots=True)
class _Relay:
    """An in-dialog request relayed from ``origin`` to ``target``; its final response goes
    back through ``server_key``."""

    call: Call
    origin: Leg
    target: Leg
    server_key: TransactionKey
    request: Request


@dataclass(slots=True)
class _AttemptRef:
    call: Call
    attempt: Attempt


_IGNORE = object()


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
    ) -> None:
        self._params = params
        self._snapshots = snapshots
        self._locator = locator
        self._cdrs = cdrs
        self._locals = dict(locals_)
        self._ids = ids
        self._wall = wall_clock
        self._authenticator = authenticator
        self._challenge_code = challenge_code
        self._abandon = abandon
        self._product = product
        self._allow = sorted(allow)
        self._rng = rng if rng is not None else random.Random()
        self._sender: Sender | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.table = CallTable()
        self.quality = QualityWindows(
            asr_window=float(params.get_int("SS_GATEWAY_ASR_RESERVE_TIME")),
            acd_window=float(params.get_int("SS_GATEWAY_ACD_RESERVE_TIME")),
        )
        self._calls: dict[str, Call] = {}
        self._by_inbound: dict[TransactionKey, Call] = {}
        self._client: dict[TransactionKey, object] = {}
        self._dialogs: dict[DialogId, tuple[Call, Leg]] = {}
        self._dropped: set[TransactionKey] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._starts: deque[float] = deque()
        self._carriers: tuple[int, dict[str, GatewayInfo]] | None = None
        self.calls_total = 0
        self.answered_total = 0
        self._unsubscribe = params.subscribe(self._on_param)

    # ================================================================ control surface
    def calls(self) -> list[LiveCallView]:
        now = self._now()
        return [call.view(now) for call in self._calls.values()]

    def call(self, call_id: str) -> LiveCallView | None:
        found = self._calls.get(call_id)
        return None if found is None else found.view(self._now())

    def hangup(self, call_id: str) -> bool:
        call = self._calls.get(call_id)
        if call is None or call.ended:
            return False
        self._clear(call, R.OPERATOR_HANGUP, "operator")
        return True

    def monitor(self) -> MonitorFigures:
        now = self._now()
        self._trim_starts(now)
        snapshot = self._snapshots.current
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
            answered_total=self.answered_total,
            registered_aors=counts.aors,
            registered_bindings=counts.bindings,
            registered_behind_nat=counts.behind_nat,
            cdr_pending=self._cdrs.pending,
            gateways=tuple(gateways),
        )

    def callback(self, request: CallbackRequest) -> CallbackOutcome:
        """RFC 3725 flow I: INVITE A without SDP; A's 2xx carries the offer, which goes to B in
        a normal INVITE; B's answer goes to A in our ACK."""
        if self._sender is None:
            return CallbackOutcome(None, R.SERVER_ERROR.value, "the SIP transport is not running")
        snapshot = self._snapshots.current
        account = snapshot.accounts.get(request.account_id)
        if account is None:
            return CallbackOutcome(None, R.CALLER_LOCKED.value, "unknown account")
        ident = Identified(
            Kind.TRUNK,
            request.caller_id or request.b,
            request.a,
            request.caller_id or request.b,
            request.a,
            account,
            lines=((Holder.ACCOUNT, account.id),),
        )
        if account.at_call_limit(self.table.in_use(Holder.ACCOUNT, account.id)):
            return CallbackOutcome(
                None, R.ACCOUNT_CONCURRENCY_LIMIT.value, "the account is at its call limit"
            )
        now = self._now()
        local = self._local("UDP")
        call = Call(
            id=self._new_id(),
            start_mono=now,
            start_wall=self._wall(),
            ident=ident,
            caller=Leg("a", Peer("UDP", "0.0.0.0", 0), local),
            inbound=None,
            inbound_key=None,
            to_tag="",
            callback_b=request.b,
        )
        self._admit(call, now)
        self._route(call, snapshot, request.a, now, body=b"", content_type=None)
        return CallbackOutcome(call.id)

    # ================================================================ the dispatcher's entry
    def handle(self, event: Event, sender: Sender) -> bool:
        """Take ``event`` if it belongs to call control; False lets the dispatcher answer."""
        self._sender = sender
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if isinstance(event, RequestReceived):
            request = event.request
            if request.method == "INVITE" and request.to.tag is None:
                if event.transaction is not None:
                    self._new_call(request, event.transaction, event.peer)
                return True
            return self._in_dialog(request, event.transaction, event.peer)
        if isinstance(event, ResponseReceived):
            if event.transaction is None:
                return False
            return self._response(event.transaction, event.response)
        if isinstance(event, CancelReceived):
            return self._caller_cancel(event.transaction)
        if isinstance(event, TransactionTimeout | TransportFailed):
            return self._client_failed(event.transaction, isinstance(event, TransactionTimeout))
        if isinstance(event, TransactionTerminated):
            entry = self._client.get(event.transaction)
            if entry is not None and (
                not isinstance(entry, _AttemptRef)
                or entry.call.ended
                or entry.attempt is not entry.call.attempt
            ):
                del self._client[event.transaction]
            self._by_inbound.pop(event.transaction, None)
            return False
        return False

    async def stop(self) -> None:
        """Wait for CDRs being written; cancel timers."""
        self._unsubscribe()
        for call in self._calls.values():
            call.cancel_timers()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ================================================================ new calls
    def _new_call(self, request: Request, key: TransactionKey, peer: Peer) -> None:
        if key in self._by_inbound or key in self._dropped:
            return
        sender = self._send()
        unsupported = [tag for tag in request.require if tag.lower() not in _SUPPORTED]
        if unsupported:
            # We promise no extension on the caller's behalf (100rel, timer are per leg).
            headers = (("Unsupported", ", ".join(unsupported)),)
            self._answer(request, key, 420, headers=headers)
            return
        max_forwards = request.max_forwards
        if max_forwards is not None and max_forwards <= 0:
            self._answer(request, key, 483)
            return
        now = sender.now()
        snapshot = self._snapshots.current
        username, refused = self._credentials(request, snapshot, now)
        if refused is not None:
            self._refuse(request, key, peer, refused, now)
            return
        found = identify(
            request,
            peer,
            snapshot,
            username=username,
            in_use=self.table.in_use,
            now=self._wall(),
            reply_unauthorized=self._params.get_bool("SS_REPLY_UNAUTHORIZED"),
            carriers=lambda host: self._carrier(snapshot, host),
        )
        if isinstance(found, Challenge):
            self._challenge(request, key, now, stale=False)
            return
        if isinstance(found, Refused):
            self._refuse(request, key, peer, found, now)
            return
        self._answer(request, key, 100)
        local = self._local(peer.transport)
        call = Call(
            id=self._new_id(),
            start_mono=now,
            start_wall=self._wall(),
            ident=found,
            caller=Leg("caller", peer, local),
            inbound=request,
            inbound_key=key,
            to_tag=self._ids.tag(),
            late_offer=not request.body,
        )
        self._by_inbound[key] = call
        self._admit(call, now)
        self._route(
            call,
            snapshot,
            found.callee,
            now,
            body=request.body,
            content_type=request.get("content-type"),
        )

    def _admit(self, call: Call, now: float) -> None:
        self._calls[call.id] = call
        self.calls_total += 1
        self._starts.append(now)
        self._trim_starts(now)
        call.lines.extend(call.ident.lines)
        self.table.take(call.ident.lines)

    def _credentials(
        self, request: Request, snapshot: Snapshot, now: float
    ) -> tuple[str | None, Refused | None]:
        """The verified digest username, or a refusal for wrong credentials; (None, None)
        when the request carries none (or stale ones: then it is challenged again later)."""
        code = self._challenge_code()
        auth = self._authenticator()
        credentials = find_credentials(request.auth(credentials_header_name(code)), auth.realm)
        if credentials is None:
            return None, None
        name = credentials.get("username")

        def lookup(user: str) -> str | None:
            phone = snapshot.phones.get(user)
            if phone is not None:
                return phone.password
            trunk = snapshot.trunks_by_username.get(user)
            return trunk.auth_password if trunk is not None else None

        result = auth.verify(request.method, credentials, lookup, now, request_uri=request.uri)
        if result.outcome is AuthOutcome.OK:
            return result.username, None
        if result.outcome in (AuthOutcome.UNKNOWN_USER, AuthOutcome.BAD_RESPONSE):
            _log.info("INVITE from %r: digest refused (%s)", name, result.outcome.name)
            return None, Refused(
                R.AUTHENTICATION_FAILED,
                403,
                "Forbidden (authentication failed)",
                build.caller_number(request),
                build.callee_number(request) or "",
            )
        return None, None

    def _challenge(self, request: Request, key: TransactionKey, now: float, *, stale: bool) -> None:
        code = self._challenge_code()
        header = challenge_header_name(code)
        values = self._authenticator().challenges(now, stale=stale)
        self._answer(request, key, code, headers=tuple((header, v) for v in values))

    def _refuse(
        self, request: Request, key: TransactionKey, peer: Peer, refused: Refused, now: float
    ) -> None:
        _log.info(
            "INVITE %s from %s refused: %s (%s)",
            request.call_id,
            peer.host,
            refused.reason.value,
            refused.message,
        )
        illegal = refused.reason in (R.ILLEGAL_CALL, R.AUTHENTICATION_FAILED)
        record = not illegal or self._params.get_bool("SERVER_BILLING_RECORD_ILLEGAL_CALL")
        if refused.status is None:
            self._dropped.add(key)
            self._later(_DROP_HOLD, lambda: self._forget_dropped(key))
        if not record:
            if refused.status is not None:
                self._answer(request, key, refused.status, refused.message)
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
            id=self._new_id(),
            start_mono=now,
            start_wall=self._wall(),
            ident=ident,
            caller=Leg("caller", peer, self._local(peer.transport)),
            inbound=request,
            inbound_key=key,
            to_tag=self._ids.tag(),
        )
        self._calls[call.id] = call
        self.calls_total += 1
        silent = refused.status is None
        self._finish(
            call,
            refused.reason,
            refused.status,
            "system",
            answer=None if silent else (refused.status or 403, refused.message),
        )

    def _forget_dropped(self, key: TransactionKey) -> None:
        self._dropped.discard(key)
        self._abandon(key)

    # ================================================================ routing and hunting
    def _route(
        self,
        call: Call,
        snapshot: Snapshot,
        callee: str,
        now: float,
        *,
        body: bytes,
        content_type: str | None,
    ) -> None:
        targets, refusal = self._targets(call, snapshot, callee, now)
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
        call.offer = (body, content_type)
        self._decide(call, call.hunt.start(now))

    def _targets(
        self, call: Call, snapshot: Snapshot, callee: str, now: float
    ) -> tuple[list[Target], TerminationReason | None]:
        ident = call.ident
        caller = ident.caller
        phone = snapshot.phones.get(callee)
        if phone is not None:
            if not phone.enabled:
                return [], R.CALLEE_NOT_FOUND
            found = self._phone_targets(phone.number, phone, caller, now)
            return (found, None) if found else ([], R.CALLEE_UNREGISTERED)
        if ident.kind is Kind.CARRIER:
            return [], R.CALLEE_NOT_FOUND
        routes = candidates(
            snapshot.routes_tree,
            callee,
            in_use=self.table.gateways,
            quality=self.quality,
            now=now,
            asr_enabled=self._params.get_bool("SS_GATEWAY_ASR_CALCULATE"),
            rng=self._rng,
        )
        targets = [
            target
            for target in (self._gateway_target(r, snapshot, callee, caller) for r in routes)
            if target is not None
        ]
        if targets:
            return targets, None
        if routes:
            return [], R.NO_AVAILABLE_ROUTER  # matching dynamic gateways, none registered
        matching = any(
            route.enabled for _, found in snapshot.routes_tree.matches(callee) for route in found
        )
        return [], R.GATEWAY_LINE_LIMIT if matching else R.NO_AVAILABLE_ROUTER

    def _phone_targets(
        self, number: str, phone: PhoneInfo, caller: str, now: float
    ) -> list[Target]:
        targets: list[Target] = []
        if phone.registration is Registration.STATIC and phone.host:
            transport = phone.transport.value.upper()
            port = phone.port or (5061 if transport == "TLS" else 5060)
            peer = Peer(transport, phone.host, port)
            ruri = _sip_uri(number, phone.host, port, transport)
            targets.append(Target(peer, ruri, f"<{ruri}>", number, caller))
            return targets
        for binding in self._locator.lookup_user(number, now)[:3]:
            to = _binding_peer(binding)
            targets.append(Target(to, binding.contact, f"<sip:{number}@{to.host}>", number, caller))
        return targets

    def _gateway_target(
        self, route: GatewayRoute, snapshot: Snapshot, callee: str, caller: str
    ) -> Target | None:
        callee_out = route.rewrite_callee(callee)
        caller_out = route.rewrite_caller_id(route.rewrite_caller(caller))
        prefix = route.longest_prefix(callee) or ""
        if route.host is None:
            info = snapshot.gateways.get(route.id)
            user = info.auth_username if info is not None else None
            bindings = self._locator.lookup_user(user) if user else []
            if not bindings:
                return None
            peer = _binding_peer(bindings[0])
            host, port, transport = peer.host, peer.port, peer.transport
        else:
            transport = route.transport.value.upper()
            host = route.host
            port = route.port or (5061 if route.transport is Transport.TLS else 5060)
            peer = Peer(transport, host, port)
        ruri = _sip_uri(callee_out, host, port, transport)
        return Target(
            peer,
            ruri,
            f"<{_sip_uri(callee_out, host, None, 'UDP')}>",
            callee_out,
            caller_out,
            gateway=route,
            prefix=prefix,
            failover_codes=route.failover_codes,
        )

    def _decide(self, call: Call, decision: Decision) -> None:
        if call.ended:
            return
        call.cancel_timer("hunt")
        if isinstance(decision, TryNext):
            if decision.cancel_current:
                self._abandon_attempt(call)
            self._send_attempt(call, decision.index)
            self._arm_hunt(call)
        elif isinstance(decision, Stop):
            if decision.cancel_current:
                self._abandon_attempt(call)
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
            self._decide(call, call.hunt.handle_deadline(self._now()))

        call.timers["hunt"] = self._at(deadline, fire)

    def _send_attempt(self, call: Call, index: int) -> None:
        sender = self._send()
        target = call.targets[index]
        local = self._local(target.peer.transport)
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
            call_id=self._ids.call_id(local.host),
            from_tag=self._ids.tag(),
            branch=self._ids.branch(),
            local=local,
            body=body,
            content_type=content_type,
            max_forwards=forwards,
            supported=supported,
            allow=self._allow,
            user_agent=self._product,
            extra=build.relayed_headers(inbound) if inbound is not None else (),
        )
        key = sender.send_request(request, target.peer)
        leg = Leg("callee", target.peer, local)
        attempt = Attempt(index, target, request, key, leg)
        call.attempt = attempt
        call.attempts.append(attempt)
        self._client[key] = _AttemptRef(call, attempt)
        if target.gateway is not None:
            line = (Holder.GATEWAY, target.gateway.id)
            self.table.take((line,))
            call.lines.append(line)

    def _abandon_attempt(self, call: Call) -> None:
        """Stop the current attempt: CANCEL it once it had a provisional (RFC 3261 §9.1: not
        before), else mark it so a later provisional is cancelled and a 2xx ACKed and BYEd."""
        attempt = call.attempt
        if attempt is None or attempt.abandoned:
            return
        attempt.abandoned = True
        self._release_gateway(call, attempt)
        if attempt.provisional:
            self._send_cancel(attempt)

    def _send_cancel(self, attempt: Attempt) -> None:
        key = self._send().send_request(make_cancel(attempt.request), attempt.target.peer)
        self._client[key] = _IGNORE

    def _release_gateway(self, call: Call, attempt: Attempt) -> None:
        gateway = attempt.target.gateway
        if gateway is None:
            return
        line = (Holder.GATEWAY, gateway.id)
        if line in call.lines:
            call.lines.remove(line)
            self.table.release((line,))

    # ================================================================ responses
    def _response(self, key: TransactionKey, response: Response) -> bool:
        entry = self._client.get(key)
        if entry is None:
            return False
        if isinstance(entry, _AttemptRef):
            self._attempt_response(entry.call, entry.attempt, response)
        elif isinstance(entry, _Relay):
            self._relay_response(entry, key, response)
        return True

    def _attempt_response(self, call: Call, attempt: Attempt, response: Response) -> None:
        status = response.status
        now = self._now()
        if status == 100:
            return
        if attempt is call.first_leg:
            if 200 <= status < 300 and attempt.leg.ack is not None:
                self._send().send_stateless(attempt.leg.ack, attempt.leg.peer)
            return
        if attempt.abandoned or call.ended or attempt is not call.attempt:
            self._late_response(attempt, response)
            return
        if call.callee is not None and call.callee is attempt.leg:
            if 200 <= status < 300 and attempt.leg.ack is not None:
                self._send().send_stateless(attempt.leg.ack, attempt.leg.peer)
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
        attempt.status = status
        attempt.reason = response.reason
        self._release_gateway(call, attempt)
        self._record_failure(attempt, now)
        call.sip_status = status
        if hunt.finished:
            return
        self._decide(call, hunt.handle(FinalResponse(status), now))

    def _late_response(self, attempt: Attempt, response: Response) -> None:
        """A response of an attempt we gave up: CANCEL on its first provisional; ACK and BYE a
        2xx (RFC 3261 §15: a UAC that does not want the call sends BYE after the ACK)."""
        status = response.status
        if status < 200:
            if not attempt.provisional:
                attempt.provisional = True
                self._send_cancel(attempt)
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
        sender = self._send()
        leg = attempt.leg
        local = leg.local
        ack = dialog.ack_for(
            attempt.request.cseq.seq,
            branch=self._ids.branch(),
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
            branch=self._ids.branch(),
            via_host=local.host,
            via_port=local.port,
            transport=local.transport,
        )
        self._client[sender.send_request(bye, leg.peer)] = _IGNORE

    def _early_dialog(self, call: Call, attempt: Attempt, response: Response) -> None:
        if response.to.tag is None:
            return
        leg = attempt.leg
        if leg.dialog is None or leg.dialog.id.remote_tag != response.to.tag:
            try:
                leg.dialog = Dialog.from_uac(attempt.request, response)
            except ProtocolError:
                return
            self._dialogs[leg.dialog.id] = (call, leg)

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
            branch=self._ids.branch(),
            via_host=local.host,
            via_port=local.port,
            transport=local.transport,
            headers=(("RAck", f"{rseq} {cseq.seq} {cseq.method}"),),
        )
        self._client[self._send().send_request(prack, leg.peer)] = _IGNORE

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
        self._send().send_response(key, ours)
        if call.caller.dialog is None and inbound.contacts:
            try:
                call.caller.dialog = Dialog.from_uas(inbound, ours)
            except ProtocolError:
                return
            self._dialogs[call.caller.dialog.id] = (call, call.caller)

    def _connect(self, call: Call, attempt: Attempt, response: Response, now: float) -> None:
        call.cancel_timer("hunt")
        sender = self._send()
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
        call.codec = _codec(response.body)
        self.answered_total += 1
        self._dialogs[leg.dialog.id] = (call, leg)
        if call.inbound is None:
            if call.first_leg is None:
                self._callback_answered(call, attempt, response)
                return
            # B answered the offer of A: ACK B, and give A the answer in its ACK.
            self._ack(leg, attempt.request.cseq.seq, b"", None)
            first = call.first_leg
            content_type = response.get("content-type")
            self._ack(call.caller, first.request.cseq.seq, response.body, content_type)
            call.acked = True
            self._arm_max_duration(call)
            return
        if not call.late_offer:
            self._ack(leg, attempt.request.cseq.seq, b"", None)
        inbound, key = call.inbound, call.inbound_key
        assert key is not None
        answer = build.response_to(
            inbound,
            response.status,
            response.reason,
            to_tag=call.to_tag,
            local=call.caller.local,
            source=response,
        )
        sender.send_response(key, answer)
        call.final_sent = True
        call.answer = answer
        caller = call.caller
        if caller.dialog is None:
            try:
                caller.dialog = Dialog.from_uas(inbound, answer)
            except ProtocolError:
                self._clear(call, R.SERVER_ERROR, "system")
                return
            self._dialogs[caller.dialog.id] = (call, caller)
        else:
            caller.dialog = caller.dialog.send_response(answer)
        self._retransmit_answer(call)
        self._arm_max_duration(call)

    def _ack(self, leg: Leg, seq: int, body: bytes, content_type: str | None) -> None:
        assert leg.dialog is not None
        local = leg.local
        ack = leg.dialog.ack_for(
            seq,
            branch=self._ids.branch(),
            via_host=local.host,
            via_port=local.port,
            transport=local.transport,
            body=body,
            content_type=content_type,
        )
        leg.ack = ack
        self._send().send_stateless(ack, leg.peer)

    def _retransmit_answer(self, call: Call) -> None:
        """§13.3.1.4: our 2xx goes again at T1, 2*T1 ... T2 until the ACK; without one within
        64*T1 the call is cleared with BYE on both legs."""
        reliable = call.caller.peer.reliable
        deadline = self._now() + _ACK_WAIT

        def resend() -> None:
            call.timers.pop("2xx", None)
            if call.acked or call.ended:
                return
            if self._now() >= deadline:
                self._clear(call, R.ACK_TIMEOUT, "caller")
                return
            if not reliable and call.answer is not None and call.inbound_key is not None:
                self._send().send_response(call.inbound_key, call.answer)
            call.retransmit_interval = min(call.retransmit_interval * 2, _T2)
            call.timers["2xx"] = self._later(
                min(call.retransmit_interval, max(0.0, deadline - self._now())), resend
            )

        call.retransmit_interval = 0.5
        call.timers["2xx"] = self._later(_ACK_WAIT if reliable else 0.5, resend)

    def _arm_max_duration(self, call: Call) -> None:
        limit = self._params.get_int("SS_MAX_CALL_DURATION")
        if limit <= 0:
            return

        def fire() -> None:
            call.timers.pop("max", None)
            if not call.ended:
                self._clear(call, R.MAX_CALL_DURATION, "system")

        call.timers["max"] = self._later(float(limit), fire)

    def _record_failure(self, attempt: Attempt, now: float) -> None:
        gateway = attempt.target.gateway
        if gateway is None:
            return
        self.quality.record(gateway.id, False, 0.0, now)
        self.quality.record((gateway.id, attempt.target.prefix), False, 0.0, now)

    # ================================================================ callback (RFC 3725 flow I)
    def _callback_answered(self, call: Call, attempt: Attempt, response: Response) -> None:
        """A answered our offerless INVITE with its offer: A becomes the caller leg, and B is
        routed with that offer; A's ACK waits for B's answer."""
        a_leg = attempt.leg
        a_leg.side = "caller"
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
        self._release_gateway(call, attempt)
        call.attempts.remove(attempt)
        call.first_leg = attempt
        self._route(
            call,
            self._snapshots.current,
            b or "",
            self._now(),
            body=response.body,
            content_type=response.get("content-type"),
        )

    # ================================================================ caller's CANCEL
    def _caller_cancel(self, key: TransactionKey) -> bool:
        call = self._by_inbound.get(key)
        if call is None:
            return False
        if call.final_sent or call.ended or call.hunt is None or call.hunt.finished:
            return True
        self._decide(call, call.hunt.handle(CallerCancelled(), self._now()))
        return True

    def _client_failed(self, key: TransactionKey, timeout: bool) -> bool:
        entry = self._client.get(key)
        if entry is None:
            return False
        if isinstance(entry, _AttemptRef):
            call, attempt = entry.call, entry.attempt
            hunt = call.hunt
            live = attempt is call.attempt and not call.ended
            if live and hunt is not None and not hunt.finished:
                now = self._now()
                attempt.status = 408 if timeout else 503
                attempt.reason = "no response" if timeout else "transport failed"
                self._release_gateway(call, attempt)
                self._record_failure(attempt, now)
                event = Timeout() if timeout else FinalResponse(503)
                self._decide(call, hunt.handle(event, now))
        elif isinstance(entry, _Relay):
            status = 408 if timeout else 503
            self._answer(entry.request, entry.server_key, status)
            entry.origin.pending_invite = entry.target.pending_invite = False
        return True

    # ================================================================ within dialogs
    def _in_dialog(self, request: Request, key: TransactionKey | None, peer: Peer) -> bool:
        did = dialog_id_of(request, Role.UAS)
        entry = self._dialogs.get(did) if did is not None else None
        if entry is None:
            return request.method == "ACK"
        call, leg = entry
        method = request.method
        if method == "ACK":
            self._caller_ack(call, leg, request)
            return True
        if key is None:
            return True
        if leg.dialog is None:
            return False
        try:
            leg.dialog = leg.dialog.receive_request(request)
        except ProtocolError as exc:
            self._answer(request, key, exc.status_hint or 500)
            return True
        if method == "BYE":
            self._bye(call, leg, request, key)
            return True
        other = self._other(call, leg)
        if method == "PRACK" or other is None or other.dialog is None:
            # We never send reliable provisionals, and before the other leg has a dialog there
            # is no one to relay to.
            self._answer(request, key, 481 if method == "PRACK" else 500, headers=_RETRY)
            return True
        if method == "INVITE" and (leg.pending_invite or other.pending_invite):
            self._answer(request, key, 491)
            return True
        self._relay(call, leg, other, request, key)
        return True

    def _other(self, call: Call, leg: Leg) -> Leg | None:
        if leg is call.caller:
            if call.callee is not None:
                return call.callee
            return call.attempt.leg if call.attempt is not None else None
        return call.caller

    def _caller_ack(self, call: Call, leg: Leg, request: Request) -> None:
        if leg is call.caller and not call.acked:
            call.acked = True
            call.cancel_timer("2xx")
            callee = call.callee
            if call.late_offer and callee is not None and call.attempt is not None:
                self._ack(
                    callee,
                    call.attempt.request.cseq.seq,
                    request.body,
                    request.get("content-type"),
                )
            return
        pending = leg.pending_ack
        if pending is not None:
            target, seq = pending
            leg.pending_ack = None
            self._ack(target, seq, request.body, request.get("content-type"))

    def _relay(
        self, call: Call, origin: Leg, target: Leg, request: Request, key: TransactionKey
    ) -> None:
        assert target.dialog is not None
        local = target.local
        content_type = request.get("content-type") if request.body else None
        contact = local.contact() if request.method in ("INVITE", "UPDATE") else None
        try:
            target.dialog, out = target.dialog.request(
                request.method,
                branch=self._ids.branch(),
                via_host=local.host,
                via_port=local.port,
                transport=local.transport,
                contact=contact,
                body=request.body,
                content_type=content_type,
                headers=build.relayed_headers(request),
            )
        except ProtocolError:
            self._answer(request, key, 500)
            return
        if request.method == "INVITE":
            origin.pending_invite = target.pending_invite = True
        sent = self._send().send_request(out, target.peer)
        self._client[sent] = _Relay(call, origin, target, key, request)

    def _relay_response(self, relay: _Relay, key: TransactionKey, response: Response) -> None:
        status = response.status
        if status < 200:
            return
        del self._client[key]
        origin, target, request = relay.origin, relay.target, relay.request
        if target.dialog is not None:
            with contextlib.suppress(ProtocolError):
                target.dialog = target.dialog.receive_response(response)
        if request.method == "INVITE":
            origin.pending_invite = target.pending_invite = False
            if 200 <= status < 300:
                if request.body:
                    self._ack(target, response.cseq.seq, b"", None)
                else:
                    origin.pending_ack = (target, response.cseq.seq)
        ours = build.response_to(
            request, status, response.reason, to_tag=None, local=origin.local, source=response
        )
        self._send().send_response(relay.server_key, ours)
        if status in (408, 481) and not relay.call.ended:
            side = "callee" if target is not relay.call.caller else "caller"
            reason = R.CALLEE_HANGUP if side == "callee" else R.CALLER_HANGUP
            self._clear(relay.call, reason, side)

    def _bye(self, call: Call, leg: Leg, request: Request, key: TransactionKey) -> None:
        side = "caller" if leg is call.caller else "callee"
        leg.dialog = leg.dialog.terminated() if leg.dialog is not None else None
        ok = make_response(request, 200, headers=(("Server", self._product),))
        if call.ended:
            self._send().send_response(key, ok)
            return
        if call.answer_mono is None:
            # BYE on an early dialog: the caller gives up (§15); like a CANCEL.
            if side == "caller" and call.hunt is not None and not call.hunt.finished:
                self._send().send_response(key, ok)
                self._decide(call, call.hunt.handle(CallerCancelled(), self._now()))
                return
            self._send().send_response(key, ok)
            self._clear(call, R.CALLEE_HANGUP, "callee")
            return
        reason = R.CALLER_HANGUP if side == "caller" else R.CALLEE_HANGUP
        self._clear(call, reason, side, after=lambda: self._send().send_response(key, ok))

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
        if call.answer_mono is None:
            if call.hunt is not None and not call.hunt.finished and call.attempt is not None:
                self._abandon_attempt(call)
            first = call.first_leg
            if first is not None:
                self._bye_leg(first.leg)
            status = reason.caller_status or 480
            self._finish(call, reason, status, side, after=after)
            return
        for leg in (call.caller, call.callee):
            if leg is not None:
                self._bye_leg(leg)
        self._finish(call, reason, call.sip_status, side, after=after)

    def _bye_leg(self, leg: Leg) -> None:
        dialog = leg.dialog
        if dialog is None or dialog.state is DialogState.TERMINATED:
            return
        local = leg.local
        try:
            leg.dialog, bye = dialog.request(
                "BYE",
                branch=self._ids.branch(),
                via_host=local.host,
                via_port=local.port,
                transport=local.transport,
            )
        except ProtocolError:
            return
        leg.dialog = leg.dialog.terminated()
        self._client[self._send().send_request(bye, leg.peer)] = _IGNORE

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
        """Record the end of ``call``; its CDR is written, then the caller's final answer
        (if it still needs one) and ``after`` go out, then the call is dropped."""
        now = self._now()
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
        final: Callable[[], None] | None = None
        inbound, key = call.inbound, call.inbound_key
        silent = status is None and answer is None
        if inbound is not None and key is not None and not call.final_sent and not silent:
            call.final_sent = True
            code, text = answer if answer is not None else (status or 500, None)
            response = make_response(
                inbound, code, text, to_tag=call.to_tag, headers=(("Server", self._product),)
            )

            def final() -> None:
                self._send().send_response(key, response)

        self._spawn(self._write_cdr(call, final, after))

    async def _write_cdr(
        self, call: Call, final: Callable[[], None] | None, after: Callable[[], None] | None
    ) -> None:
        values = call.cdr(self._now(), self._params.get_int("SERVER_BILLING_HOLD_TIME_PRECISION"))
        try:
            await self._cdrs.submit(values)
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
        self._calls.pop(call.id, None)
        if call.inbound_key is not None:
            self._by_inbound.pop(call.inbound_key, None)
        for leg in (call.caller, call.callee, *(a.leg for a in call.attempts)):
            if leg is not None and leg.dialog is not None:
                self._dialogs.pop(leg.dialog.id, None)
        for attempt in call.attempts:
            if not attempt.abandoned:
                self._client.pop(attempt.key, None)

    # ================================================================ small helpers
    def _answer(
        self,
        request: Request,
        key: TransactionKey,
        status: int,
        reason: str | None = None,
        *,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        to_tag = None if status == 100 else self._ids.tag()
        response = make_response(
            request, status, reason, to_tag=to_tag, headers=(*headers, ("Server", self._product))
        )
        self._send().send_response(key, response)

    def _send(self) -> Sender:
        if self._sender is None:
            raise RuntimeError("the call engine has no transport yet")
        return self._sender

    def _now(self) -> float:
        if self._sender is not None:
            return self._sender.now()
        loop = self._loop or asyncio.get_event_loop()
        return loop.time()

    def _local(self, transport: str) -> Local:
        name = transport.upper()
        return self._locals.get(name) or next(iter(self._locals.values()))

    def _new_id(self) -> str:
        return self._ids.tag()

    def _carrier(self, snapshot: Snapshot, host: str) -> GatewayInfo | None:
        cached = self._carriers
        if cached is None or cached[0] != snapshot.version:
            index: dict[str, GatewayInfo] = {}
            for gateway in sorted(snapshot.gateways.values(), key=lambda g: g.id):
                route_host = gateway.route.host
                if route_host and gateway.route.enabled:
                    index.setdefault(route_host, gateway)
            cached = self._carriers = (snapshot.version, index)
        return cached[1].get(host)

    def _trim_starts(self, now: float) -> None:
        starts = self._starts
        while starts and starts[0] <= now - _CPS_WINDOW:
            starts.popleft()

    def _later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        loop = self._loop or asyncio.get_running_loop()
        return loop.call_later(delay, callback)

    def _at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        loop = self._loop or asyncio.get_running_loop()
        return loop.call_at(when, callback)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_param(self, change: Any) -> None:
        if change.name in ("SS_GATEWAY_ASR_RESERVE_TIME", "SS_GATEWAY_ACD_RESERVE_TIME"):
            self.quality.set_windows(
                float(self._params.get_int("SS_GATEWAY_ASR_RESERVE_TIME")),
                float(self._params.get_int("SS_GATEWAY_ACD_RESERVE_TIME")),
            )


_RETRY = (("Retry-After", "1"),)
_SUPPORTED: frozenset[str] = frozenset()
"""Option tags a caller may Require of us on a new INVITE: none yet. 100rel is refused with
420 (RFC 3262 §3 allows it) rather than half-supported; session timers come with issue 7."""


def _sip_uri(user: str, host: str, port: int | None, transport: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    where = shown if port is None else f"{shown}:{port}"
    param = "" if transport.upper() == "UDP" else f";transport={transport.lower()}"
    return f"sip:{user}@{where}{param}"


def _binding_peer(binding: Binding) -> Peer:
    """Where requests to a registered contact go: the REGISTER's source when the device is
    behind NAT (or on a stream: its connection), else the Contact's own address."""
    source = binding.source
    if binding.behind_nat or source.reliable:
        return source
    try:
        uri = parse_uri(binding.contact)
    except UriError:
        return source
    if not isinstance(uri, SipUri):
        return source
    transport = (uri.param("transport") or "udp").upper()
    port = uri.port or (5061 if transport == "TLS" else 5060)
    return Peer(transport, uri.host.strip("[]"), port)


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _codec(body: bytes) -> str:
    """The first codec of the first audio stream of an SDP answer (for the CDR)."""
    if not body:
        return ""
    try:
        session = parse(body)
    except SdpError:
        return ""
    for media in session.media:
        if media.media == "audio":
            for codec in media.codecs:
                return str(codec.encoding)
    return ""


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
