"""Gateway selection (``softswitch.routing.selector``) and the route snapshot
(``softswitch.routing.model``): tables of orders (longest prefix, then priority, then ASR, then
weight), line limits, disabled gateways, weight 0, the weighted draw's distribution, and
properties: the output is a permutation of the eligible gateways, ordered by prefix length then
priority then ASR health, and the same seed gives the same order."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.routing import (
    GatewayRoute,
    PrefixTree,
    QualityKey,
    QualityWindows,
    Transport,
    candidates,
    parse_rules,
    route_tree,
)


class FakeAsr:
    """ASR figures set by the test, per gateway id."""

    def __init__(self, figures: dict[int, float] | None = None) -> None:
        self.figures = figures or {}
        self.asked: list[QualityKey] = []

    def asr(self, key: QualityKey, now: float) -> float | None:
        self.asked.append(key)
        return self.figures.get(key) if isinstance(key, int) else None


def gw(gid: int, *prefixes: str, **kwargs: object) -> GatewayRoute:
    return GatewayRoute(id=gid, name=f"gw{gid}", host="192.0.2.1", prefixes=prefixes, **kwargs)  # type: ignore[arg-type]


def pick(
    routes: list[GatewayRoute],
    callee: str,
    *,
    in_use: dict[int, int] | None = None,
    asr: dict[int, float] | None = None,
    asr_enabled: bool = True,
    seed: int = 1,
) -> list[int]:
    found = candidates(
        route_tree(routes),
        callee,
        in_use=in_use or {},
        quality=FakeAsr(asr),
        now=1000.0,
        asr_enabled=asr_enabled,
        rng=random.Random(seed),
    )
    return [route.id for route in found]


def test_longest_prefix_first() -> None:
    routes = [gw(1, "44"), gw(2, "4420"), gw(3, "442079")]
    assert pick(routes, "442079460000") == [3, 2, 1]
    assert pick(routes, "442089460000") == [2, 1]
    assert pick(routes, "441619460000") == [1]


def test_prefix_length_beats_priority() -> None:
    routes = [gw(1, "44", priority=0), gw(2, "4420", priority=9)]
    assert pick(routes, "44207") == [2, 1]


def test_priority_lower_first_within_a_prefix() -> None:
    routes = [gw(1, "44", priority=5), gw(2, "44", priority=1), gw(3, "44", priority=3)]
    assert pick(routes, "4420") == [2, 3, 1]


def test_a_gateway_with_several_matching_prefixes_appears_once_at_its_longest() -> None:
    routes = [gw(1, "44", "4420", priority=5), gw(2, "4420", priority=1), gw(3, "44")]
    # Gateway 1 ranks at 4420 (after 2 on priority), before 3 which only serves 44.
    assert pick(routes, "442079") == [2, 1, 3]
    assert pick(routes, "4416") == [3, 1]  # both at 44: priorities 0 and 5


def test_gateway_without_prefixes_serves_every_callee_last() -> None:
    routes = [gw(1), gw(2, "1")]
    assert pick(routes, "12125550100") == [2, 1]
    assert pick(routes, "33123") == [1]
    assert pick(routes, "") == [1]


def test_no_route() -> None:
    assert pick([gw(1, "44")], "33123") == []
    assert pick([], "44") == []


def test_disabled_gateways_are_never_candidates() -> None:
    routes = [gw(1, "44", enabled=False), gw(2, "44")]
    assert pick(routes, "4420") == [2]
    # Also when a caller builds the tree by hand, with disabled gateways in it.
    tree = PrefixTree((prefix, route) for route in routes for prefix in route.prefixes)
    found = candidates(
        tree, "4420", in_use={}, quality=FakeAsr(), now=0.0, asr_enabled=False, rng=random.Random(0)
    )
    assert [route.id for route in found] == [2]


@pytest.mark.parametrize(
    ("capacity", "in_use", "skipped"),
    [
        (None, 10_000, False),
        (10, 9, False),
        (10, 10, True),
        (10, 11, True),  # a limit lowered below the live count
        (0, 0, True),
        (1, 0, False),
    ],
)
def test_line_limit(capacity: int | None, in_use: int, skipped: bool) -> None:
    routes = [gw(1, "44", capacity=capacity), gw(2, "44", priority=1)]
    expected = [2] if skipped else [1, 2]
    assert pick(routes, "4420", in_use={1: in_use}) == expected


def test_a_full_gateway_is_not_offered_again_at_a_shorter_prefix() -> None:
    routes = [gw(1, "44", "4420", capacity=2)]
    assert pick(routes, "442079", in_use={1: 2}) == []


@pytest.mark.parametrize(
    ("threshold", "asr", "demoted"),
    [
        (50.0, 49.9, True),
        (50.0, 50.0, False),  # at the threshold is healthy
        (50.0, 80.0, False),
        (50.0, None, False),  # no attempts in the window yet: not demoted
        (None, 0.0, False),  # no threshold: never demoted
        (0.0, 0.0, False),
        (100.0, 99.0, True),
    ],
)
def test_asr_demotion(threshold: float | None, asr: float | None, demoted: bool) -> None:
    routes = [gw(1, "44", asr_threshold_percent=threshold), gw(2, "44", weight=0)]
    figures = {} if asr is None else {1: asr}
    # Gateway 2 (weight 0) would come last in its tie; gateway 1 goes after it only if demoted.
    assert pick(routes, "4420", asr=figures) == ([2, 1] if demoted else [1, 2])
    assert pick(routes, "4420", asr=figures, asr_enabled=False) == [1, 2]


def test_asr_ranks_after_prefix_and_priority() -> None:
    routes = [
        gw(1, "4420", priority=0, asr_threshold_percent=50.0),  # demoted, but longest prefix
        gw(2, "44", priority=0, asr_threshold_percent=50.0),
        gw(3, "44", priority=0, asr_threshold_percent=50.0),  # demoted
        gw(4, "44", priority=1),
    ]
    asr = {1: 10.0, 2: 60.0, 3: 10.0}
    assert pick(routes, "442079", asr=asr) == [1, 2, 3, 4]


def test_asr_is_read_per_gateway_id_only_when_enabled() -> None:
    source = FakeAsr({1: 10.0})
    tree = route_tree([gw(1, "44", asr_threshold_percent=50.0), gw(2, "44")])
    args = {"in_use": {}, "quality": source, "now": 5.0, "rng": random.Random(0)}
    candidates(tree, "4420", asr_enabled=False, **args)  # type: ignore[arg-type]
    assert source.asked == []
    candidates(tree, "4420", asr_enabled=True, **args)  # type: ignore[arg-type]
    assert source.asked == [1]  # gateway 2 has no threshold: nothing to ask


def test_with_real_quality_windows() -> None:
    quality = QualityWindows(600, 600)
    for _ in range(10):
        quality.record(1, False, 0.0, now=10.0)
    quality.record(2, True, 30.0, now=10.0)
    tree = route_tree(
        [gw(1, "44", asr_threshold_percent=30.0), gw(2, "44", asr_threshold_percent=30.0)]
    )
    ids = [
        r.id
        for r in candidates(
            tree, "44", in_use={}, quality=quality, now=20.0, asr_enabled=True, rng=random.Random(3)
        )
    ]
    assert ids == [2, 1]
    # After the window the bad figures are gone and the two tie again on weight.
    later = candidates(
        tree, "44", in_use={}, quality=quality, now=700.0, asr_enabled=True, rng=random.Random(3)
    )
    assert sorted(r.id for r in later) == [1, 2]


def test_weight_zero_only_after_the_weighted_ones_of_its_tie() -> None:
    routes = [gw(1, "44", weight=0), gw(2, "44", weight=1), gw(3, "44", weight=0), gw(4, "44")]
    for seed in range(50):
        order = pick(routes, "4420", seed=seed)
        assert set(order[:2]) == {2, 4}
        assert set(order[2:]) == {1, 3}
    # ... of its tie only: a weight-0 gateway at a longer prefix still comes first.
    assert pick([gw(1, "4420", weight=0), gw(2, "44", weight=5)], "44207") == [1, 2]


def test_weighted_draw_follows_the_weights() -> None:
    routes = [gw(1, "44", weight=3), gw(2, "44", weight=1)]
    firsts = Counter(pick(routes, "44", seed=seed)[0] for seed in range(4000))
    assert firsts[1] / 4000 == pytest.approx(0.75, abs=0.03)
    three = [gw(1, "44", weight=1), gw(2, "44", weight=2), gw(3, "44", weight=7)]
    firsts = Counter(pick(three, "44", seed=seed)[0] for seed in range(4000))
    assert firsts[3] / 4000 == pytest.approx(0.7, abs=0.03)
    assert firsts[1] / 4000 == pytest.approx(0.1, abs=0.02)
    # Second place, given 3 was first: 2 with probability 2/3.
    seconds = Counter(
        order[1] for seed in range(4000) if (order := pick(three, "44", seed=seed))[0] == 3
    )
    assert seconds[2] / sum(seconds.values()) == pytest.approx(2 / 3, abs=0.04)


def test_zero_weights_among_themselves_are_shuffled() -> None:
    routes = [gw(gid, "44", weight=0) for gid in range(1, 4)]
    orders = {tuple(pick(routes, "44", seed=seed)) for seed in range(200)}
    assert len(orders) == 6


# --- the snapshot model -------------------------------------------------------------------------


def test_route_rewrites_with_its_own_rules() -> None:
    route = gw(
        1,
        "44",
        callee_rules=parse_rules(["prefix 44 0044"]),
        caller_rules=parse_rules(["strip 1"]),
        caller_id_rules=parse_rules(["add +"]),
    )
    assert route.rewrite_callee("442079") == "00442079"
    assert route.rewrite_caller("0207") == "207"
    assert route.rewrite_caller_id("4420") == "+4420"
    assert gw(2).rewrite_callee("123") == "123"


def test_route_longest_prefix_and_line_limit() -> None:
    route = gw(1, "44", "4420", "1", capacity=3)
    assert route.longest_prefix("442079") == "4420"
    assert route.longest_prefix("4416") == "44"
    assert route.longest_prefix("33") is None
    assert gw(2).longest_prefix("33") == ""
    assert not route.at_line_limit(2)
    assert route.at_line_limit(3)
    assert not gw(3).at_line_limit(10**6)


def test_route_defaults() -> None:
    route = GatewayRoute(id=1, name="carrier")
    assert route.host is None and route.port is None  # dynamic: reached at its binding
    assert route.transport is Transport.UDP
    assert route.enabled and route.weight == 1 and route.capacity is None
    assert route.failover_codes == frozenset()
    with pytest.raises(AttributeError):
        route.weight = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weight": -1}, "weight"),
        ({"capacity": -1}, "capacity"),
        ({"asr_threshold_percent": 100.5}, "ASR threshold"),
        ({"asr_threshold_percent": -0.1}, "ASR threshold"),
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"failover_codes": frozenset({503, 99})}, "failover code 99"),
    ],
)
def test_route_refuses_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GatewayRoute(id=9, name="bad", **kwargs)  # type: ignore[arg-type]


def test_route_tree_files_every_prefix_and_skips_disabled() -> None:
    tree = route_tree([gw(1, "44", "1"), gw(2), gw(3, "44", enabled=False)])
    assert sorted(tree.prefixes()) == ["", "1", "44"]
    assert [r.id for r in tree.get("44")] == [1]
    assert [r.id for r in tree.get("")] == [2]


# --- properties ---------------------------------------------------------------------------------

ROUTES = st.lists(
    st.builds(
        lambda prefixes, priority, weight, capacity, threshold, enabled: (
            prefixes,
            priority,
            weight,
            capacity,
            threshold,
            enabled,
        ),
        st.lists(st.text(alphabet="123", max_size=3), max_size=3),
        st.integers(0, 2),
        st.integers(0, 3),
        st.none() | st.integers(0, 3),
        st.none() | st.sampled_from([0.0, 50.0, 100.0]),
        st.booleans(),
    ),
    max_size=12,
).map(
    lambda specs: [
        gw(
            gid,
            *prefixes,
            priority=priority,
            weight=weight,
            capacity=capacity,
            asr_threshold_percent=threshold,
            enabled=enabled,
        )
        for gid, (prefixes, priority, weight, capacity, threshold, enabled) in enumerate(specs)
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    routes=ROUTES,
    callee=st.text(alphabet="123", max_size=5),
    in_use=st.dictionaries(st.integers(0, 11), st.integers(0, 4)),
    figures=st.dictionaries(st.integers(0, 11), st.sampled_from([0.0, 49.0, 50.0, 100.0])),
    asr_enabled=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_order_properties(
    routes: list[GatewayRoute],
    callee: str,
    in_use: dict[int, int],
    figures: dict[int, float],
    asr_enabled: bool,
    seed: int,
) -> None:
    tree = route_tree(routes)

    def run() -> list[GatewayRoute]:
        return candidates(
            tree,
            callee,
            in_use=in_use,
            quality=FakeAsr(figures),
            now=0.0,
            asr_enabled=asr_enabled,
            rng=random.Random(seed),
        )

    found = run()
    eligible = {
        route.id
        for route in routes
        if route.enabled
        and route.longest_prefix(callee) is not None
        and (route.capacity is None or in_use.get(route.id, 0) < route.capacity)
    }
    ids = [route.id for route in found]
    assert len(ids) == len(set(ids))  # each gateway once
    assert set(ids) == eligible  # a permutation of the eligible set

    def demoted(route: GatewayRoute) -> bool:
        threshold, asr = route.asr_threshold_percent, figures.get(route.id)
        return asr_enabled and threshold is not None and asr is not None and asr < threshold

    def rank(route: GatewayRoute) -> tuple[int, int, bool]:
        prefix = route.longest_prefix(callee)
        assert prefix is not None
        return (-len(prefix), route.priority, demoted(route))

    ranks = [rank(route) for route in found]
    assert ranks == sorted(ranks)  # prefix length, then priority, then ASR health
    for before, after in itertools.pairwise(found):
        if rank(before) == rank(after) and before.weight == 0:
            assert after.weight == 0  # weight 0 only after the weighted ones of its tie
    assert [route.id for route in run()] == ids  # same seed, same order
