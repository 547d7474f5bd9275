"""Payments, refunds, balance adjustments and the ledger; payment batches as CSV or JSON.

The service (``softswitch.manage.payments``) owns the rules; these routes read the bodies. JSON
bodies here are parsed with ``parse_float=Decimal`` (:class:`ExactJsonRoute`), so an amount
sent as the JSON number ``0.1`` is the decimal 0.1 and never the binary float next to it.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import AwareDatetime

from softswitch.api.deps import Context, CurrentActor, CurrentWho
from softswitch.api.errors import error_body
from softswitch.api.schemas.common import ErrorBody
from softswitch.api.schemas.payments import (
    AdjustmentCreate,
    BulkItem,
    BulkLineError,
    BulkResultOut,
    LedgerEntryOut,
    LedgerPage,
    PaymentCreate,
    PaymentCreated,
    PaymentOut,
    PaymentPage,
)
from softswitch.manage import Invalid
from softswitch.manage.fields import MAX_ID
from softswitch.manage.payment_csv import LineError, PaymentLine, parse_csv, parse_items
from softswitch.manage.payments import PaymentFilter, PaymentService
from softswitch.storage.models import LedgerKind, PaymentMethod

__all__ = ["ExactJsonRoute", "router"]

MAX_BATCH_BYTES = 16 * 1024 * 1024
"""The largest batch body accepted (a 100,000-line CSV is a few megabytes)."""


class _ExactJsonRequest(Request):
    """A request whose JSON numbers with a fraction or exponent become ``Decimal``."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), parse_float=Decimal)
        return self._json


class ExactJsonRoute(APIRoute):
    """A route whose JSON body keeps every amount exact (see :class:`_ExactJsonRequest`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact(request: Request) -> Response:
            return await handler(_ExactJsonRequest(request.scope, request.receive))

        return exact


AccountId = Annotated[int, Path(ge=1, le=MAX_ID, description="the account's id")]

router = APIRouter(tags=["payments"], route_class=ExactJsonRoute)

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 422)
}


@router.post(
    "/accounts/{account_id}/payments",
    response_model=PaymentCreated,
    status_code=201,
    responses=_ERRORS,
)
async def create_payment(
    account_id: AccountId, body: PaymentCreate, ctx: Context, who: CurrentWho
) -> PaymentCreated:
    """Record a payment (positive amount) or a refund (negative) and move the balance.

    Refused (422, field ``amount``) when it would take a prepaid balance below zero or a
    postpaid one below minus its credit limit.
    """
    payment, entry = await PaymentService(ctx.manage).pay(
        who,
        account_id,
        body.amount,
        currency=body.currency,
        method=body.method,
        reference=body.reference,
        memo=body.memo,
    )
    out = PaymentOut.model_validate(payment)
    return PaymentCreated(**out.model_dump(), ledger_id=entry.id, balance_after=entry.balance_after)


@router.post(
    "/accounts/{account_id}/adjustments",
    response_model=LedgerEntryOut,
    status_code=201,
    responses=_ERRORS,
)
async def create_adjustment(
    account_id: AccountId, body: AdjustmentCreate, ctx: Context, who: CurrentWho
) -> LedgerEntryOut:
    """Correct a balance (admins and operators): a ledger row of kind ``adjustment``."""
    entry = await PaymentService(ctx.manage).adjust(who, account_id, body.amount, body.memo)
    return LedgerEntryOut.model_validate(entry)


@router.get("/payments", response_model=PaymentPage, responses=_ERRORS)
async def list_payments(
    ctx: Context,
    actor: CurrentActor,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: Annotated[AwareDatetime | None, Query(description="paid at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="paid before")] = None,
    method: PaymentMethod | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_ID)] = 1,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> PaymentPage:
    """Payments the caller may see, newest first."""
    query = PaymentFilter(account_id, since, until, method, page, page_size)
    found = await PaymentService(ctx.manage).list_payments(actor, query)
    items = [PaymentOut.model_validate(row) for row in found.items]
    return PaymentPage(items=items, total=found.total, page=found.page, page_size=found.page_size)


@router.get("/accounts/{account_id}/ledger", response_model=LedgerPage, responses=_ERRORS)
async def account_ledger(
    account_id: AccountId,
    ctx: Context,
    actor: CurrentActor,
    kind: LedgerKind | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_ID)] = 1,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> LedgerPage:
    """An account's balance movements, newest first."""
    found = await PaymentService(ctx.manage).ledger(
        actor, account_id, kind=kind, page=page, page_size=page_size
    )
    items = [LedgerEntryOut.model_validate(row) for row in found.items]
    return LedgerPage(items=items, total=found.total, page=found.page, page_size=found.page_size)


