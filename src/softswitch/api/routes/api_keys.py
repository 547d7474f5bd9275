"""API keys for scripts (issue 3, section 3): create, list, revoke.

A key is a bearer token with a name and an optional expiry that authenticates as its owner:
the same role and scope, nothing more, so any role may keep keys for its own scripts. Making a
key needs a *login session*: a key that leaked (a log, a repository) must not be able to mint
the next one and outlive its revocation. Revoking is ``DELETE``; the row stays, with
``revoked_at`` set, so the owner's list still explains why a script stopped working.

The owner manages its own keys; an admin (the one role the policy lets manage other users)
may list and revoke anybody's. A key id of somebody else is 404 for everyone else, so ids do
not reveal which keys exist.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from softswitch.api.deps import Context, CurrentActor, CurrentOwner, CurrentWho
from softswitch.api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ErrorBody
from softswitch.manage import Forbidden, Invalid, NotFound, Who
from softswitch.operators import Action, Actor, Resource, Target, can
from softswitch.storage.repos import Editor
from softswitch.storage.repos.tokens import ApiKeyView, TokenKind

__all__ = ["router"]

router = APIRouter(prefix="/api-keys", tags=["api-keys"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 422)
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_ID = 2**31 - 1  # the id column is a 32-bit INTEGER on PostgreSQL


def _manages_users(actor: Actor) -> bool:
    """True for a role the policy lets manage other users' logins (the admin): a target
    without a user id is nobody's own login, so only that right can allow it."""
    return can(actor, Action.UPDATE, Target(Resource.USER))


def _editor(who: Who) -> Editor:
    return Editor(who.actor.user_id, who.actor.username, who.remote_addr)


def _out(view: ApiKeyView) -> ApiKeyOut:
    return ApiKeyOut.model_validate(view, from_attributes=True)


def _name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise Invalid("name must not be blank: say what the key is for", field="name")
    if _CONTROL.search(name):
        raise Invalid("name must be one line of printable text", field="name")
    return name


def _expiry(raw: datetime | None, now: datetime) -> datetime | None:
    if raw is None:
        return None
    try:
        expires = raw.astimezone(UTC)
    except OverflowError:
        raise Invalid("expires_at is out of the representable range", field="expires_at") from None
    if expires <= now:
        raise Invalid(
            f"expires_at must be in the future (now is {now.isoformat()}); "
            "leave it out for a key that never expires",
            field="expires_at",
        )
    return expires


@router.post("", response_model=ApiKeyCreated, status_code=201, responses=_ERRORS)
async def create_api_key(
    body: ApiKeyCreate, ctx: Context, owner: CurrentOwner, who: CurrentWho
) -> ApiKeyCreated:
    """Make an API key for the caller; its text is in this answer and nowhere else, ever."""
    if owner.kind is not TokenKind.SESSION:
        raise Forbidden(
            "an API key cannot create API keys: log in with POST /api/v1/auth/login "
            "and use the session token",
            field="Authorization",
        )
    now = ctx.now()
    name = _name(body.name)
    expires = _expiry(body.expires_at, now)
    issued = await ctx.tokens.issue_api_key(_editor(who), owner.user_id, name, expires, now)
    return ApiKeyCreated(key=issued.key, **_out(issued.view).model_dump())


@router.get("", response_model=list[ApiKeyOut], responses=_ERRORS)
async def list_api_keys(
    ctx: Context,
    actor: CurrentActor,
    username: Annotated[
        str | None,
        Query(max_length=64, description="another user's keys (admin only); default: yours"),
    ] = None,
) -> list[ApiKeyOut]:
    """The caller's API keys (revoked and expired ones too), oldest first, without secrets."""
    user_id = actor.user_id
    if username is not None and username != actor.username:
        if not _manages_users(actor):
            raise Forbidden("only an admin may list another user's API keys", field="username")
        user = await ctx.operators.get_user(username)
        if user is None:
            raise NotFound(f"no user {username!r}", field="username")
        user_id = user.id
    if user_id is None:
        return []
    return [_out(view) for view in await ctx.tokens.api_keys(user_id)]


@router.delete("/{key_id}", status_code=204, responses=_ERRORS)
async def revoke_api_key(
    key_id: Annotated[int, Path(ge=1, le=_MAX_ID)], ctx: Context, who: CurrentWho
) -> Response:
    """Revoke a key at once: the next request with it gets 401. Revoking twice is harmless."""
    actor = who.actor
    view = await ctx.tokens.api_key(key_id)
    if view is None or (view.user_id != actor.user_id and not _manages_users(actor)):
        raise NotFound(f"no API key {key_id} of yours", field="key_id")
    revoked = await ctx.tokens.revoke_api_key(_editor(who), key_id, view.user_id, ctx.now())
    if revoked is None:  # its owner was deleted meanwhile, and the key with it
        raise NotFound(f"no API key {key_id} of yours", field="key_id")
    return Response(status_code=204)
