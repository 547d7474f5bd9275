"""What the call path knows about a routing gateway: a frozen snapshot, not an ORM row.

The call path never touches the database (ARCHITECTURE.md): when gateways or parameters change,
the service layer reads the rows once, turns each enabled-or-not gateway into a ``GatewayRoute``
from plain values, and builds a new ``PrefixTree`` of them with ``route_tree``. Calls in flight
keep the snapshot they started with; new calls see the new one. Rewrite rules arrive parsed
(``numbers.parse_rules``), because a rule was already checked when the gateway was saved and a
live call must never meet a parse error.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from softswitch.routing.numbers import RewriteRule, apply_rules
from softswitch.routing.prefix_tree import PrefixTree

__all__ = ["GatewayRoute", "Transport", "route_tree"]


class Transport(enum.Enum):
    """How the switch reaches the gateway (RFC 3261 §18 transports we speak). The values are
    the storage layer's, so a snapshot builder converts with ``Transport(row.transport.value)``."""

    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"


@dataclass(frozen=True, slots=True)
class GatewayRoute:
    """One routing (carrier-side) gateway as routing and hunting see it.

    ``prefixes`` are the callee prefixes the gateway serves (after the ingress rewrite); an
    empty tuple means every callee, filed under the empty prefix so any more specific gateway
    still comes first. ``priority``: lower is tried first. ``weight`` shares load among gateways
    that tie on everything else (0: only when the others of its tie are used up). ``capacity``
    is the line limit (None: unlimited). ``asr_threshold_percent``: below it the gateway is
    tried after healthy ones of its tie when ASR ranking is on (None: never demoted).
    ``failover_codes`` are SIP final statuses that move a call to the next gateway on top of
    the built-in ones (408, 5xx), which ``calls.hunting`` owns. ``host`` None: a dynamic
    gateway (GoIP-style) reached at its registration binding; ``port`` None: the transport's
    default port (RFC 3263 §4.2: 5060, or 5061 for TLS).
    """

    id: int
    name: str
    host: str | None = None
    port: int | None = None
    transport: Transport = Transport.UDP
    prefixes: tuple[str, ...] = ()
    priority: int = 0
    weight: int = 1
    capacity: int | None = None
    asr_threshold_percent: float | None = None
    enabled: bool = True
    callee_rules: tuple[RewriteRule, ...] = ()
    caller_rules: tuple[RewriteRule, ...] = ()
    caller_id_rules: tuple[RewriteRule, ...] = ()
    failover_codes: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # Checked here so that a bad snapshot fails when it is built (in the service, with a
        # gateway id in the message), never halfway through ranking a live call.
        if self.weight < 0:
            raise ValueError(f"gateway {self.id}: weight must be 0 or more, not {self.weight}")
        if self.capacity is not None and self.capacity < 0:
            raise ValueError(f"gateway {self.id}: capacity must be 0 or more (None: unlimited)")
        if self.asr_threshold_percent is not None and not (
            0.0 <= self.asr_threshold_percent <= 100.0
        ):
            raise ValueError(f"gateway {self.id}: ASR threshold must be 0 to 100 percent")
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"gateway {self.id}: port {self.port} is outside 1-65535")
        for code in self.failover_codes:
            if not 100 <= code <= 699:
                raise ValueError(f"gateway {self.id}: failover code {code} is not a SIP status")

    def at_line_limit(self, in_use: int) -> bool:
        """True when ``in_use`` calls already fill the gateway's lines."""
        return self.capacity is not None and in_use >= self.capacity

    def longest_prefix(self, callee: str) -> str | None:
        """The gateway's longest prefix that ``callee`` starts with (``""`` when it serves every
        callee), or None. Hunting records per-(gateway, prefix) ASR under this prefix."""
        if not self.prefixes:
            return ""
        best: str | None = None
        for prefix in self.prefixes:
            if callee.startswith(prefix) and (best is None or len(prefix) > len(best)):
                best = prefix
        return best

    def rewrite_callee(self, callee: str) -> str:
        """The callee as this gateway wants it (its own rules, after the ingress ones)."""
        return apply_rules(self.callee_rules, callee)

    def rewrite_caller(self, caller: str) -> str:
        """The caller number as this gateway wants it."""
        return apply_rules(self.caller_rules, caller)

    def rewrite_caller_id(self, caller_id: str) -> str:
        """The presented caller ID (display/asserted identity) as this gateway wants it."""
        return apply_rules(self.caller_id_rules, caller_id)


def route_tree(routes: Iterable[GatewayRoute]) -> PrefixTree[GatewayRoute]:
    """The prefix tree of a routing snapshot: each enabled gateway under each of its prefixes
    (under ``""`` when it has none). Disabled gateways are left out here, so a snapshot does
    not pay for them on every lookup; the selector still checks ``enabled`` in case a caller
    builds its own tree."""
    return PrefixTree(
        (prefix, route) for route in routes if route.enabled for prefix in (route.prefixes or ("",))
    )
