"""The operator-user service: create users, log them in, change passwords, bootstrap the admin.

The HTTP API and the CLI call this; it owns the rules (role policy, password length, lockout)
and writes one audit-log row per change, in the same transaction as the change, so the log
can never miss a change nor record one that was rolled back.

Expected outcomes of a login (wrong password, unknown user, locked, disabled) are values
(:class:`LoginResult`), not exceptions. An unknown username and a wrong password give the same
outcome, and the unknown one still spends a dummy verification, so neither the answer nor its
timing tells which usernames exist. Refusals of operations (not allowed, bad input) raise
subclasses of :class:`OperatorError` or ``ValueError`` that the API maps to 4xx answers.

Audit snapshots never contain a password hash: the field is present (so a reader sees the
shape of the row) but its value is :data:`REDACTED`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from softswitch.operators.lockout import LockoutState, after_failure, after_success, is_locked
from softswitch.operators.passwords import (
    GENERATED_PASSWORD_LENGTH,
    PasswordHashing,
    check_password,
    generate_password,
    min_password_length,
)
from softswitch.operators.policy import SYSTEM, Action, Actor, Resource, Target, can
from softswitch.params import ParamStore
from softswitch.storage.models import Account, Agent, OperatorUser, Role
from softswitch.storage.repos.audit import record_audit

__all__ = [
    "ADMIN_USERNAME",
    "REDACTED",
    "Clock",
    "LastAdmin",
    "LoginOutcome",
    "LoginResult",
    "NotAllowed",
    "OperatorError",
    "OperatorService",
    "ScopeError",
    "UnknownUser",
    "UserChanges",
    "UserView",
    "UsernameInvalid",
    "UsernameTaken",
    "WrongPassword",
]

_log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
"""Returns the current time as an aware datetime (converted to UTC by the service)."""

ADMIN_USERNAME = "admin"
"""Login created on first start."""

REDACTED = "[redacted]"
"""What audit snapshots show in place of a password hash."""

ENTITY = "operator_user"
"""The ``entity`` of this service's audit rows."""

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class OperatorError(Exception):
    """An operation on operator users was refused; the message says why."""


class NotAllowed(OperatorError):
    """The actor's role does not allow the operation (HTTP 403)."""


class UsernameTaken(OperatorError):
    """Another user already has this username (HTTP 409)."""


class UsernameInvalid(OperatorError):
    """The username is empty, too long or has characters outside ``[A-Za-z0-9._@-]``."""


class ScopeError(OperatorError):
    """The role and its scope do not fit: an agent user needs an existing agent, a customer
    user an existing account, and admin/operator users neither."""


class UnknownUser(OperatorError):
    """No user has this username (said only to actors allowed to manage users)."""


class LastAdmin(OperatorError):
    """The change would leave the switch without an enabled admin (HTTP 409)."""


@dataclass(frozen=True, slots=True)
class UserChanges:
    """What an admin changes on a login; None leaves a field as it is. Changing the role drops
    the scope ids the new role does not use."""

    role: Role | None = None
    agent_id: int | None = None
    account_id: int | None = None
    enabled: bool | None = None
    unlock: bool = False


class WrongPassword(OperatorError):
    """The current password given to change one's own password is wrong."""


class LoginOutcome(enum.Enum):
    """How a login attempt ended. ``bad_credentials`` covers both an unknown username and a
    wrong password, on purpose."""

    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as callers see it: everything but the password hash."""

    id: int
    username: str
    role: Role
    agent_id: int | None
    account_id: int | None
    enabled: bool
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None

    @property
    def actor(self) -> Actor:
        """This user as the actor of later operations."""
        return Actor(self.id, self.username, self.role, self.agent_id, self.account_id)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The answer to a login. ``user`` is set only on success; ``locked_until`` (UTC) only
    when the outcome is ``locked``, including the attempt that caused the lock."""

    outcome: LoginOutcome
    user: UserView | None = None
    locked_until: datetime | None = None

    @property
    def message(self) -> str:
        """A sentence for the person logging in."""
        if self.outcome is LoginOutcome.OK:
            return "logged in"
        if self.outcome is LoginOutcome.LOCKED and self.locked_until is not None:
            # Whole seconds, rounded up: a person retrying at the second shown must get in.
            until_utc = self.locked_until.astimezone(UTC)
            if until_utc.microsecond:
                until_utc += timedelta(microseconds=1_000_000 - until_utc.microsecond)
            until = until_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
            return f"too many failed logins: locked until {until}"
        if self.outcome is LoginOutcome.DISABLED:
            return "this login is disabled"
        return "wrong username or password"


def _view(user: OperatorUser) -> UserView:
    return UserView(
        id=user.id,
        username=user.username,
        role=user.role,
        agent_id=user.agent_id,
        account_id=user.account_id,
        enabled=user.enabled,
        failed_logins=user.failed_logins,
        locked_until=user.locked_until,
        last_login_at=user.last_login_at,
    )