_BULK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "account,amount,method,reference,memo\nC1,10.50,cash,R-1,\n",
            },
            "application/json": {
                "schema": {"type": "array", "items": BulkItem.model_json_schema()}
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.post(
    "/payments/bulk",
    response_model=BulkResultOut,
    responses={**_ERRORS, 422: {"description": "bad lines; nothing applied"}},
    openapi_extra=_BULK_BODY,
)
async def bulk_payments(
    request: Request,
    ctx: Context,
    who: CurrentWho,
    skip_bad: bool = False,
) -> Response:
    """Apply a batch of payments (CSV ``account,amount[,method,reference,memo]`` or a JSON list).

    All or nothing: when any line is bad, nothing is applied and the answer (422) lists every
    bad line by number. With ``skip_bad=true`` the good lines are applied and the bad ones
    reported (422 only when none could be applied).
    """
    lines, errors = await _read_batch(request)
    result = await PaymentService(ctx.manage).bulk(who, lines, errors, skip_bad=skip_bad)
    out = BulkResultOut(
        applied=result.applied,
        errors=[BulkLineError.model_validate(e) for e in result.errors],
        payment_ids=list(result.payment_ids),
    )
    if result.applied == 0 and result.errors:
        first = result.errors[0]
        message = (
            f"{len(result.errors)} bad line(s), nothing applied; "
            f"first: line {first.line}: {first.message}"
        )
        body = {**error_body("invalid", message, "lines"), **out.model_dump(mode="json")}
        return JSONResponse(body, status_code=422)
    return JSONResponse(out.model_dump(mode="json"), status_code=200)


async def _read_batch(request: Request) -> tuple[list[PaymentLine], list[LineError]]:
    """The batch lines of a CSV, JSON or multipart body."""
    raw = await request.body()
    if len(raw) > MAX_BATCH_BYTES:
        raise Invalid(f"the batch is larger than {MAX_BATCH_BYTES} bytes: split it", field="file")
    content_type = request.headers.get("content-type", "text/csv")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        try:
            items = json.loads(raw, parse_float=Decimal)
        except (ValueError, RecursionError):
            raise Invalid("the body is not valid JSON", field="file") from None
        if not isinstance(items, list):
            raise Invalid("a JSON batch is a list of {account, amount} objects", field="file")
        return parse_items(items)
    if kind == "multipart/form-data":
        raw = _uploaded_file(content_type, raw)
    elif kind not in ("text/csv", "text/plain", "application/csv", "application/octet-stream"):
        raise Invalid(
            f"send the batch as text/csv, application/json or a file upload, not {kind}",
            field="file",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the CSV is not UTF-8 text", field="file") from None
    return parse_csv(text)


def _uploaded_file(content_type: str, raw: bytes) -> bytes:
    """The ``file`` part (or the only part) of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        raise Invalid("the upload is not a valid multipart body", field="file")
    parts = [part for part in message.iter_parts() if not part.is_multipart()]
    named = [
        part for part in parts if part.get_param("name", header="content-disposition") == "file"
    ]
    chosen = named or parts
    if len(chosen) != 1:
        raise Invalid("upload the CSV as the form field named 'file'", field="file")
    payload = chosen[0].get_payload(decode=True)
    if not isinstance(payload, bytes):
        raise Invalid("the uploaded file is empty", field="file")
    return payload
