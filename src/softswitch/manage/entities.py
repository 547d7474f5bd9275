"""The configuration entities' service: create, read, update, delete and list, one way for all.

Accounts, agents, phones, gateways, rate tables and rates differ in their fields and checks, not
in how they are written, so each is described once by an :class:`EntitySpec` (its model, its
API schemas, its unique and referring fields, how it belongs to an account or agent) and this
one service does the rest. Each write is one transaction holding the change, its audit row
(before/after snapshots, secrets redacted) and its change-feed row; the feed is read right
after the commit, so when the API answers, the call path has been told. ``create_in``,
``update_in`` and ``delete_in`` are the same writes inside a caller's transaction (``config
apply`` makes many all or nothing); the public methods wrap them, so there is one code path.

Visibility follows ``softswitch.operators.policy``: an entity the actor may not read does not
exist for it (404); one it may read but not change is a 403.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, false, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from softswitch.manage.context import ManageContext, Who
from softswitch.manage.errors import Conflict, Forbidden, Invalid, NotFound
from softswitch.manage.listing import ListQuery, Page, apply_filters, order_by, page_of
from softswitch.operators import Action, Actor, Resource, Target, can
from softswitch.operators.policy import ScopeKind, visible_scope
from softswitch.storage.models import Account, Base
from softswitch.storage.repos import record_audit, record_change

__all__ = [
    "REDACTED",
    "REDACTED_CHANGED",
    "Dependent",
    "EntityService",
    "EntitySpec",
    "Owner",
    "Reference",
    "plural",
]

REDACTED = "[redacted]"
"""What audit snapshots show in place of a secret."""

REDACTED_CHANGED = "[redacted, changed]"
"""What the after-snapshot of an update shows for a secret that changed."""


def plural(noun: str) -> str:
    """``noun`` in the plural, for messages and names (gateway → gateways, entry → entries)."""
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"


class Owner(enum.Enum):
    """How rows of an entity belong to customers, which decides who may see them."""

    NONE = "none"
    """Switch-wide data (gateways of carriers, rate tables): operators and admins only."""
    ACCOUNT_SELF = "account_self"
    """The row is an account (its ``id``; its agent is ``agent_id``)."""
    ACCOUNT_CHILD = "account_child"
    """The row hangs off an account (``account_id``), and so off that account's agent."""
    AGENT_SELF = "agent_self"
    """The row is an agent."""


@dataclass(frozen=True, slots=True)
class Reference:
    """A field naming another entity, checked to exist before writing."""

    field: str
    model: type[Base]
    label: str


@dataclass(frozen=True, slots=True)
class Dependent:
    """Rows of another table that keep this one from being deleted."""

    model: type[Base]
    column: str
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EntitySpec:
    """Everything that differs between two configuration entities."""

    name: str
    """Singular, as in audit and change-feed rows (``routing_gateway``)."""
    title: str
    """For messages (``routing gateway``)."""
    model: type[Base]
    resource: Resource
    create: type[BaseModel]
    update: type[BaseModel]
    out: type[BaseModel]
    natural_key: str
    """The field operators and configuration files name a row by (``code``, ``name``)."""
    owner: Owner = Owner.NONE
    unique: tuple[tuple[str, ...], ...] = ()
    """Sets of fields no two rows share (the database has the same constraints). A set with a
    null field is not checked (SQL's rule: nulls never collide), unless the field is in
    ``null_is_value``."""
    null_is_value: frozenset[str] = frozenset()
    """Nullable fields of ``unique`` sets whose null is a value of its own, not "unknown"
    (a security list entry's ``account_id``: null means global, and two global entries with
    the same value collide; the database has a partial unique index for them)."""
    references: tuple[Reference, ...] = ()
    dependents: tuple[Dependent, ...] = ()
    filters: tuple[str, ...] = ()
    sorts: tuple[str, ...] = ("id",)
    default_sort: str = "id"
    secrets: frozenset[str] = frozenset()
    parent: str | None = None
    """For entities listed under another (rates under their table): the parent's id field."""
    check: Callable[[Mapping[str, Any]], None] | None = None
    """Cross-field rules on the complete values after a create or update; raises Invalid."""
    prepare: Callable[[dict[str, Any], Actor, datetime], None] | None = None
    """Fills defaults on create (a generated password, the agent's own id, now)."""

    def column(self, name: str) -> InstrumentedAttribute[Any]:
        found = getattr(self.model, name, None)
        if not isinstance(found, InstrumentedAttribute):
            raise KeyError(f"{self.model.__name__} has no column {name}")
        return found


