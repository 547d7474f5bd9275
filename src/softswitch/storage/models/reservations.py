"""Billing reservations: credit a live call holds against its account (issue 5 §2).

One row per live call that reserved anything. ``accounts.reserved`` is the sum of its rows,
kept by the same statements that change the rows, so a new call's check reads one column. The
row is deleted when the call is settled (in the transaction that charges it), and the rows of a
switch process that died are released when that process (``node``) starts again.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import Base
from softswitch.storage.types import BigId, Money, UtcDateTime, utcnow

__all__ = ["Reservation"]


class Reservation(Base):
    """Credit held by one live call."""

    __tablename__ = "billing_reservations"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("seconds >= 0", name="seconds"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ref: Mapped[str] = mapped_column(String(36), unique=True)
    """The call's CDR ``record_id``: settlement finds and deletes the row by it."""
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(Money())
    seconds: Mapped[int] = mapped_column(default=0)
    """Billable seconds the amount covers."""
    node: Mapped[str] = mapped_column(String(64), index=True)
    """The switch process holding the call; its rows are released when it starts again."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
