"""API keys for scripts: the request to make one, and the key as its owner sees it."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

__all__ = ["ApiKeyCreate", "ApiKeyCreated", "ApiKeyOut"]


class ApiKeyCreate(BaseModel):
    """``expires_at`` must carry a time zone and lie ahead; leave it out for a key that lives
    until it is revoked."""

    name: str = Field(min_length=1, max_length=64, description="what the key is for")
    expires_at: AwareDatetime | None = None


class ApiKeyOut(BaseModel):
    """An API key without its secret."""

    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """A new key: ``key`` is shown this once (only its hash is stored); send it as
    ``Authorization: Bearer <key>``."""

    key: str
