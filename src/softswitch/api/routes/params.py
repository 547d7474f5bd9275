"""System parameters: list, read, change, reset.

A change is validated by the parameter registry (its message says what is allowed), stored in
the database with its audit row in one transaction, and only then applied to the in-memory
:class:`~softswitch.params.ParamStore`, whose subscribers are how the running switch picks
the new value up. Writes are serialised per app so the database and the store change in the
same order.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from softswitch.api.deps import ApiContext, Context, CurrentActor, remote_addr
from softswitch.api.errors import ApiError
from softswitch.api.schemas import ErrorBody, ParamOut, ParamSet
from softswitch.api.security import require
from softswitch.operators import Action, Actor, Resource, Target
from softswitch.params import Param, ParamError
from softswitch.storage.repos import Editor

__all__ = ["param_out", "router"]

router = APIRouter(prefix="/params", tags=["params"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    422: {"model": ErrorBody},
}
_TARGET = Target(Resource.PARAM)


def param_out(ctx: ApiContext, param: Param[Any]) -> ParamOut:
    """The API view of ``param`` with the value in force."""
    return ParamOut(
        name=param.name,
        group=param.group,
        type=param.kind.value,
        value=param.format(ctx.params.get(param.name)),
        default=param.format(param.default),
        range=param.range_text,
        allowed=param.allowed,
        unit=param.unit,
        meaning=param.doc,
        aliases=list(param.aliases),
        overridden=ctx.params.is_overridden(param.name),
    )


def _lookup(ctx: ApiContext, name: str) -> Param[Any]:
    try:
        return ctx.params.registry.get(name)
    except ParamError as exc:
        raise ApiError(404, "not_found", str(exc), field="name") from None


def _editor(actor: Actor, addr: str) -> Editor:
    return Editor(actor.user_id, actor.username, addr)


@router.get("", response_model=list[ParamOut], responses=_ERRORS)
async def list_params(
    ctx: Context,
    actor: CurrentActor,
    group: Annotated[str | None, Query(description="only this group, e.g. server.security")] = None,
) -> list[ParamOut]:
    """Every parameter in catalogue order, or those of one group."""
    require(actor, Action.READ, _TARGET)
    if group is None:
        return [param_out(ctx, param) for param in ctx.params.registry]
    try:
        members = ctx.params.registry.in_group(group)
    except ParamError as exc:
        raise ApiError(422, "invalid", str(exc), field="group") from None
    return [param_out(ctx, param) for param in members]


@router.get("/{name}", response_model=ParamOut, responses=_ERRORS)
async def get_param(name: str, ctx: Context, actor: CurrentActor) -> ParamOut:
    """One parameter, by canonical name or alias (any case)."""
    require(actor, Action.READ, _TARGET)
    return param_out(ctx, _lookup(ctx, name))


@router.put("/{name}", response_model=ParamOut, responses=_ERRORS)
async def set_param(
    name: str,
    body: ParamSet,
    ctx: Context,
    actor: CurrentActor,
    addr: Annotated[str, Depends(remote_addr)],
) -> ParamOut:
    """Override a parameter; the running switch applies it through the store's subscribers."""
    require(actor, Action.UPDATE, _TARGET)
    param = _lookup(ctx, name)
    try:
        value = param.parse(body.value)
    except ParamError as exc:
        raise ApiError(422, "invalid", str(exc), field="value") from None
    text = param.format(value)
    async with ctx.param_lock:
        before = param.format(ctx.params.get(param.name))
        await ctx.overrides.save(_editor(actor, addr), param.name, before, text, ctx.now())
        ctx.params.set(param.name, value)
    return param_out(ctx, param)


@router.delete("/{name}", response_model=ParamOut, responses=_ERRORS)
async def reset_param(
    name: str,
    ctx: Context,
    actor: CurrentActor,
    addr: Annotated[str, Depends(remote_addr)],
) -> ParamOut:
    """Remove the override so the default applies again (harmless when there is none)."""
    require(actor, Action.UPDATE, _TARGET)
    param = _lookup(ctx, name)
    async with ctx.param_lock:
        before = param.format(ctx.params.get(param.name))
        default = param.format(param.default)
        await ctx.overrides.delete(_editor(actor, addr), param.name, before, default, ctx.now())
        ctx.params.reset(param.name)
    return param_out(ctx, param)
