"""A bounded memo for parsing the same header text again and again.

A call's From, To, Call-ID and Via values come back in every message of its dialog and
transactions, on both legs, and parsing them is most of what a B2BUA spends per message; their
parsed forms are immutable values, so one parse can be shared. The memo is bounded: when full
it is emptied, so a flood of distinct values costs only the parses it would have cost anyway,
never memory.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Memo"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """``memo(key)`` is ``build(key)``, computed once per key while the memo holds it. Only
    results are kept: a ``build`` that raises is asked again next time (and one that returns
    None every time: builds here return values)."""

    __slots__ = ("_build", "_found", "limit")

    def __init__(self, build: Callable[[K], V], limit: int = 8192) -> None:
        self._build = build
        self._found: dict[K, V] = {}
        self.limit = limit

    def __call__(self, key: K) -> V:
        found = self._found.get(key)
        if found is None:
            found = self._build(key)
            if len(self._found) >= self.limit:
                self._found.clear()
            self._found[key] = found
        return found

    def __len__(self) -> int:
        return len(self._found)
