"""Reading the registrations (issue 4 §1, ``/api/v1/registrations``): which devices are
registered, from where, until when.

Registrations of phones follow the phones' visibility (an agent sees its accounts' phones, a
customer its own); those of dynamic routing gateways (GoIP and the like) only admins and
operators see.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, false, select

from softswitch.manage.context import ManageContext
from softswitch.manage.errors import Forbidden
from softswitch.manage.listing import Page, page_of
from softswitch.operators import Action, Actor, Resource, Target, can
from softswitch.operators.policy import ScopeKind, visible_scope
from softswitch.storage.models import Account, Phone, RegistrationRow
from softswitch.storage.repos import StoredBinding
from softswitch.storage.repos.registrations import stored_binding

__all__ = ["RegistrationQuery", "RegistrationService"]


@dataclass(frozen=True, slots=True)
class RegistrationQuery:
    """Filters; ``expired`` also lists bindings past their expiry not yet cleaned up."""

    aor: str | None = None
    phone_id: int | None = None
    routing_gateway_id: int | None = None
    expired: bool = False
    page: int = 1
    page_size: int | None = None


class RegistrationService:
    def __init__(self, ctx: ManageContext) -> None:
        self._ctx = ctx

    async def list(self, actor: Actor, query: RegistrationQuery) -> Page[StoredBinding]:
        """One page, the most recent registrations first."""
        own = Target(Resource.PHONE, account_id=actor.account_id, agent_id=actor.agent_id)
        if visible_scope(actor).kind is ScopeKind.ALL:
            own = Target(Resource.PHONE)
        if not can(actor, Action.READ, own):
            raise Forbidden(f"{actor.username} ({actor.role.value}) may not list registrations")
        statement = self._scoped(select(RegistrationRow), actor)
        if query.aor is not None:
            statement = statement.where(RegistrationRow.aor == query.aor)
        if query.phone_id is not None:
            statement = statement.where(RegistrationRow.phone_id == query.phone_id)
        if query.routing_gateway_id is not None:
            statement = statement.where(
                RegistrationRow.routing_gateway_id == query.routing_gateway_id
            )
        if not query.expired:
            statement = statement.where(RegistrationRow.expires_at > self._ctx.now())
        statement = statement.order_by(
            RegistrationRow.registered_at.desc(), RegistrationRow.id.desc()
        )
        size = self._ctx.page_size(query.page_size)
        async with self._ctx.sessions() as session:
            rows, total = await page_of(session, statement, query.page, size)
            items = [stored_binding(row) for row in rows]
        return Page(items, total, query.page, size)

    def _scoped(
        self, statement: Select[tuple[RegistrationRow]], actor: Actor
    ) -> Select[tuple[RegistrationRow]]:
        scope = visible_scope(actor)
        if scope.kind is ScopeKind.ALL:
            return statement
        if scope.kind is ScopeKind.AGENT:
            accounts = select(Account.id).where(Account.agent_id == scope.id)
            phones = select(Phone.id).where(Phone.account_id.in_(accounts))
            return statement.where(RegistrationRow.phone_id.in_(phones))
        if scope.kind is ScopeKind.ACCOUNT:
            phones = select(Phone.id).where(Phone.account_id == scope.id)
            return statement.where(RegistrationRow.phone_id.in_(phones))
        return statement.where(false())
