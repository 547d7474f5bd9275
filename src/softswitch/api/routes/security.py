"""The running switch's defences (issue 6): live bans, suspensions and dynamic blacklist
entries, lifting one, and the traffic-jump alarms. The static lists are configuration
entities (``/security/lists``, ``manage.security_lists``).

Admins and operators only (the policy's rights on ``security_list``). Lifting is a write: it
leaves an audit row (entity ``security_ban``) and a log line. Without a running SIP path
(``create_app(security=None)``) these routes answer 503.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from softswitch.api.deps import ApiContext, Context, CurrentActor, CurrentWho
from softswitch.api.errors import ApiError
from softswitch.api.schemas.common import ErrorBody
from softswitch.api.schemas.security import AlarmList, AlarmOut, BanList, BanOut
from softswitch.manage import Forbidden, NotFound
from softswitch.operators import Action, Actor, Resource, Target, can
from softswitch.security import EntryType, SecurityControl
from softswitch.storage.repos import record_audit

__all__ = ["router"]

router = APIRouter(tags=["security"])


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}


def _control(ctx: ApiContext, actor: Actor, action: Action) -> SecurityControl:
    if not can(actor, action, Target(Resource.SECURITY_LIST)):
        raise Forbidden(f"{actor.username} ({actor.role.value}) may not manage security bans")
    if ctx.security is None:
        raise ApiError(503, "unavailable", "this switch runs no SIP path: no bans to show")
    return ctx.security


@router.get("/security/bans", response_model=BanList, responses=_errors(401, 403, 503))
async def list_bans(ctx: Context, actor: CurrentActor) -> BanList:
    """Every live ban, suspension and dynamic blacklist entry, with when it ends."""
    control = _control(ctx, actor, Action.READ)
    items = [BanOut.model_validate(view, from_attributes=True) for view in control.entries()]
    return BanList(items=items, dropped_packets=control.figures().dropped_packets)


@router.delete(
    "/security/bans/{type}/{key:path}", status_code=204, responses=_errors(401, 403, 404, 503)
)
async def lift_ban(
    type: EntryType,
    key: Annotated[str, Path(min_length=1, max_length=200, description="the entry's key")],
    ctx: Context,
    who: CurrentWho,
) -> Response:
    """Lift a ban, suspension or dynamic blacklist entry now (404 when there is none)."""
    control = _control(ctx, who.actor, Action.DELETE)
    if not control.lift(type, key, who.actor.username):
        raise NotFound(f"no live {type.value} {key}", field="key")
    async with ctx.sessions.begin() as session:
        record_audit(
            session,
            user_id=who.actor.user_id,
            username=who.actor.username,
            action="lift",
            entity="security_ban",
            entity_id=f"{type.value}:{key}",
            before={"type": type.value, "key": key},
            after=None,
            now=ctx.now(),
            remote_addr=who.remote_addr,
        )
    return Response(status_code=204)


@router.get("/security/alarms", response_model=AlarmList, responses=_errors(401, 403, 503))
async def list_alarms(ctx: Context, actor: CurrentActor) -> AlarmList:
    """The traffic-jump alarms raised since the switch started (newest last, at most 1,000)."""
    control = _control(ctx, actor, Action.READ)
    return AlarmList(
        items=[AlarmOut.model_validate(view, from_attributes=True) for view in control.alarms()]
    )
