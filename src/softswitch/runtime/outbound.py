"""The switch registering itself to the carriers that require it (issue 7 §3).

For every enabled routing gateway with ``register_username`` set, one
:class:`~softswitch.registrar.outbound.OutboundRegistration` (the pure policy: requests, digest
answers bounded by SS_SIP_AUTHENTICATION_RETRY, refresh and back-off) is driven here through the
endpoint's client transactions. The dispatcher hands this service the events of its
transactions (:meth:`OutboundRegistrations.handle`).

One timer ticks every :data:`TICK` seconds and does two things: it follows the call-path
snapshot (a gateway added, changed, disabled or removed through the API is registered anew or
unregistered with Expires: 0 within a tick, no restart), and it sends the refreshes and retries
that are due. Raising SS_SIP_AUTHENTICATION_RETRY retries failed registrations at once; every
other parameter is read when it is used. At shutdown every binding is removed, waiting a
bounded time for the carriers' answers.

Status is logged on every change of state (registered: info; failed: warning, with the retry
time) and is available to callers as :meth:`OutboundRegistrations.status`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from softswitch.calls.build import Local
from softswitch.params import ParamChange, ParamStore
from softswitch.registrar.outbound import (
    DEFAULT_EXPIRES,
    RETRY_BASE,
    RETRY_CAP,
    Account,
    Origin,
    OutboundRegistration,
    Phase,
)
from softswitch.routing.model import Transport
from softswitch.sip.events import (
    Event,
    Peer,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailed,
)
from softswitch.sip.ids import IdSource
from softswitch.sip.message import Request
from softswitch.sip.transaction import TransactionKey
from softswitch.snapshot import Snapshot
from softswitch.transport.driver import Sender

__all__ = ["TICK", "OutboundRegistrations", "OutboundStatus", "accounts_of"]

_log = logging.getLogger(__name__)

TICK = 0.5
"""Seconds between looks at the snapshot and the schedule: how soon a gateway changed through
the API is registered, and the precision of refreshes."""

_STOP_WAIT = 2.0
"""Seconds shutdown waits for the answers to the un-REGISTERs."""


@dataclass(frozen=True, slots=True)
class OutboundStatus:
    """One registration as an operator sees it."""

    gateway_id: int
    gateway: str
    username: str
    registrar: str
    phase: str
    reason: str
    expires: int | None
    """Seconds granted by the last 200 (None: not registered)."""


def accounts_of(snapshot: Snapshot) -> dict[int, Account]:
    """What to register, by gateway id: enabled static gateways with ``register_username``."""
    found: dict[int, Account] = {}
    for gateway_id, info in snapshot.gateways.items():
        route = info.route
        if not route.enabled or not info.register_username or route.host is None:
            continue
        tls = route.transport is Transport.TLS
        found[gateway_id] = Account(
            gateway_id=gateway_id,
            name=route.name,
            host=route.host,
            port=route.port or (5061 if tls else 5060),
            transport=route.transport.value.upper(),
            username=info.register_username,
            password=info.register_password or "",
            expires=info.register_expires or DEFAULT_EXPIRES,
        )
    return found


class OutboundRegistrations:
    """Every registration of the switch to a carrier, kept in step with the snapshot."""

    def __init__(
        self,
        params: ParamStore,
        snapshot: Callable[[], Snapshot],
        locals_: Mapping[str, Local],
        ids: IdSource,
        *,
        product: str | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
        retry_base: float = RETRY_BASE,
        retry_cap: float = RETRY_CAP,
        tick: float = TICK,
    ) -> None:
        self._params = params
        self._snapshot = snapshot
        self._locals = dict(locals_)
        self._ids = ids
        self._product = product
        self._random = random_bytes
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._tick_s = tick
        self._sender: Sender | None = None
        self._seen: Snapshot | None = None
        self._regs: dict[int, OutboundRegistration] = {}
        self._pending: dict[TransactionKey, OutboundRegistration] = {}
        self._current: dict[OutboundRegistration, TransactionKey] = {}
        """The one transaction whose answer counts, per registration (an answer to a request
        superseded by a settings change is dropped)."""
        self._timer: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._retry_now = False

    # -- life cycle ------------------------------------------------------------------------------

    def start(self, sender: Sender) -> None:
        """Register to every gateway that asks for it and keep following the snapshot."""
        self._sender = sender
        self._unsubscribe = self._params.subscribe(self._on_param)
        self._tick()

    async def stop(self, wait: float = _STOP_WAIT) -> None:
        """Remove every binding (Expires: 0) and wait up to ``wait`` seconds for the answers."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._sender is None:
            return
        for reg in list(self._regs.values()):
            self._unregister(reg)
        self._regs.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while self._current and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for reg in self._current:
            _log.info("gateway %s: no answer to the un-REGISTER at shutdown", reg.account.name)
        self._current.clear()
        self._pending.clear()
        self._sender = None

    def status(self) -> list[OutboundStatus]:
        """Every registration in force, by gateway name."""
        return [
            OutboundStatus(
                reg.account.gateway_id,
                reg.account.name,
                reg.account.username,
                reg.account.registrar_uri,
                reg.phase.value,
                reg.reason,
                reg.granted if reg.phase is Phase.REGISTERED else None,
            )
            for reg in sorted(self._regs.values(), key=lambda r: r.account.name)
        ]

    def _on_param(self, change: ParamChange) -> None:
        # A raised limit should not wait for the back-off: the operator wants to see it work.
        if change.name == "SS_SIP_AUTHENTICATION_RETRY":
            self._retry_now = True

    # -- the tick --------------------------------------------------------------------------------

    def _tick(self) -> None:
        self._timer = None
        sender = self._sender
        if sender is None:
            return
        try:
            snapshot = self._snapshot()
            if snapshot is not self._seen:
                self._seen = snapshot
                self._sync(snapshot, sender)
            now = sender.now()
            retry_now, self._retry_now = self._retry_now, False
            for reg in list(self._regs.values()):
                due = reg.next_at is not None and reg.next_at <= now
                if due or (retry_now and reg.phase is Phase.FAILED):
                    self._send(reg, reg.register(now), sender)
        except Exception:
            _log.exception("outbound registration tick failed")
        self._timer = asyncio.get_running_loop().call_later(self._tick_s, self._tick)

    def _sync(self, snapshot: Snapshot, sender: Sender) -> None:
        wanted = accounts_of(snapshot)
        now = sender.now()
        for gateway_id, reg in list(self._regs.items()):
            account = wanted.get(gateway_id)
            if account == reg.account:
                continue
            if account is not None and reg.account.same_binding(account):
                reg.update(account)
                _log.info("gateway %s: registration settings changed", account.name)
                self._send(reg, reg.register(now), sender)
                continue
            del self._regs[gateway_id]
            _log.info("gateway %s: registration removed", reg.account.name)
            self._unregister(reg)
        for gateway_id, account in wanted.items():
            if gateway_id not in self._regs:
                reg = self._regs[gateway_id] = self._new(account)
                self._send(reg, reg.register(now), sender)

    def _new(self, account: Account) -> OutboundRegistration:
        local = self._locals.get(account.transport) or next(iter(self._locals.values()), None)
        origin = (
            Origin("127.0.0.1", 5060)
            if local is None
            else Origin(local.host, local.port, local.transport)
        )
        return OutboundRegistration(
            account,
            origin,
            self._ids,
            self._random,
            user_agent=self._product,
            retry_base=self._retry_base,
            retry_cap=self._retry_cap,
        )

    # -- transactions ----------------------------------------------------------------------------

    def _send(self, reg: OutboundRegistration, request: Request, sender: Sender) -> None:
        account = reg.account
        peer = Peer(account.transport, account.host, account.port)
        try:
            key = sender.send_request(request, peer)
        except Exception as exc:  # a local error (bad address): a failure like any other
            _log.warning("gateway %s: cannot send REGISTER: %s", account.name, exc)
            before = reg.phase
            reg.failed(sender.now(), f"cannot send: {exc}")
            self._report(reg, before)
            return
        self._pending[key] = reg
        self._current[reg] = key

    def _unregister(self, reg: OutboundRegistration) -> None:
        sender = self._sender
        request = reg.unregister()
        if request is not None and sender is not None:
            self._send(reg, request, sender)
        else:
            self._current.pop(reg, None)

    def handle(self, event: Event, sender: Sender) -> bool:
        """Take the events of our REGISTER transactions; False for anything else."""
        if isinstance(event, ResponseReceived):
            key = event.transaction
            reg = self._pending.get(key) if key is not None else None
            if reg is None or key is None:
                return False
            response = event.response
            if response.status < 200:
                return True
            del self._pending[key]
            if self._current.get(reg) != key:
                return True  # superseded by a newer request of the same registration
            before = reg.phase
            limit = self._params.get_int("SS_SIP_AUTHENTICATION_RETRY")
            follow = reg.response(response, sender.now(), limit)
            if follow is not None:
                self._send(reg, follow, sender)
            else:
                self._current.pop(reg, None)
                self._report(reg, before)
            return True
        if isinstance(event, TransactionTimeout | TransportFailed):
            reg = self._pending.pop(event.transaction, None)
            if reg is None:
                return False
            if self._current.get(reg) == event.transaction:
                self._current.pop(reg, None)
                before = reg.phase
                what = "no answer" if isinstance(event, TransactionTimeout) else "transport failed"
                reg.failed(sender.now(), what)
                self._report(reg, before)
            return True
        if isinstance(event, TransactionTerminated):
            return self._pending.pop(event.transaction, None) is not None
        return False

    def _report(self, reg: OutboundRegistration, before: Phase) -> None:
        account = reg.account
        phase = reg.phase
        if phase is Phase.REGISTERED:
            log = _log.debug if before is Phase.REGISTERED else _log.info
            log(
                "gateway %s: registered to %s as %s (%s)",
                account.name,
                account.registrar_uri,
                account.username,
                reg.reason,
            )
        elif phase is Phase.FAILED:
            sender, due = self._sender, reg.next_at
            wait = 0.0 if sender is None or due is None else max(0.0, due - sender.now())
            _log.warning(
                "gateway %s: registration to %s as %s failed: %s; retrying in %.0f s",
                account.name,
                account.registrar_uri,
                account.username,
                reg.reason,
                wait,
            )
        elif phase is Phase.UNREGISTERED:
            _log.info("gateway %s: %s", account.name, reg.reason)
