"""Accounts (customers): who pays for calls, how, and within which limits.

A prepaid account may spend its balance; a postpaid account may go below zero down to minus its
credit limit (the VOS3000 "overdraft"). The daily spend limit and max concurrent calls are fraud
brakes enforced by billing and call control; ``valid_until`` expires the account.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from softswitch.storage.models.base import Base, Timestamps
from softswitch.storage.types import Money, UtcDateTime, enum_type

if TYPE_CHECKING:
    from softswitch.storage.models.agents import Agent
    from softswitch.storage.models.phones import Phone

__all__ = ["Account", "AccountStatus", "BillingMode", "RoutingMode"]


class BillingMode(enum.Enum):
    """Prepaid accounts stop at zero; postpaid ones at minus their credit limit."""

    PREPAID = "prepaid"
    POSTPAID = "postpaid"


class RoutingMode(enum.Enum):
    """How the account's calls rank the gateways: by their routing order (prefix, priority,
    ASR, weight) or cheapest carrier first (least-cost routing)."""

    PRIORITY = "priority"
    LEAST_COST = "least_cost"


class AccountStatus(enum.Enum):
    """Only ``active`` accounts may place calls."""

    ACTIVE = "active"
    LOCKED = "locked"
    EXPIRED = "expired"


class Account(Timestamps, Base):
    """A customer account. ``code`` is the account number operators and CSV files refer to."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("credit_limit >= 0", name="credit_limit"),
        CheckConstraint("max_concurrent_calls IS NULL OR max_concurrent_calls >= 0", name="mcc"),
        CheckConstraint("daily_spend_limit IS NULL OR daily_spend_limit >= 0", name="daily_limit"),
        CheckConstraint("reserved >= 0", name="reserved"),
        CheckConstraint("lcr_min_margin >= 0", name="lcr_min_margin"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    billing_mode: Mapped[BillingMode] = mapped_column(
        enum_type(BillingMode, "billing_mode"), default=BillingMode.PREPAID
    )
    balance: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    credit_limit: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    """How far below zero a postpaid account may go (ignored for prepaid)."""
    reserved: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    """Credit held by the account's live calls (the sum of its ``billing_reservations``):
    what a new call may reserve is balance + credit limit - reserved."""
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[AccountStatus] = mapped_column(
        enum_type(AccountStatus, "status"), default=AccountStatus.ACTIVE
    )
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="RESTRICT"), index=True
    )
    rate_table_id: Mapped[int | None] = mapped_column(
        ForeignKey("rate_tables.id", ondelete="RESTRICT"), index=True
    )
    max_concurrent_calls: Mapped[int | None] = mapped_column()
    """None means unlimited."""
    daily_spend_limit: Mapped[Decimal | None] = mapped_column(Money())
    """None means unlimited."""
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    routing_mode: Mapped[RoutingMode] = mapped_column(
        enum_type(RoutingMode, "routing_mode"), default=RoutingMode.PRIORITY
    )
    lcr_min_margin: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    """Least-cost routing skips a carrier whose per-minute cost exceeds the customer's
    per-minute price minus this margin."""
    memo: Mapped[str] = mapped_column(Text, default="")

    agent: Mapped[Agent | None] = relationship(back_populates="accounts")
    phones: Mapped[list[Phone]] = relationship(back_populates="account")
