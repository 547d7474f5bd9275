"""CDR query bodies: the filter (query parameters), one CDR, and a keyset page.

Money is exact decimal text (``"0.012000"``, never a JSON number a client would turn into a
float, never exponent notation); times are ISO 8601 in UTC.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, get_type_hints

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, create_model

from softswitch.manage.cdrs import CdrRecord

__all__ = ["CdrFilter", "CdrOut", "CdrPageFilter", "CdrPageOut", "MoneyText"]

MoneyText = Annotated[
    Decimal,
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
]
"""A Decimal shown as plain decimal text with all its stored places."""

_NUMBER_HELP = "exact match; end with * for a prefix match (44* matches 4420...)"
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"

Number = Annotated[str, Field(min_length=1, max_length=65, pattern=_PRINTABLE)]
"""A caller or callee number (64 characters), or its prefix followed by ``*``."""

RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]
"""A row id: what a BIGINT holds, so an absurd number is a 422, not a database error."""


class CdrFilter(BaseModel):
    """Which CDRs: a time range on the call's start (start <= start_time < end), at most
    SERVER_QUERY_CDR_MAX_DAY_INTERVAL days, and optional filters (all must match)."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime = Field(description="calls that started at or after (with time zone)")
    end: AwareDatetime = Field(description="calls that started before (with time zone)")
    caller: Number | None = Field(default=None, description=_NUMBER_HELP)
    callee: Number | None = Field(default=None, description=_NUMBER_HELP)
    account_id: RowId | None = None
    routing_gateway_id: RowId | None = None
    mapping_gateway_id: RowId | None = None
    termination_reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=_PRINTABLE,
        description="exact, e.g. normal_clearing",
    )
    answered: bool | None = Field(
        default=None, description="true: only answered calls; false: only unanswered"
    )


class CdrPageFilter(CdrFilter):
    """The filter plus the keyset position of a page."""

    page_size: int | None = Field(
        default=None, ge=1, description="default and maximum: SERVER_QUERY_ONE_PAGE_SIZE"
    )
    cursor: str | None = Field(
        default=None,
        max_length=200,
        description="next_cursor of the previous page; omit for the first (newest) page",
    )


def _cdr_out() -> type[BaseModel]:
    """The API shape of one CDR, derived from the service's ``CdrRecord`` so the two cannot
    drift apart: the same fields in the same order, money as :data:`MoneyText`."""
    fields: dict[str, Any] = {
        name: (MoneyText if kind is Decimal else kind, ...)
        for name, kind in get_type_hints(CdrRecord).items()
    }
    return create_model(
        "CdrOut",
        __config__=ConfigDict(from_attributes=True),
        __doc__=(
            "One call attempt, answered or not. ``record_id`` is what the ledger's ``call_ref`` "
            "of the call's charge names. ``termination_reason`` is the call-control "
            "cause, ``sip_status`` the final SIP status seen, ``hangup_side`` caller, callee or "
            "system; ``fee`` what the account was charged (``fee_unrounded`` before rounding), "
            "``agent_fee`` what its agent is, ``cost`` what the carrier charges (at its rate "
            "``cost_prefix``), ``profit`` what the call earned (may be negative); ``attempts`` "
            "every gateway tried."
        ),
        **fields,
    )


CdrOut = _cdr_out()


class CdrPageOut(BaseModel):
    """CDRs newest first (start_time, then id, descending). No total is counted: follow
    ``next_cursor`` until it is null."""

    items: list[CdrOut]  # type: ignore[valid-type]
    next_cursor: str | None
    page_size: int
