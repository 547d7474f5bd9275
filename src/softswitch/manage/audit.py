"""Reading the audit log: who changed what, when, with the state before and after.

Writes go through ``storage.repos.record_audit`` in the transaction of the change they
describe; this is the read side for admins and operators, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from softswitch.manage.context import ManageContext
from softswitch.manage.errors import Forbidden, Invalid
from softswitch.manage.listing import Page, page_of
from softswitch.operators import Action, Actor, Resource, Target, can
from softswitch.storage.models import AuditEntry

__all__ = ["AuditQuery", "AuditRecord", "AuditService"]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of an audit listing; None matches everything."""

    entity: str | None = None
    entity_id: str | None = None
    username: str | None = None
    action: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    page: int = 1
    page_size: int | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    occurred_at: datetime
    username: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    remote_addr: str


class AuditService:
    def __init__(self, ctx: ManageContext) -> None:
        self._ctx = ctx

    async def list(self, actor: Actor, query: AuditQuery) -> Page[AuditRecord]:
        """One page of audit rows, newest first."""
        if not can(actor, Action.READ, Target(Resource.AUDIT)):
            raise Forbidden(f"{actor.username} ({actor.role.value}) may not read the audit log")
        if query.start is not None and query.end is not None and query.end <= query.start:
            raise Invalid("end must be after start", field="end")
        statement = select(AuditEntry)
        for column, value in (
            (AuditEntry.entity, query.entity),
            (AuditEntry.entity_id, query.entity_id),
            (AuditEntry.username, query.username),
            (AuditEntry.action, query.action),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if query.start is not None:
            statement = statement.where(AuditEntry.occurred_at >= query.start)
        if query.end is not None:
            statement = statement.where(AuditEntry.occurred_at < query.end)
        statement = statement.order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
        size = self._ctx.page_size(query.page_size)
        async with self._ctx.sessions() as session:
            rows, total = await page_of(session, statement, query.page, size)
            items = [
                AuditRecord(
                    row.id,
                    row.occurred_at,
                    row.username,
                    row.action,
                    row.entity,
                    row.entity_id,
                    row.before,
                    row.after,
                    row.remote_addr,
                )
                for row in rows
            ]
        return Page(items, total, query.page, size)
