"""The audit log, read-only: ``GET /api/v1/audit`` (admins and operators)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from softswitch.api.deps import Context, CurrentActor
from softswitch.api.schemas import ErrorBody
from softswitch.manage.audit import AuditQuery, AuditService

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 403, 422)
}
_MAX = 2**31 - 1


class AuditOut(BaseModel):
    id: int
    occurred_at: datetime
    username: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    remote_addr: str


class AuditPage(BaseModel):
    items: list[AuditOut]
    total: int
    page: int
    page_size: int


@router.get("", response_model=AuditPage, responses=_ERRORS)
async def list_audit(
    ctx: Context,
    actor: CurrentActor,
    entity: Annotated[str | None, Query(max_length=64, description="e.g. account")] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    username: Annotated[str | None, Query(max_length=64, description="who acted")] = None,
    action: Annotated[str | None, Query(max_length=32, description="create, update …")] = None,
    start: Annotated[AwareDatetime | None, Query(description="from (inclusive)")] = None,
    end: Annotated[AwareDatetime | None, Query(description="until (exclusive)")] = None,
    page: Annotated[int, Query(ge=1, le=_MAX)] = 1,
    page_size: Annotated[int | None, Query(ge=1, le=_MAX)] = None,
) -> AuditPage:
    """Changes, newest first: who, what, when, from where, with before/after snapshots."""
    query = AuditQuery(entity, entity_id, username, action, start, end, page, page_size)
    found = await AuditService(ctx.manage).list(actor, query)
    items = [AuditOut.model_validate(record, from_attributes=True) for record in found.items]
    return AuditPage(items=items, total=found.total, page=found.page, page_size=found.page_size)
