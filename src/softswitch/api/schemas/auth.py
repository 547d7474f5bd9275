"""Login and its token."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

__all__ = ["LoginRequest", "TokenResponse"]


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    """The token is shown once; only its hash is stored."""

    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    username: str
    role: str
