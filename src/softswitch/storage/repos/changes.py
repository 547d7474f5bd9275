"""Writing and reading the change feed (``softswitch.storage.models.changes``).

``record_change`` is the one way a write announces itself to the running call path: it adds
the feed row to the caller's session, so the announcement commits with the change. Readers
follow the feed by id; ``prune_changes`` keeps it short.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from softswitch.storage.models import ChangeRow

__all__ = ["Change", "ChangeFeedRepo", "record_change"]

_WIDTH = 64


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change as readers see it."""

    id: int
    entity: str
    entity_id: str
    action: str
    occurred_at: datetime


def record_change(
    session: AsyncSession, *, entity: str, entity_id: str, action: str, now: datetime
) -> None:
    """Add a feed row for one change to ``session``'s transaction."""
    session.add(
        ChangeRow(
            occurred_at=now, entity=entity[:_WIDTH], entity_id=entity_id[:_WIDTH], action=action
        )
    )


class ChangeFeedRepo:
    """Reads of the ``change_feed`` table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def last_id(self) -> int:
        """The id of the newest row (0 when the feed is empty)."""
        async with self._sessions() as session:
            found = await session.scalar(select(func.max(ChangeRow.id)))
        return int(found or 0)

    async def after(self, last_id: int, limit: int = 1000) -> Sequence[Change]:
        """Rows newer than ``last_id``, oldest first, at most ``limit``."""
        query = select(ChangeRow).where(ChangeRow.id > last_id).order_by(ChangeRow.id).limit(limit)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [Change(r.id, r.entity, r.entity_id, r.action, r.occurred_at) for r in rows]

    async def prune(self, before: datetime) -> int:
        """Delete rows older than ``before``; returns how many went."""
        async with self._sessions.begin() as session:
            result = await session.execute(delete(ChangeRow).where(ChangeRow.occurred_at < before))
        return int(getattr(result, "rowcount", 0) or 0)
