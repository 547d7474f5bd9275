"""The NAT keep-alive sender: the pure schedule (``registrar.keepalive``) on the event loop.

Every SS_SIP_NAT_KEEP_ALIVE_PERIOD seconds a cycle goes over the registered endpoints behind NAT
(live UDP bindings with ``behind_nat``) in batches of SS_SIP_NAT_KEEP_ALIVE_SEND_ONE_TIME, one
batch every SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL ms, and sends each the raw payload
SS_SIP_NAT_KEEP_ALIVE_MESSAGE (not SIP) to the address its packets come from. One
``loop.call_at`` stays armed for the schedule's next deadline, as the driver does for the SIP
core.

The packets leave from the switch's UDP SIP socket of the endpoint's address family: the one
the driver answers the endpoint's REGISTER from, so the NAT sees them come from the address its
mapping points at. (With several UDP listeners of one family the driver answers from the first
one; the keep-alives do the same.)

Parameters apply at run time: a change of any of them (or of SS_ENDPOINT_NAT_EXPIRE, which the
period is checked against) restarts the cycle with the new values; an empty message stops the
keep-alives at once. Warnings about parameters that cannot serve every endpoint are logged once
per configuration.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from softswitch.params import ParamChange, ParamStore
from softswitch.registrar import (
    BindingTable,
    KeepAliveBatch,
    KeepAliveConfig,
    KeepAliveSchedule,
    nat_targets,
)
from softswitch.sip.events import Peer
from softswitch.transport.addresses import HostPort
from softswitch.transport.udp import UdpListener

__all__ = ["KEEPALIVE_PARAMS", "KeepAliveFigures", "KeepAliveService", "keepalive_config"]

_log = logging.getLogger(__name__)

KEEPALIVE_PARAMS = frozenset(
    {
        "SS_SIP_NAT_KEEP_ALIVE_MESSAGE",
        "SS_SIP_NAT_KEEP_ALIVE_PERIOD",
        "SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL",
        "SS_SIP_NAT_KEEP_ALIVE_SEND_ONE_TIME",
        "SS_ENDPOINT_NAT_EXPIRE",
    }
)
"""Parameters whose change restarts the keep-alive cycle."""


def keepalive_config(params: ParamStore) -> KeepAliveConfig:
    """The schedule's settings from the parameters in force."""
    return KeepAliveConfig(
        message=params.get_str("SS_SIP_NAT_KEEP_ALIVE_MESSAGE").encode("utf-8", "surrogateescape"),
        period=float(params.seconds("SS_SIP_NAT_KEEP_ALIVE_PERIOD")),
        interval=float(params.seconds("SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL")),
        per_batch=params.get_int("SS_SIP_NAT_KEEP_ALIVE_SEND_ONE_TIME"),
        nat_expire=float(params.seconds("SS_ENDPOINT_NAT_EXPIRE")),
    )


@dataclass(frozen=True, slots=True)
class KeepAliveFigures:
    """What the sender did since start (for tests and monitoring)."""

    cycles: int
    batches: int
    packets: int
    unsent: int
    """Packets with no UDP socket of the endpoint's address family to leave from."""


class KeepAliveService:
    """Sends the NAT keep-alives of one switch; started once the UDP listeners are open."""

    def __init__(
        self,
        params: ParamStore,
        table: BindingTable,
        listeners: Callable[[], Sequence[UdpListener]],
        *,
        on_batch: Callable[[KeepAliveBatch], None] | None = None,
    ) -> None:
        self._params = params
        self._table = table
        self._listeners = listeners
        self._on_batch = on_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._schedule: KeepAliveSchedule | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at: float | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._last_cycle = -1
        self._cycles = self._batches = self._packets = self._unsent = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the first cycle now and follow parameter changes."""
        if self._loop is not None:
            return
        loop = self._loop = asyncio.get_running_loop()
        self._schedule = KeepAliveSchedule(keepalive_config(self._params), loop.time())
        self._unsubscribe = self._params.subscribe(self._on_param)
        self._log_state("started")
        self._rearm()

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_at = None
        self._loop = None
        self._schedule = None

    @property
    def config(self) -> KeepAliveConfig | None:
        return None if self._schedule is None else self._schedule.config

    @property
    def next_deadline(self) -> float | None:
        return self._armed_at

    def figures(self) -> KeepAliveFigures:
        return KeepAliveFigures(self._cycles, self._batches, self._packets, self._unsent)

    # -- parameters --------------------------------------------------------------------------

    def _on_param(self, change: ParamChange) -> None:
        loop, schedule = self._loop, self._schedule
        if loop is None or schedule is None or change.name not in KEEPALIVE_PARAMS:
            return
        schedule.reconfigure(keepalive_config(self._params), loop.time())
        self._last_cycle = -1
        self._log_state(f"restarted ({change.name} changed)")
        self._rearm()

    def _log_state(self, what: str) -> None:
        assert self._schedule is not None
        config = self._schedule.config
        if config.enabled:
            _log.info(
                "NAT keep-alive %s: %r every %g s to each NAT endpoint, %d per batch, "
                "batches %g ms apart",
                what,
                config.message,
                config.period,
                config.per_batch,
                config.interval * 1000,
            )
        else:
            _log.info("NAT keep-alive %s: off (SS_SIP_NAT_KEEP_ALIVE_MESSAGE is empty)", what)
        self._warn()

    def _warn(self) -> None:
        assert self._schedule is not None
        for notice in self._schedule.take_notices():
            _log.warning("NAT keep-alive: %s", notice.text)

    # -- the timer ---------------------------------------------------------------------------

    def _rearm(self) -> None:
        loop, schedule = self._loop, self._schedule
        if loop is None or schedule is None:
            return
        deadline = schedule.next_deadline()
        if deadline == self._armed_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_at = deadline
        if deadline is not None:
            self._timer = loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._armed_at = None
        loop, schedule = self._loop, self._schedule
        if loop is None or schedule is None:
            return
        now = loop.time()
        try:
            batches = schedule.due(now, lambda: nat_targets(self._table, now))
            for batch in batches:
                self._send(batch)
        except Exception:
            # A failure must not stop the keep-alives for good: the next deadline is armed.
            _log.exception("NAT keep-alive: sending a batch failed")
        self._warn()
        self._rearm()

    def _send(self, batch: KeepAliveBatch) -> None:
        assert self._schedule is not None
        if batch.cycle != self._last_cycle:
            self._last_cycle = batch.cycle
            self._cycles += 1
        message = self._schedule.config.message
        listeners = self._listeners()
        for peer in batch.targets:
            listener = _listener_for(listeners, peer)
            if listener is None:
                self._unsent += 1
                continue
            listener.send(message, HostPort(peer.host, peer.port))
            self._packets += 1
        self._batches += 1
        _log.debug(
            "NAT keep-alive: cycle %d batch %d, %d endpoints",
            batch.cycle,
            batch.index,
            len(batch.targets),
        )
        if self._on_batch is not None:
            self._on_batch(batch)


def _listener_for(listeners: Sequence[UdpListener], peer: Peer) -> UdpListener | None:
    """The UDP socket the driver would send a datagram to ``peer`` from (first of its family)."""
    family = HostPort(peer.host, peer.port).family
    for listener in listeners:
        if listener.family == family:
            return listener
    return None
