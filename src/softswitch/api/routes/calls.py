"""Live calls (issue 4 §6): list and read them, hang one up, start a callback; the monitor.

The routes read the call engine through ``softswitch.calls.control.CallControl`` (the API never
imports the engine); without one (``create_app(calls=None)``) they answer 503.

Who sees which call follows the account scope of every other route (``visible_scope``): admins
and operators every call, an agent the calls of the accounts under it (``agent_id`` of the
call), a customer those of its own account. Hanging up and starting a callback reach exactly as
far as seeing does, so a customer may hang up its own calls and call back on its own account
only. A call outside the caller's scope is 404, like one that does not exist, and an account
outside it is refused exactly like an unknown one: the answer tells nothing about other
customers' calls. The monitor shows the whole switch (every gateway), so it is for admins and
operators, the roles the policy lets read all calls.

Hanging up and callbacks are writes: each leaves an audit row (entity ``call``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from softswitch.api.deps import Context, CurrentActor, CurrentWho, live_calls
from softswitch.api.errors import ApiError
from softswitch.api.schemas.calls import (
    CallbackCreate,
    CallbackStarted,
    CallFilter,
    LiveCallList,
    LiveCallOut,
    MonitorOut,
)
from softswitch.api.schemas.common import ErrorBody
from softswitch.calls.control import CallbackRequest, LiveCallView
from softswitch.manage import Forbidden, Invalid, NotFound, Who
from softswitch.manage.customers import ACCOUNT
from softswitch.manage.entities import EntityService
from softswitch.operators import Action, Actor, Resource, ScopeKind, Target, can, visible_scope
from softswitch.storage.repos import record_audit

__all__ = ["CALLS_PATH", "router", "sees"]

CALLS_PATH = "/calls"

router = APIRouter(tags=["calls"])


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}


CallId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="the call's id (``id`` in the list)",
    ),
]


def sees(actor: Actor, account_id: int | None, agent_id: int | None) -> bool:
    """True when ``actor``'s scope reaches a call (or account) of ``account_id`` under
    ``agent_id``. A missing id never grants anything: a call of no account (an illegal call
    kept for its CDR) is for admins and operators only."""
    scope = visible_scope(actor)
    if scope.kind is ScopeKind.ALL:
        return True
    if scope.kind is ScopeKind.AGENT:
        return agent_id is not None and agent_id == scope.id
    if scope.kind is ScopeKind.ACCOUNT:
        return account_id is not None and account_id == scope.id
    return False


def _visible_call(actor: Actor, view: LiveCallView | None) -> bool:
    return view is not None and sees(actor, view.account_id, view.agent_id)


def _matches(view: LiveCallView, given: CallFilter) -> bool:
    return (
        (given.account_id is None or view.account_id == given.account_id)
        and (given.agent_id is None or view.agent_id == given.agent_id)
        and (
            given.routing_gateway_id is None or view.routing_gateway_id == given.routing_gateway_id
        )
        and (given.state is None or view.state is given.state)
    )


def _out(view: LiveCallView) -> LiveCallOut:
    return LiveCallOut.model_validate(view, from_attributes=True)


async def _audit(ctx: Context, who: Who, action: str, call_id: str, after: dict[str, Any]) -> None:
    """One audit row for a call-control action, in a transaction of its own (the action is not
    a database change, so there is nothing else to commit with it)."""
    async with ctx.sessions.begin() as session:
        record_audit(
            session,
            user_id=who.actor.user_id,
            username=who.actor.username,
            action=action,
            entity="call",
            entity_id=call_id,
            before=None,
            after=after,
            now=ctx.now(),
            remote_addr=who.remote_addr,
        )


@router.get(CALLS_PATH, response_model=LiveCallList, responses=_errors(401, 422, 503))
async def list_calls(
    ctx: Context, actor: CurrentActor, given: Annotated[CallFilter, Query()]
) -> LiveCallList:
    """The live calls you may see, oldest first, with both legs."""
    control = live_calls(ctx)
    found = [
        view for view in control.calls() if _visible_call(actor, view) and _matches(view, given)
    ]
    return LiveCallList(
        items=[_out(view) for view in found[: given.limit]], total=len(found), limit=given.limit
    )


@router.post(
    f"{CALLS_PATH}/callback",
    response_model=CallbackStarted,
    status_code=202,
    responses=_errors(401, 409, 422, 503),
)
async def start_callback(
    body: CallbackCreate, request: Request, ctx: Context, who: CurrentWho
) -> JSONResponse:
    """Call ``a``, then, once it answers, ``b``, and bridge them. 202 once the first leg is
    sent (follow the call at ``Location``); 409 when the switch refuses the call, with the
    termination reason (``NoAvailableRouter``, ``CallerLocked``, …) first in the message."""
    actor = who.actor
    control = live_calls(ctx)
    account_id = body.account_id
    if account_id is None:
        scope = visible_scope(actor)
        if scope.kind is not ScopeKind.ACCOUNT or scope.id is None:
            raise Invalid(
                "account_id is required: the account the callback is routed and billed as",
                field="account_id",
            )
        account_id = scope.id
    try:
        account = await EntityService(ctx.manage, ACCOUNT).get(actor, account_id)
    except NotFound:
        account = None
    agent_id = getattr(account, "agent_id", None)
    if account is None or not sees(actor, account_id, agent_id):
        raise Invalid(f"no account {account_id}", field="account_id")
    outcome = control.callback(
        CallbackRequest(a=body.a, b=body.b, account_id=account_id, caller_id=body.caller_id)
    )
    if outcome.call_id is None:
        reason = outcome.refusal or "Refused"
        detail = f": {outcome.message}" if outcome.message else ""
        raise ApiError(409, "call_refused", f"{reason}{detail}")
    await _audit(
        ctx,
        who,
        "callback",
        outcome.call_id,
        {"a": body.a, "b": body.b, "account_id": account_id, "caller_id": body.caller_id},
    )
    started = CallbackStarted(call_id=outcome.call_id)
    return JSONResponse(
        started.model_dump(),
        status_code=202,
        headers={
            "Location": f"{request.url_for('list_calls').path}/{quote(outcome.call_id, safe='')}"
        },
    )


@router.get(
    f"{CALLS_PATH}/{{call_id}}", response_model=LiveCallOut, responses=_errors(401, 404, 422, 503)
)
async def get_call(call_id: CallId, ctx: Context, actor: CurrentActor) -> LiveCallOut:
    """One live call with both legs; 404 once it is over (its CDR is at ``/cdrs``)."""
    view = live_calls(ctx).call(call_id)
    if view is None or not _visible_call(actor, view):
        raise NotFound(f"no live call {call_id}", field="call_id")
    return _out(view)


@router.delete(f"{CALLS_PATH}/{{call_id}}", status_code=204, responses=_errors(401, 404, 422, 503))
async def hangup_call(call_id: CallId, ctx: Context, who: CurrentWho) -> Response:
    """Hang up a live call: BYE (CANCEL before the answer) on both legs; its CDR says
    ``OperatorHangup``. 404 when there is no such call (or it ended meanwhile)."""
    control = live_calls(ctx)
    view = control.call(call_id)
    if view is None or not _visible_call(who.actor, view):
        raise NotFound(f"no live call {call_id}", field="call_id")
    if not control.hangup(call_id):
        raise NotFound(f"no live call {call_id}", field="call_id")
    await _audit(
        ctx,
        who,
        "hangup",
        call_id,
        {
            "caller": view.caller,
            "callee": view.callee,
            "account_id": view.account_id,
            "state": view.state.value,
        },
    )
    return Response(status_code=204)


@router.get("/monitor", response_model=MonitorOut, responses=_errors(401, 403, 503))
async def monitor(ctx: Context, actor: CurrentActor) -> MonitorOut:
    """The switch now: concurrent calls, calls per second, ASR/ACD per routing gateway,
    registrations. Admins and operators only (it shows every gateway)."""
    if not can(actor, Action.READ, Target(Resource.CALL)):
        raise Forbidden(f"{actor.username} ({actor.role.value}) may not read the monitor")
    return MonitorOut.model_validate(live_calls(ctx).monitor(), from_attributes=True)
