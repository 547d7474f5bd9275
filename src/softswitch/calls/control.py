"""What the HTTP API, the console and the CLI may see and do of live calls (issue 4 §6).

Pure values and one protocol: the call engine (``calls.engine``) implements
:class:`CallControl`; the API receives it through ``create_app`` and never imports the engine,
so the edge depends on this small surface only (ARCHITECTURE.md, "Layers"). Views are frozen
copies taken at one moment: reading them never races the call path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

__all__ = [
    "CallControl",
    "CallState",
    "CallbackOutcome",
    "CallbackRequest",
    "GatewayFigures",
    "LegView",
    "LiveCallView",
    "MonitorFigures",
    "PrefixFigures",
]


class CallState(Enum):
    """Where a live call is: looking for a route, ringing (early media included), answered, or
    clearing (BYE sent, the CDR being written)."""

    ROUTING = "routing"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDING = "ending"


@dataclass(frozen=True, slots=True)
class LegView:
    """One SIP leg of a call: ``side`` is ``caller`` or ``callee``; ``peer`` is
    ``transport:host:port`` of the far end; ``state`` the dialog state (``trying``, ``early``,
    ``confirmed``, ``terminated``)."""

    side: str
    call_id: str
    local_tag: str
    remote_tag: str
    peer: str
    state: str


@dataclass(frozen=True, slots=True)
class LiveCallView:
    """A live call as operators see it. Times are UTC; ``hold_ms`` counts from the answer."""

    id: str
    state: CallState
    caller: str
    callee: str
    caller_out: str
    callee_out: str
    account_id: int | None
    account_code: str
    agent_id: int | None
    phone_id: int | None
    mapping_gateway_id: int | None
    routing_gateway_id: int | None
    routing_gateway_name: str
    source_ip: str
    start_time: datetime
    ring_time: datetime | None
    answer_time: datetime | None
    hold_ms: int
    attempts: int
    legs: tuple[LegView, ...]


@dataclass(frozen=True, slots=True)
class PrefixFigures:
    """ASR/ACD of one routing gateway for the callees under one of its prefixes (the prefix
    the callee matched; ``""`` for a gateway serving every number)."""

    prefix: str
    attempts: int
    answered: int
    asr: float | None
    acd: float | None


@dataclass(frozen=True, slots=True)
class GatewayFigures:
    """Live figures of one routing gateway: calls in progress on it and its ASR (percent) and
    ACD (seconds) over the SS_GATEWAY_ASR/ACD_RESERVE_TIME windows (None without data)."""

    id: int
    name: str
    in_use: int
    capacity: int | None
    attempts: int
    answered: int
    asr: float | None
    acd: float | None
    prefixes: tuple[PrefixFigures, ...] = ()


@dataclass(frozen=True, slots=True)
class MonitorFigures:
    """The switch at one moment (``/api/v1/monitor`` and ``/metrics``).

    ``calls_per_second`` is the rate of new inbound calls over the last ``cps_window_s``
    seconds; ``calls_total`` counts every call since start, ``answered_total`` those answered.
    """

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
    gateways: tuple[GatewayFigures, ...]


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """Call ``a`` first; when it answers, call ``b`` and bridge the two. Both numbers are
    routed like a customer's call of ``account_id`` (a phone of the switch, or gateways)."""

    a: str
    b: str
    account_id: int
    caller_id: str | None = None


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    """The live call that was started (``call_id``), or why none was (``refusal``, a
    termination reason name such as ``NoAvailableRouter``, with ``message``)."""

    call_id: str | None
    refusal: str | None = None
    message: str = ""


class CallControl(Protocol):
    """The live-call surface the API uses."""

    def calls(self) -> list[LiveCallView]:
        """Every live call, oldest first."""
        ...

    def call(self, call_id: str) -> LiveCallView | None:
        """One live call, or None when it is unknown or over."""
        ...

    def hangup(self, call_id: str) -> bool:
        """Clear a live call (BYE or CANCEL on both legs, reason OperatorHangup); False when
        there is no such call."""
        ...

    def callback(self, request: CallbackRequest) -> CallbackOutcome:
        """Start a callback call (the first leg is sent at once)."""
        ...

    def monitor(self) -> MonitorFigures:
        """Current figures."""
        ...
