"""Login and logout. The lockout rule lives in the operator service; this maps its outcomes.

Unknown username and wrong password get the same 401 and the same message, so the answer
does not reveal which usernames exist. A locked login gets 423 (Locked, RFC 4918 §11.3)
with the time the lock ends.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from softswitch.api.deps import BearerToken, Context, remote_addr
from softswitch.api.errors import ApiError
from softswitch.api.schemas import ErrorBody, LoginRequest, TokenResponse
from softswitch.operators import LoginOutcome
from softswitch.storage.repos.tokens import TokenKind

__all__ = ["router"]

router = APIRouter(prefix="/auth", tags=["auth"])

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    423: {"model": ErrorBody},
}


@router.post("/login", response_model=TokenResponse, responses=_ERRORS)
async def login(
    body: LoginRequest, ctx: Context, addr: Annotated[str, Depends(remote_addr)]
) -> TokenResponse:
    """Exchange a username and password for a bearer token."""
    result = await ctx.operators.authenticate(body.username, body.password, remote_addr=addr)
    if result.outcome is LoginOutcome.LOCKED:
        raise ApiError(423, "locked", result.message, field="username")
    if result.outcome is LoginOutcome.DISABLED:
        raise ApiError(403, "disabled", result.message, field="username")
    if result.outcome is not LoginOutcome.OK or result.user is None:
        raise ApiError(401, "bad_credentials", result.message, field="password")
    token, expires = await ctx.tokens.issue(result.user.id, ctx.now(), ctx.token_lifetime)
    return TokenResponse(
        access_token=token,
        expires_at=expires,
        username=result.user.username,
        role=result.user.role.value,
    )


@router.post("/logout", status_code=204, responses=_ERRORS)
async def logout(token: BearerToken, ctx: Context) -> Response:
    """Revoke the session token of this request; 401 if it was not a live token.

    An API key is not logged out (that would revoke it without an audit row): it is revoked
    by id with ``DELETE /api/v1/api-keys/{id}``.
    """
    owner = await ctx.tokens.resolve(token, ctx.now())
    if owner is None:
        raise ApiError(
            401,
            "unauthenticated",
            "the bearer token is unknown, expired or revoked",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if owner.kind is not TokenKind.SESSION:
        raise ApiError(
            403,
            "forbidden",
            "an API key is not logged out: revoke it with DELETE /api/v1/api-keys/{id}",
            field="Authorization",
        )
    await ctx.tokens.revoke(token, ctx.now())
    return Response(status_code=204)
