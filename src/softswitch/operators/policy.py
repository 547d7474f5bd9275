"""Who may do what: the role policy the API and the CLI consult before every operation.

Roles (``softswitch.storage.models.Role``):

- ``admin``: everything.
- ``operator``: everything except user management (other users' logins, roles, passwords).
- ``agent`` (a reseller's login): only the accounts under its agent, and what hangs off them:
  read, create, change and delete its accounts and their phones, read their CDRs, read and
  make payments to them (topping up its customers); read its own agent record.
- ``customer``: only its own account: read the account, its phones, its CDRs and payments.

Every role may read its own login and change its own password.

A decision depends only on the actor, the action and the *target* described by value (which
kind of thing, and which account, agent or user it belongs to), never on the database, so the
whole policy is a pure function and is tested as a table. Lists are filtered with
:func:`visible_scope`, which tells the query layer what an actor may see at all.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from softswitch.storage.models.users import Role

__all__ = [
    "SYSTEM",
    "Action",
    "Actor",
    "Resource",
    "Scope",
    "ScopeKind",
    "Target",
    "can",
    "visible_scope",
]


class Action(enum.Enum):
    """What is done to a target. ``set_password`` is separate from ``update`` so that a user
    may change its own password without being allowed to change its own role."""

    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    SET_PASSWORD = "set_password"


class Resource(enum.Enum):
    """The kinds of things an operation targets (one per API collection)."""

    USER = "user"
    AGENT = "agent"
    ACCOUNT = "account"
    PHONE = "phone"
    CDR = "cdr"
    PAYMENT = "payment"
    RATE_TABLE = "rate_table"
    MAPPING_GATEWAY = "mapping_gateway"
    ROUTING_GATEWAY = "routing_gateway"
    SECURITY_LIST = "security_list"
    PARAM = "param"
    AUDIT = "audit"
    CALL = "call"


_ACCOUNT_SCOPED = frozenset({Resource.ACCOUNT, Resource.PHONE, Resource.CDR, Resource.PAYMENT})
"""Things that belong to one account, so to one agent through the account."""

_AGENT_RIGHTS: dict[Resource, frozenset[Action]] = {
    Resource.ACCOUNT: frozenset({Action.READ, Action.CREATE, Action.UPDATE, Action.DELETE}),
    Resource.PHONE: frozenset({Action.READ, Action.CREATE, Action.UPDATE, Action.DELETE}),
    Resource.CDR: frozenset({Action.READ}),
    Resource.PAYMENT: frozenset({Action.READ, Action.CREATE}),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated user an operation is done for, with the scope of its role.

    ``user_id`` is None only for the switch itself (first-start bootstrap, see
    :data:`SYSTEM`); the username is what the audit log records.
    """

    user_id: int | None
    username: str
    role: Role
    agent_id: int | None = None
    account_id: int | None = None


SYSTEM = Actor(user_id=None, username="system", role=Role.ADMIN)
"""The switch acting on its own behalf (creating the first admin)."""


@dataclass(frozen=True, slots=True)
class Target:
    """What an operation touches, by value.

    For account-scoped resources (account, phone, CDR, payment) ``account_id`` is the account
    and ``agent_id`` the agent that account belongs to (None when it has none). For a user,
    ``user_id`` is that user (None for a user being created). For an agent, ``agent_id``.
    """

    resource: Resource
    account_id: int | None = None
    agent_id: int | None = None
    user_id: int | None = None


def can(actor: Actor, action: Action, target: Target) -> bool:
    """True when ``actor`` may do ``action`` to ``target``; the API answers 403 otherwise."""
    if actor.role is Role.ADMIN:
        return True
    if target.resource is Resource.USER:
        return _own_login(actor, action, target)
    if actor.role is Role.OPERATOR:
        return True
    if actor.role is Role.AGENT:
        if target.resource is Resource.AGENT:
            return action is Action.READ and _same(actor.agent_id, target.agent_id)
        rights = _AGENT_RIGHTS.get(target.resource, frozenset())
        return action in rights and _same(actor.agent_id, target.agent_id)
    # Customer: read-only, its own account only.
    return (
        target.resource in _ACCOUNT_SCOPED
        and action is Action.READ
        and _same(actor.account_id, target.account_id)
    )


def _own_login(actor: Actor, action: Action, target: Target) -> bool:
    """Non-admins manage no users, but may read their own login and change its password."""
    is_self = _same(actor.user_id, target.user_id)
    return is_self and action in (Action.READ, Action.SET_PASSWORD)


def _same(mine: int | None, theirs: int | None) -> bool:
    """Scope ids match only when both are known: a missing id never grants access."""
    return mine is not None and mine == theirs


class ScopeKind(enum.Enum):
    """How far an actor's view of account-scoped data reaches."""

    ALL = "all"
    AGENT = "agent"
    ACCOUNT = "account"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Scope:
    """The filter a list query applies for an actor: everything, one agent's accounts, one
    account, or nothing (a scoped role whose scope id is missing)."""

    kind: ScopeKind
    id: int | None = None


def visible_scope(actor: Actor) -> Scope:
    """Which account-scoped rows (accounts, phones, CDRs, payments) ``actor`` may list."""
    if actor.role in (Role.ADMIN, Role.OPERATOR):
        return Scope(ScopeKind.ALL)
    if actor.role is Role.AGENT:
        if actor.agent_id is None:
            return Scope(ScopeKind.NONE)
        return Scope(ScopeKind.AGENT, actor.agent_id)
    if actor.account_id is None:
        return Scope(ScopeKind.NONE)
    return Scope(ScopeKind.ACCOUNT, actor.account_id)
