"""Benchmark of call rating (run by hand; figures in docs/rating.md, "Performance").

    .venv/bin/python bench/rating.py [--prefixes 1000000] [--calls 20000]

1. Builds a ``RateBook`` of N random-digit prefixes (lengths 2 to 10, weighted towards the
   4-8 digits of real rate decks; prices drawn from a pool as real decks repeat them; a mix of
   60/60, 1/1, 30/6 and 60/6 periods, some connection fees) and reports the build time and the
   memory the rates and the book take (RSS growth of this process).
2. Rates calls on one core: ``rate_for`` alone, ``charge`` (the whole rating of an answered
   call: billable seconds, rate, charged seconds, price, rounding), ``fee_for`` and
   ``affordable_seconds`` (the binary search a prepaid reservation does), on numbers half of
   which match a prefix and half random.
3. The same for a split-mode book of peak/off-peak rates (a profile on every prefix), on calls
   that cross the peak boundary: the slow path, for comparison.
"""

from __future__ import annotations

import argparse
import os
import random
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from softswitch.billing import BillingRules, Rate, RateBook, parse_profile

PERIODS = ((60, 60), (1, 1), (30, 6), (60, 6), (60, 1))
WIDTH = 48
LENGTH_WEIGHTS = {2: 1, 3: 2, 4: 6, 5: 10, 6: 14, 7: 14, 8: 10, 9: 5, 10: 3}


def _rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _prefixes(count: int, rng: random.Random) -> list[str]:
    lengths = list(LENGTH_WEIGHTS)
    weights = list(LENGTH_WEIGHTS.values())
    found: set[str] = set()
    while len(found) < count:
        length = rng.choices(lengths, weights)[0]
        found.add(str(rng.randint(1, 9)) + "".join(rng.choices("0123456789", k=length - 1)))
    return sorted(found)


def _rates(prefixes: list[str], rng: random.Random) -> list[Rate]:
    prices = [Decimal(rng.randint(5, 900_000)).scaleb(-6) for _ in range(5000)]
    fees = [Decimal(0)] * 8 + [Decimal("0.01"), Decimal("0.05")]
    rates = []
    for prefix in prefixes:
        first, step = rng.choice(PERIODS)
        rates.append(
            Rate(
                prefix,
                rng.choice(prices),
                first_period=first,
                next_period=step,
                connection_fee=rng.choice(fees),
            )
        )
    return rates


