"""The live-call table's counters: the one source of concurrency counts (issue 4 §4), pure.

Every limit the call path enforces — account and phone concurrency, mapping-gateway capacity,
routing-gateway line limits — reads these counters, and only the engine changes them, when a
call takes or releases a line. Keeping them in one place (instead of counting calls each time,
or one counter per feature) means a limit can never disagree with what ``/api/v1/calls`` and
``/api/v1/monitor`` show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from enum import Enum

__all__ = ["CallTable", "Holder"]


class Holder(Enum):
    """What a call holds a line of."""

    ACCOUNT = "account"
    PHONE = "phone"
    TRUNK = "mapping_gateway"
    GATEWAY = "routing_gateway"


Line = tuple[Holder, int]


class CallTable:
    """Line counts by holder; a call takes lines with :meth:`take` and gives them back with
    :meth:`release` (each exactly once: the engine's call object remembers what it took)."""

    __slots__ = ("_counts", "_gateways")

    def __init__(self) -> None:
        self._counts: Counter[Line] = Counter()
        self._gateways: dict[int, int] = {}

    def in_use(self, holder: Holder, ident: int | None) -> int:
        """Lines ``ident`` holds now (0 for None)."""
        if ident is None:
            return 0
        return self._counts.get((holder, ident), 0)

    @property
    def gateways(self) -> Mapping[int, int]:
        """Calls in progress per routing gateway id: the selector's ``in_use``."""
        return self._gateways

    def take(self, lines: Iterable[Line]) -> None:
        for line in lines:
            self._counts[line] += 1
            if line[0] is Holder.GATEWAY:
                self._gateways[line[1]] = self._gateways.get(line[1], 0) + 1

    def release(self, lines: Iterable[Line]) -> None:
        for line in lines:
            left = self._counts[line] - 1
            if left > 0:
                self._counts[line] = left
            else:
                del self._counts[line]
            if line[0] is Holder.GATEWAY:
                count = self._gateways.get(line[1], 0) - 1
                if count > 0:
                    self._gateways[line[1]] = count
                else:
                    self._gateways.pop(line[1], None)
