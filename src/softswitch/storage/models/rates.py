"""Rate tables and their rates: what a call to a prefix costs (customer price or carrier cost).

A rate is looked up by the longest matching prefix among the rates effective at the call's start.
Billing rounds hold time up to the initial increment, then to whole subsequent increments
(VOS3000 "60/60", "6/6", "1/1"), after the free seconds, and adds the connection fee once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from softswitch.storage.models.base import Base, Timestamps
from softswitch.storage.types import Money, UtcDateTime

__all__ = ["Rate", "RateTable"]


class RateTable(Timestamps, Base):
    """A named price list in one currency, used by accounts, agents and routing gateways."""

    __tablename__ = "rate_tables"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    memo: Mapped[str] = mapped_column(Text, default="")

    rates: Mapped[list[Rate]] = relationship(
        back_populates="rate_table", cascade="all, delete-orphan", passive_deletes=True
    )


class Rate(Base):
    """The price of calls to one prefix during one validity window."""

    __tablename__ = "rates"
    __table_args__ = (
        UniqueConstraint("rate_table_id", "prefix", "effective_from"),
        Index(None, "rate_table_id", "prefix"),
        CheckConstraint("initial_increment > 0 AND subsequent_increment > 0", name="increments"),
        CheckConstraint("free_seconds >= 0", name="free_seconds"),
        CheckConstraint(
            "effective_to IS NULL OR effective_to > effective_from", name="effective_window"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rate_table_id: Mapped[int] = mapped_column(ForeignKey("rate_tables.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(32))
    area_name: Mapped[str] = mapped_column(String(128), default="")
    rate_per_minute: Mapped[Decimal] = mapped_column(Money())
    initial_increment: Mapped[int] = mapped_column(default=60)
    """Seconds billed at least once the call is answered (VOS3000 "billing cycle" first unit)."""
    subsequent_increment: Mapped[int] = mapped_column(default=60)
    """Seconds each further billing unit covers."""
    connection_fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    free_seconds: Mapped[int] = mapped_column(default=0)
    effective_from: Mapped[datetime] = mapped_column(UtcDateTime())
    effective_to: Mapped[datetime | None] = mapped_column(UtcDateTime())

    rate_table: Mapped[RateTable] = relationship(back_populates="rates")
