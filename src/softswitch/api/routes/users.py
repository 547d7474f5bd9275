"""Operator users: create (admin only) and set passwords. The operator service owns the rules;
this maps its refusals to answers that name the offending field."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from softswitch.api.deps import Context, CurrentActor, remote_addr
from softswitch.api.errors import ApiError
from softswitch.api.schemas import ErrorBody, PasswordChange, UserCreate, UserOut
from softswitch.api.schemas.users import UserUpdate
from softswitch.operators import (
    LastAdmin,
    NotAllowed,
    OperatorError,
    PasswordTooLong,
    PasswordTooShort,
    ScopeError,
    UnknownUser,
    UserChanges,
    UsernameInvalid,
    UsernameTaken,
    UserView,
    WrongPassword,
)

__all__ = ["router"]

router = APIRouter(prefix="/users", tags=["users"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 409, 422)
}


def _refusal(exc: Exception, password_field: str) -> ApiError:
    """The answer for a refusal of the operator service."""
    message = str(exc)
    if isinstance(exc, NotAllowed):
        return ApiError(403, "forbidden", message)
    if isinstance(exc, UsernameTaken):
        return ApiError(409, "conflict", message, field="username")
    if isinstance(exc, UsernameInvalid):
        return ApiError(422, "invalid", message, field="username")
    if isinstance(exc, ScopeError):
        return ApiError(422, "invalid", message, field="role")
    if isinstance(exc, PasswordTooShort | PasswordTooLong):
        return ApiError(422, "invalid", message, field=password_field)
    if isinstance(exc, UnknownUser):
        return ApiError(404, "not_found", message, field="username")
    if isinstance(exc, LastAdmin):
        return ApiError(409, "conflict", message, field="role")
    if isinstance(exc, WrongPassword):
        return ApiError(422, "invalid", message, field="old_password")
    return ApiError(422, "invalid", message)


def _out(user: UserView) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


@router.post("", response_model=UserOut, status_code=201, responses=_ERRORS)
async def create_user(
    body: UserCreate,
    ctx: Context,
    actor: CurrentActor,
    addr: Annotated[str, Depends(remote_addr)],
) -> UserOut:
    """Create a login with its role and scope (admin only)."""
    try:
        user = await ctx.operators.create_user(
            actor,
            body.username,
            body.password,
            body.role,
            agent_id=body.agent_id,
            account_id=body.account_id,
            remote_addr=addr,
        )
    except (OperatorError, PasswordTooShort, PasswordTooLong) as exc:
        raise _refusal(exc, "password") from None
    return _out(user)


@router.get("", response_model=list[UserOut], responses=_ERRORS)
async def list_users(ctx: Context, actor: CurrentActor) -> list[UserOut]:
    """Every login (admins); one's own login (everyone else)."""
    return [_out(user) for user in await ctx.operators.list_users(actor)]


@router.get("/{username}", response_model=UserOut, responses=_ERRORS)
async def read_user(username: str, ctx: Context, actor: CurrentActor) -> UserOut:
    """One login: admins any, everyone else its own."""
    try:
        return _out(await ctx.operators.read_user(actor, username))
    except OperatorError as exc:
        raise _refusal(exc, "password") from None


@router.patch("/{username}", response_model=UserOut, responses=_ERRORS)
async def update_user(
    username: str,
    body: UserUpdate,
    ctx: Context,
    actor: CurrentActor,
    addr: Annotated[str, Depends(remote_addr)],
) -> UserOut:
    """Change role, scope or enabled flag, or lift a lockout (admin only)."""
    changes = UserChanges(
        role=body.role,
        agent_id=body.agent_id,
        account_id=body.account_id,
        enabled=body.enabled,
        unlock=body.unlock,
    )
    try:
        user = await ctx.operators.update_user(actor, username, changes, remote_addr=addr)
    except OperatorError as exc:
        raise _refusal(exc, "password") from None
    return _out(user)


@router.delete("/{username}", status_code=204, responses=_ERRORS)
async def delete_user(
    username: str,
    ctx: Context,
    actor: CurrentActor,
    addr: Annotated[str, Depends(remote_addr)],
) -> Response:
    """Delete a login with its sessions and API keys (admin only; not oneself, not the last
    admin)."""
    try:
        await ctx.operators.delete_user(actor, username, remote_addr=addr)
    except OperatorError as exc:
        raise _refusal(exc, "password") from None
    return Response(status_code=204)


@router.put("/{username}/password", status_code=204, responses=_ERRORS)
async def set_password(
    username: str,
    body: PasswordChange,
    ctx: Context,
    actor: CurrentActor,
    addr: Annotated[str, Depends(remote_addr)],
) -> Response:
    """Set a password: admins for anyone, everyone for itself (with ``old_password``)."""
    try:
        await ctx.operators.change_password(
            actor, username, body.new_password, old_password=body.old_password, remote_addr=addr
        )
    except (OperatorError, PasswordTooShort, PasswordTooLong) as exc:
        raise _refusal(exc, "new_password") from None
    return Response(status_code=204)
