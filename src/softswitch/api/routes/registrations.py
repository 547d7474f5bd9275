"""Registrations, read-only: ``GET /api/v1/registrations`` (issue 4 §1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from softswitch.api.deps import Context, CurrentActor
from softswitch.api.schemas import ErrorBody
from softswitch.manage.fields import MAX_ID
from softswitch.manage.registrations import RegistrationQuery, RegistrationService

__all__ = ["router"]

router = APIRouter(prefix="/registrations", tags=["registrations"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 403, 422)
}


class RegistrationOut(BaseModel):
    """A device's binding: its address-of-record, contact, where it registered from (the NAT's
    public address when ``behind_nat``) and until when."""

    aor: str
    contact: str
    phone_id: int | None
    routing_gateway_id: int | None
    source_transport: str
    source_host: str
    source_port: int
    behind_nat: bool
    expires: int
    expires_at: datetime
    registered_at: datetime
    user_agent: str
    q: str
    call_id: str
    cseq: int


class RegistrationPage(BaseModel):
    items: list[RegistrationOut]
    total: int
    page: int
    page_size: int


@router.get("", response_model=RegistrationPage, responses=_ERRORS)
async def list_registrations(
    ctx: Context,
    actor: CurrentActor,
    aor: Annotated[str | None, Query(max_length=255, description="sip:user@host")] = None,
    phone_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    routing_gateway_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    expired: Annotated[bool, Query(description="also bindings past expiry")] = False,
    page: Annotated[int, Query(ge=1, le=MAX_ID)] = 1,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> RegistrationPage:
    """Live registrations you may see, most recent first."""
    query = RegistrationQuery(aor, phone_id, routing_gateway_id, expired, page, page_size)
    found = await RegistrationService(ctx.manage).list(actor, query)
    items = [RegistrationOut.model_validate(item, from_attributes=True) for item in found.items]
    return RegistrationPage(
        items=items, total=found.total, page=found.page, page_size=found.page_size
    )
