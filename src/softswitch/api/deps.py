"""What the routes depend on: the services of one app instance, and the caller's identity.

Everything hangs off ``app.state.context`` (set by ``create_app``), never a module global, so
two apps (two test cases, two databases) in one process do not share anything.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from softswitch.api.errors import ApiError
from softswitch.calls.control import CallControl
from softswitch.manage import ManageContext, Who
from softswitch.operators import Actor, Clock, OperatorService
from softswitch.params import ParamStore
from softswitch.security import SecurityControl
from softswitch.storage.repos import ParamOverrideRepo, TokenOwner, TokenRepo

__all__ = [
    "ApiContext",
    "BearerToken",
    "Context",
    "CurrentActor",
    "CurrentOwner",
    "CurrentWho",
    "bearer_token",
    "context",
    "current_actor",
    "current_who",
    "live_calls",
    "remote_addr",
    "token_owner",
]


@dataclass(frozen=True, slots=True)
class ApiContext:
    """The collaborators of one app instance. ``calls`` is the call engine's live-call surface;
    None when the app runs without a call path (management only, most API tests)."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    params: ParamStore
    operators: OperatorService
    clock: Clock
    tokens: TokenRepo
    overrides: ParamOverrideRepo
    token_lifetime: timedelta
    manage: ManageContext
    param_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    calls: CallControl | None = None
    security: SecurityControl | None = None

    def now(self) -> datetime:
        """The clock's time in UTC (the clock must return aware datetimes)."""
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the API clock returned a naive datetime")
        return now.astimezone(UTC)


def context(request: Request) -> ApiContext:
    """The context ``create_app`` stored on the app."""
    found = request.app.state.context
    if not isinstance(found, ApiContext):
        raise RuntimeError("the app was not built by create_app")
    return found


def live_calls(ctx: ApiContext) -> CallControl:
    """The call engine; 503 when this app has none, so a client learns the switch cannot
    answer about live calls rather than that there are none."""
    if ctx.calls is None:
        raise ApiError(
            503,
            "unavailable",
            "this switch runs no call engine: live calls, call control and monitoring are "
            "unavailable",
        )
    return ctx.calls


def remote_addr(request: Request) -> str:
    """The peer address, for audit rows."""
    return request.client.host if request.client is not None else ""


_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/login")

_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The bearer token of the request; 401 when there is none."""
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401,
            "unauthenticated",
            "this needs a bearer token: log in with POST /api/v1/auth/login",
            field="Authorization",
            headers=_UNAUTHORIZED,
        )
    return credentials.credentials


BearerToken = Annotated[str, Depends(bearer_token)]


async def token_owner(
    token: BearerToken, ctx: Annotated[ApiContext, Depends(context)]
) -> TokenOwner:
    """The user and token (session or API key) of the bearer token; 401 when it is unknown,
    expired or revoked, or its user is disabled. FastAPI resolves it once per request, however
    many dependencies ask for it."""
    owner = await ctx.tokens.resolve(token, ctx.now())
    if owner is None:
        raise ApiError(
            401,
            "unauthenticated",
            "the bearer token is unknown, expired or revoked: log in again",
            field="Authorization",
            headers=_UNAUTHORIZED,
        )
    return owner


CurrentOwner = Annotated[TokenOwner, Depends(token_owner)]


async def current_actor(owner: CurrentOwner) -> Actor:
    """The user the bearer token belongs to: an API key carries its owner's role and scope."""
    return Actor(owner.user_id, owner.username, owner.role, owner.agent_id, owner.account_id)


CurrentActor = Annotated[Actor, Depends(current_actor)]


async def current_who(actor: CurrentActor, request: Request) -> Who:
    """The actor with its address: what a management write records in the audit log."""
    return Who(actor, remote_addr(request))


CurrentWho = Annotated[Who, Depends(current_who)]
Context = Annotated[ApiContext, Depends(context)]
