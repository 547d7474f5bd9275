"""Payments: money an operator recorded as received from (or refunded to) a customer.

Each payment also produces a balance-ledger row; the payment keeps the commercial facts
(method, external reference), the ledger the balance arithmetic.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import Base
from softswitch.storage.types import BigId, Money, UtcDateTime, enum_type, utcnow

__all__ = ["Payment", "PaymentMethod"]


class PaymentMethod(enum.Enum):
    """How the money moved."""

    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"
    CARD = "card"
    ONLINE = "online"
    OTHER = "other"


class Payment(Base):
    """A payment into (positive) or out of (negative, a refund) an account."""

    __tablename__ = "payments"
    __table_args__ = (Index(None, "account_id", "paid_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[PaymentMethod] = mapped_column(
        enum_type(PaymentMethod, "method"), default=PaymentMethod.OTHER
    )
    reference: Mapped[str] = mapped_column(String(128), default="")
    paid_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    operator_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("operator_users.id", ondelete="SET NULL")
    )
    memo: Mapped[str] = mapped_column(Text, default="")
