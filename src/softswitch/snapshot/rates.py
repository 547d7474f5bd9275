"""The rate books the call path prices calls with: every rate table as a ``billing.RateBook``.

Kept apart from the routing snapshot because of size: a wholesale table holds hundreds of
thousands of prefixes, and rebuilding them when a phone changes would be waste. The
``SnapshotService`` follows the change feed for this snapshot with its own entity set
(:data:`RATE_ENTITIES`). A call keeps the books it started with, so a rate edit never reprices
a call in progress.

Reads are plain Core selects; the conversion to frozen ``Rate`` values runs in a worker thread
(a million rows take seconds of CPU, during which SIP timers must still fire). A profile that
does not parse means the database was edited behind the API's back: the build fails naming the
row, and the service keeps the books it had.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from softswitch.billing import Profile, Rate, RateBook, parse_profile
from softswitch.snapshot.builder import SnapshotError, begin_consistent_read
from softswitch.storage.models import Rate as RateRow
from softswitch.storage.models import RateTable

__all__ = ["RATE_ENTITIES", "RateSnapshot", "build_rate_snapshot"]

RATE_ENTITIES = frozenset({"rate_table", "rate"})
"""Change-feed entities the rate books reflect."""


@dataclass(frozen=True, slots=True)
class RateSnapshot:
    """Every rate table's book, by table id, as of change-feed row ``version``."""

    version: int
    books: Mapping[int, RateBook]
    currencies: Mapping[int, str]

    def book(self, table_id: int | None) -> RateBook | None:
        return None if table_id is None else self.books.get(table_id)

    def summary(self) -> str:
        rates = sum(len(book) for book in self.books.values())
        return f"{len(self.books)} rate tables, {rates} rates"


EMPTY_RATES = RateSnapshot(0, MappingProxyType({}), MappingProxyType({}))


async def build_rate_snapshot(sessions: async_sessionmaker[AsyncSession]) -> RateSnapshot:
    """The rate books as the tables hold them now."""
    async with sessions() as session:
        version = await begin_consistent_read(session)
        tables = (await session.execute(select(RateTable.__table__))).all()
        rates = (
            await session.execute(
                select(RateRow.__table__).order_by(RateRow.rate_table_id, RateRow.id)
            )
        ).all()
    return await asyncio.to_thread(assemble_rates, version, tables, rates)


def assemble_rates(
    version: int, tables: Iterable[Row[Any]], rates: Sequence[Row[Any]]
) -> RateSnapshot:
    """The books of already-read rows (split from the reads to be tested on its own)."""
    by_table: dict[int, list[Rate]] = {}
    profiles: dict[str, Profile] = {}
    for row in rates:
        by_table.setdefault(row.rate_table_id, []).append(_rate(row, profiles))
    books: dict[int, RateBook] = {}
    currencies: dict[int, str] = {}
    for table in tables:
        try:
            books[table.id] = RateBook(
                by_table.get(table.id, ()),
                split=table.time_of_day_mode == "split",
                zone=table.time_zone,
            )
        except ValueError as exc:
            raise SnapshotError(f"rate table {table.id} ({table.name}): {exc}") from None
        currencies[table.id] = table.currency
    return RateSnapshot(version, MappingProxyType(books), MappingProxyType(currencies))


def _rate(row: Row[Any], profiles: dict[str, Profile]) -> Rate:
    """One rate row as a ``Rate``; ``profiles`` caches parsed profile texts (a table has a
    handful of distinct profiles over hundreds of thousands of rows)."""
    profile = None
    if row.profile:
        profile = profiles.get(row.profile)
        if profile is None:
            try:
                profile = profiles[row.profile] = parse_profile(row.profile)
            except ValueError as exc:
                raise SnapshotError(f"rate {row.id} (prefix {row.prefix}) profile: {exc}") from None
    try:
        return Rate(
            prefix=row.prefix,
            rate_per_minute=row.rate_per_minute,
            first_period=row.initial_increment,
            next_period=row.subsequent_increment,
            first_price=row.first_price,
            connection_fee=row.connection_fee,
            min_duration=row.min_duration,
            free_seconds=row.free_seconds,
            area_name=row.area_name,
            effective_from=row.effective_from,
            effective_to=row.effective_to,
            profile=profile,
        )
    except (TypeError, ValueError) as exc:
        raise SnapshotError(f"rate {row.id} (prefix {row.prefix}): {exc}") from None
