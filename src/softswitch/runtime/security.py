"""The switch's defences at run time: the pure ``security.Guard`` wired to the parameters, the
snapshot, the registrar, the log and the HTTP API (issue 6).

One object plays three parts: the transport's gate (asked before parsing), the call path's
shield (digest outcomes, number checks, call counts) and the API's ``SecurityControl``. It keeps
the guard's view of static lists and gateway addresses in step with the snapshot (checked by
version, so the packet path pays one integer comparison), applies changed parameters at once,
and prunes expired state every minute so memory stays bounded under attack.

Every ban, suspension, dynamic listing and alarm leaves one WARNING line; packets dropped while
a ban lasts leave none (a flood must not become a log flood).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from softswitch.calls.ingress import carrier_index
from softswitch.params import ParamChange, ParamStore
from softswitch.registrar.bindings import BindingTable
from softswitch.security import (
    AlarmView,
    Ban,
    BanReason,
    BlacklistSettings,
    Block,
    EntryType,
    FloodSettings,
    Guard,
    GuardControl,
    GuardSettings,
    Listed,
    ListedKind,
    SecurityEntryView,
    SecurityEvent,
    SecurityFigures,
    Suspension,
    TrafficJump,
    WatchSettings,
)
from softswitch.snapshot import Snapshot, SnapshotService

__all__ = ["SecurityService", "guard_settings"]

_log = logging.getLogger(__name__)

PRUNE_INTERVAL = 60.0

_PARAMS = frozenset(
    {
        "SS_AUTHENTICATION_MAX_RETRY",
        "SS_AUTHENTICATION_FAILED_SUSPEND",
        "SS_FLOOD_RATE",
        "SS_FLOOD_BURST",
        "SS_FLOOD_BAN_TIME",
        "SS_FLOOD_TRUST_GATEWAYS",
        "SS_SCANNER_USER_AGENTS",
        "SS_SCANNER_BAN_TIME",
        "SS_BLACK_LIST_CALLER_MALICIOUS_CALL_LIMIT",
        "SS_BLACK_LIST_CALLER_MALICIOUS_CALL_WINDOW",
        "SS_BLACK_LIST_CALLER_MALICIOUS_CALL_EXPIRE",
        "SS_BLACK_LIST_NO_ANSWER_LIMIT",
        "SS_BLACK_LIST_NO_ANSWER_EXPIRE",
        "SS_FRAUD_DESTINATION_DIGITS",
        "SS_FRAUD_DESTINATION_WINDOW",
        "SS_FRAUD_DESTINATION_FACTOR",
        "SS_FRAUD_DESTINATION_MIN_CALLS",
    }
)


def guard_settings(params: ParamStore) -> GuardSettings:
    """The guard's settings from the system parameters in force."""
    get = params.get_int
    return GuardSettings(
        max_auth_retry=get("SS_AUTHENTICATION_MAX_RETRY"),
        auth_suspend_s=float(get("SS_AUTHENTICATION_FAILED_SUSPEND")),
        flood=FloodSettings(
            rate=float(get("SS_FLOOD_RATE")),
            burst=float(get("SS_FLOOD_BURST")),
            ban_s=float(get("SS_FLOOD_BAN_TIME")),
        ),
        trust_gateways=params.get_bool("SS_FLOOD_TRUST_GATEWAYS"),
        scanners=tuple(
            name.strip()
            for name in params.get_str("SS_SCANNER_USER_AGENTS").split(",")
            if name.strip()
        ),
        scanner_ban_s=float(get("SS_SCANNER_BAN_TIME")),
        blacklist=BlacklistSettings(
            caller_limit=get("SS_BLACK_LIST_CALLER_MALICIOUS_CALL_LIMIT"),
            caller_window_s=float(get("SS_BLACK_LIST_CALLER_MALICIOUS_CALL_WINDOW")),
            caller_expire_s=float(get("SS_BLACK_LIST_CALLER_MALICIOUS_CALL_EXPIRE")),
            no_answer_limit=get("SS_BLACK_LIST_NO_ANSWER_LIMIT"),
            no_answer_expire_s=float(get("SS_BLACK_LIST_NO_ANSWER_EXPIRE")),
        ),
        watch=WatchSettings(
            digits=get("SS_FRAUD_DESTINATION_DIGITS"),
            window_s=float(get("SS_FRAUD_DESTINATION_WINDOW")),
            factor=float(get("SS_FRAUD_DESTINATION_FACTOR")),
            min_calls=get("SS_FRAUD_DESTINATION_MIN_CALLS"),
        ),
    )


