"""TokenRepo on both engines: API keys (prefix, hash only, audit), the kinds of token,
last-use bookkeeping at most once a minute, owner-checked revocation, expiry and cascade."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from softswitch.storage import sessions
from softswitch.storage.models import ApiToken, AuditEntry, OperatorUser, Role
from softswitch.storage.repos import Editor, TokenRepo, hash_token
from softswitch.storage.repos.tokens import (
    API_KEY_PREFIX,
    LAST_USED_RESOLUTION,
    TokenKind,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


async def make_users(factory: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with factory.begin() as session:
        alice = OperatorUser(username="alice", password_hash="h", role=Role.OPERATOR)
        bob = OperatorUser(username="bob", password_hash="h", role=Role.OPERATOR)
        session.add_all([alice, bob])
        await session.flush()
        return alice.id, bob.id


async def audit(factory: async_sessionmaker[AsyncSession]) -> list[AuditEntry]:
    async with factory() as session:
        query = select(AuditEntry).where(AuditEntry.entity == "api_key").order_by(AuditEntry.id)
        return list(await session.scalars(query))


async def test_api_key_is_prefixed_stored_as_hash_and_audited(engine: AsyncEngine) -> None:
    factory = sessions(engine)
    alice, _ = await make_users(factory)
    repo = TokenRepo(factory)
    editor = Editor(alice, "alice", "10.0.0.9")
    issued = await repo.issue_api_key(editor, alice, "cron", T0 + timedelta(days=30), T0)
    assert issued.key.startswith(API_KEY_PREFIX)
    assert (issued.view.user_id, issued.view.name, issued.view.created_at) == (alice, "cron", T0)
    async with factory() as session:
        row = await session.get(ApiToken, issued.view.id)
    assert row is not None
    assert (row.kind, row.token_hash) == ("api_key", hash_token(issued.key))
    owner = await repo.resolve(issued.key, T0)
    assert owner is not None
    assert (owner.user_id, owner.kind, owner.token_id) == (alice, TokenKind.API_KEY, row.id)
    assert owner.expires_at == T0 + timedelta(days=30)
    assert await repo.resolve(issued.key, T0 + timedelta(days=30)) is None
    [entry] = await audit(factory)
    assert (entry.action, entry.user_id, entry.remote_addr) == ("create", alice, "10.0.0.9")
    stored = json.dumps([entry.before, entry.after])
    assert issued.key not in stored and hash_token(issued.key) not in stored


async def test_sessions_are_not_api_keys_and_are_never_touched(engine: AsyncEngine) -> None:
    factory = sessions(engine)
    alice, _ = await make_users(factory)
    repo = TokenRepo(factory)
    token, _ = await repo.issue(alice, T0, timedelta(hours=8))
    assert not token.startswith(API_KEY_PREFIX)
    owner = await repo.resolve(token, T0 + timedelta(hours=1))
    assert owner is not None and owner.kind is TokenKind.SESSION
    assert await repo.api_key(owner.token_id) is None
    assert await repo.api_keys(alice) == []
    async with factory() as session:
        row = await session.get(ApiToken, owner.token_id)
    assert row is not None and row.last_used_at is None


async def test_last_use_is_written_once_per_resolution(engine: AsyncEngine) -> None:
    factory = sessions(engine)
    alice, _ = await make_users(factory)
    repo = TokenRepo(factory)
    issued = await repo.issue_api_key(Editor(alice, "alice"), alice, "poller", None, T0)
    step = LAST_USED_RESOLUTION / 4
    for tick in range(9):
        assert await repo.resolve(issued.key, T0 + tick * step) is not None
    [view] = await repo.api_keys(alice)
    assert view.last_used_at == T0 + 2 * LAST_USED_RESOLUTION
    # A clock that went back writes nothing.
    assert await repo.resolve(issued.key, T0) is not None
    [view] = await repo.api_keys(alice)
    assert view.last_used_at == T0 + 2 * LAST_USED_RESOLUTION


async def test_revocation_checks_the_owner_and_audits_once(engine: AsyncEngine) -> None:
    factory = sessions(engine)
    alice, bob = await make_users(factory)
    repo = TokenRepo(factory)
    issued = await repo.issue_api_key(Editor(alice, "alice"), alice, "cron", None, T0)
    key_id = issued.view.id
    assert await repo.revoke_api_key(Editor(bob, "bob"), key_id, bob, T0) is None
    assert await repo.resolve(issued.key, T0) is not None
    later = T0 + timedelta(minutes=3)
    revoked = await repo.revoke_api_key(Editor(alice, "alice"), key_id, alice, later)
    assert revoked is not None and revoked.revoked_at == later
    again = await repo.revoke_api_key(
        Editor(alice, "alice"), key_id, alice, later + timedelta(seconds=1)
    )
    assert again is not None and again.revoked_at == later
    assert await repo.resolve(issued.key, later) is None
    assert [entry.action for entry in await audit(factory)] == ["create", "revoke"]


async def test_keys_of_a_deleted_user_are_gone(engine: AsyncEngine) -> None:
    factory = sessions(engine)
    alice, bob = await make_users(factory)
    repo = TokenRepo(factory)
    kept = await repo.issue_api_key(Editor(bob, "bob"), bob, "b", None, T0)
    gone = await repo.issue_api_key(Editor(alice, "alice"), alice, "a", None, T0)
    async with factory.begin() as session:
        await session.execute(delete(OperatorUser).where(OperatorUser.id == alice))
    assert await repo.resolve(gone.key, T0) is None
    assert await repo.api_key(gone.view.id) is None
    assert [view.name for view in await repo.api_keys(bob)] == ["b"]
    assert await repo.resolve(kept.key, T0) is not None
