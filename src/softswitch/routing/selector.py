"""Which routing gateways a call may try, and in which order (issue 4 §3).

The selector is pure: the live-call counts, the ASR figures, the time and the random source
come in as arguments, so the same inputs (and the same seeded generator) give the same order,
and a test can state the order exactly. Hunting (``calls.hunting``) walks the list it returns,
applying each gateway's own rewrite rules and its failover policy; this module only ranks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

from softswitch.routing.model import GatewayRoute
from softswitch.routing.prefix_tree import PrefixTree
from softswitch.routing.quality import QualityKey

__all__ = ["AsrSource", "RandomSource", "candidates"]


class RandomSource(Protocol):
    """The one method the selector needs from a generator; ``random.Random`` has it. Injected
    (never the global generator) so tests and replays are deterministic."""

    def random(self) -> float:
        """A float in [0.0, 1.0)."""
        ...


class AsrSource(Protocol):
    """Where the selector reads a gateway's recent ASR; ``QualityWindows`` is one."""

    def asr(self, key: QualityKey, now: float) -> float | None:
        """ASR in percent over the window ending at ``now``; None without data."""
        ...


def candidates(
    routes_tree: PrefixTree[GatewayRoute],
    callee: str,
    *,
    in_use: Mapping[int, int],
    quality: AsrSource,
    now: float,
    asr_enabled: bool,
    rng: RandomSource,
) -> list[GatewayRoute]:
    """The gateways to try for ``callee`` (already rewritten by the ingress rules), best first.

    Eligible: enabled gateways filed under a prefix of ``callee`` whose lines are not all busy
    (``in_use.get(id, 0) < capacity``; capacity None is unlimited). A gateway filed under
    several matching prefixes appears once, ranked by its longest one.

    Order, each key breaking the ties of the one before:

    1. matching prefix length, longest first: a gateway serving ``4420`` comes before one
       serving ``44``, and one serving every callee (prefix ``""``) comes last;
    2. ``priority``, lower first;
    3. only when ``asr_enabled`` (SS_GATEWAY_ASR_CALCULATE): healthy gateways (ASR of the
       gateway id over the window at or above their threshold, or no threshold, or no
       attempts in the window yet) before those below their threshold. A demoted gateway is
       still tried, later: it may be the only one left, and trying it is how its ASR
       recovers;
    4. ``weight``: a weighted random order among the gateways tied on 1-3, each place drawn
       with probability proportional to weight among those not yet placed (``rng``); gateways
       of weight 0 follow all the weighted ones of their tie, in uniform random order.

    An empty list means no route (termination reason NoAvailableRouter, or GatewayLineLimit
    when the caller sees that matching gateways exist but are full).
    """
    seen: set[int] = set()
    ranked: list[tuple[int, int, int, float, GatewayRoute]] = []
    for prefix, routes in routes_tree.matches(callee):
        # matches() is longest first, so the first time a gateway is seen is its longest match.
        depth = -len(prefix)
        for route in routes:
            if route.id in seen or not route.enabled:
                continue
            seen.add(route.id)
            if route.at_line_limit(in_use.get(route.id, 0)):
                continue
            demoted = 1 if asr_enabled and _below_threshold(route, quality, now) else 0
            ranked.append((depth, route.priority, demoted, _weight_key(route.weight, rng), route))
    ranked.sort(key=lambda item: item[:4])
    return [item[4] for item in ranked]


def _below_threshold(route: GatewayRoute, quality: AsrSource, now: float) -> bool:
    if route.asr_threshold_percent is None:
        return False
    asr = quality.asr(route.id, now)
    return asr is not None and asr < route.asr_threshold_percent


def _weight_key(weight: int, rng: RandomSource) -> float:
    """A sort key (ascending = earlier) whose order is a weighted random permutation.

    Efraimidis-Spirakis sampling: with u uniform in (0, 1], sorting by ``-ln(u) / weight``
    ascending draws each next place with probability weight / (sum of the weights left), the
    same distribution as drawing one by one without replacement, with one draw per gateway.
    Weight 0 gets a key above every finite one a positive weight can produce (at most
    ``-ln(2**-53)``, about 36.7), plus a uniform draw to order those gateways among
    themselves."""
    u = 1.0 - rng.random()  # (0, 1]: the log is finite
    if weight > 0:
        return -math.log(u) / weight
    return _ZERO_WEIGHT_BASE + u


_ZERO_WEIGHT_BASE = 1.0e9
