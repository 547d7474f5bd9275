"""Agents (resellers): they own customer accounts and buy at their own rate table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from softswitch.storage.models.base import Base, Timestamps

if TYPE_CHECKING:
    from softswitch.storage.models.accounts import Account

__all__ = ["Agent"]


class Agent(Timestamps, Base):
    """A reseller: its rate table is what the operator charges it; its accounts, its customers."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    rate_table_id: Mapped[int | None] = mapped_column(
        ForeignKey("rate_tables.id", ondelete="RESTRICT"), index=True
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    memo: Mapped[str] = mapped_column(Text, default="")

    accounts: Mapped[list[Account]] = relationship(back_populates="agent")
