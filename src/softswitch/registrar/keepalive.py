"""The NAT keep-alive schedule (VOS3000's SS_SIP_NAT_KEEP_ALIVE_*), pure.

A device behind NAT is reachable only while its NAT keeps the mapping from the device's private
address to the public one the switch saw (``Binding.source``). UDP mappings die after tens of
seconds of silence, well before a registration does, so the switch sends a small raw UDP payload
(SS_SIP_NAT_KEEP_ALIVE_MESSAGE, "HELLO"; not SIP) to every NAT endpoint every so often. The
guide's semantics, which operators size their parameters with:

* a **cycle** over all NAT endpoints starts every SS_SIP_NAT_KEEP_ALIVE_PERIOD seconds;
* within a cycle the endpoints go in **batches** of SS_SIP_NAT_KEEP_ALIVE_SEND_ONE_TIME, with
  SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL milliseconds between batches (no burst of 100,000 packets
  at once);
* a cycle not finished when the next is due is abandoned: the next one **starts over** from the
  first endpoint, so the last ones may never get a keep-alive. That is why the parameters are
  checked and a warning given (once per configuration) when ``ceil(n / one_time) × interval``
  exceeds the period, and when the period is not well below SS_ENDPOINT_NAT_EXPIRE.

Batch ``i`` of the cycle starting at ``c`` is due at exactly ``c + i × interval`` and is sent
only if that is before ``c + period``. The endpoints of a cycle are taken when it starts (one
pass over the table per period, not per batch); an endpoint that registers during a cycle waits
for the next one (its REGISTER has just opened its mapping). :class:`KeepAliveSchedule` takes
``now`` in and hands targets and deadlines out; the asyncio sender is
``softswitch.runtime.keepalive``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from softswitch.registrar.bindings import BindingTable
from softswitch.sip.events import Peer

__all__ = [
    "KeepAliveBatch",
    "KeepAliveConfig",
    "KeepAliveNotice",
    "KeepAliveSchedule",
    "KeepAliveTarget",
    "NoticeKind",
    "nat_targets",
]


@dataclass(frozen=True, slots=True)
class KeepAliveConfig:
    """The keep-alive parameters, filled from the system parameters by the runtime.

    ``message`` empty disables keep-alives (the guide's master switch). ``period`` and
    ``interval`` are seconds (SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL is milliseconds in the
    catalogue), ``per_batch`` is SS_SIP_NAT_KEEP_ALIVE_SEND_ONE_TIME, ``nat_expire`` is
    SS_ENDPOINT_NAT_EXPIRE (only used to warn).
    """

    message: bytes = b"HELLO"
    period: float = 30.0
    interval: float = 0.5
    per_batch: int = 3000
    nat_expire: float = 300.0

    def __post_init__(self) -> None:
        if self.period <= 0 or self.interval <= 0:
            raise ValueError("keep-alive period and interval must be positive")
        if self.per_batch < 1:
            raise ValueError("keep-alive batches hold at least one endpoint")

    @property
    def enabled(self) -> bool:
        return bool(self.message)

    @property
    def batch_slots(self) -> int:
        """Batches that start within one period (at 0, interval, 2 × interval ... < period)."""
        return max(1, math.ceil(self.period / self.interval - 1e-9))

    def reaches(self, endpoints: int) -> bool:
        """Whether ``endpoints`` fit in one period by the guide's sizing rule:
        ``ceil(n / one_time) × interval <= period``."""
        batches = math.ceil(endpoints / self.per_batch)
        return batches * self.interval <= self.period + 1e-9


@dataclass(frozen=True, slots=True)
class KeepAliveTarget:
    """One NAT endpoint: where its packets come from (its NAT's public address and port), and
    until when its registration is live (monotonic seconds)."""

    peer: Peer
    expires_at: float


@dataclass(frozen=True, slots=True)
class KeepAliveBatch:
    """Keep-alives due together: batch ``index`` of cycle ``cycle``, scheduled at ``at``."""

    at: float
    cycle: int
    index: int
    targets: tuple[Peer, ...]


class NoticeKind(Enum):
    """Why the parameters deserve an operator's look (the runtime logs these as warnings)."""

    UNREACHABLE = "unreachable"
    """More NAT endpoints than one period's batches can reach."""
    PERIOD_NEAR_EXPIRY = "period-near-expiry"
    """The period is not well below SS_ENDPOINT_NAT_EXPIRE."""


@dataclass(frozen=True, slots=True)
class KeepAliveNotice:
    kind: NoticeKind
    text: str


def nat_targets(table: BindingTable, now: float) -> tuple[KeepAliveTarget, ...]:
    """The endpoints keep-alives go to: live UDP bindings behind NAT, one per source address.

    Several AORs (or contacts) registered from one NAT address and port share a mapping: one
    packet keeps it open. Stream bindings need none (their connection is the mapping) and a
    device not behind NAT has no mapping to keep. Order is the table's (order of registration),
    so a cut-short cycle always serves the same first endpoints, as the guide warns.
    """
    found: dict[tuple[str, int], KeepAliveTarget] = {}
    for binding in table:
        source = binding.source
        if not binding.behind_nat or source.reliable or not binding.live(now):
            continue
        key = (source.host, source.port)
        old = found.get(key)
        if old is None or old.expires_at < binding.expires_at:
            found[key] = KeepAliveTarget(Peer("UDP", source.host, source.port), binding.expires_at)
    return tuple(found.values())


class KeepAliveSchedule:
    """Cycles every ``period`` from ``origin``, batches every ``interval`` within a cycle.

    Drive it like the SIP core: arm one timer at :meth:`next_deadline`, and when it fires call
    :meth:`due` with ``now`` and a function listing the current targets (called once per
    cycle, at its start). :meth:`reconfigure` restarts the cycles with new parameters at
    ``now``. Warnings come out of :meth:`take_notices`, each at most once per configuration.
    """

    __slots__ = ("_config", "_cycle", "_next_batch", "_notices", "_origin", "_targets", "_warned")

    def __init__(self, config: KeepAliveConfig, now: float) -> None:
        self._notices: list[KeepAliveNotice] = []
        self._targets: tuple[KeepAliveTarget, ...] | None = None
        self._config = config
        self._origin = now
        self._cycle = 0
        self._next_batch = 0
        self._warned = False
        self._reset(config, now)

    def _reset(self, config: KeepAliveConfig, now: float) -> None:
        self._config = config
        self._origin = now
        self._cycle = 0
        self._targets = None
        self._next_batch = 0
        self._warned = False
        self._check_period()

    @property
    def config(self) -> KeepAliveConfig:
        return self._config

    def reconfigure(self, config: KeepAliveConfig, now: float) -> None:
        """New parameters: the running cycle is dropped and a new one starts at ``now`` (so a
        change is seen at once, and an emptied message stops the keep-alives at once)."""
        self._reset(config, now)

    def cycle_start(self, cycle: int) -> float:
        """When cycle ``cycle`` (0 at the origin) starts; computed, not accumulated, so the
        times stay exact over days of cycles."""
        return self._origin + cycle * self._config.period

    def next_deadline(self) -> float | None:
        """When :meth:`due` has something to do next; None while keep-alives are off."""
        config = self._config
        if not config.enabled:
            return None
        start = self.cycle_start(self._cycle)
        targets = self._targets
        if targets is None:
            return start
        index = self._next_batch
        if index < config.batch_slots and index * config.per_batch < len(targets):
            return start + index * config.interval
        return self.cycle_start(self._cycle + 1)

    def due(
        self, now: float, targets: Callable[[], Sequence[KeepAliveTarget]]
    ) -> list[KeepAliveBatch]:
        """Every batch due at ``now`` (more than one only when the caller was late), with the
        targets whose registration is still live. A cycle whose time is over is abandoned."""
        config = self._config
        out: list[KeepAliveBatch] = []
        if not config.enabled:
            return out
        while True:
            end = self.cycle_start(self._cycle + 1)
            if now >= end:
                # The next cycle is due (or several passed while nobody called): start over.
                skipped = max(1, math.floor((now - self.cycle_start(self._cycle)) / config.period))
                self._cycle += skipped
                if self.cycle_start(self._cycle) > now:  # floating-point rounding overshot
                    self._cycle -= 1
                self._targets = None
                self._next_batch = 0
                continue
            start = self.cycle_start(self._cycle)
            if now < start:
                return out
            if self._targets is None:
                self._targets = tuple(targets())
                self._next_batch = 0
                self._check_reach(len(self._targets))
            index = self._next_batch
            first = index * config.per_batch
            at = start + index * config.interval
            if index >= config.batch_slots or first >= len(self._targets) or at > now:
                return out
            chunk = self._targets[first : first + config.per_batch]
            peers = tuple(t.peer for t in chunk if t.expires_at > at)
            out.append(KeepAliveBatch(at, self._cycle, index, peers))
            self._next_batch = index + 1

    def take_notices(self) -> list[KeepAliveNotice]:
        """Warnings found since the last call (each kind once per configuration)."""
        notices, self._notices = self._notices, []
        return notices

    # -- checks ---------------------------------------------------------------------------

    def _check_period(self) -> None:
        config = self._config
        if config.enabled and config.period > config.nat_expire / 2:
            self._notices.append(
                KeepAliveNotice(
                    NoticeKind.PERIOD_NEAR_EXPIRY,
                    f"SS_SIP_NAT_KEEP_ALIVE_PERIOD {config.period:g} s is not well below "
                    f"SS_ENDPOINT_NAT_EXPIRE {config.nat_expire:g} s (want at most half): a "
                    "NAT mapping may close between keep-alives and the endpoint become "
                    "unreachable before it refreshes its registration",
                )
            )

    def _check_reach(self, endpoints: int) -> None:
        config = self._config
        if self._warned or config.reaches(endpoints):
            return
        self._warned = True
        batches = math.ceil(endpoints / config.per_batch)
        reached = min(endpoints, config.batch_slots * config.per_batch)
        self._notices.append(
            KeepAliveNotice(
                NoticeKind.UNREACHABLE,
                f"{endpoints} NAT endpoints need {batches} keep-alive batches of "
                f"SS_SIP_NAT_KEEP_ALIVE_SEND_ONE_TIME {config.per_batch} every "
                f"SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL {config.interval * 1000:g} ms = "
                f"{batches * config.interval:g} s, more than SS_SIP_NAT_KEEP_ALIVE_PERIOD "
                f"{config.period:g} s: each cycle starts over after the first {reached}, "
                "the others may miss keep-alives (raise SEND_ONE_TIME or the period, or "
                "lower SEND_INTERVAL)",
            )
        )
