"""Bearer tokens of the HTTP API: issue, resolve, revoke.

A token is 32 random bytes (``secrets``), shown to its owner once; the table keeps only its
SHA-256, so the lookup is an indexed equality on the hash. A plain hash (not argon2) is
enough here because the token has 256 bits of entropy: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from softswitch.storage.models import ApiToken, OperatorUser, Role

__all__ = ["TOKEN_BYTES", "TokenOwner", "TokenRepo", "hash_token"]

TOKEN_BYTES = 32
"""Random bytes per token (256 bits)."""


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token's text, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """The user a valid token belongs to, with the scope of its role."""

    user_id: int
    username: str
    role: Role
    agent_id: int | None
    account_id: int | None
    expires_at: datetime | None


class TokenRepo:
    """The ``api_tokens`` table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def issue(self, user_id: int, now: datetime, lifetime: timedelta) -> tuple[str, datetime]:
        """A new token for ``user_id`` valid for ``lifetime``: (token text, expiry)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires = now + lifetime
        async with self._sessions.begin() as session:
            session.add(
                ApiToken(
                    token_hash=hash_token(token),
                    user_id=user_id,
                    created_at=now,
                    expires_at=expires,
                )
            )
        return token, expires

    async def resolve(self, token: str, now: datetime) -> TokenOwner | None:
        """The owner of ``token`` if it exists, is neither expired nor revoked, and its user is
        enabled; None otherwise."""
        query = (
            select(ApiToken, OperatorUser)
            .join(OperatorUser, OperatorUser.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_token(token))
        )
        async with self._sessions() as session:
            found = (await session.execute(query)).one_or_none()
        if found is None:
            return None
        row, user = found
        if (
            row.revoked_at is not None
            or (row.expires_at is not None and row.expires_at <= now)
            or not user.enabled
        ):
            return None
        return TokenOwner(
            user.id, user.username, user.role, user.agent_id, user.account_id, row.expires_at
        )

    async def revoke(self, token: str, now: datetime) -> bool:
        """Mark ``token`` revoked; False when it was unknown or already revoked."""
        statement = (
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        async with self._sessions.begin() as session:
            result = await session.execute(statement)
        return bool(getattr(result, "rowcount", 0))
