"""The audit log: who changed what, with the entity's state before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import Base
from softswitch.storage.types import BigId, UtcDateTime, utcnow

__all__ = ["AuditEntry"]


class AuditEntry(Base):
    """One change. ``before``/``after`` are JSON snapshots of the entity (None on create/delete).

    The username is copied beside the user id so the row still says who acted after the user
    is deleted (the id then becomes NULL).
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index(None, "occurred_at"),
        Index(None, "entity", "entity_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("operator_users.id", ondelete="SET NULL"), index=True
    )
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    """``create``, ``update``, ``delete``, ``login``, ``payment`` …"""
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
