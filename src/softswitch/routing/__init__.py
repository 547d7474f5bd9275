"""Routing (layer L2, pure): which gateways a call may try and in which order.

``numbers`` rewrites caller and callee numbers; ``model`` is the call path's snapshot of a
routing gateway; ``prefix_tree`` finds the longest prefixes of a number (shared with billing
for rate lookup); ``quality`` keeps ASR/ACD over sliding windows; ``selector`` ranks the
candidate gateways. Time, live-call counts, parameters and randomness come in as arguments.
"""

from softswitch.routing.model import GatewayRoute, Transport, route_tree
from softswitch.routing.numbers import (
    RewriteError,
    RewriteRule,
    apply_rules,
    parse_rule,
    parse_rules,
)
from softswitch.routing.prefix_tree import PrefixTree
from softswitch.routing.quality import QualityKey, QualityStats, QualityWindows
from softswitch.routing.selector import AsrSource, RandomSource, candidates

__all__ = [
    "AsrSource",
    "GatewayRoute",
    "PrefixTree",
    "QualityKey",
    "QualityStats",
    "QualityWindows",
    "RandomSource",
    "RewriteError",
    "RewriteRule",
    "Transport",
    "apply_rules",
    "candidates",
    "parse_rule",
    "parse_rules",
    "route_tree",
]