def _snapshot(user: OperatorUser) -> dict[str, Any]:
    """The audit JSON of a user; the password hash is always redacted."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat()

    return {
        "id": user.id,
        "username": user.username,
        "role": user.role.value,
        "agent_id": user.agent_id,
        "account_id": user.account_id,
        "enabled": user.enabled,
        "failed_logins": user.failed_logins,
        "locked_until": iso(user.locked_until),
        "last_login_at": iso(user.last_login_at),
        "password_hash": REDACTED,
    }


class OperatorService:
    """Operator users on top of a session factory, the parameters in force and a clock.

    ``hashing`` defaults to argon2id with argon2-cffi's default cost; tests pass a cheap one.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        params: ParamStore,
        clock: Clock,
        *,
        hashing: PasswordHashing | None = None,
    ) -> None:
        self._sessions = sessions
        self._params = params
        self._clock = clock
        self._hashing = hashing if hashing is not None else PasswordHashing()

    # -- users -----------------------------------------------------------------------------

    async def create_user(
        self,
        actor: Actor,
        username: str,
        password: str,
        role: Role,
        *,
        agent_id: int | None = None,
        account_id: int | None = None,
        remote_addr: str = "",
    ) -> UserView:
        """Create a login. Raises :class:`NotAllowed`, :class:`UsernameInvalid`,
        :class:`UsernameTaken`, :class:`ScopeError` or ``PasswordTooShort``/``PasswordTooLong``.
        """
        if not can(actor, Action.CREATE, Target(Resource.USER)):
            raise NotAllowed(f"{actor.username} ({actor.role.value}) may not create users")
        _check_username(username)
        _check_scope(role, agent_id, account_id)
        check_password(password, self._params)
        encoded = await asyncio.to_thread(self._hashing.hash, password)
        return await self._insert(actor, username, encoded, role, agent_id, account_id, remote_addr)

    async def get_user(self, username: str) -> UserView | None:
        """The user called ``username``, or None."""
        async with self._sessions() as session:
            user = await _by_name(session, username)
            return None if user is None else _view(user)

    async def list_users(self, actor: Actor) -> list[UserView]:
        """Every login for those who manage users; one's own login for everyone else."""
        query = select(OperatorUser).order_by(OperatorUser.username)
        if not can(actor, Action.READ, Target(Resource.USER)):
            query = query.where(OperatorUser.id == actor.user_id)
        async with self._sessions() as session:
            return [_view(user) for user in await session.scalars(query)]

    async def read_user(self, actor: Actor, username: str) -> UserView:
        """One login, if the actor may read it (404 for the others, as for a missing one)."""
        user = await self.get_user(username)
        if user is None or not can(actor, Action.READ, Target(Resource.USER, user_id=user.id)):
            raise UnknownUser(f"no user {username!r}")
        return user

    async def update_user(
        self,
        actor: Actor,
        username: str,
        changes: UserChanges,
        *,
        remote_addr: str = "",
    ) -> UserView:
        """Change a login's role, scope or enabled flag, or lift its lock (admins only).

        The switch never ends up without an enabled admin: demoting or disabling the last one
        is refused. Disabling a user ends its sessions and API keys at their next use (the
        token check looks at the user).
        """
        if not can(actor, Action.UPDATE, Target(Resource.USER)):
            raise NotAllowed(f"{actor.username} ({actor.role.value}) may not change users")
        now = self._now()
        async with self._sessions.begin() as session:
            row = await _by_name(session, username)
            if row is None:
                raise UnknownUser(f"no user {username!r}")
            before = _snapshot(row)
            role = changes.role if changes.role is not None else row.role
            agent_id = changes.agent_id if changes.agent_id is not None else row.agent_id
            account_id = changes.account_id if changes.account_id is not None else row.account_id
            if role in (Role.ADMIN, Role.OPERATOR):
                agent_id = account_id = None
            elif role is Role.AGENT:
                account_id = None
            else:
                agent_id = None
            _check_scope(role, agent_id, account_id)
            if agent_id is not None and await session.get(Agent, agent_id) is None:
                raise ScopeError(f"no agent with id {agent_id}")
            if account_id is not None and await session.get(Account, account_id) is None:
                raise ScopeError(f"no account with id {account_id}")
            enabled = changes.enabled if changes.enabled is not None else row.enabled
            if row.role is Role.ADMIN and (role is not Role.ADMIN or not enabled):
                await self._keep_an_admin(session, row.id)
            row.role, row.agent_id, row.account_id, row.enabled = (
                role,
                agent_id,
                account_id,
                enabled,
            )
            if changes.unlock:
                row.failed_logins, row.locked_until = 0, None
            row.updated_at = now
            await session.flush()
            after = _snapshot(row)
            if after != before:
                _audit(session, actor, "update", row, before, after, now, remote_addr)
            return _view(row)

    async def delete_user(self, actor: Actor, username: str, *, remote_addr: str = "") -> None:
        """Delete a login and its tokens (admins only; never oneself nor the last admin)."""
        if not can(actor, Action.DELETE, Target(Resource.USER)):
            raise NotAllowed(f"{actor.username} ({actor.role.value}) may not delete users")
        now = self._now()
        async with self._sessions.begin() as session:
            row = await _by_name(session, username)
            if row is None:
                raise UnknownUser(f"no user {username!r}")
            if row.id == actor.user_id:
                raise NotAllowed("you cannot delete your own login")
            if row.role is Role.ADMIN:
                await self._keep_an_admin(session, row.id)
            before = _snapshot(row)
            _audit(session, actor, "delete", row, before, None, now, remote_addr)
            await session.delete(row)

    async def _keep_an_admin(self, session: AsyncSession, leaving: int) -> None:
        others = await session.scalar(
            select(OperatorUser.id)
            .where(
                OperatorUser.role == Role.ADMIN,
                OperatorUser.enabled.is_(True),
                OperatorUser.id != leaving,
            )
            .limit(1)
        )
        if others is None:
            raise LastAdmin("this is the last enabled admin: make another admin first")

    async def change_password(
        self,
        actor: Actor,
        username: str,
        new_password: str,
        *,
        old_password: str | None = None,
        remote_addr: str = "",
    ) -> None:
        """Set ``username``'s password. Changing one's own password needs the current one
        (``old_password``), so a forgotten open session cannot be used to take the login over.
        Setting a password also lifts a lock and clears the failure count: it is how an admin
        lets a locked-out user back in.
        """
        async with self._sessions() as session:
            user = await _by_name(session, username)
            user_id = None if user is None else user.id
            stored = None if user is None else user.password_hash
        target = Target(Resource.USER, user_id=user_id)
        if not can(actor, Action.SET_PASSWORD, target):
            # Same refusal for a missing user, so non-admins cannot probe usernames.
            raise NotAllowed(f"{actor.username} may not set the password of {username}")
        if user_id is None or stored is None:
            raise UnknownUser(f"no user {username!r}")
        check_password(new_password, self._params)
        if actor.user_id == user_id:
            if old_password is None:
                raise WrongPassword("the current password is required to change your own")
            checked = await asyncio.to_thread(self._hashing.verify, stored, old_password)
            if not checked.ok:
                raise WrongPassword("the current password is wrong")
        encoded = await asyncio.to_thread(self._hashing.hash, new_password)
        now = self._now()
        async with self._sessions.begin() as session:
            row = await session.get(OperatorUser, user_id, with_for_update=True)
            if row is None:
                raise UnknownUser(f"no user {username!r}")
            before = _snapshot(row)
            row.password_hash = encoded
            row.failed_logins, row.locked_until = 0, None
            row.updated_at = now
            await session.flush()
            _audit(session, actor, "set_password", row, before, _snapshot(row), now, remote_addr)

    async def ensure_admin(self, env_password: str | None) -> str | None:
        """On first start, create the ``admin`` login; None when an admin user already exists.

        The password is ``env_password`` when given (checked against SERVER_PASSWORD_LENGTH),
        otherwise a generated one. The password is returned once, for the caller to show:
        the caller should print it only when it was generated (``env_password`` was None or
        empty), never echo a secret that came from the environment.
        """
        async with self._sessions() as session:
            existing = await session.scalar(
                select(OperatorUser.id).where(OperatorUser.role == Role.ADMIN).limit(1)
            )
        if existing is not None:
            return None
        length = max(GENERATED_PASSWORD_LENGTH, min_password_length(self._params))
        password = env_password or generate_password(length)
        check_password(password, self._params)
        encoded = await asyncio.to_thread(self._hashing.hash, password)
        await self._insert(SYSTEM, ADMIN_USERNAME, encoded, Role.ADMIN, None, None, "")
        _log.info("created the first admin user %r", ADMIN_USERNAME)
        return password

    # -- login -----------------------------------------------------------------------------

    async def authenticate(
        self, username: str, password: str, *, remote_addr: str = ""
    ) -> LoginResult:
        """Check a login and apply the lockout rule (see ``softswitch.operators.lockout``).

        Audit rows are written for changes: a successful login (``login``), a counted failure
        (``login_failed``) and the failure that locks (``lock``). Attempts for unknown
        usernames and attempts refused during a lock change nothing and are only logged.
        """
        now = self._now()
        async with self._sessions() as session:
            user = await _by_name(session, username)
            found = None if user is None else (user.id, user.password_hash)
            state = None if user is None else LockoutState(user.failed_logins, user.locked_until)
        if found is None or state is None:
            await asyncio.to_thread(self._hashing.burn, password)
            _log.warning("login refused for unknown user %r from %s", username, remote_addr)
            return LoginResult(LoginOutcome.BAD_CREDENTIALS)
        if is_locked(state, now):
            _log.warning("login refused for locked user %r from %s", username, remote_addr)
            return LoginResult(LoginOutcome.LOCKED, locked_until=state.locked_until)
        user_id, stored = found
        checked = await asyncio.to_thread(self._hashing.verify, stored, password)
        disable_seconds = self._params.get_int("SERVER_LOGIN_FAILED_DISABLE_TIME")
        async with self._sessions.begin() as session:
            row = await session.get(OperatorUser, user_id, with_for_update=True)
            if row is None:  # deleted while we were hashing
                return LoginResult(LoginOutcome.BAD_CREDENTIALS)
            current = LockoutState(row.failed_logins, row.locked_until)
            if is_locked(current, now):  # locked by a concurrent attempt
                return LoginResult(LoginOutcome.LOCKED, locked_until=current.locked_until)
            if checked.ok and not row.enabled:
                return LoginResult(LoginOutcome.DISABLED)
            before = _snapshot(row)
            actor = Actor(row.id, row.username, row.role, row.agent_id, row.account_id)
            if checked.ok:
                new_state = after_success()
                row.last_login_at = now
                if checked.new_hash is not None:
                    row.password_hash = checked.new_hash
                action = "login"
            else:
                new_state = after_failure(current, now, disable_seconds)
                action = "lock" if new_state.locked_until is not None else "login_failed"
            row.failed_logins, row.locked_until = new_state.failed_logins, new_state.locked_until
            row.updated_at = now
            await session.flush()
            _audit(session, actor, action, row, before, _snapshot(row), now, remote_addr)
            if checked.ok:
                return LoginResult(LoginOutcome.OK, user=_view(row))
            if new_state.locked_until is not None:
                _log.warning("user %r locked until %s", username, new_state.locked_until)
                return LoginResult(LoginOutcome.LOCKED, locked_until=new_state.locked_until)
            return LoginResult(LoginOutcome.BAD_CREDENTIALS)

    # -- internals -------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"the clock returned a naive datetime {now.isoformat()}")
        return now.astimezone(UTC)

    async def _insert(
        self,
        actor: Actor,
        username: str,
        encoded: str,
        role: Role,
        agent_id: int | None,
        account_id: int | None,
        remote_addr: str,
    ) -> UserView:
        now = self._now()
        try:
            async with self._sessions.begin() as session:
                if await _by_name(session, username) is not None:
                    raise UsernameTaken(f"username {username!r} is taken")
                if agent_id is not None and await session.get(Agent, agent_id) is None:
                    raise ScopeError(f"no agent with id {agent_id}")
                if account_id is not None and await session.get(Account, account_id) is None:
                    raise ScopeError(f"no account with id {account_id}")
                user = OperatorUser(
                    username=username,
                    password_hash=encoded,
                    role=role,
                    agent_id=agent_id,
                    account_id=account_id,
                    enabled=True,
                    failed_logins=0,
                    created_at=now,
                    updated_at=now,
                )
                session.add(user)
                await session.flush()
                _audit(session, actor, "create", user, None, _snapshot(user), now, remote_addr)
                return _view(user)
        except IntegrityError as exc:  # a concurrent create won the race for the username
            raise UsernameTaken(f"username {username!r} is taken") from exc


