"""Operator users."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from softswitch.operators import Role

__all__ = ["PasswordChange", "UserCreate", "UserOut", "UserUpdate"]


class UserCreate(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: Role
    agent_id: int | None = None
    account_id: int | None = None


class UserOut(BaseModel):
    """A user without its password hash."""

    id: int
    username: str
    role: Role
    agent_id: int | None
    account_id: int | None
    enabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None


class PasswordChange(BaseModel):
    """``old_password`` is required when changing one's own password."""

    new_password: str = Field(max_length=1024)
    old_password: str | None = Field(default=None, max_length=1024)


class UserUpdate(BaseModel):
    """Fields left out stay as they are; ``unlock`` lifts a login lockout."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    agent_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    account_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    enabled: bool | None = None
    unlock: bool = False