class SecurityService:
    """The defences of one switch process (their state is per process, in memory)."""

    def __init__(
        self,
        params: ParamStore,
        snapshots: SnapshotService[Snapshot],
        bindings: BindingTable,
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
    ) -> None:
        self._params = params
        self._snapshots = snapshots
        self._bindings = bindings
        self._clock = clock
        self._wall = wall_clock
        self.guard = Guard(guard_settings(params), self._notify)
        self.control = GuardControl(self.guard, clock, wall_clock)
        self._carriers: frozenset[str] = frozenset()
        self._phone_hosts: frozenset[str] = frozenset()
        self._snapshot: Snapshot | None = None
        self._unsubscribe = params.subscribe(self._on_param)
        self._timer: asyncio.TimerHandle | None = None
        self._sync()

    def start(self) -> None:
        """Start the minute pruning (needs the running loop)."""
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(PRUNE_INTERVAL, self._prune)

    def stop(self) -> None:
        self._unsubscribe()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _prune(self) -> None:
        self.guard.prune(self._clock())
        self._timer = asyncio.get_running_loop().call_later(PRUNE_INTERVAL, self._prune)

    # -- keeping in step ---------------------------------------------------------------------

    def _sync(self) -> Snapshot:
        snapshot = self._snapshots.current
        if snapshot is not self._snapshot:  # a new snapshot object for every change
            self._snapshot = snapshot
            carriers = carrier_index(snapshot)
            self._carriers = frozenset(carriers)
            self._phone_hosts = frozenset(p.host for p in snapshot.phones.values() if p.host)

            def gateway(host: str) -> bool:
                return host in carriers or snapshot.trunk_for_source(host) is not None

            self.guard.set_sources(snapshot.security_lists, gateway)
        return snapshot

    def _on_param(self, change: ParamChange) -> None:
        if change.name in _PARAMS:
            self.guard.configure(guard_settings(self._params))
            _log.info("security: %s is now %s", change.name, self._params.get(change.name))

    # -- the transport's gate ----------------------------------------------------------------

    def admit_packet(self, host: str, data: bytes, now: float) -> bool:
        if self._snapshots.current is not self._snapshot:
            self._sync()
        return self.guard.admit_packet(host, data, now)

    def admit_connection(self, host: str, now: float) -> bool:
        self._sync()
        return self.guard.admit_connection(host, now)

    # -- the call path's shield --------------------------------------------------------------

    def known(self, host: str) -> bool:
        """Whether ``host`` is a source SS_REPLY_UNAUTHORIZED Off still answers: a whitelisted
        address, a gateway's, a registered phone's or a phone's configured address."""
        snapshot = self._sync()
        if self.guard.trusted(host) or host in self._carriers:
            return True
        if host in self._phone_hosts or self._bindings.has_source(host):
            return True
        return snapshot.trunk_for_source(host) is not None

    def auth_failed(self, host: str, username: str | None, now: float) -> None:
        self.guard.auth_failed(host, username, now)

    def auth_succeeded(self, host: str, username: str, now: float) -> None:
        self.guard.auth_succeeded(host, username, now)

    def auth_suspended(self, host: str, username: str | None, now: float) -> bool:
        return self.guard.auth_suspended(host, username, now)

    def check_numbers(
        self, account_id: int | None, caller: str, callee: str, now: float
    ) -> Block | None:
        self._sync()
        return self.guard.check_numbers(account_id, caller, callee, now)

    def call_admitted(self, account_id: int | None, caller: str, callee: str, now: float) -> None:
        self.guard.call_admitted(account_id, caller, callee, now)

    def call_ended(self, account_id: int | None, callee: str, answered: bool, now: float) -> None:
        self.guard.call_ended(account_id, callee, answered, now)

    # -- events ------------------------------------------------------------------------------

    def _notify(self, event: SecurityEvent) -> None:
        now = self._clock()
        if isinstance(event, Ban):
            seconds = round(event.until - now)
            if event.reason is BanReason.FLOOD:
                flood = self.guard.settings.flood
                why = f"over {flood.rate:g} packets/s (burst {flood.burst:g})"
            else:
                why = "known scanner User-Agent"
            _log.warning("security: banned %s for %d s: %s", event.host, seconds, why)
        elif isinstance(event, Suspension):
            who = event.host if event.username is None else f"{event.username!r} at {event.host}"
            _log.warning(
                "security: suspended %s for %d s after %d failed authentications",
                who,
                round(event.until - now),
                event.failures,
            )
        elif isinstance(event, Listed):
            what = "caller" if event.kind is ListedKind.CALLER else "callee"
            why = "calls" if event.kind is ListedKind.CALLER else "unanswered calls in a row"
            _log.warning(
                "security: %s %s blacklisted for %d s after %d %s",
                what,
                event.number,
                round(event.until - now),
                event.count,
                why,
            )
        elif isinstance(event, TrafficJump):
            _log.warning(
                "security alarm: destination %s has %d calls in the current %d s window, "
                "against an average of %.1f (possible toll fraud)",
                event.destination,
                event.calls,
                round(event.window_s),
                event.baseline,
            )

    # -- SecurityControl (the API) -----------------------------------------------------------

    def entries(self) -> list[SecurityEntryView]:
        return self.control.entries()

    def lift(self, type_: EntryType, key: str, actor: str) -> bool:
        lifted = self.control.lift(type_, key, actor)
        if lifted:
            _log.warning("security: %s %s lifted by %s", type_.value, key, actor)
        return lifted

    def alarms(self) -> list[AlarmView]:
        return self.control.alarms()

    def figures(self) -> SecurityFigures:
        return self.control.figures()
