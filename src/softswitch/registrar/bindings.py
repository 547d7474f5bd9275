"""Registrar bindings: address-of-record to contact, with expiry (RFC 3261 §10.3).

A :class:`BindingTable` is the in-memory location service. It is pure: it never reads a clock
(``now`` comes in) and never persists anything; whoever drives it (the registrar service) writes
the :class:`BindingChange` values it is handed to storage, and loads the stored bindings back with
:meth:`BindingTable.load` after a restart.

Contacts of one AOR are matched with the RFC 3261 §19.1.4 URI comparison, which is not transitive
and so cannot be a dictionary key: each AOR keeps a short list (a handful of devices) that is
scanned. Expiry uses a heap of deadlines with lazy deletion, so :meth:`BindingTable.expire` costs
O(log n) per binding that actually expires and the driver can arm one timer at
:meth:`BindingTable.next_expiry`.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum

from softswitch.sip.events import Peer
from softswitch.sip.grammar import Params
from softswitch.sip.uri import SipUri, uri_equal

_ROUNDING_TOLERANCE = 1e-6
"""Seconds of floating-point noise ignored when rounding a remaining time up."""

__all__ = ["Binding", "BindingChange", "BindingCounts", "BindingTable", "ChangeKind"]


@dataclass(frozen=True, slots=True)
class Binding:
    """One contact bound to an address-of-record.

    ``source`` is where the REGISTER came from (the packet's source, which the transport also
    wrote into the top Via as ``received``/``rport``, RFC 3581): requests to this contact go there,
    not to the Contact's host, whenever ``behind_nat`` is set. ``expires_at`` and ``updated_at`` are
    monotonic seconds. ``params`` are the Contact header parameters as sent, without ``expires``
    (``q``, ``+sip.instance`` ...), echoed back in the 200 OK.
    """

    aor: str
    uri: SipUri
    expires_at: float
    call_id: str
    cseq: int
    source: Peer
    behind_nat: bool
    updated_at: float
    expires: int
    user_agent: str | None = None
    q: float = 1.0
    params: Params = ()

    @property
    def contact(self) -> str:
        """The Contact URI as the device wrote it."""
        return str(self.uri)

    def live(self, now: float) -> bool:
        return self.expires_at > now

    def remaining(self, now: float) -> int:
        """Whole seconds left, rounded up: a live binding never reports 0, which means removed.

        ``(now + 1800) - now`` can come out a hair above 1800 in binary floating point; the
        tolerance keeps that from being reported as 1801 seconds."""
        return max(0, math.ceil(self.expires_at - now - _ROUNDING_TOLERANCE))

    def same_contact(self, uri: SipUri) -> bool:
        return uri_equal(self.uri, uri)


class ChangeKind(Enum):
    """What a REGISTER (or expiry) did to one binding; the driver persists accordingly."""

    ADDED = "added"
    UPDATED = "updated"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class BindingChange:
    """One change to the table. For REMOVED, ``binding`` is the binding as it was."""

    kind: ChangeKind
    binding: Binding


@dataclass(frozen=True, slots=True)
class BindingCounts:
    """Figures for monitoring (registrations count in /api/v1/monitor)."""

    aors: int
    bindings: int
    behind_nat: int


def _user_of(aor: str) -> str:
    """The user part of a canonical AOR (``sip:1001@host`` → ``1001``; none → ``""``)."""
    scheme_rest = aor.partition(":")[2]
    user, at, _ = scheme_rest.rpartition("@")
    return user if at else ""


class BindingTable:
    """Live bindings by AOR (the canonical AOR text of :func:`softswitch.registrar.canonical_aor`).

    Mutated only through :meth:`put`, :meth:`remove`, :meth:`apply`, :meth:`expire` and
    :meth:`load`. A binding whose ``expires_at`` has passed may still be stored until the next
    :meth:`expire`; :meth:`lookup` and :meth:`counts` never return or count it.
    """

    __slots__ = ("_by_aor", "_by_user", "_heap", "_hosts", "_seq", "_size")

    def __init__(self) -> None:
        self._by_aor: dict[str, list[Binding]] = {}
        self._by_user: dict[str, set[str]] = {}
        self._hosts: dict[str, int] = {}  # source host -> bindings registered from it
        self._heap: list[tuple[float, int, Binding]] = []
        self._seq = itertools.count()
        self._size = 0

    # ----------------------------------------------------------------- reading
    def __len__(self) -> int:
        """Stored bindings, including any expired one not yet swept by :meth:`expire`."""
        return self._size

    def __iter__(self) -> Iterator[Binding]:
        for bindings in self._by_aor.values():
            yield from bindings

    def bindings(self, aor: str) -> tuple[Binding, ...]:
        """Every stored binding of ``aor`` (live or not yet swept), in order of first binding."""
        return tuple(self._by_aor.get(aor, ()))

    def find(self, aor: str, uri: SipUri) -> Binding | None:
        """The stored binding of ``aor`` whose contact equals ``uri`` (§19.1.4), if any."""
        for binding in self._by_aor.get(aor, ()):
            if binding.same_contact(uri):
                return binding
        return None

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Live bindings of ``aor``, best first: highest q, then the most recently refreshed
        (the device that registered last is the one most likely still reachable)."""
        live = [b for b in self._by_aor.get(aor, ()) if b.live(now)]
        live.sort(key=lambda b: (-b.q, -b.updated_at))
        return live

    def lookup_user(self, user: str, now: float) -> list[Binding]:
        """Live bindings of every AOR whose user part is ``user`` (any domain), best first.

        The switch serves one numbering plan: a call to phone 1001 reaches 1001 whichever host
        part its device registered under (an IP, a DNS name).
        """
        live = [
            b
            for aor in self._by_user.get(user, ())
            for b in self._by_aor.get(aor, ())
            if b.live(now)
        ]
        live.sort(key=lambda b: (-b.q, -b.updated_at))
        return live

    def counts(self, now: float) -> BindingCounts:
        aors = bindings = nat = 0
        for items in self._by_aor.values():
            live = [b for b in items if b.live(now)]
            if live:
                aors += 1
                bindings += len(live)
                nat += sum(1 for b in live if b.behind_nat)
        return BindingCounts(aors, bindings, nat)

    def next_expiry(self) -> float | None:
        """The earliest ``expires_at`` among stored bindings: when to call :meth:`expire`."""
        heap = self._heap
        while heap and not self._stored(heap[0][2]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # ----------------------------------------------------------------- changing
    def put(self, binding: Binding) -> BindingChange:
        """Add ``binding``, or replace the stored binding of the same AOR and contact."""
        items = self._by_aor.get(binding.aor)
        if items is None:
            items = self._by_aor[binding.aor] = []
            self._by_user.setdefault(_user_of(binding.aor), set()).add(binding.aor)
        for i, old in enumerate(items):
            if old.same_contact(binding.uri):
                items[i] = binding
                self._count_host(old.source.host, -1)
                self._count_host(binding.source.host, 1)
                self._push(binding)
                return BindingChange(ChangeKind.UPDATED, binding)
        items.append(binding)
        self._count_host(binding.source.host, 1)
        self._size += 1
        self._push(binding)
        return BindingChange(ChangeKind.ADDED, binding)

    def remove(self, aor: str, uri: SipUri) -> Binding | None:
        """Remove and return the binding of ``aor`` whose contact equals ``uri``, if stored."""
        items = self._by_aor.get(aor)
        if not items:
            return None
        for i, old in enumerate(items):
            if old.same_contact(uri):
                del items[i]
                self._count_host(old.source.host, -1)
                self._size -= 1
                if not items:
                    del self._by_aor[aor]
                    user = _user_of(aor)
                    aors = self._by_user.get(user)
                    if aors is not None:
                        aors.discard(aor)
                        if not aors:
                            del self._by_user[user]
                return old
        return None

    def apply(self, changes: Iterable[BindingChange]) -> None:
        """Apply changes computed against this table (added/updated are put, removed removed)."""
        for change in changes:
            if change.kind is ChangeKind.REMOVED:
                self.remove(change.binding.aor, change.binding.uri)
            else:
                self.put(change.binding)

    def expire(self, now: float) -> list[Binding]:
        """Remove and return every binding whose ``expires_at`` is at or before ``now``."""
        heap = self._heap
        gone: list[Binding] = []
        while heap and heap[0][0] <= now:
            _, _, binding = heapq.heappop(heap)
            if self._stored(binding):
                self.remove(binding.aor, binding.uri)
                gone.append(binding)
        return gone

    def load(self, bindings: Iterable[Binding]) -> None:
        """Put bindings read back from storage (after a restart); expired ones are put too and
        leave at the next :meth:`expire`."""
        for binding in bindings:
            self.put(binding)

    def has_source(self, host: str) -> bool:
        """Whether a stored binding was registered from ``host``: a registered phone's address,
        which SS_REPLY_UNAUTHORIZED Off still answers."""
        return host in self._hosts

    # ----------------------------------------------------------------- internals
    def _count_host(self, host: str, delta: int) -> None:
        count = self._hosts.get(host, 0) + delta
        if count > 0:
            self._hosts[host] = count
        else:
            self._hosts.pop(host, None)

    def _stored(self, binding: Binding) -> bool:
        return any(b is binding for b in self._by_aor.get(binding.aor, ()))

    def _push(self, binding: Binding) -> None:
        heapq.heappush(self._heap, (binding.expires_at, next(self._seq), binding))
        # Refreshes leave stale heap entries behind; rebuild before they outnumber the live ones.
        if len(self._heap) > 2 * self._size + 64:
            self._heap = [(b.expires_at, next(self._seq), b) for b in self]
            heapq.heapify(self._heap)