async def _by_name(session: AsyncSession, username: str) -> OperatorUser | None:
    result = await session.scalars(select(OperatorUser).where(OperatorUser.username == username))
    return result.one_or_none()


def _audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    user: OperatorUser,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    now: datetime,
    remote_addr: str,
) -> None:
    record_audit(
        session,
        user_id=actor.user_id,
        username=actor.username,
        action=action,
        entity=ENTITY,
        entity_id=str(user.id),
        before=before,
        after=after,
        now=now,
        remote_addr=remote_addr,
    )


def _check_username(username: str) -> None:
    if _USERNAME.fullmatch(username) is None:
        raise UsernameInvalid(
            f"invalid username {username!r}: 1 to 64 characters of letters, digits and ._@- "
            "starting with a letter or digit"
        )


def _check_scope(role: Role, agent_id: int | None, account_id: int | None) -> None:
    if role is Role.AGENT and (agent_id is None or account_id is not None):
        raise ScopeError("an agent user needs agent_id (and no account_id)")
    if role is Role.CUSTOMER and (account_id is None or agent_id is not None):
        raise ScopeError("a customer user needs account_id (and no agent_id)")
    if role in (Role.ADMIN, Role.OPERATOR) and (agent_id is not None or account_id is not None):
        raise ScopeError(f"a {role.value} user has no agent_id or account_id")
