"""Writing audit-log rows: the one way every repository and service records a change.

The row goes into the caller's session, so it commits or rolls back with the change it
describes. Texts are cut to their column widths here, once, instead of at every caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from softswitch.storage.models import AuditEntry

__all__ = ["record_audit"]

_WIDTH = 64  # username, entity, entity_id and remote_addr columns


def record_audit(
    session: AsyncSession,
    *,
    user_id: int | None,
    username: str,
    action: str,
    entity: str,
    entity_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    now: datetime,
    remote_addr: str = "",
) -> None:
    """Add one audit row (who, what, before/after) to ``session``'s transaction."""
    session.add(
        AuditEntry(
            occurred_at=now,
            user_id=user_id,
            username=username[:_WIDTH],
            action=action,
            entity=entity[:_WIDTH],
            entity_id=entity_id[:_WIDTH],
            before=before,
            after=after,
            remote_addr=remote_addr[:_WIDTH],
        )
    )
