"""The security gate: every defence of issue 6 behind one object, pure state with ``now``.

The transport asks :meth:`Guard.admit_packet` about every datagram or stream chunk *before*
parsing: a source that is blacklisted (static CIDR), banned for flooding or scanning, or
suspended for failed authentications costs one or two dictionary lookups, and the parser, the
transaction layer and the logs never see it. After parsing, the dispatcher and call admission
report digest outcomes (:meth:`auth_failed`, :meth:`auth_succeeded`) and ask about numbers
(:meth:`check_numbers`); the call engine reports calls (:meth:`call_admitted`,
:meth:`call_ended`) for the dynamic blacklists and the destination watch.

Every new ban, suspension, listing and alarm is handed to ``notify`` (the runtime logs it and
keeps alarms); operators list and lift them through :meth:`entries` and :meth:`lift`.

Trust: an address on the static whitelist passes every check. Addresses of known gateways
(``gateway`` predicate, from the snapshot) are exempt from the flood limit when
``trust_gateways`` is set: a customer's trunk legitimately sends hundreds of requests a second.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from softswitch.security.auth_failures import AuthFailures, Suspension
from softswitch.security.blacklist import (
    BlacklistSettings,
    DynamicBlacklist,
    Listed,
    ListedKind,
)
from softswitch.security.lists import EntryKind, ListEntry, StaticLists
from softswitch.security.rate_limit import FloodLimiter, FloodSettings
from softswitch.security.scanners import DEFAULT_SCANNERS, ScannerFingerprints
from softswitch.security.traffic import DestinationWatch, TrafficJump, WatchSettings

__all__ = [
    "Ban",
    "BanReason",
    "Block",
    "Entry",
    "EntryType",
    "Guard",
    "GuardSettings",
    "SecurityEvent",
]


class BanReason(Enum):
    FLOOD = "flood"
    SCANNER = "scanner"


@dataclass(frozen=True, slots=True)
class Ban:
    """A source address whose packets are dropped until ``until``."""

    host: str
    reason: BanReason
    until: float


@dataclass(slots=True)
class _BanState:
    ban: Ban
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class GuardSettings:
    max_auth_retry: int = 6
    auth_suspend_s: float = 180.0
    flood: FloodSettings = field(default_factory=lambda: FloodSettings(50.0, 200.0, 300.0))
    trust_gateways: bool = True
    scanners: tuple[str, ...] = DEFAULT_SCANNERS
    scanner_ban_s: float = 3600.0
    blacklist: BlacklistSettings = field(default_factory=BlacklistSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)


class EntryType(Enum):
    """The kinds of live entries operators see and lift (``/api/v1/security/bans``)."""

    BAN = "ban"
    SUSPENSION = "suspension"
    BLACKLIST = "blacklist"


@dataclass(frozen=True, slots=True)
class Entry:
    """One live ban, suspension or dynamic listing, for operators. ``key`` names it for
    :meth:`Guard.lift`: the address, ``address/username`` or the number."""

    type: EntryType
    key: str
    reason: str
    until: float
    detail: str = ""
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class Block:
    """Why a call's numbers are refused: a static blacklist entry or a dynamic listing."""

    kind: EntryKind
    number: str
    static: ListEntry | None = None
    dynamic: Listed | None = None

    @property
    def describe(self) -> str:
        if self.static is not None:
            scope = "global" if self.static.account_id is None else "account"
            return f"{self.kind.value} {self.number} on the {scope} blacklist ({self.static.value})"
        return f"{self.kind.value} {self.number} on the dynamic blacklist"


SecurityEvent = Ban | Suspension | Listed | TrafficJump
"""What :class:`Guard` tells its owner about as it happens."""


def _no_gateway(_host: str) -> bool:
    return False


