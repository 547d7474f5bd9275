"""The balance ledger: every change of an account's balance is one row, never an update.

``amount`` is signed (top-ups positive, call charges negative) and ``balance_after`` is the
account balance once the row applied, so the ledger alone reproduces any balance at any time
and an audit can check ``previous balance_after + amount == balance_after`` row by row.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import Base
from softswitch.storage.types import BigId, Money, UtcDateTime, enum_type, utcnow

__all__ = ["LedgerEntry", "LedgerKind"]


class LedgerKind(enum.Enum):
    """Why the balance moved."""

    TOP_UP = "top_up"
    CALL_CHARGE = "call_charge"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class LedgerEntry(Base):
    """One movement of one account's balance."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index(None, "account_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    kind: Mapped[LedgerKind] = mapped_column(enum_type(LedgerKind, "kind"))
    amount: Mapped[Decimal] = mapped_column(Money())
    balance_after: Mapped[Decimal] = mapped_column(Money())
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    payment_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("payments.id", ondelete="RESTRICT"),
    )
    cdr_id: Mapped[int | None] = mapped_column(BigInteger)
    """The CDR a call charge settles; not a foreign key (CDRs are written in batches)."""
    call_ref: Mapped[str | None] = mapped_column(String(36), unique=True)
    """The ``record_id`` of the CDR a call charge settles: unique, so settling a call twice
    (a journal replay after a crash) charges it once."""
    operator_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("operator_users.id", ondelete="SET NULL")
    )
    memo: Mapped[str] = mapped_column(Text, default="")
