"""Bearer tokens of the HTTP API: login sessions and API keys for scripts.

A token is 32 random bytes (``secrets``), shown to its owner once; the table keeps only its
SHA-256, so the lookup is an indexed equality on the hash. A plain hash (not argon2) is
enough here because the token has 256 bits of entropy: there is nothing to brute-force.

API keys start with :data:`API_KEY_PREFIX` so that a key pasted into a log, a ticket or a
repository is easy to find with ``grep`` or a secret scanner; the prefix adds no secrecy and
is part of the hashed text. A key is managed by id (list, revoke); its text never comes back.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from softswitch.storage.models import ApiToken, OperatorUser, Role
from softswitch.storage.repos.audit import record_audit
from softswitch.storage.repos.params import Editor

__all__ = [
    "API_KEY_ENTITY",
    "API_KEY_PREFIX",
    "LAST_USED_RESOLUTION",
    "TOKEN_BYTES",
    "ApiKeyView",
    "IssuedApiKey",
    "TokenKind",
    "TokenOwner",
    "TokenRepo",
    "hash_token",
]

TOKEN_BYTES = 32
"""Random bytes per token (256 bits)."""

API_KEY_PREFIX = "sk_"
"""The first characters of every API key's text (never of a session token)."""

API_KEY_ENTITY = "api_key"
"""The ``entity`` of audit rows about API keys."""

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` of an API key is written at most this often: a script polling every
second must not turn every read request into a database write."""


class TokenKind(enum.Enum):
    """The ``kind`` column: a login session or an API key."""

    SESSION = "session"
    API_KEY = "api_key"


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token's text, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """The user a valid token belongs to, with the scope of its role, and which token it was."""

    user_id: int
    username: str
    role: Role
    agent_id: int | None
    account_id: int | None
    expires_at: datetime | None
    token_id: int
    kind: TokenKind


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    """An API key without its secret: what its owner sees when listing keys."""

    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A new API key: its text (the only time it exists outside the caller) and its row."""

    key: str
    view: ApiKeyView


def _view(row: ApiToken) -> ApiKeyView:
    return ApiKeyView(
        row.id,
        row.user_id,
        row.name,
        row.created_at,
        row.expires_at,
        row.last_used_at,
        row.revoked_at,
    )


def _snapshot(view: ApiKeyView) -> dict[str, Any]:
    """The audit-log picture of a key: metadata only, never the text or its hash."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": view.id,
        "user_id": view.user_id,
        "name": view.name,
        "expires_at": iso(view.expires_at),
        "revoked_at": iso(view.revoked_at),
    }


class TokenRepo:
    """The ``api_tokens`` table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def issue(self, user_id: int, now: datetime, lifetime: timedelta) -> tuple[str, datetime]:
        """A new session token for ``user_id`` valid for ``lifetime``: (token text, expiry)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires = now + lifetime
        async with self._sessions.begin() as session:
            session.add(
                ApiToken(
                    token_hash=hash_token(token),
                    user_id=user_id,
                    created_at=now,
                    expires_at=expires,
                    kind=TokenKind.SESSION.value,
                )
            )
        return token, expires

    async def issue_api_key(
        self,
        editor: Editor,
        user_id: int,
        name: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> IssuedApiKey:
        """A new API key for ``user_id`` (None: it never expires), with its audit row.

        The caller has checked that ``editor`` may do this and that ``expires_at`` is ahead.
        """
        key = API_KEY_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        async with self._sessions.begin() as session:
            row = ApiToken(
                token_hash=hash_token(key),
                user_id=user_id,
                created_at=now,
                expires_at=expires_at,
                kind=TokenKind.API_KEY.value,
                name=name,
            )
            session.add(row)
            await session.flush()
            view = _view(row)
            record_audit(
                session,
                user_id=editor.user_id,
                username=editor.username,
                action="create",
                entity=API_KEY_ENTITY,
                entity_id=str(view.id),
                before=None,
                after=_snapshot(view),
                now=now,
                remote_addr=editor.remote_addr,
            )
        return IssuedApiKey(key, view)

    async def api_keys(self, user_id: int) -> list[ApiKeyView]:
        """Every API key of ``user_id``, revoked and expired ones included, oldest first."""
        query = (
            select(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.kind == TokenKind.API_KEY.value)
            .order_by(ApiToken.id)
        )
        async with self._sessions() as session:
            return [_view(row) for row in await session.scalars(query)]

    async def api_key(self, key_id: int) -> ApiKeyView | None:
        """The API key with this id; None when there is none (session tokens included)."""
        async with self._sessions() as session:
            row = await session.get(ApiToken, key_id)
        if row is None or row.kind != TokenKind.API_KEY.value:
            return None
        return _view(row)

    async def revoke_api_key(
        self, editor: Editor, key_id: int, owner_id: int, now: datetime
    ) -> ApiKeyView | None:
        """Revoke the API key ``key_id`` of ``owner_id``, with its audit row.

        None when ``owner_id`` has no such key. Revoking a revoked key changes nothing and
        writes no audit row: the answer is the key as it stands.
        """
        query = (
            select(ApiToken)
            .where(
                ApiToken.id == key_id,
                ApiToken.user_id == owner_id,
                ApiToken.kind == TokenKind.API_KEY.value,
            )
            .with_for_update()
        )
        async with self._sessions.begin() as session:
            row = (await session.scalars(query)).one_or_none()
            if row is None:
                return None
            if row.revoked_at is not None:
                return _view(row)
            before = _snapshot(_view(row))
            row.revoked_at = now
            after = _view(row)
            record_audit(
                session,
                user_id=editor.user_id,
                username=editor.username,
                action="revoke",
                entity=API_KEY_ENTITY,
                entity_id=str(key_id),
                before=before,
                after=_snapshot(after),
                now=now,
                remote_addr=editor.remote_addr,
            )
        return after

    async def resolve(self, token: str, now: datetime) -> TokenOwner | None:
        """The owner of ``token`` if it exists, is neither expired nor revoked, and its user is
        enabled; None otherwise. A deleted user's tokens are gone with it (cascade).

        For an API key this also records the use, at most once per
        :data:`LAST_USED_RESOLUTION`: the row read here tells whether the stored time is
        older than that, so most requests write nothing, and the update's own condition keeps
        concurrent requests from writing twice.
        """
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
        kind = TokenKind(row.kind)
        if kind is TokenKind.API_KEY and (
            row.last_used_at is None or row.last_used_at <= now - LAST_USED_RESOLUTION
        ):
            await self._touch(row.id, now)
        return TokenOwner(
            user.id,
            user.username,
            user.role,
            user.agent_id,
            user.account_id,
            row.expires_at,
            row.id,
            kind,
        )

    async def _touch(self, token_id: int, now: datetime) -> None:
        statement = (
            update(ApiToken)
            .where(
                ApiToken.id == token_id,
                or_(
                    ApiToken.last_used_at.is_(None),
                    ApiToken.last_used_at <= now - LAST_USED_RESOLUTION,
                ),
            )
            .values(last_used_at=now)
        )
        async with self._sessions.begin() as session:
            await session.execute(statement)

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