class EntityService:
    """CRUD and listing of one entity for one actor's requests."""

    def __init__(self, ctx: ManageContext, spec: EntitySpec) -> None:
        self._ctx = ctx
        self.spec = spec

    # -- reading -----------------------------------------------------------------------------

    async def list(
        self, actor: Actor, query: ListQuery, *, parent_id: int | None = None
    ) -> Page[BaseModel]:
        """One page of the rows ``actor`` may see, filtered and sorted as asked."""
        spec = self.spec
        self._require_list(actor)
        statement = self._scoped(select(spec.model), actor)
        if spec.parent is not None and parent_id is not None:
            await self._parent_exists(parent_id)
            statement = statement.where(spec.column(spec.parent) == parent_id)
        filters = {name: spec.column(name) for name in spec.filters}
        unknown = set(query.filters) - set(filters)
        if unknown:
            raise Invalid(f"cannot filter on {sorted(unknown)[0]}", field=sorted(unknown)[0])
        statement = apply_filters(statement, filters, query.filters)
        sorts = {name: spec.column(name) for name in spec.sorts}
        statement = order_by(statement, sorts, query.sort, spec.default_sort, spec.column("id"))
        size = self._ctx.page_size(query.page_size)
        async with self._ctx.sessions() as session:
            rows, total = await page_of(session, statement, query.page, size)
            items = [spec.out.model_validate(row, from_attributes=True) for row in rows]
        return Page(items, total, query.page, size)

    async def get(self, actor: Actor, entity_id: int, *, parent_id: int | None = None) -> BaseModel:
        async with self._ctx.sessions() as session:
            row = await self._visible(session, actor, entity_id, parent_id)
            return self.spec.out.model_validate(row, from_attributes=True)

    async def get_by_key(self, actor: Actor, key: str) -> BaseModel | None:
        """The row whose natural key is ``key`` (None when absent or invisible)."""
        spec = self.spec
        async with self._ctx.sessions() as session:
            row = await session.scalar(
                select(spec.model).where(spec.column(spec.natural_key) == key)
            )
            if row is None or not can(actor, Action.READ, await self._target(session, row)):
                return None
            return spec.out.model_validate(row, from_attributes=True)

    # -- writing -----------------------------------------------------------------------------

    async def create(self, who: Who, body: BaseModel, *, parent_id: int | None = None) -> BaseModel:
        """Create one row in its own transaction; the call path is told before this returns."""
        async with self._ctx.sessions.begin() as session:
            out = await self.create_in(session, who, body, parent_id=parent_id)
        await self._ctx.feed.catch_up()
        return out

    async def update(
        self, who: Who, entity_id: int, body: BaseModel, *, parent_id: int | None = None
    ) -> BaseModel:
        """Change the fields set in ``body`` in their own transaction (see :meth:`update_in`)."""
        async with self._ctx.sessions.begin() as session:
            out = await self.update_in(session, who, entity_id, body, parent_id=parent_id)
        await self._ctx.feed.catch_up()
        return out

    async def delete(self, who: Who, entity_id: int, *, parent_id: int | None = None) -> None:
        """Delete one row in its own transaction (refused while other rows still use it)."""
        async with self._ctx.sessions.begin() as session:
            await self.delete_in(session, who, entity_id, parent_id=parent_id)
        await self._ctx.feed.catch_up()

    # -- writing inside a caller's transaction ---------------------------------------------------
    # The same checks, audit rows and change-feed rows as above, for a caller that puts many
    # writes into one transaction (``config apply``: all or nothing). The caller commits and
    # then calls ``ctx.feed.catch_up()`` itself.

    async def create_in(
        self, session: AsyncSession, who: Who, body: BaseModel, *, parent_id: int | None = None
    ) -> BaseModel:
        """Create one row in ``session``'s transaction and return it as stored."""
        spec = self.spec
        values = body.model_dump()
        if spec.parent is not None:
            if parent_id is None:
                raise Invalid(f"a {spec.title} belongs to a parent", field=spec.parent)
            values[spec.parent] = parent_id
        if spec.prepare is not None:
            spec.prepare(values, who.actor, self._ctx.now())
        if spec.check is not None:
            spec.check(values)
        row = spec.model(**values)
        # Permission first: the checks below would otherwise tell an actor which ids and names
        # exist outside its scope (422 "no account 7" against 403 for a real one).
        if not can(who.actor, Action.CREATE, await self._target(session, row)):
            raise Forbidden(self._refusal(who.actor, Action.CREATE))
        if spec.parent is not None and parent_id is not None:
            await self._parent_exists(parent_id, session)
        await self._check_references(session, values)
        await self._check_unique(session, values, values, None)
        session.add(row)
        await self._flush(session)
        await session.refresh(row)  # answer with what was stored, as a read would
        after = self._snapshot(row)
        self._record(session, who, "create", getattr(row, "id"), None, after)  # noqa: B009
        return spec.out.model_validate(row, from_attributes=True)

    async def update_in(
        self,
        session: AsyncSession,
        who: Who,
        entity_id: int,
        body: BaseModel,
        *,
        parent_id: int | None = None,
    ) -> BaseModel:
        """Change the fields set in ``body`` in ``session``'s transaction; a change that
        leaves the row as it was writes no audit or change-feed row."""
        spec = self.spec
        changes = body.model_dump(exclude_unset=True)
        table = spec.model.__table__
        for name, value in changes.items():
            if value is None and not table.c[name].nullable:
                raise Invalid(f"{name} may not be null", field=name)
        row = await self._visible(session, who.actor, entity_id, parent_id)
        if not can(who.actor, Action.UPDATE, await self._target(session, row)):
            raise Forbidden(self._refusal(who.actor, Action.UPDATE))
        before = self._snapshot(row)
        stored = self._values(row)
        values = {**stored, **changes}
        if spec.check is not None:
            spec.check(values)
        await self._check_references(session, changes)
        await self._check_unique(session, values, changes, entity_id)
        for name, value in changes.items():
            setattr(row, name, value)
        if not can(who.actor, Action.UPDATE, await self._target(session, row)):
            raise Forbidden(f"{who.actor.username} may not move this {spec.title} there")
        await self._flush(session)
        await session.refresh(row)
        after = self._snapshot(row)
        # Decide on the stored values, not the snapshots: a secret is redacted in both, and a
        # password-only change must still be audited and reach the call path.
        changed = {
            name for name, value in self._values(row).items() if stored.get(name) != value
        } - {"updated_at"}
        for name in changed & self.spec.secrets:
            after[name] = REDACTED_CHANGED
        if changed:
            self._record(session, who, "update", entity_id, before, after)
        return spec.out.model_validate(row, from_attributes=True)

    async def delete_in(
        self, session: AsyncSession, who: Who, entity_id: int, *, parent_id: int | None = None
    ) -> None:
        """Delete one row in ``session``'s transaction."""
        row = await self._visible(session, who.actor, entity_id, parent_id)
        if not can(who.actor, Action.DELETE, await self._target(session, row)):
            raise Forbidden(self._refusal(who.actor, Action.DELETE))
        await self._check_dependents(session, entity_id)
        before = self._snapshot(row)
        await session.delete(row)
        await self._flush(session)
        self._record(session, who, "delete", entity_id, before, None)

    # -- internals ---------------------------------------------------------------------------

    def _refusal(self, actor: Actor, action: Action) -> str:
        return (
            f"{actor.username} ({actor.role.value}) may not {action.value} this {self.spec.title}"
        )

    def _require_list(self, actor: Actor) -> None:
        scope = visible_scope(actor)
        target = Target(self.spec.resource, account_id=actor.account_id, agent_id=actor.agent_id)
        if scope.kind is ScopeKind.ALL:
            target = Target(self.spec.resource)
        if not can(actor, Action.READ, target):
            raise Forbidden(
                f"{actor.username} ({actor.role.value}) may not list {plural(self.spec.title)}"
            )

    def _scoped(self, statement: Select[Any], actor: Actor) -> Select[Any]:
        """``statement`` limited to the rows the actor's scope reaches."""
        scope, spec = visible_scope(actor), self.spec
        if scope.kind is ScopeKind.ALL:
            return statement
        if scope.kind is ScopeKind.NONE or spec.owner is Owner.NONE:
            return statement.where(false())
        ident = spec.column("id")
        if scope.kind is ScopeKind.AGENT:
            if spec.owner is Owner.AGENT_SELF:
                return statement.where(ident == scope.id)
            if spec.owner is Owner.ACCOUNT_SELF:
                return statement.where(spec.column("agent_id") == scope.id)
            accounts = select(Account.id).where(Account.agent_id == scope.id)
            return statement.where(spec.column("account_id").in_(accounts))
        # ScopeKind.ACCOUNT (a customer)
        if spec.owner is Owner.ACCOUNT_SELF:
            return statement.where(ident == scope.id)
        if spec.owner is Owner.ACCOUNT_CHILD:
            return statement.where(spec.column("account_id") == scope.id)
        return statement.where(false())

    async def _target(self, session: AsyncSession, row: Any) -> Target:
        owner, resource = self.spec.owner, self.spec.resource
        if owner is Owner.ACCOUNT_SELF:
            return Target(resource, account_id=row.id, agent_id=row.agent_id)
        if owner is Owner.ACCOUNT_CHILD:
            agent_id = None
            if row.account_id is not None:
                agent_id = await session.scalar(
                    select(Account.agent_id).where(Account.id == row.account_id)
                )
            return Target(resource, account_id=row.account_id, agent_id=agent_id)
        if owner is Owner.AGENT_SELF:
            return Target(resource, agent_id=row.id)
        return Target(resource)

    async def _visible(
        self, session: AsyncSession, actor: Actor, entity_id: int, parent_id: int | None
    ) -> Any:
        spec = self.spec
        row = await session.get(spec.model, entity_id)
        missing = row is None or (
            spec.parent is not None
            and parent_id is not None
            and getattr(row, spec.parent) != parent_id
        )
        if missing or not can(actor, Action.READ, await self._target(session, row)):
            raise NotFound(f"no {spec.title} {entity_id}", field="id")
        return row

    async def _parent_exists(self, parent_id: int, session: AsyncSession | None = None) -> None:
        spec = self.spec
        reference = next(r for r in spec.references if r.field == spec.parent)
        if session is None:
            async with self._ctx.sessions() as own:
                found = await own.get(reference.model, parent_id)
        else:
            found = await session.get(reference.model, parent_id)
        if found is None:
            raise NotFound(f"no {reference.label} {parent_id}", field=spec.parent)

    async def _check_references(self, session: AsyncSession, values: Mapping[str, Any]) -> None:
        for reference in self.spec.references:
            value = values.get(reference.field)
            if value is not None and await session.get(reference.model, value) is None:
                raise Invalid(f"there is no {reference.label} {value}", field=reference.field)

    async def _check_unique(
        self,
        session: AsyncSession,
        values: Mapping[str, Any],
        changed: Mapping[str, Any],
        entity_id: int | None,
    ) -> None:
        """Refuse, naming the field, a write that would duplicate a unique set of fields."""
        spec = self.spec
        for fields in spec.unique:
            if not set(fields) & set(changed) or any(
                values.get(f) is None and f not in spec.null_is_value for f in fields
            ):
                continue
            query = select(spec.column("id"))
            for name in fields:
                value = values.get(name)
                column = spec.column(name)
                query = query.where(column.is_(None) if value is None else column == value)
            if entity_id is not None:
                query = query.where(spec.column("id") != entity_id)
            if await session.scalar(query.limit(1)) is not None:
                shown = ", ".join(f"{name} {_shown(values.get(name))}" for name in fields)
                raise Conflict(f"another {spec.title} already has {shown}", field=fields[-1])

    async def _check_dependents(self, session: AsyncSession, entity_id: int) -> None:
        users: list[str] = []
        for dependent in self.spec.dependents:
            column = getattr(dependent.model, dependent.column)
            count = await session.scalar(select(func.count()).where(column == entity_id))
            if count:
                label = dependent.label if count == 1 else plural(dependent.label)
                users.append(f"{count} {label}")
        if users:
            raise Conflict(
                f"{self.spec.title} {entity_id} is still used by {', '.join(users)}: "
                "delete or move those first",
                field="id",
            )

    async def _flush(self, session: AsyncSession) -> None:
        try:
            await session.flush()
        except IntegrityError as exc:
            # The checks above give the precise answer; this is the race they cannot see.
            raise Conflict(
                f"the {self.spec.title} conflicts with data written at the same time: {exc.orig}"
            ) from None

    def _values(self, row: Any) -> dict[str, Any]:
        table = self.spec.model.__table__
        return {column.key: getattr(row, column.key) for column in table.columns}

    def _snapshot(self, row: Any) -> dict[str, Any]:
        data = self.spec.out.model_validate(row, from_attributes=True).model_dump(mode="json")
        for name in self.spec.secrets:
            if data.get(name) is not None:
                data[name] = REDACTED
        data.pop("updated_at", None)
        return data

    def _record(
        self,
        session: AsyncSession,
        who: Who,
        action: str,
        entity_id: int,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        now = self._ctx.now()
        name = self.spec.name
        record_audit(
            session,
            user_id=who.actor.user_id,
            username=who.actor.username,
            action=action,
            entity=name,
            entity_id=str(entity_id),
            before=before,
            after=after,
            now=now,
            remote_addr=who.remote_addr,
        )
        record_change(session, entity=name, entity_id=str(entity_id), action=action, now=now)


def _shown(value: Any) -> str:
    """A value as a message shows it (an enum by its value, a null as ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)
