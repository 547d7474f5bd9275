"""The change feed: one row per write that the running call path must see.

The call path reads in-memory snapshots (routes, rates, gateways, phones, parameters), never
the ORM. Every write that changes routing-relevant data adds a row here *in the same
transaction*, so a snapshot can never miss a committed change nor see one that was rolled
back, whichever process made it: the HTTP API inside the switch, or ``softswitch rates import``
and ``softswitch config apply`` run from a shell beside it. The running switch follows the
feed by id (see ``softswitch.manage.changes``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import Base
from softswitch.storage.types import BigId, UtcDateTime, utcnow

__all__ = ["ChangeRow"]


class ChangeRow(Base):
    """One committed change: which kind of entity, which one, and how."""

    __tablename__ = "change_feed"
    __table_args__ = (Index(None, "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    entity: Mapped[str] = mapped_column(String(64))
    """``routing_gateway``, ``mapping_gateway``, ``phone``, ``rate_table``, ``param`` …"""
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(16))
    """``create``, ``update``, ``delete`` or ``replace`` (a bulk load of many rows)."""
