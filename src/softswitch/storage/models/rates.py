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
    __table_args__ = (
        CheckConstraint("time_of_day_mode IN ('answer', 'split')", name="time_of_day_mode"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    time_of_day_mode: Mapped[str] = mapped_column(String(8), default="answer")
    """``answer``: the rate in force when the call is answered prices the whole call (the
    VOS3000 way); ``split``: the call is cut at the rates' time-of-day boundaries and each part
    is priced by its own rate."""
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    """IANA zone in which the rates' time-of-day profiles are read (``Europe/London``)."""
    memo: Mapped[str] = mapped_column(Text, default="")

    rates: Mapped[list[Rate]] = relationship(
        back_populates="rate_table", cascade="all, delete-orphan", passive_deletes=True
    )


class Rate(Base):
    """The price of calls to one prefix during one validity window."""

    __tablename__ = "rates"
    __table_args__ = (
        UniqueConstraint("rate_table_id", "prefix", "effective_from", "profile"),
        Index(None, "rate_table_id", "prefix"),
        CheckConstraint("initial_increment > 0 AND subsequent_increment > 0", name="increments"),
        CheckConstraint("free_seconds >= 0", name="free_seconds"),
        CheckConstraint("min_duration >= 0", name="min_duration"),
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
    first_price: Mapped[Decimal | None] = mapped_column(Money())
    """Price of the whole first period (``initial_increment`` seconds); None: the first period
    is priced at ``rate_per_minute`` like the others."""
    free_seconds: Mapped[int] = mapped_column(default=0)
    min_duration: Mapped[int] = mapped_column(default=0)
    """An answered call with billable time is billed for at least this many seconds."""
    profile: Mapped[str] = mapped_column(String(64), default="")
    """Time-of-day/day-of-week window this rate applies in (``mon-fri 08:00-18:00``), read in
    the table's ``time_zone``; empty: at any time. For one prefix, a rate whose profile matches
    wins over the profile-less one."""
    effective_from: Mapped[datetime] = mapped_column(UtcDateTime())
    effective_to: Mapped[datetime | None] = mapped_column(UtcDateTime())

    rate_table: Mapped[RateTable] = relationship(back_populates="rates")
