"""The running registrar: credentials from the snapshot, bindings in memory, rows in the database.

``softswitch.registrar`` is pure (RFC 3261 §10.3 on a table, no clock, no I/O); this module is
the glue the composition root wires around it (issue 4 §1):

* **Who may register.** A digest username names a phone (by number) or a dynamic routing
  gateway (GoIP and the like, by ``auth_username``), looked up in the call path's current
  snapshot, so a change through the API applies to the next REGISTER without a database read.
  A disabled phone, or one registering from outside its ``allowed_ips``, is known but refused.
* **Expiry caps** come from SS_ENDPOINT_EXPIRE and SS_ENDPOINT_NAT_EXPIRE, read per request: a
  parameter change applies to the next REGISTER.
* **Persistence without waiting.** The SIP answer is sent at once; the binding changes go on an
  in-order queue drained by one writer task (one writer also keeps SQLite free of lock fights),
  with the monotonic expiry turned into wall-clock UTC. At start the live rows are loaded back
  (wall clock turned into monotonic), so bindings survive a restart.
* **Lightweight refreshes** (SS_SIP_REGISTRATION_LIGTHWEIGHT On): a refresh from the source
  and Call-ID a device last registered with is processed without a new challenge
  (:meth:`RegistrarService.refresh`); Off, every REGISTER is challenged.
* **Expiry.** One timer armed at the table's earliest expiry sweeps the table; expired rows are
  deleted periodically (the API already hides them by their ``expires_at``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from softswitch.params import ParamStore
from softswitch.registrar import (
    Binding,
    BindingCounts,
    BindingTable,
    ChangeKind,
    RegisterOutcome,
    RegistrarConfig,
    canonical_aor,
    lightweight_refresh,
    process_register,
)
from softswitch.sip.events import Peer
from softswitch.sip.message import Request
from softswitch.sip.uri import SipUri, UriError, parse_uri
from softswitch.snapshot import Snapshot
from softswitch.storage.repos import RegistrationRepo, StoredBinding

__all__ = ["PURGE_INTERVAL", "Registrant", "RegistrarService", "SnapshotSource"]

_log = logging.getLogger(__name__)

PURGE_INTERVAL = 300.0
"""Seconds between deletions of expired registration rows."""

_STOP_TIMEOUT = 5.0

Job = Callable[[], Awaitable[None]]


class SnapshotSource(Protocol):
    """What the service needs of ``snapshot.SnapshotService``: the snapshot in force."""

    @property
    def current(self) -> Snapshot: ...


@dataclass(frozen=True, slots=True)
class Registrant:
    """The device a digest username names, with its secret. ``refusal`` is set when the device
    is known but may not register now (disabled, or a source outside its allowed addresses):
    the dispatcher tells it only after the password checked out, so a wrong guess learns
    nothing about the account."""

    username: str
    password: str
    phone_id: int | None = None
    routing_gateway_id: int | None = None
    refusal: str | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _q_text(q: float) -> str:
    text = f"{q:.3f}".rstrip("0").rstrip(".")
    return text or "0"


class RegistrarService:
    """The switch's one registrar: binding table, credential lookup, persistence, expiry."""

    def __init__(
        self,
        params: ParamStore,
        snapshots: SnapshotSource,
        repo: RegistrationRepo,
        *,
        wall_clock: Callable[[], datetime] = _utcnow,
        purge_interval: float = PURGE_INTERVAL,
    ) -> None:
        self._params = params
        self._snapshots = snapshots
        self._repo = repo
        self._wall = wall_clock
        self._purge_interval = purge_interval
        self.table = BindingTable()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Job | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._purge: asyncio.TimerHandle | None = None
        self.write_failures = 0
        """Database writes that failed (logged; the in-memory table stays authoritative)."""

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the live bindings back, then start the writer, the expiry and purge timers."""
        if self._loop is not None:
            return
        loop = self._loop = asyncio.get_running_loop()
        wall, mono = self._wall(), loop.time()
        stored = await self._repo.live(wall)
        loaded = [b for b in (self._binding(s, wall, mono) for s in stored) if b is not None]
        self.table.load(loaded)
        _log.info("registrar: %d live bindings loaded back", len(loaded))
        self._writer = loop.create_task(self._write_loop(), name="registrar-writer")
        self._enqueue(self._purge_now)
        self._arm_expiry()

    async def stop(self) -> None:
        """Write what is queued (bounded wait), then stop the timers and the writer."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self._purge is not None:
            self._purge.cancel()
            self._purge = None
        writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(writer), _STOP_TIMEOUT)
            except TimeoutError:
                _log.warning("registrar: pending binding writes abandoned at stop")
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
        self._loop = None

    async def flush(self) -> None:
        """Wait until every change handed over so far is in the database."""
        done = asyncio.get_running_loop().create_future()

        async def mark() -> None:
            done.set_result(None)

        self._enqueue(mark)
        await done

    # -- who may register --------------------------------------------------------------------

    def registrant(self, username: str, source: Peer) -> Registrant | None:
        """The phone (by number) or dynamic routing gateway (by auth username) that
        ``username`` names in the current snapshot; None when nobody has that name."""
        snapshot = self._snapshots.current
        phone = snapshot.phones.get(username)
        if phone is not None:
            refusal = None
            if not phone.enabled:
                refusal = "Forbidden (phone disabled)"
            elif not phone.allows_source(source.host):
                refusal = "Forbidden (source address not allowed for this phone)"
            return Registrant(username, phone.password, phone_id=phone.id, refusal=refusal)
        gateway = snapshot.dynamic_gateways.get(username)
        if gateway is not None and gateway.auth_password is not None:
            refusal = None if gateway.route.enabled else "Forbidden (gateway disabled)"
            return Registrant(
                username, gateway.auth_password, routing_gateway_id=gateway.id, refusal=refusal
            )
        return None

    def config(self) -> RegistrarConfig:
        """Caps from the parameters in force (read per request: changes apply at once)."""
        return RegistrarConfig(
            max_expires=int(self._params.seconds("SS_ENDPOINT_EXPIRE")),
            nat_max_expires=int(self._params.seconds("SS_ENDPOINT_NAT_EXPIRE")),
        )

    # -- REGISTER ----------------------------------------------------------------------------

    def register(
        self, request: Request, source: Peer, now: float, registrant: Registrant, *, to_tag: str
    ) -> RegisterOutcome:
        """Run §10.3 for an authenticated ``registrant`` at monotonic ``now`` (the driver's
        clock); the table changes at once, the database soon after, in order."""
        wall = self._wall()
        outcome = process_register(
            request,
            source,
            now,
            self.config(),
            self.table,
            registrant.username,
            to_tag=to_tag,
            wall_time=wall.timestamp(),
        )
        self._persist(outcome, registrant, wall)
        return outcome

    def lightweight(self) -> bool:
        """SS_SIP_REGISTRATION_LIGTHWEIGHT (read per request: a change applies at once)."""
        return self._params.get_bool("SS_SIP_REGISTRATION_LIGTHWEIGHT")

    def refresh(
        self, request: Request, source: Peer, now: float, *, to_tag: str
    ) -> RegisterOutcome | None:
        """A lightweight refresh (SS_SIP_REGISTRATION_LIGTHWEIGHT On): process ``request``
        without credentials when it only refreshes live bindings this source registered with
        this Call-ID (``registrar.lightweight_refresh``), and its device may still register.
        None when it is not such a refresh (or the parameter is Off): challenge it as usual."""
        if not self.lightweight() or not lightweight_refresh(request, source, now, self.table):
            return None
        # The AOR's user part is the digest username it was registered with (§10.3 step 4
        # as ``process_register`` applies it), so the device is looked up again: a phone
        # disabled or deleted since then is challenged, and refused after its password.
        user = canonical_aor(request.to.uri).partition(":")[2].rpartition("@")[0]
        registrant = self.registrant(user, source) if user else None
        if registrant is None or registrant.refusal is not None:
            return None
        wall = self._wall()
        outcome = process_register(
            request,
            source,
            now,
            self.config(),
            self.table,
            None,
            to_tag=to_tag,
            wall_time=wall.timestamp(),
        )
        self._persist(outcome, registrant, wall)
        return outcome

    def _persist(self, outcome: RegisterOutcome, registrant: Registrant, wall: datetime) -> None:
        if not outcome.changes:
            return
        mono = self._now()  # the monotonic instant that ``wall`` names
        upserts: list[StoredBinding] = []
        removals: list[tuple[str, str]] = []
        for change in outcome.changes:
            binding = change.binding
            if change.kind is ChangeKind.REMOVED:
                removals.append((binding.aor, binding.contact))
            else:
                upserts.append(self._stored(binding, registrant, wall, mono))
        self._enqueue(lambda: self._repo.save(upserts, removals))
        self._arm_expiry()

    # -- reading -----------------------------------------------------------------------------

    def lookup(self, aor: str, now: float | None = None) -> list[Binding]:
        """Live contacts of ``aor`` (any spelling of a SIP AOR), best first; [] for none or
        for text that is not a SIP URI."""
        try:
            key = canonical_aor(aor)
        except UriError:
            return []
        return self.table.lookup(key, self._now() if now is None else now)

    def lookup_user(self, user: str, now: float | None = None) -> list[Binding]:
        """Live contacts registered for username ``user`` under any host part, best first."""
        return self.table.lookup_user(user, self._now() if now is None else now)

    def counts(self, now: float | None = None) -> BindingCounts:
        """Live AORs, bindings and bindings behind NAT (for monitoring)."""
        return self.table.counts(self._now() if now is None else now)

    # -- internals ---------------------------------------------------------------------------

    def _now(self) -> float:
        loop = self._loop or asyncio.get_running_loop()
        return loop.time()

    def _stored(
        self, binding: Binding, registrant: Registrant, wall: datetime, mono: float
    ) -> StoredBinding:
        return StoredBinding(
            aor=binding.aor,
            contact=binding.contact,
            source_transport=binding.source.transport,
            source_host=binding.source.host,
            source_port=binding.source.port,
            behind_nat=binding.behind_nat,
            call_id=binding.call_id,
            cseq=binding.cseq,
            expires=binding.expires,
            expires_at=wall + timedelta(seconds=binding.expires_at - mono),
            registered_at=wall + timedelta(seconds=binding.updated_at - mono),
            phone_id=registrant.phone_id,
            routing_gateway_id=registrant.routing_gateway_id,
            user_agent=(binding.user_agent or "")[:255],
            q=_q_text(binding.q),
        )

    @staticmethod
    def _binding(stored: StoredBinding, wall: datetime, mono: float) -> Binding | None:
        try:
            uri = parse_uri(stored.contact)
        except UriError:
            uri = None
        if not isinstance(uri, SipUri):
            _log.warning("registrar: stored contact %r is not a SIP URI; skipped", stored.contact)
            return None
        q = float(stored.q)
        return Binding(
            aor=stored.aor,
            uri=uri,
            expires_at=mono + (stored.expires_at - wall).total_seconds(),
            call_id=stored.call_id,
            cseq=stored.cseq,
            source=Peer(stored.source_transport, stored.source_host, stored.source_port),
            behind_nat=stored.behind_nat,
            updated_at=mono + (stored.registered_at - wall).total_seconds(),
            expires=stored.expires,
            user_agent=stored.user_agent or None,
            q=q,
            params=() if stored.q in ("1", "1.0") else (("q", stored.q),),
        )

    def _enqueue(self, job: Job) -> None:
        self._queue.put_nowait(job)

    async def _write_loop(self) -> None:
        while True:
            job = await self._queue.get()
            if job is None:
                return
            try:
                await job()
            except Exception:
                self.write_failures += 1
                _log.exception("registrar: writing registrations to the database failed")

    async def _purge_now(self) -> None:
        removed = await self._repo.purge_expired(self._wall())
        if removed:
            _log.debug("registrar: %d expired registration rows deleted", removed)
        loop = self._loop
        if loop is not None and self._writer is not None:
            self._purge = loop.call_later(self._purge_interval, self._enqueue, self._purge_now)

    def _arm_expiry(self) -> None:
        loop = self._loop
        if loop is None:
            return
        when = self.table.next_expiry()
        handle = self._expiry
        if when is not None and handle is not None and handle.when() <= when:
            return  # already armed early enough
        if handle is not None:
            handle.cancel()
            self._expiry = None
        if when is not None:
            self._expiry = loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        now = self._now()
        for binding in self.table.expire(now):
            _log.debug("registrar: binding %s of %s expired", binding.contact, binding.aor)
        self._arm_expiry()
