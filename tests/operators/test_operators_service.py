"""OperatorService on a real, migrated SQLite file, with an exact injected clock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from softswitch.operators import (
    ADMIN_USERNAME,
    REDACTED,
    SYSTEM,
    Actor,
    LoginOutcome,
    LoginResult,
    NotAllowed,
    OperatorService,
    PasswordHashing,
    PasswordTooShort,
    Role,
    ScopeError,
    UnknownUser,
    UsernameInvalid,
    UsernameTaken,
    WrongPassword,
)
from softswitch.params import ParamStore, load_catalog
from softswitch.storage import create_engine, sessions, upgrade_engine
from softswitch.storage.models import Account, Agent, AuditEntry, OperatorUser

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "s3cret-pass"


class FakeClock:
    """A settable clock returning aware UTC datetimes."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'operators.db'}")
    await upgrade_engine(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return sessions(engine)


@pytest.fixture
def params() -> ParamStore:
    return ParamStore(load_catalog())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(
    factory: async_sessionmaker[AsyncSession], params: ParamStore, clock: FakeClock
) -> OperatorService:
    return OperatorService(factory, params, clock, hashing=PasswordHashing(CHEAP))


async def admin_actor(service: OperatorService) -> Actor:
    await service.ensure_admin("admin-password")
    user = await service.get_user(ADMIN_USERNAME)
    assert user is not None
    return user.actor


async def make_user(service: OperatorService, username: str, role: Role = Role.OPERATOR) -> None:
    await service.ensure_admin("admin-password")
    admin = await service.get_user(ADMIN_USERNAME)
    assert admin is not None
    await service.create_user(admin.actor, username, PASSWORD, role)


async def audit_rows(factory: async_sessionmaker[AsyncSession]) -> list[AuditEntry]:
    async with factory() as session:
        return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


async def stored_user(factory: async_sessionmaker[AsyncSession], username: str) -> OperatorUser:
    async with factory() as session:
        user = await session.scalar(select(OperatorUser).where(OperatorUser.username == username))
        assert user is not None
        return user


async def scope_rows(factory: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """An agent and an account under it; their ids."""
    async with factory.begin() as session:
        agent = Agent(name="reseller")
        session.add(agent)
        await session.flush()
        account = Account(code="1001", currency="USD", agent_id=agent.id)
        session.add(account)
        await session.flush()
        return agent.id, account.id


# -- first start -------------------------------------------------------------------------


async def test_ensure_admin_generates_a_password_once(
    service: OperatorService, factory: async_sessionmaker[AsyncSession]
) -> None:
    password = await service.ensure_admin(None)
    assert password is not None and len(password) == 20
    assert await service.ensure_admin(None) is None
    assert await service.ensure_admin("another-password") is None
    result = await service.authenticate(ADMIN_USERNAME, password)
    assert result.outcome is LoginOutcome.OK
    assert result.user is not None and result.user.role is Role.ADMIN
    async with factory() as session:
        users = (await session.scalars(select(OperatorUser))).all()
    assert [u.username for u in users] == [ADMIN_USERNAME]


async def test_ensure_admin_takes_the_environment_password(service: OperatorService) -> None:
    assert await service.ensure_admin("from-the-env") == "from-the-env"
    assert (await service.authenticate("admin", "from-the-env")).outcome is LoginOutcome.OK


async def test_ensure_admin_treats_an_empty_environment_value_as_unset(
    service: OperatorService,
) -> None:
    password = await service.ensure_admin("")
    assert password is not None and len(password) == 20


async def test_ensure_admin_refuses_a_short_environment_password(
    service: OperatorService,
) -> None:
    with pytest.raises(PasswordTooShort, match="SERVER_PASSWORD_LENGTH"):
        await service.ensure_admin("short")
    assert await service.get_user(ADMIN_USERNAME) is None


async def test_generated_admin_password_meets_a_raised_minimum(
    service: OperatorService, params: ParamStore
) -> None:
    params.set("SERVER_PASSWORD_LENGTH", 32)
    password = await service.ensure_admin(None)
    assert password is not None and len(password) == 32


async def test_ensure_admin_is_audited_as_the_system(
    service: OperatorService, factory: async_sessionmaker[AsyncSession]
) -> None:
    await service.ensure_admin(None)
    (row,) = await audit_rows(factory)
    assert (row.user_id, row.username, row.action) == (None, SYSTEM.username, "create")
    assert row.entity == "operator_user" and row.before is None
    assert row.after is not None and row.after["username"] == "admin"
    assert row.after["password_hash"] == REDACTED
    assert row.occurred_at == T0


# -- creating users ----------------------------------------------------------------------


async def test_admin_creates_users_of_every_role(
    service: OperatorService, factory: async_sessionmaker[AsyncSession]
) -> None:
    admin = await admin_actor(service)
    agent_id, account_id = await scope_rows(factory)
    op = await service.create_user(admin, "noc", PASSWORD, Role.OPERATOR)
    ag = await service.create_user(admin, "reseller", PASSWORD, Role.AGENT, agent_id=agent_id)
    cu = await service.create_user(admin, "cust", PASSWORD, Role.CUSTOMER, account_id=account_id)
    assert (op.role, ag.agent_id, cu.account_id) == (Role.OPERATOR, agent_id, account_id)
    assert ag.actor.agent_id == agent_id and cu.actor.account_id == account_id
    stored = await stored_user(factory, "noc")
    assert stored.password_hash.startswith("$argon2id$")
    assert stored.created_at == T0


async def test_only_admin_manages_users(service: OperatorService) -> None:
    admin = await admin_actor(service)
    noc = await service.create_user(admin, "noc", PASSWORD, Role.OPERATOR)
    with pytest.raises(NotAllowed):
        await service.create_user(noc.actor, "other", PASSWORD, Role.OPERATOR)
    assert await service.get_user("other") is None


async def test_create_user_validation(
    service: OperatorService, factory: async_sessionmaker[AsyncSession]
) -> None:
    admin = await admin_actor(service)
    await service.create_user(admin, "noc", PASSWORD, Role.OPERATOR)
    agent_id, account_id = await scope_rows(factory)
    with pytest.raises(UsernameTaken):
        await service.create_user(admin, "noc", PASSWORD, Role.OPERATOR)
    with pytest.raises(PasswordTooShort, match="7 characters, at least 8"):
        await service.create_user(admin, "x1", "1234567", Role.OPERATOR)
    for bad in ("", " noc", "a b", "x" * 65, "-dash"):
        with pytest.raises(UsernameInvalid):
            await service.create_user(admin, bad, PASSWORD, Role.OPERATOR)
    bad_scopes = [
        (Role.AGENT, None, None),
        (Role.AGENT, agent_id, account_id),
        (Role.CUSTOMER, None, None),
        (Role.CUSTOMER, agent_id, account_id),
        (Role.OPERATOR, agent_id, None),
        (Role.ADMIN, None, account_id),
        (Role.AGENT, 9999, None),  # no such agent
        (Role.CUSTOMER, None, 9999),  # no such account
    ]
    for role, ag, acc in bad_scopes:
        with pytest.raises(ScopeError):
            await service.create_user(admin, "scoped", PASSWORD, role, agent_id=ag, account_id=acc)
    assert await service.get_user("scoped") is None


# -- login and lockout -------------------------------------------------------------------


async def test_unknown_user_and_wrong_password_look_the_same(service: OperatorService) -> None:
    await make_user(service, "noc")
    unknown = await service.authenticate("nobody", PASSWORD)
    wrong = await service.authenticate("noc", "wrong-password")
    assert unknown.outcome is wrong.outcome is LoginOutcome.BAD_CREDENTIALS
    assert unknown.message == wrong.message == "wrong username or password"
    assert unknown.user is None and wrong.user is None


async def test_lockout_boundaries(
    service: OperatorService, clock: FakeClock, factory: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(service, "noc")
    for attempt in range(1, 5):
        result = await service.authenticate("noc", "wrong-password")
        assert result.outcome is LoginOutcome.BAD_CREDENTIALS
        assert (await stored_user(factory, "noc")).failed_logins == attempt
    clock.advance(10)
    fifth = await service.authenticate("noc", "wrong-password")
    until = T0 + timedelta(seconds=10 + 120)  # SERVER_LOGIN_FAILED_DISABLE_TIME default 120
    assert fifth.outcome is LoginOutcome.LOCKED
    assert fifth.locked_until == until
    assert fifth.message == "too many failed logins: locked until 2026-03-01T08:02:10Z"
    stored = await stored_user(factory, "noc")
    assert (stored.failed_logins, stored.locked_until) == (0, until)

    # During the lock even the right password is refused, and the answer says until when.
    clock.now = until - US
    during = await service.authenticate("noc", PASSWORD)
    assert during.outcome is LoginOutcome.LOCKED and during.locked_until == until
    assert (await stored_user(factory, "noc")).locked_until == until  # not extended

    # Exactly at the end of the lock the login works again.
    clock.now = until
    after = await service.authenticate("noc", PASSWORD)
    assert after.outcome is LoginOutcome.OK
    stored = await stored_user(factory, "noc")
    assert (stored.failed_logins, stored.locked_until, stored.last_login_at) == (0, None, until)


async def test_failures_after_a_lock_count_afresh(
    service: OperatorService, clock: FakeClock, factory: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(service, "noc")
    for _ in range(5):
        await service.authenticate("noc", "wrong-password")
    clock.advance(120)
    result = await service.authenticate("noc", "wrong-password")
    assert result.outcome is LoginOutcome.BAD_CREDENTIALS
    stored = await stored_user(factory, "noc")
    assert (stored.failed_logins, stored.locked_until) == (1, None)


async def test_success_resets_the_count(
    service: OperatorService, factory: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(service, "noc")
    for _ in range(4):
        await service.authenticate("noc", "wrong-password")
    assert (await service.authenticate("noc", PASSWORD)).outcome is LoginOutcome.OK
    assert (await stored_user(factory, "noc")).failed_logins == 0
    for _ in range(4):
        result = await service.authenticate("noc", "wrong-password")
        assert result.outcome is LoginOutcome.BAD_CREDENTIALS
    assert (await stored_user(factory, "noc")).failed_logins == 4


async def test_disable_time_parameter_applies_at_once(
    service: OperatorService, params: ParamStore
) -> None:
    await make_user(service, "noc")
    params.set("SERVER_LOGIN_FAILED_DISABLE_TIME", 300)
    for _ in range(4):
        await service.authenticate("noc", "wrong-password")
    result = await service.authenticate("noc", "wrong-password")
    assert result.locked_until == T0 + timedelta(seconds=300)


async def test_zero_disable_time_never_locks(service: OperatorService, params: ParamStore) -> None:
    await make_user(service, "noc")
    params.set("SERVER_LOGIN_FAILED_DISABLE_TIME", 0)
    for _ in range(7):
        result = await service.authenticate("noc", "wrong-password")
        assert result.outcome is LoginOutcome.BAD_CREDENTIALS
    assert (await service.authenticate("noc", PASSWORD)).outcome is LoginOutcome.OK


async def test_the_lock_is_persisted(
    service: OperatorService,
    factory: async_sessionmaker[AsyncSession],
    params: ParamStore,
    clock: FakeClock,
) -> None:
    await make_user(service, "noc")
    for _ in range(5):
        await service.authenticate("noc", "wrong-password")
    restarted = OperatorService(factory, params, clock, hashing=PasswordHashing(CHEAP))
    result = await restarted.authenticate("noc", PASSWORD)
    assert result.outcome is LoginOutcome.LOCKED
    assert result.locked_until == T0 + timedelta(seconds=120)


async def test_disabled_user_is_refused(
    service: OperatorService, factory: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(service, "noc")
    async with factory.begin() as session:
        user = await session.scalar(select(OperatorUser).where(OperatorUser.username == "noc"))
        assert user is not None
        user.enabled = False
    result = await service.authenticate("noc", PASSWORD)
    assert result.outcome is LoginOutcome.DISABLED and result.user is None
    wrong = await service.authenticate("noc", "wrong-password")
    assert wrong.outcome is LoginOutcome.BAD_CREDENTIALS


async def test_login_rehashes_with_current_parameters(
    factory: async_sessionmaker[AsyncSession], params: ParamStore, clock: FakeClock
) -> None:
    old = OperatorService(factory, params, clock, hashing=PasswordHashing(CHEAP))
    await make_user(old, "noc")
    assert "t=1" in (await stored_user(factory, "noc")).password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    new = OperatorService(factory, params, clock, hashing=PasswordHashing(stronger))
    assert (await new.authenticate("noc", PASSWORD)).outcome is LoginOutcome.OK
    rehashed = (await stored_user(factory, "noc")).password_hash
    assert "m=16,t=2,p=1" in rehashed
    assert (await new.authenticate("noc", PASSWORD)).outcome is LoginOutcome.OK


async def test_naive_clock_is_refused(
    factory: async_sessionmaker[AsyncSession], params: ParamStore
) -> None:
    naive = OperatorService(
        factory, params, lambda: datetime(2026, 1, 1), hashing=PasswordHashing(CHEAP)
    )
    with pytest.raises(ValueError, match="naive"):
        await naive.authenticate("nobody", PASSWORD)


async def test_clock_in_another_zone_is_converted_to_utc(
    factory: async_sessionmaker[AsyncSession], params: ParamStore
) -> None:
    plus_two = timezone(timedelta(hours=2))
    zoned = OperatorService(
        factory,
        params,
        lambda: datetime(2026, 3, 1, 10, 0, tzinfo=plus_two),
        hashing=PasswordHashing(CHEAP),
    )
    await make_user(zoned, "noc")
    for _ in range(5):
        result = await zoned.authenticate("noc", "wrong-password")
    assert result.locked_until == T0 + timedelta(seconds=120)
    assert result.locked_until is not None and result.locked_until.tzinfo == UTC


def test_locked_message_rounds_up_to_the_next_whole_second() -> None:
    exact = LoginResult(LoginOutcome.LOCKED, locked_until=T0)
    assert exact.message == "too many failed logins: locked until 2026-03-01T08:00:00Z"
    fraction = LoginResult(LoginOutcome.LOCKED, locked_until=T0 + timedelta(milliseconds=1))
    assert fraction.message == "too many failed logins: locked until 2026-03-01T08:00:01Z"
    assert LoginResult(LoginOutcome.DISABLED).message == "this login is disabled"
    assert LoginResult(LoginOutcome.OK).message == "logged in"


# -- passwords ---------------------------------------------------------------------------


async def test_change_own_password_needs_the_current_one(service: OperatorService) -> None:
    await make_user(service, "noc")
    noc = await service.get_user("noc")
    assert noc is not None
    with pytest.raises(WrongPassword):
        await service.change_password(noc.actor, "noc", "new-password-1")
    with pytest.raises(WrongPassword):
        await service.change_password(
            noc.actor, "noc", "new-password-1", old_password="not-it-at-all"
        )
    with pytest.raises(PasswordTooShort):
        await service.change_password(noc.actor, "noc", "short", old_password=PASSWORD)
    await service.change_password(noc.actor, "noc", "new-password-1", old_password=PASSWORD)
    assert (await service.authenticate("noc", PASSWORD)).outcome is LoginOutcome.BAD_CREDENTIALS
    assert (await service.authenticate("noc", "new-password-1")).outcome is LoginOutcome.OK


async def test_only_admin_sets_other_users_passwords(service: OperatorService) -> None:
    await make_user(service, "noc")
    await make_user(service, "noc2")
    noc = await service.get_user("noc")
    assert noc is not None
    with pytest.raises(NotAllowed):
        await service.change_password(noc.actor, "noc2", "new-password-1")
    with pytest.raises(NotAllowed):  # no hint whether the user exists
        await service.change_password(noc.actor, "ghost", "new-password-1")
    admin = await admin_actor(service)
    with pytest.raises(UnknownUser):
        await service.change_password(admin, "ghost", "new-password-1")


async def test_admin_password_reset_lifts_a_lock(
    service: OperatorService, factory: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(service, "noc")
    for _ in range(5):
        await service.authenticate("noc", "wrong-password")
    admin = await admin_actor(service)
    await service.change_password(admin, "noc", "fresh-password")
    stored = await stored_user(factory, "noc")
    assert (stored.failed_logins, stored.locked_until) == (0, None)
    assert (await service.authenticate("noc", "fresh-password")).outcome is LoginOutcome.OK


# -- audit -------------------------------------------------------------------------------


async def test_every_change_is_audited_and_redacted(
    service: OperatorService, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await service.ensure_admin("admin-password")
    admin = await service.get_user("admin")
    assert admin is not None
    clock.advance(1)
    noc = await service.create_user(
        admin.actor, "noc", PASSWORD, Role.OPERATOR, remote_addr="192.0.2.7"
    )
    clock.advance(1)
    await service.authenticate("noc", PASSWORD, remote_addr="192.0.2.8")
    for _ in range(5):
        await service.authenticate("noc", "wrong-password")
    await service.authenticate("nobody", "wrong-password")  # unknown: nothing changes
    await service.authenticate("noc", PASSWORD)  # locked: nothing changes
    await service.change_password(admin.actor, "noc", "fresh-password")

    rows = await audit_rows(factory)
    summary = [(r.username, r.action, r.entity_id) for r in rows]
    assert summary == [
        ("system", "create", str(admin.id)),
        ("admin", "create", str(noc.id)),
        ("noc", "login", str(noc.id)),
        *[("noc", "login_failed", str(noc.id))] * 4,
        ("noc", "lock", str(noc.id)),
        ("admin", "set_password", str(noc.id)),
    ]
    created, login = rows[1], rows[2]
    assert created.user_id == admin.id and created.remote_addr == "192.0.2.7"
    assert created.occurred_at == T0 + timedelta(seconds=1)
    assert created.before is None and created.after is not None
    assert created.after["role"] == "operator" and created.after["enabled"] is True
    assert login.user_id == noc.id and login.remote_addr == "192.0.2.8"
    assert login.before is not None and login.after is not None
    assert login.before["last_login_at"] is None
    assert login.after["last_login_at"] == (T0 + timedelta(seconds=2)).isoformat()
    lock = rows[7]
    assert lock.before is not None and lock.after is not None
    assert lock.before["failed_logins"] == 4
    assert lock.after["locked_until"] == (T0 + timedelta(seconds=122)).isoformat()
    reset = rows[8]
    assert reset.before is not None and reset.after is not None
    assert reset.before["locked_until"] is not None and reset.after["locked_until"] is None

    hashes = [(await stored_user(factory, name)).password_hash for name in ("admin", "noc")]
    for row in rows:
        for snapshot in (row.before, row.after):
            if snapshot is None:
                continue
            assert snapshot["password_hash"] == REDACTED
            text = json.dumps(snapshot)
            assert "$argon2" not in text
            assert not any(h in text for h in hashes)
            assert PASSWORD not in text and "fresh-password" not in text


async def test_refused_changes_write_no_audit_row(
    service: OperatorService, factory: async_sessionmaker[AsyncSession]
) -> None:
    admin = await admin_actor(service)
    before = len(await audit_rows(factory))
    with pytest.raises(PasswordTooShort):
        await service.create_user(admin, "x1", "short", Role.OPERATOR)
    with pytest.raises(UsernameTaken):
        await service.create_user(admin, "admin", PASSWORD, Role.OPERATOR)
    assert len(await audit_rows(factory)) == before
