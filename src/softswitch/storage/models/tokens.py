"""API bearer tokens: one row per login session of the HTTP API.

Only the SHA-256 of a token is stored, never the token itself: a copy of the database then
gives nobody a working session. A token is valid until ``expires_at`` unless ``revoked_at`` is
set (logout). Deleting a user deletes its tokens (``ON DELETE CASCADE``).

Two kinds share the table: ``session`` tokens from a login (they expire with the shift) and
``api_key`` tokens for scripts, created by name, without expiry unless one is given, listed and
revoked by their owner. Both authenticate the same way (``Authorization: Bearer``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import Base
from softswitch.storage.types import UtcDateTime, utcnow

__all__ = ["ApiToken"]


class ApiToken(Base):
    """One issued bearer token, by the hex SHA-256 of its text."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("operator_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """None only for API keys that never expire."""
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(String(16), default="session", server_default="session")
    """``session`` (login) or ``api_key`` (scripts)."""
    name: Mapped[str] = mapped_column(String(64), default="", server_default="")
    """What an API key is for, as its owner named it; empty for sessions."""
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
