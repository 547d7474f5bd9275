"""Least-cost routing: order candidate carriers by what the call would cost us.

This module only orders; the inputs come from the caller, which knows the carriers:

* ``cost(candidate)`` is the carrier's price for the callee — normally the per-minute price
  (``Rate.rate_per_minute``, or ``Rate.per_minute_first()`` when short calls dominate) of the
  carrier's own rate book, looked up by the *longest prefix within that carrier's table* (a
  carrier's ``44`` rate never competes with another carrier's ``4420`` rate as if they were one
  table). None means the carrier has no rate for the callee: it cannot be priced, so it is not
  offered (sending calls to an unpriced carrier would be an unbounded loss).
* ``ceiling`` is the most a carrier may cost: typically the customer's per-minute price for
  the same callee minus the margin the operator wants to keep (``price - margin``, or
  ``price * (1 - percent)``). None: no ceiling (e.g. the customer has no rate yet because the
  call is free, or the operator routes at a loss on purpose).

Carriers that cost the same keep their given order (a stable sort), so the caller's own
tie-break — priority, then weight or quality — survives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TypeVar

__all__ = ["least_cost"]

T = TypeVar("T")


def least_cost(
    candidates: Sequence[T], cost: Callable[[T], Decimal | None], *, ceiling: Decimal | None
) -> list[T]:
    """``candidates`` cheapest first; those with no cost, or costing more than ``ceiling``
    (when given), are dropped. ``cost`` is called once per candidate."""
    priced: list[tuple[Decimal, int, T]] = []
    for index, candidate in enumerate(candidates):
        amount = cost(candidate)
        if amount is None or (ceiling is not None and amount > ceiling):
            continue
        priced.append((amount, index, candidate))
    priced.sort(key=lambda item: (item[0], item[1]))
    return [candidate for _, _, candidate in priced]
