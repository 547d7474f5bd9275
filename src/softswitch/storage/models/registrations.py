"""Registrations: the registrar's bindings, kept so they survive a restart (issue 4 §1).

The registrar works on its in-memory table (``softswitch.registrar``, monotonic times); every
change is written here with its expiry as a UTC time, and at start the live rows are loaded
back. One row per (AOR, contact); the source columns say where requests to the device go
(its NAT's public address when ``behind_nat``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import Base
from softswitch.storage.types import UtcDateTime

__all__ = ["RegistrationRow"]


class RegistrationRow(Base):
    """One live (or not yet cleaned up) binding."""

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("aor", "contact"),
        Index(None, "expires_at"),
        Index(None, "phone_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    aor: Mapped[str] = mapped_column(String(255))
    """Canonical address-of-record, ``sip:user@host``."""
    contact: Mapped[str] = mapped_column(Text)
    phone_id: Mapped[int | None] = mapped_column()
    """The phone (or None for a dynamic routing gateway, see ``routing_gateway_id``)."""
    routing_gateway_id: Mapped[int | None] = mapped_column()
    source_transport: Mapped[str] = mapped_column(String(8))
    source_host: Mapped[str] = mapped_column(String(64))
    source_port: Mapped[int] = mapped_column()
    behind_nat: Mapped[bool] = mapped_column(default=False)
    call_id: Mapped[str] = mapped_column(String(255))
    cseq: Mapped[int] = mapped_column()
    expires: Mapped[int] = mapped_column()
    """Seconds granted by the last REGISTER."""
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    q: Mapped[str] = mapped_column(String(8), default="1")
    """The contact's q value as text (0 to 1, three decimals at most)."""
