"""What every management service works with, built once by the composition root.

Services are cheap objects over this context (``PaymentService(ctx)``), so the API can build
them per request and the CLI per command without any shared mutable state besides the
database and the change feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from softswitch.manage.changes import ChangeFeed
from softswitch.operators import Actor, Clock
from softswitch.params import ParamStore

__all__ = ["ManageContext", "Who"]


@dataclass(frozen=True, slots=True)
class Who:
    """Who does a write, for the policy and the audit row: the actor and its address."""

    actor: Actor
    remote_addr: str = ""


@dataclass(frozen=True, slots=True)
class ManageContext:
    """The database, the parameters in force, the clock and the change feed."""

    sessions: async_sessionmaker[AsyncSession]
    params: ParamStore
    clock: Clock
    feed: ChangeFeed

    def now(self) -> datetime:
        """The clock's time in UTC (the clock must return aware datetimes)."""
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the clock returned a naive datetime")
        return now.astimezone(UTC)

    def page_size(self, requested: int | None) -> int:
        """Rows per page: the request's, capped by SERVER_QUERY_ONE_PAGE_SIZE (its default)."""
        limit = self.params.get_int("SERVER_QUERY_ONE_PAGE_SIZE")
        if requested is None:
            return limit
        return max(1, min(requested, limit))