class Guard:
    """All the defences' state of one switch."""

    def __init__(
        self,
        settings: GuardSettings,
        notify: Callable[[SecurityEvent], None],
        *,
        gateway: Callable[[str], bool] = _no_gateway,
    ) -> None:
        self.settings = settings
        self._notify = notify
        self._gateway = gateway
        self.lists = StaticLists()
        self.auth = AuthFailures(settings.max_auth_retry, settings.auth_suspend_s)
        self.flood = FloodLimiter(settings.flood)
        self.scanners = ScannerFingerprints(settings.scanners)
        self.blacklist = DynamicBlacklist(settings.blacklist)
        self.watch = DestinationWatch(settings.watch)
        self.alarms: deque[tuple[float, TrafficJump]] = deque(maxlen=1000)
        self._bans: dict[str, _BanState] = {}
        # host -> (statically trusted, gateway): the packet path asks once per source and
        # snapshot, not once per packet.
        self._trust: dict[str, tuple[bool, bool]] = {}
        self.dropped = 0
        """Packets dropped by the gate since start (every reason)."""

    # -- configuration -----------------------------------------------------------------------

    def configure(self, settings: GuardSettings) -> None:
        """Apply changed parameters; running bans and counts are kept."""
        self.settings = settings
        self.auth.configure(settings.max_auth_retry, settings.auth_suspend_s)
        self.flood.configure(settings.flood)
        if settings.scanners != self.scanners.names:
            self.scanners = ScannerFingerprints(settings.scanners)
        self.blacklist.configure(settings.blacklist)
        self.watch.configure(settings.watch)

    def set_sources(self, lists: StaticLists, gateway: Callable[[str], bool]) -> None:
        """New static lists and gateway addresses (the snapshot changed)."""
        self.lists = lists
        self._gateway = gateway
        self._trust.clear()

    # -- before parsing --------------------------------------------------------------------

    def _trusted(self, host: str) -> tuple[bool, bool]:
        found = self._trust.get(host)
        if found is None:
            if len(self._trust) >= 100_000:
                self._trust.clear()
            found = self._trust[host] = (self.lists.ip_trusted(host), self._gateway(host))
        return found

    def trusted(self, host: str) -> bool:
        """Whether ``host`` is on the static whitelist."""
        return self._trusted(host)[0]

    def admit_packet(self, host: str, data: bytes, now: float) -> bool:
        """Whether a packet (a datagram, or a chunk of a stream) from ``host`` may be parsed."""
        bans = self._bans
        if bans:
            state = bans.get(host)
            if state is not None:
                if state.ban.until > now:
                    state.dropped += 1
                    self.dropped += 1
                    return False
                del bans[host]
        whitelisted, gateway = self._trusted(host)
        if whitelisted:
            return True
        if self.lists and self.lists.ip_blocked(host) is not None:
            self.dropped += 1
            return False
        if self.auth.host_suspended(host, now):
            self.dropped += 1
            return False
        if self.scanners.match(data):
            self.dropped += 1
            if self.settings.scanner_ban_s > 0:
                self._ban(host, BanReason.SCANNER, self.settings.scanner_ban_s, now)
            return False
        if (gateway and self.settings.trust_gateways) or self.flood.take(host, now):
            return True
        self.dropped += 1
        if self.settings.flood.ban_s > 0:
            self._ban(host, BanReason.FLOOD, self.settings.flood.ban_s, now)
        return False

    def admit_connection(self, host: str, now: float) -> bool:
        """Whether a new TCP/TLS connection from ``host`` may stay open."""
        state = self._bans.get(host)
        if state is not None and state.ban.until > now:
            return False
        if self._trusted(host)[0]:
            return True
        if self.lists and self.lists.ip_blocked(host) is not None:
            return False
        return not self.auth.host_suspended(host, now)

    def _ban(self, host: str, reason: BanReason, seconds: float, now: float) -> None:
        ban = Ban(host, reason, now + seconds)
        self._bans[host] = _BanState(ban, dropped=1)
        self.flood.forget(host)
        self._notify(ban)

    # -- authentication --------------------------------------------------------------------

    def auth_failed(self, host: str, username: str | None, now: float) -> None:
        if self._trusted(host)[0]:
            return
        suspension = self.auth.failed(host, username, now)
        if suspension is not None:
            self._notify(suspension)

    def auth_succeeded(self, host: str, username: str, now: float) -> None:
        self.auth.succeeded(host, username, now)

    def auth_suspended(self, host: str, username: str | None, now: float) -> bool:
        """Whether requests of ``username`` from ``host`` are to be ignored (never for a
        whitelisted address, even one suspended before it was whitelisted)."""
        if self._trusted(host)[0]:
            return False
        return self.auth.suspended(host, username, now) is not None

    # -- calls -----------------------------------------------------------------------------

    def check_numbers(
        self, account_id: int | None, caller: str, callee: str, now: float
    ) -> Block | None:
        """Why a call from ``caller`` to ``callee`` may not go on, or None."""
        for kind, number, listed in (
            (EntryKind.CALLER, caller, ListedKind.CALLER),
            (EntryKind.CALLEE, callee, ListedKind.CALLEE),
        ):
            verdict = self.lists.number(kind, number, account_id)
            if verdict.trusted:
                continue
            if verdict.blocked:
                return Block(kind, number, static=verdict.entry)
            dynamic = self.blacklist.listed(listed, number, now)
            if dynamic is not None:
                return Block(kind, number, dynamic=dynamic)
        return None

    def call_admitted(self, account_id: int | None, caller: str, callee: str, now: float) -> None:
        """Count a call that passed admission: calls per caller, calls per destination."""
        if not self.lists.number(EntryKind.CALLER, caller, account_id).trusted:
            listed = self.blacklist.call(caller, now)
            if listed is not None:
                self._notify(listed)
        jump = self.watch.call(callee, now)
        if jump is not None:
            self.alarms.append((now, jump))
            self._notify(jump)

    def call_ended(self, account_id: int | None, callee: str, answered: bool, now: float) -> None:
        """A routed call ended: runs of unanswered calls per callee."""
        if self.lists.number(EntryKind.CALLEE, callee, account_id).trusted:
            return
        listed = self.blacklist.ended(callee, answered, now)
        if listed is not None:
            self._notify(listed)

    # -- operators -------------------------------------------------------------------------

    def entries(self, now: float) -> list[Entry]:
        """Every live ban, suspension and dynamic listing."""
        found: list[Entry] = []
        for host, state in list(self._bans.items()):
            if state.ban.until <= now:
                del self._bans[host]
                continue
            found.append(
                Entry(
                    EntryType.BAN, host, state.ban.reason.value, state.ban.until, "", state.dropped
                )
            )
        for suspension in self.auth.suspensions(now):
            key = suspension.host
            if suspension.username is not None:
                key = f"{suspension.host}/{suspension.username}"
            detail = f"{suspension.failures} failed authentications"
            found.append(Entry(EntryType.SUSPENSION, key, "auth", suspension.until, detail))
        for listed in self.blacklist.entries(now):
            reason = "malicious_caller" if listed.kind is ListedKind.CALLER else "no_answer"
            detail = f"{listed.kind.value}, {listed.count} calls"
            found.append(Entry(EntryType.BLACKLIST, listed.number, reason, listed.until, detail))
        return found

    def lift(self, type_: EntryType, key: str, now: float) -> bool:
        """End an entry now; False when there is no such live entry."""
        if type_ is EntryType.BAN:
            self.flood.forget(key)
            state = self._bans.pop(key, None)
            return state is not None and state.ban.until > now
        if type_ is EntryType.SUSPENSION:
            host, _, username = key.partition("/")
            return self.auth.lift(host, username or None, now)
        lifted = False
        for kind in ListedKind:
            lifted = self.blacklist.lift(kind, key, now) or lifted
        return lifted

    def prune(self, now: float) -> None:
        """Forget what has expired or gone idle: memory stays bounded under any load."""
        self._bans = {h: s for h, s in self._bans.items() if s.ban.until > now}
        self.flood.prune(now)
        self.auth.prune(now)
        self.blacklist.prune(now)
