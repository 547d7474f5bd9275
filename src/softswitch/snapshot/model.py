"""The call path's view of the configuration: frozen values, built together, swapped whole.

ARCHITECTURE.md: the call path never touches the ORM. It reads one :class:`Snapshot` per call
(``SnapshotService.current``), a set of plain frozen values built from the tables at one moment
and never changed after; a change in the data builds a new snapshot and swaps the reference, so
a call in flight keeps a consistent view and never waits for the database.

Balances are not here: they change with every call and belong to billing, which keeps them
itself. Secrets (SIP passwords) are, because digest authentication needs the secret itself
(RFC 8760 §2); a snapshot must therefore never be logged or serialised whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from softswitch.routing import GatewayRoute, PrefixTree, RewriteRule, Transport, apply_rules
from softswitch.security.lists import StaticLists
from softswitch.snapshot.sources import IpAddress, IpNetwork, NetworkIndex, parse_address
from softswitch.storage.models import AccountStatus, BillingMode, MediaProxyMode, Registration

__all__ = ["AccountInfo", "GatewayInfo", "PhoneInfo", "Snapshot", "TrunkInfo"]


def _holds(networks: tuple[IpNetwork, ...], address: str | IpAddress) -> bool:
    parsed = parse_address(address)
    return parsed is not None and any(parsed in network for network in networks)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What call control needs of an account before routing (issue 4 §2): may it call, how many
    calls at once, and which tables price it. ``agent_enabled`` is False when its agent
    (reseller) is disabled, which stops the agent's customers as well."""

    id: int
    code: str
    status: AccountStatus
    billing_mode: BillingMode
    currency: str
    max_concurrent_calls: int | None = None
    daily_spend_limit: Decimal | None = None
    valid_until: datetime | None = None
    agent_id: int | None = None
    agent_enabled: bool = True
    agent_rate_table_id: int | None = None
    rate_table_id: int | None = None
    least_cost: bool = False
    """Routing mode ``least_cost``: gateways ranked by carrier cost (issue 5 §1)."""
    lcr_min_margin: Decimal = Decimal(0)

    def expired(self, now: datetime) -> bool:
        """True when the account's ``valid_until`` has passed (``now`` aware UTC) or its status
        says so."""
        if self.status is AccountStatus.EXPIRED:
            return True
        return self.valid_until is not None and now >= self.valid_until

    def at_call_limit(self, in_use: int) -> bool:
        """True when ``in_use`` calls already fill the account's concurrency limit."""
        return self.max_concurrent_calls is not None and in_use >= self.max_concurrent_calls


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    """A SIP user: its digest secret, where it is reached, and from where it may call.
    ``allowed_ips`` empty means from anywhere. Disabled phones are kept (``enabled`` False) so
    the registrar and ingress can refuse them with their own reason instead of "unknown"."""

    id: int
    number: str
    password: str
    account_id: int
    registration: Registration
    host: str | None = None
    port: int | None = None
    transport: Transport = Transport.UDP
    allowed_ips: tuple[IpNetwork, ...] = ()
    caller_id: str | None = None
    display_name: str = ""
    max_concurrent_calls: int | None = None
    media_proxy: MediaProxyMode = MediaProxyMode.AUTO
    behind_nat: bool = False
    enabled: bool = True

    def allows_source(self, address: str | IpAddress) -> bool:
        """True when the phone may call from ``address``."""
        return not self.allowed_ips or _holds(self.allowed_ips, address)

    def at_call_limit(self, in_use: int) -> bool:
        """True when ``in_use`` calls already fill the phone's concurrency limit."""
        return self.max_concurrent_calls is not None and in_use >= self.max_concurrent_calls


