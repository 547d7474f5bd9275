"""The role policy as a table: who may do what to which target."""

from __future__ import annotations

import pytest

from softswitch.operators import (
    SYSTEM,
    Action,
    Actor,
    Resource,
    Role,
    Scope,
    ScopeKind,
    Target,
    can,
    visible_scope,
)

ADMIN = Actor(1, "root", Role.ADMIN)
OPERATOR = Actor(2, "noc", Role.OPERATOR)
AGENT = Actor(3, "reseller", Role.AGENT, agent_id=10)
CUSTOMER = Actor(4, "cust", Role.CUSTOMER, account_id=100)

R, C, U, D, P = Action.READ, Action.CREATE, Action.UPDATE, Action.DELETE, Action.SET_PASSWORD

OWN_ACCOUNT = dict(account_id=100, agent_id=10)  # the customer's account, under the agent
SIBLING = dict(account_id=101, agent_id=10)  # another account of the same agent
FOREIGN = dict(account_id=200, agent_id=20)  # an account of another agent
DIRECT = dict(account_id=300, agent_id=None)  # an account with no agent

TABLE: list[tuple[Actor, Action, Target, bool]] = [
    # admin: everything, including user management
    (ADMIN, C, Target(Resource.USER), True),
    (ADMIN, D, Target(Resource.USER, user_id=2), True),
    (ADMIN, P, Target(Resource.USER, user_id=4), True),
    (ADMIN, U, Target(Resource.PARAM), True),
    (ADMIN, R, Target(Resource.CDR, **FOREIGN), True),
    (SYSTEM, C, Target(Resource.USER), True),
    # operator: everything but other users
    (OPERATOR, C, Target(Resource.USER), False),
    (OPERATOR, U, Target(Resource.USER, user_id=4), False),
    (OPERATOR, D, Target(Resource.USER, user_id=4), False),
    (OPERATOR, R, Target(Resource.USER, user_id=4), False),
    (OPERATOR, P, Target(Resource.USER, user_id=4), False),
    (OPERATOR, R, Target(Resource.USER, user_id=2), True),  # itself
    (OPERATOR, P, Target(Resource.USER, user_id=2), True),  # its own password
    (OPERATOR, U, Target(Resource.USER, user_id=2), False),  # not its own role
    (OPERATOR, C, Target(Resource.ACCOUNT, **FOREIGN), True),
    (OPERATOR, D, Target(Resource.ROUTING_GATEWAY), True),
    (OPERATOR, U, Target(Resource.RATE_TABLE), True),
    (OPERATOR, U, Target(Resource.PARAM), True),
    (OPERATOR, R, Target(Resource.AUDIT), True),
    (OPERATOR, D, Target(Resource.CALL), True),
    # agent: only its accounts
    (AGENT, R, Target(Resource.ACCOUNT, **SIBLING), True),
    (AGENT, C, Target(Resource.ACCOUNT, **SIBLING), True),
    (AGENT, U, Target(Resource.ACCOUNT, **OWN_ACCOUNT), True),
    (AGENT, D, Target(Resource.ACCOUNT, **OWN_ACCOUNT), True),
    (AGENT, R, Target(Resource.ACCOUNT, **FOREIGN), False),
    (AGENT, C, Target(Resource.ACCOUNT, **FOREIGN), False),
    (AGENT, R, Target(Resource.ACCOUNT, **DIRECT), False),
    (AGENT, C, Target(Resource.PHONE, **SIBLING), True),
    (AGENT, R, Target(Resource.PHONE, **FOREIGN), False),
    (AGENT, R, Target(Resource.CDR, **SIBLING), True),
    (AGENT, D, Target(Resource.CDR, **SIBLING), False),
    (AGENT, R, Target(Resource.CDR, **FOREIGN), False),
    (AGENT, C, Target(Resource.PAYMENT, **SIBLING), True),
    (AGENT, D, Target(Resource.PAYMENT, **SIBLING), False),
    (AGENT, C, Target(Resource.PAYMENT, **FOREIGN), False),
    (AGENT, R, Target(Resource.AGENT, agent_id=10), True),
    (AGENT, U, Target(Resource.AGENT, agent_id=10), False),
    (AGENT, R, Target(Resource.AGENT, agent_id=20), False),
    (AGENT, R, Target(Resource.RATE_TABLE), False),
    (AGENT, R, Target(Resource.ROUTING_GATEWAY), False),
    (AGENT, R, Target(Resource.PARAM), False),
    (AGENT, R, Target(Resource.AUDIT), False),
    (AGENT, C, Target(Resource.USER), False),
    (AGENT, P, Target(Resource.USER, user_id=3), True),
    (AGENT, P, Target(Resource.USER, user_id=4), False),
    # customer: read its own account and what hangs off it
    (CUSTOMER, R, Target(Resource.ACCOUNT, **OWN_ACCOUNT), True),
    (CUSTOMER, R, Target(Resource.PHONE, **OWN_ACCOUNT), True),
    (CUSTOMER, R, Target(Resource.CDR, **OWN_ACCOUNT), True),
    (CUSTOMER, R, Target(Resource.PAYMENT, **OWN_ACCOUNT), True),
    (CUSTOMER, U, Target(Resource.ACCOUNT, **OWN_ACCOUNT), False),
    (CUSTOMER, C, Target(Resource.PHONE, **OWN_ACCOUNT), False),
    (CUSTOMER, C, Target(Resource.PAYMENT, **OWN_ACCOUNT), False),
    (CUSTOMER, R, Target(Resource.CDR, **SIBLING), False),
    (CUSTOMER, R, Target(Resource.PHONE, **SIBLING), False),
    (CUSTOMER, R, Target(Resource.ACCOUNT, **FOREIGN), False),
    (CUSTOMER, R, Target(Resource.AGENT, agent_id=10), False),
    (CUSTOMER, R, Target(Resource.RATE_TABLE), False),
    (CUSTOMER, R, Target(Resource.PARAM), False),
    (CUSTOMER, R, Target(Resource.USER, user_id=4), True),
    (CUSTOMER, P, Target(Resource.USER, user_id=4), True),
    (CUSTOMER, P, Target(Resource.USER, user_id=1), False),
    (CUSTOMER, C, Target(Resource.USER), False),
]


