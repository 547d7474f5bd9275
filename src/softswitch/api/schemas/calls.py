"""Live calls, callbacks and the monitor: the API shapes of ``softswitch.calls.control``'s views.

The fields mirror the views one for one (a test keeps them in step), with the meaning of each
written here where OpenAPI shows it. Times are ISO 8601 in UTC; ASR is a percentage, ACD
seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from softswitch.calls.control import CallState
from softswitch.manage.fields import MAX_ID

__all__ = [
    "DEFAULT_CALL_LIMIT",
    "MAX_CALL_LIMIT",
    "CallFilter",
    "CallNumber",
    "CallbackCreate",
    "CallbackStarted",
    "GatewayFiguresOut",
    "LegOut",
    "LiveCallList",
    "LiveCallOut",
    "MonitorOut",
    "PrefixFiguresOut",
]

CallNumber = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9+*#._-]+$",
        description="a number or SIP user: letters, digits and + * # . _ -",
    ),
]
"""A number the switch dials: what a SIP user part and a CDR's caller/callee column hold."""


RowId = Annotated[int, Field(ge=1, le=MAX_ID)]

DEFAULT_CALL_LIMIT = 1000
MAX_CALL_LIMIT = 100_000


class CallFilter(BaseModel):
    """Which live calls (every filter given must match); an unknown parameter is refused, so a
    typo never silently lists everything."""

    model_config = ConfigDict(extra="forbid")

    account_id: RowId | None = None
    agent_id: RowId | None = None
    routing_gateway_id: RowId | None = None
    state: CallState | None = None
    limit: int = Field(
        default=DEFAULT_CALL_LIMIT,
        ge=1,
        le=MAX_CALL_LIMIT,
        description="at most this many calls in the answer (the oldest); total counts them all",
    )


class LegOut(BaseModel):
    """One SIP leg: ``side`` is ``caller`` or ``callee``; ``peer`` the far end as
    ``transport:host:port``; ``state`` the dialog state (``trying``, ``early``, ``confirmed``,
    ``terminated``)."""

    model_config = ConfigDict(from_attributes=True)

    side: str
    call_id: str
    local_tag: str
    remote_tag: str
    peer: str
    state: str


class LiveCallOut(BaseModel):
    """A call in progress. ``caller``/``callee`` are after the mapping gateway's rewrite rules
    (what routing uses), ``caller_out``/``callee_out`` as sent to the gateway after its rules;
    ``hold_ms`` counts from the answer (0 before it); ``attempts`` is how many gateways were
    tried so far."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="the id to read or hang up this call with")
    state: CallState
    caller: str
    callee: str
    caller_out: str
    callee_out: str
    account_id: int | None
    account_code: str
    agent_id: int | None
    phone_id: int | None = Field(description="the phone that called, if a phone did")
    mapping_gateway_id: int | None = Field(description="the customer trunk it came in on")
    routing_gateway_id: int | None = Field(description="the carrier it goes out to")
    routing_gateway_name: str
    source_ip: str
    start_time: datetime
    ring_time: datetime | None
    answer_time: datetime | None
    hold_ms: int
    attempts: int
    legs: list[LegOut]


class LiveCallList(BaseModel):
    """The live calls you may see that match the filters, oldest first: at most ``limit`` of
    them in ``items``; ``total`` counts all that matched."""

    items: list[LiveCallOut]
    total: int
    limit: int


class CallbackCreate(BaseModel):
    """Call ``a``; when it answers, call ``b`` and bridge the two. Both are routed like calls of
    ``account_id`` (a customer may leave it out: its own account). ``caller_id`` is the number
    shown to both parties (default: the switch's choice)."""

    model_config = ConfigDict(extra="forbid")

    a: CallNumber
    b: CallNumber
    account_id: RowId | None = None
    caller_id: CallNumber | None = None


class CallbackStarted(BaseModel):
    """The live call the callback started: read it at ``/calls/{call_id}``."""

    call_id: str


class PrefixFiguresOut(BaseModel):
    """A routing gateway's ASR/ACD for the callees under one of its prefixes (the prefix the
    callee matched; ``""`` for a gateway serving every number), over the same windows."""

    model_config = ConfigDict(from_attributes=True)

    prefix: str
    attempts: int
    answered: int
    asr: float | None
    acd: float | None


class GatewayFiguresOut(BaseModel):
    """A routing gateway now: calls in progress on it (``in_use`` of ``capacity``; null:
    unlimited), and over the SS_GATEWAY_ASR/ACD_RESERVE_TIME windows the attempts, the answered
    ones, ASR (percent) and ACD (seconds); null when the window holds no call. ``prefixes``
    splits the same figures by the prefix the callees matched."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    in_use: int
    capacity: int | None
    attempts: int
    answered: int
    asr: float | None
    acd: float | None
    prefixes: list[PrefixFiguresOut]


class MonitorOut(BaseModel):
    """The switch at ``at``: calls in progress (``answered_calls`` of them talking), the rate
    of new calls over the last ``cps_window_s`` seconds, calls since start, registrations,
    CDRs not yet in the database, and each routing gateway's figures."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    concurrent_calls: int
    answered_calls: int
    calls_per_second: float
    cps_window_s: int
    calls_total: int
    answered_total: int
    registered_aors: int
    registered_bindings: int
    registered_behind_nat: int
    cdr_pending: int
    gateways: list[GatewayFiguresOut]