@dataclass(frozen=True, slots=True)
class TrunkInfo:
    """A mapping gateway (a customer's ingress trunk): how it is recognised (source networks,
    digest credentials), its line limit, and the ingress rewrite applied before routing."""

    id: int
    name: str
    account_id: int
    source_networks: tuple[IpNetwork, ...] = ()
    auth_username: str | None = None
    auth_password: str | None = None
    capacity: int | None = None
    caller_rules: tuple[RewriteRule, ...] = ()
    callee_rules: tuple[RewriteRule, ...] = ()
    allowed_prefixes: tuple[str, ...] = ()
    media_proxy: MediaProxyMode = MediaProxyMode.AUTO
    transport: Transport = Transport.UDP
    enabled: bool = True

    def at_line_limit(self, in_use: int) -> bool:
        """True when ``in_use`` calls already fill the trunk's lines."""
        return self.capacity is not None and in_use >= self.capacity

    def rewrite_callee(self, callee: str) -> str:
        """The callee after the trunk's ingress rules (what routing sees)."""
        return apply_rules(self.callee_rules, callee)

    def rewrite_caller(self, caller: str) -> str:
        """The caller after the trunk's ingress rules."""
        return apply_rules(self.caller_rules, caller)

    def allows_callee(self, callee: str) -> bool:
        """True when the (rewritten) callee starts with an allowed prefix; none listed: any."""
        return not self.allowed_prefixes or callee.startswith(self.allowed_prefixes)

    def allows_source(self, address: str | IpAddress) -> bool:
        """True when ``address`` lies in one of the trunk's source networks."""
        return _holds(self.source_networks, address)


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    """A routing gateway beyond what ranking needs (``route``): how it registers, its cost
    table and media mode. ``auth_*`` is what a dynamic gateway (GoIP) registers to us with;
    ``register_*`` is our registration to a carrier (None: we do not register)."""

    route: GatewayRoute
    registration: Registration
    rate_table_id: int | None = None
    media_proxy: MediaProxyMode = MediaProxyMode.AUTO
    auth_username: str | None = None
    auth_password: str | None = None
    register_username: str | None = None
    register_password: str | None = None
    register_expires: int | None = None

    @property
    def id(self) -> int:
        return self.route.id


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything the call path reads, as of change-feed row ``version``.

    ``routes_tree`` holds the enabled routing gateways by prefix (``routing.route_tree``), ready
    for ``routing.candidates``; ``gateways`` holds them all, disabled ones included, by id.
    The mappings are read-only views; build new ones through ``build_snapshot``.
    ``security_lists`` are the operators' static black- and whitelists (issue 6 §1).
    """

    version: int
    routes_tree: PrefixTree[GatewayRoute]
    gateways: Mapping[int, GatewayInfo]
    dynamic_gateways: Mapping[str, GatewayInfo]
    """Routing gateways that register to us, by ``auth_username``."""
    phones: Mapping[str, PhoneInfo]
    """By number (the SIP username)."""
    trunks: Mapping[int, TrunkInfo]
    trunks_by_username: Mapping[str, TrunkInfo]
    accounts: Mapping[int, AccountInfo]
    trunk_sources: NetworkIndex[TrunkInfo] = field(default_factory=NetworkIndex)
    security_lists: StaticLists = field(default_factory=StaticLists)

    def summary(self) -> str:
        """One log line of what the snapshot holds."""
        return (
            f"{len(self.gateways)} gateways, {len(self.phones)} phones, "
            f"{len(self.trunks)} trunks, {len(self.accounts)} accounts, "
            f"{len(self.security_lists.entries)} list entries"
        )

    def route(self, gateway_id: int) -> GatewayRoute | None:
        """The routing view of gateway ``gateway_id`` (disabled ones too), or None."""
        found = self.gateways.get(gateway_id)
        return None if found is None else found.route

    def trunk_for_source(self, address: str | IpAddress) -> TrunkInfo | None:
        """The trunk whose most specific source network holds ``address``, or None.

        A disabled trunk is answered, not skipped: when an operator disables a trunk carved
        out of another customer's block, its calls must be refused, not billed to the
        neighbour. Among trunks listing the very same network, an enabled one wins, then the
        lowest id (the builder orders them so).
        """
        found = self.trunk_sources.lookup(address)
        return found[0] if found else None