@pytest.mark.parametrize(
    ("actor", "action", "target", "allowed"),
    TABLE,
    ids=[f"{a.role.value}-{act.value}-{t.resource.value}-{ok}" for a, act, t, ok in TABLE],
)
def test_policy_table(actor: Actor, action: Action, target: Target, allowed: bool) -> None:
    assert can(actor, action, target) is allowed


@pytest.mark.parametrize("resource", list(Resource))
@pytest.mark.parametrize("action", list(Action))
def test_admin_may_do_everything(resource: Resource, action: Action) -> None:
    assert can(ADMIN, action, Target(resource, **FOREIGN, user_id=99))


@pytest.mark.parametrize("action", list(Action))
def test_nobody_but_admin_manages_another_user(action: Action) -> None:
    for actor in (OPERATOR, AGENT, CUSTOMER):
        assert not can(actor, action, Target(Resource.USER, user_id=99))


@pytest.mark.parametrize("resource", list(Resource))
@pytest.mark.parametrize("action", list(Action))
def test_customer_never_reaches_another_account(resource: Resource, action: Action) -> None:
    for other in (SIBLING, FOREIGN, DIRECT):
        assert not can(CUSTOMER, action, Target(resource, **other))


@pytest.mark.parametrize("resource", list(Resource))
@pytest.mark.parametrize("action", list(Action))
def test_agent_never_reaches_another_agents_account(resource: Resource, action: Action) -> None:
    assert not can(AGENT, action, Target(resource, **FOREIGN))
    assert not can(AGENT, action, Target(resource, **DIRECT))


def test_a_missing_scope_id_grants_nothing() -> None:
    """A scoped actor without its id must not match targets that also lack one."""
    rootless_agent = Actor(5, "a", Role.AGENT)
    rootless_customer = Actor(6, "c", Role.CUSTOMER)
    assert not can(rootless_agent, R, Target(Resource.ACCOUNT, **DIRECT))
    assert not can(rootless_customer, R, Target(Resource.ACCOUNT))
    assert not can(Actor(None, "x", Role.CUSTOMER), P, Target(Resource.USER))


@pytest.mark.parametrize(
    ("actor", "scope"),
    [
        (ADMIN, Scope(ScopeKind.ALL)),
        (OPERATOR, Scope(ScopeKind.ALL)),
        (AGENT, Scope(ScopeKind.AGENT, 10)),
        (CUSTOMER, Scope(ScopeKind.ACCOUNT, 100)),
        (Actor(5, "a", Role.AGENT), Scope(ScopeKind.NONE)),
        (Actor(6, "c", Role.CUSTOMER), Scope(ScopeKind.NONE)),
    ],
)
def test_visible_scope(actor: Actor, scope: Scope) -> None:
    assert visible_scope(actor) == scope
