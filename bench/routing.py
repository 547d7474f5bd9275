"""Benchmark of the call path's pure routing pieces (run by hand; figures in docs/performance.md).

    .venv/bin/python bench/routing.py [--prefixes 100000] [--gateways 50]

1. Longest-prefix lookup in a ``PrefixTree`` of N random prefixes (1 to 10 digits): the lookup
   every call does for its route (and, later, for its rate), on numbers that match and numbers
   that mostly do not.
2. ``selector.candidates`` ranking G gateways that all serve the callee (priority, ASR with a
   live quality window, weight): the per-call cost of choosing the hunting order.
"""

from __future__ import annotations

import argparse
import random
import timeit
import tracemalloc

from softswitch.routing import GatewayRoute, PrefixTree, QualityWindows, candidates, route_tree


def _prefix_tree(count: int, rng: random.Random) -> None:
    prefixes: set[str] = set()
    while len(prefixes) < count:
        tail = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 7)))
        prefixes.add(str(rng.randint(1, 999)) + tail)
    ordered = sorted(prefixes)
    tracemalloc.start()
    started = timeit.default_timer()
    tree = PrefixTree((prefix, index) for index, prefix in enumerate(ordered))
    build = timeit.default_timer() - started
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    matching = [
        rng.choice(ordered) + "".join(rng.choice("0123456789") for _ in range(6))
        for _ in range(10_000)
    ]
    random_numbers = ["".join(rng.choice("0123456789") for _ in range(12)) for _ in range(10_000)]
    numbers = matching + random_numbers
    print(
        f"prefix tree: {count:,} prefixes, built in {build * 1000:.0f} ms, ~{memory / 1e6:.1f} MB"
    )
    for name, lookup in (("longest", tree.longest), ("matches", tree.matches)):
        best = min(timeit.repeat(lambda f=lookup: [f(n) for n in numbers], number=1, repeat=5))
        print(f"  {name:8} {best / len(numbers) * 1e6:6.2f} µs per lookup")


def _selector(gateways: int, rng: random.Random) -> None:
    routes = [
        GatewayRoute(
            id=index,
            name=f"gw{index}",
            prefixes=(*(str(rng.randint(1, 999)) for _ in range(2000)), "44", "4420"),
            priority=rng.randint(0, 3),
            weight=rng.randint(0, 5),
            capacity=100,
            asr_threshold_percent=30.0,
        )
        for index in range(gateways)
    ]
    tree = route_tree(routes)
    quality = QualityWindows(600, 600)
    for index in range(gateways):
        for second in range(100):
            quality.record(index, rng.random() < 0.4, 60.0, now=float(second))
    chooser = random.Random(1)

    def rank() -> list[GatewayRoute]:
        return candidates(
            tree,
            "442079460000",
            in_use={},
            quality=quality,
            now=200.0,
            asr_enabled=True,
            rng=chooser,
        )

    runs = 20_000
    best = min(timeit.repeat(rank, number=runs, repeat=3))
    print(
        f"selector: {gateways} candidate gateways ({len(tree):,} prefixes in the tree): "
        f"{best / runs * 1e6:.1f} µs per call"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=100_000)
    parser.add_argument("--gateways", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(7)
    _prefix_tree(args.prefixes, rng)
    _selector(args.gateways, rng)


if __name__ == "__main__":
    main()
