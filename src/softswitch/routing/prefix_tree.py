"""Longest-prefix lookup of dial strings: which routes (and, later, which rates) serve a number.

Routing asks it once per call attempt and billing once per rated call, over tables of up to
hundreds of thousands of prefixes, so the lookup is the hot part and the build is not: a tree is
built once per snapshot (when gateways, rates or parameters change) and never changes after;
a new snapshot builds a new tree and the call path swaps the reference.

Why a table keyed by whole prefixes and not a node-per-digit trie: in Python a walk of linked
nodes costs one dictionary lookup *and* one interpreter step per digit, and a node per digit of
100,000 prefixes costs hundreds of megabytes of small dictionaries. Real prefix tables use only
a handful of distinct prefix lengths (country codes, area codes, ranges: typically under 16), so
asking one dictionary for ``number[:n]`` at each of those lengths, longest first, visits the
same "nodes" a trie would, in C, with one entry per prefix. The semantics are those of a trie:
every prefix of the number that is in the table matches, and the longest wins.

Prefixes are plain strings compared character by character (digits, ``+``, ``*``, ``#``); the
empty prefix matches every number, which is how "this gateway takes every callee" is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

__all__ = ["PrefixTree"]

T = TypeVar("T")


class PrefixTree(Generic[T]):
    """An immutable map from prefixes to the values filed under them, searched by number.

    Several values may share one prefix (two gateways both serving ``44``); they are kept in
    the order they were given, so a caller that cares about ties decides it at build time.
    """

    __slots__ = ("_lengths", "_table")

    _table: dict[str, tuple[T, ...]]
    _lengths: tuple[int, ...]

    def __init__(self, pairs: Iterable[tuple[str, T]] = ()) -> None:
        """Build from ``(prefix, value)`` pairs; a prefix given more than once collects all its
        values. The tree owns its data after this: later changes to ``pairs`` do not reach it."""
        grouped: dict[str, list[T]] = {}
        for prefix, value in pairs:
            if not isinstance(prefix, str):
                raise TypeError(f"a prefix must be a str, not {type(prefix).__name__}")
            grouped.setdefault(prefix, []).append(value)
        self._table = {prefix: tuple(values) for prefix, values in grouped.items()}
        # Longest first: the first hit in longest() is the answer, so the loop stops early.
        self._lengths = tuple(sorted({len(prefix) for prefix in self._table}, reverse=True))

    def longest(self, number: str) -> tuple[T, ...]:
        """The values of the longest prefix of ``number`` in the tree; ``()`` when none is."""
        table = self._table
        size = len(number)
        for length in self._lengths:
            if length <= size:
                values = table.get(number[:length])
                if values is not None:
                    return values
        return ()

    def longest_prefix(self, number: str) -> str | None:
        """The longest prefix of ``number`` in the tree (``""`` counts), or None."""
        table = self._table
        size = len(number)
        for length in self._lengths:
            if length <= size:
                prefix = number[:length]
                if prefix in table:
                    return prefix
        return None

    def matches(self, number: str) -> list[tuple[str, tuple[T, ...]]]:
        """Every prefix of ``number`` in the tree with its values, longest first.

        Routing needs them all, not only the longest: a gateway serving ``44`` is still a
        (later) candidate for ``4420…`` when the gateways serving ``4420`` fail or are full."""
        table = self._table
        size = len(number)
        found: list[tuple[str, tuple[T, ...]]] = []
        for length in self._lengths:
            if length <= size:
                prefix = number[:length]
                values = table.get(prefix)
                if values is not None:
                    found.append((prefix, values))
        return found

    def get(self, prefix: str) -> tuple[T, ...]:
        """The values filed under exactly ``prefix`` (``()`` when it is not in the tree)."""
        return self._table.get(prefix, ())

    def prefixes(self) -> Iterator[str]:
        """Every prefix in the tree, in build order."""
        return iter(self._table)

    def __len__(self) -> int:
        """The number of distinct prefixes."""
        return len(self._table)

    def __contains__(self, prefix: object) -> bool:
        return prefix in self._table

    def __repr__(self) -> str:
        return f"PrefixTree({len(self._table)} prefixes, lengths {list(self._lengths)})"
