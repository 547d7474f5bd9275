"""Payments, adjustments, the balance ledger and payment batches.

Amounts travel as JSON strings ("10.500000") in answers, so no client parses them into a
float; requests may send strings or JSON numbers, which the payment routes read as exact
decimals (``softswitch.api.routes.payments``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from softswitch.storage.models import LedgerKind, PaymentMethod

__all__ = [
    "AdjustmentCreate",
    "BulkItem",
    "BulkLineError",
    "BulkResultOut",
    "LedgerEntryOut",
    "LedgerPage",
    "PaymentCreate",
    "PaymentCreated",
    "PaymentOut",
    "PaymentPage",
]

_AMOUNT = 'signed, at most 6 decimal places; a string such as "10.50" or a JSON number'


class PaymentCreate(BaseModel):
    """A payment received (positive amount: a top-up) or paid back (negative: a refund)."""

    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(description=_AMOUNT)
    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="must be the account's; omit for it"
    )
    method: PaymentMethod = PaymentMethod.OTHER
    reference: str = Field(default="", max_length=128, description="bank or receipt reference")
    memo: str = Field(default="", max_length=2000)


class AdjustmentCreate(BaseModel):
    """An operator's correction of a balance (no money moved), with the reason."""

    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(description=_AMOUNT)
    memo: str = Field(min_length=1, max_length=2000, description="why the balance is corrected")


class PaymentOut(BaseModel):
    """A recorded payment and the balance it left."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    account_id: int
    amount: Decimal
    currency: str
    method: PaymentMethod
    reference: str
    memo: str
    paid_at: datetime
    operator_user_id: int | None


class PaymentCreated(PaymentOut):
    """The answer to a payment: the payment, its ledger row and the new balance."""

    ledger_id: int
    balance_after: Decimal


class LedgerEntryOut(BaseModel):
    """One movement of a balance; ``balance_after`` is the balance once it applied. A call's
    charge names its CDR by ``call_ref`` (the CDR's ``record_id``; at most one charge per call)
    and, once the CDR is stored, by ``cdr_id``."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    account_id: int
    kind: LedgerKind
    amount: Decimal
    balance_after: Decimal
    occurred_at: datetime
    payment_id: int | None
    cdr_id: int | None
    call_ref: str | None
    operator_user_id: int | None
    memo: str


class PaymentPage(BaseModel):
    items: list[PaymentOut]
    total: int
    page: int
    page_size: int


class LedgerPage(BaseModel):
    items: list[LedgerEntryOut]
    total: int
    page: int
    page_size: int


class BulkItem(BaseModel):
    """One payment of a JSON batch (the same fields as a CSV line)."""

    account: str = Field(description="the account code")
    amount: Decimal | str = Field(description=_AMOUNT)
    method: PaymentMethod | None = None
    reference: str | None = None
    memo: str | None = None


class BulkLineError(BaseModel):
    """A refused line: its number in the file (the header is line 1) or in the JSON list."""

    model_config = ConfigDict(from_attributes=True)

    line: int
    account: str
    field: str
    message: str


class BulkResultOut(BaseModel):
    """How many lines were applied, and every refused line."""

    applied: int
    errors: list[BulkLineError]
    payment_ids: list[int]
