"""CDR query (``GET /cdrs``, keyset pages) and streaming CSV export (``GET /cdrs.csv``).

Both take the same filter; the rules (time range, deny hours, role scope, the row cap) are the
service's (``softswitch.manage.cdrs``). The export is checked before the first byte is sent, so
a refusal is still a JSON error with its status; after that the CSV streams batch by batch and
never sits whole in memory. An export stops at SERVER_QUERY_MAX_SIZE rows: the answer says the
cap in force in its ``X-Row-Limit`` header, and a file with exactly that many rows may have been
cut short (the server logs it); narrow the time range to get the rest.
"""

from __future__ import annotations

from datetime import UTC
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter

from softswitch.api.deps import Context, CurrentActor
from softswitch.api.schemas.cdrs import CdrFilter, CdrPageFilter, CdrPageOut
from softswitch.api.schemas.common import ErrorBody
from softswitch.manage.cdrs import CdrPage, CdrQuery, CdrService, csv_chunks

__all__ = ["router"]

router = APIRouter(tags=["cdrs"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 403, 422, 503)
}

_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "a header row, then one row per CDR, newest first",
    },
    **_ERRORS,
}


@cache
def _page_json() -> TypeAdapter[CdrPage]:
    """Serialises a page straight from the service's dataclasses: a page holds up to
    SERVER_QUERY_ONE_PAGE_SIZE (10,000) rows, and validating each into ``CdrOut`` first would
    double the time of the answer. ``CdrOut`` is derived from the same dataclass, so
    ``CdrPageOut`` documents exactly this shape; money comes out as its exact six-place text."""
    return TypeAdapter(CdrPage)


def _query(given: CdrFilter) -> CdrQuery:
    return CdrQuery(
        start=given.start,
        end=given.end,
        caller=given.caller,
        callee=given.callee,
        account_id=given.account_id,
        routing_gateway_id=given.routing_gateway_id,
        mapping_gateway_id=given.mapping_gateway_id,
        termination_reason=given.termination_reason,
        answered=given.answered,
    )


@router.get("/cdrs", response_model=CdrPageOut, responses=_ERRORS)
async def list_cdrs(
    ctx: Context, actor: CurrentActor, given: Annotated[CdrPageFilter, Query()]
) -> Response:
    """One page of CDRs, newest first; follow ``next_cursor`` for the next one."""
    found = await CdrService(ctx.manage).page(
        actor, _query(given), page_size=given.page_size, cursor=given.cursor
    )
    return Response(_page_json().dump_json(found), media_type="application/json")


@router.get("/cdrs.csv", response_class=StreamingResponse, responses=_CSV_RESPONSE)
async def export_cdrs(
    ctx: Context, actor: CurrentActor, given: Annotated[CdrFilter, Query()]
) -> StreamingResponse:
    """Every matching CDR as CSV (streamed), at most SERVER_QUERY_MAX_SIZE rows."""
    export = CdrService(ctx.manage).export(actor, _query(given))
    start, end = given.start.astimezone(UTC), given.end.astimezone(UTC)
    name = f"cdrs-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}.csv"
    return StreamingResponse(
        csv_chunks(export),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Row-Limit": str(export.limit),
        },
    )