def _numbers(prefixes: list[str], count: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """``count`` numbers extending a prefix of the book, and ``count`` random 12-digit ones."""
    digits = "0123456789"
    matching = [
        rng.choice(prefixes) + "".join(rng.choices(digits, k=rng.randint(3, 8)))
        for _ in range(count)
    ]
    unknown = ["".join(rng.choices(digits, k=12)) for _ in range(count)]
    return matching, unknown


def _per_second(run: Callable[[], object], calls: int, repeat: int = 5) -> float:
    """Calls per second of this process's CPU time (best of ``repeat`` runs): per-core
    throughput, which other processes sharing the machine disturb less than wall time."""
    best = min(timeit.repeat(run, number=1, repeat=repeat, timer=time.process_time))
    return calls / best


def _header(title: str) -> None:
    print(f"| {title:{WIDTH}} | {'per second':>12} | {'µs':>8} |")
    print(f"|{'-' * (WIDTH + 2)}|{'-' * 13}:|{'-' * 9}:|")


def _row(name: str, rate: float) -> None:
    print(f"| {name:{WIDTH}} | {rate:12,.0f} | {1e6 / rate:8.2f} |")


def _answer_mode(count: int, calls: int, rng: random.Random) -> None:
    prefixes = _prefixes(count, rng)
    before = _rss_bytes()
    started = timeit.default_timer()
    rates = _rates(prefixes, rng)
    made = timeit.default_timer()
    rates_rss = _rss_bytes()
    book = RateBook(rates)
    built = timeit.default_timer()
    book_rss = _rss_bytes()
    print(
        f"rate book: {len(book):,} rates; Rate objects made in {made - started:.1f} s "
        f"(+{(rates_rss - before) / 1e6:.0f} MB RSS), book built in {built - made:.1f} s "
        f"(+{(book_rss - rates_rss) / 1e6:.0f} MB RSS)"
    )
    matching, unknown = _numbers(prefixes, calls // 2, rng)
    numbers = matching + unknown
    rng.shuffle(numbers)
    at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    holds = [rng.randint(0, 600_000) for _ in range(calls)]
    pairs = list(zip(numbers, holds, strict=True))
    hits = list(zip(matching, holds, strict=False))
    rules = BillingRules(hold_precision_ms=50, fee_precision=4)
    matched = sum(book.rate_for(number, at) is not None for number in numbers)
    print(
        f"{calls:,} numbers: half extend a prefix of the book, half are random 12-digit "
        f"numbers ({matched:,} of all have a rate); holds 0-600 s; CPU time of one core, "
        "best of 5 runs\n"
    )
    _header("operation (answer mode, 1 rate per prefix)")
    rate_for, charge = book.rate_for, book.charge
    _row("rate_for, mixed numbers", _per_second(lambda: [rate_for(n, at) for n in numbers], calls))
    _row(
        "rate_for, numbers with a prefix",
        _per_second(lambda: [rate_for(n, at) for n in matching], len(matching)),
    )
    _row(
        "charge (hold ms -> rounded fee), mixed numbers",
        _per_second(lambda: [charge(n, at, h, rules) for n, h in pairs], calls),
    )
    _row(
        "charge, numbers with a prefix",
        _per_second(lambda: [charge(n, at, h, rules) for n, h in hits], len(hits)),
    )
    _row(
        "fee_for (reservation of 300 s), mixed",
        _per_second(lambda: [book.fee_for(n, at, 300, rules) for n in numbers], calls),
    )
    few = numbers[: calls // 10]
    available = Decimal("1.5")
    _row(
        "affordable_seconds (limit 86400)",
        _per_second(
            lambda: [book.affordable_seconds(n, at, available, rules) for n in few], len(few)
        ),
    )


def _split_mode(count: int, calls: int, rng: random.Random) -> None:
    peak = parse_profile("mon-fri 08:00-18:00")
    start = datetime(2020, 1, 1, tzinfo=UTC)
    prefixes = _prefixes(count, rng)
    rates = []
    for prefix in prefixes:
        price = Decimal(rng.randint(100, 90_000)).scaleb(-5)
        rates.append(Rate(prefix, price, first_period=60, next_period=6, effective_from=start))
        rates.append(Rate(prefix, price * 2, 60, 6, effective_from=start, profile=peak))
    book = RateBook(rates, split=True, zone="Europe/London")
    numbers = [rng.choice(prefixes) + "123456" for _ in range(calls)]
    rules = BillingRules()
    # 17:55 London on a Wednesday in November (UTC+0): a 10-minute call crosses 18:00.
    at = datetime(2026, 11, 25, 17, 55, tzinfo=UTC)
    example = book.charge(numbers[0], at, 600_000, rules)
    assert example is not None and len(example.parts) == 2
    print()
    _header(f"split mode, 2 rates a prefix, {count:,} prefixes")
    _row(
        "rate_for (profile read in Europe/London)",
        _per_second(lambda: [book.rate_for(n, at) for n in numbers], calls),
    )
    _row(
        "charge, 10 min call crossing 18:00 (2 parts)",
        _per_second(lambda: [book.charge(n, at, 600_000, rules) for n in numbers], calls),
    )
    inside = at - timedelta(hours=3)
    _row(
        "charge, 10 min call inside the peak (1 part)",
        _per_second(lambda: [book.charge(n, inside, 600_000, rules) for n in numbers], calls),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--split-prefixes", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(7)
    _answer_mode(args.prefixes, args.calls, rng)
    _split_mode(args.split_prefixes, args.calls // 4, rng)


if __name__ == "__main__":
    main()
