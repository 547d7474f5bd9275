"""Transactions: keys, matching, and the runner that applies a machine's table (RFC 3261 §17).

Each of the four machines (``ict``, ``nict``, ``ist``, ``nist``) is data: an initial transition and
a table ``(state, input) -> (next state, actions)``. A pair missing from a table is an explicit
"ignore": the input is dropped and nothing changes (for example a late timer, or a provisional
response after the final one). :class:`Transaction` is the one interpreter of those tables; it turns
actions into effects - bytes to send, events for the transaction user, timers to arm - and the
endpoint carries the effects out. Nothing here reads a clock: ``now`` is always passed in.

Matching follows §17.1.3 for responses (top Via branch and CSeq method) and §17.2.3 for requests
(branch, sent-by and method, with ACK matching its INVITE). Requests from RFC 2543 elements, whose
branch lacks the magic cookie, are matched on Request-URI, tags, Call-ID, CSeq and the top Via.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from softswitch.sip.events import (
    Event,
    Outgoing,
    Peer,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailed,
)
from softswitch.sip.headers import Via
from softswitch.sip.ids import is_rfc3261_branch
from softswitch.sip.message import Request, Response
from softswitch.sip.timers import Timer, TimerConfig

__all__ = [
    "TIMER_INPUTS",
    "Act",
    "Action",
    "Arm",
    "Effect",
    "Input",
    "Machine",
    "Role",
    "StartTimer",
    "StopTimer",
    "Transaction",
    "TransactionKey",
    "client_key",
    "merge_key",
    "response_key",
    "server_key",
    "step",
    "tu_input",
]


class Role(Enum):
    CLIENT = "client"
    SERVER = "server"


class Input(Enum):
    """Everything that can happen to a transaction."""

    RETRANSMIT = "retransmit"  # server: the request arrived again
    ACK = "ack"  # server INVITE: an ACK matching the transaction
    PROVISIONAL = "1xx"  # client: a provisional response arrived
    FINAL_2XX = "2xx"  # client: a 2xx arrived
    FINAL_NON2XX = "3xx-6xx"  # client: a 300-699 arrived
    TU_PROVISIONAL = "tu-1xx"  # server: the TU sends a provisional response
    TU_2XX = "tu-2xx"  # server: the TU sends a 2xx
    TU_NON2XX = "tu-3xx-6xx"  # server: the TU sends a 300-699
    TIMER_A = "timer-A"
    TIMER_B = "timer-B"
    TIMER_D = "timer-D"
    TIMER_E = "timer-E"
    TIMER_F = "timer-F"
    TIMER_G = "timer-G"
    TIMER_H = "timer-H"
    TIMER_I = "timer-I"
    TIMER_J = "timer-J"
    TIMER_K = "timer-K"
    TIMER_L = "timer-L"
    TIMER_M = "timer-M"
    TRANSPORT_ERROR = "transport-error"


TIMER_INPUTS: Mapping[Timer, Input] = {timer: Input[f"TIMER_{timer.value}"] for timer in Timer}


class Act(Enum):
    """Actions without parameters."""

    SEND_REQUEST = "send request"  # (re)transmit the transaction's request
    SEND_ACK = "send ACK"  # client INVITE: ACK the non-2xx final response (§17.1.1.3)
    SEND_RESPONSE = "send response"  # send the response the TU gave, and remember it
    RESEND_RESPONSE = "resend response"  # retransmit the last response sent, if any
    PASS_TO_TU = "pass to TU"  # deliver the received response (or ACK) to the TU
    REPORT_TIMEOUT = "report timeout"  # TransactionTimeout (B, F, H)
    REPORT_TRANSPORT_ERROR = "report transport error"  # TransportFailed


@dataclass(frozen=True, slots=True)
class StartTimer:
    """(Re)start ``timer``; ``at_t2`` is the non-INVITE client in Proceeding (§17.1.2.2)."""

    timer: Timer
    at_t2: bool = False


@dataclass(frozen=True, slots=True)
class StopTimer:
    timer: Timer


Action = Act | StartTimer | StopTimer
S = TypeVar("S", bound=Enum)


@dataclass(frozen=True, slots=True)
class Machine(Generic[S]):
    """One transaction state machine as data."""

    name: str
    initial: S
    initial_actions: tuple[Action, ...]
    table: Mapping[tuple[S, Input], tuple[S, tuple[Action, ...]]]
    terminated: S
    lingering: frozenset[S] = frozenset()
    """States that only absorb retransmissions until a timer ends the transaction (Completed,
    Confirmed, Accepted): entering one lets go of the parsed messages (``Transaction.linger``)."""


def step(machine: Machine[S], state: S, inp: Input) -> tuple[S, tuple[Action, ...]] | None:
    """The table entry for ``(state, inp)``, or None: an input with no entry is ignored."""
    return machine.table.get((state, inp))


# --------------------------------------------------------------------------- keys and matching
@dataclass(frozen=True, slots=True)
class TransactionKey:
    """Identity of a transaction.

    ``method`` is the transaction's method (an ACK looks up its INVITE). Server keys carry the top
    Via sent-by (§17.2.3); RFC 2543 requests have an empty branch and a ``legacy`` tuple instead.
    """

    role: Role
    method: str
    branch: str
    sent_by: str = ""
    legacy: tuple[str, ...] = field(default=())


def client_key(request: Request) -> TransactionKey:
    """Key of the client transaction that sends ``request``."""
    return TransactionKey(Role.CLIENT, request.method, request.top_via.branch or "")


def response_key(response: Response) -> TransactionKey:
    """Key of the client transaction a response belongs to (§17.1.3: branch + CSeq method)."""
    return TransactionKey(Role.CLIENT, response.cseq.method, response.top_via.branch or "")


def _via_identity(via: Via) -> str:
    """The top Via as RFC 2543 matching compares it, without our own received/rport stamps."""
    params = sorted(
        f"{name.lower()}={value or ''}"
        for name, value in via.params
        if name.lower() not in ("received", "rport")
    )
    return f"{via.transport}|{via.host.lower()}|{via.port}|{';'.join(params)}"


def server_key(request: Request, method: str | None = None) -> TransactionKey:
    """Key of the server transaction ``request`` belongs to (§17.2.3).

    ``method`` overrides the request's own, to look up the INVITE a CANCEL targets (§9.2). An ACK
    always looks up its INVITE.
    """
    if method is None:
        method = "INVITE" if request.method == "ACK" else request.method
    via = request.top_via
    branch = via.branch
    if is_rfc3261_branch(branch):
        assert branch is not None
        return TransactionKey(Role.SERVER, method, branch, via.sent_by.lower())
    legacy = (
        request.uri,
        request.from_.tag or "",
        request.call_id,
        str(request.cseq.seq),
        _via_identity(via),
    )
    return TransactionKey(Role.SERVER, method, "", "", legacy)


def tu_input(status: int) -> Input:
    """The input a response the TU sends is for its server transaction."""
    if status < 200:
        return Input.TU_PROVISIONAL
    return Input.TU_2XX if status < 300 else Input.TU_NON2XX


def merge_key(request: Request) -> tuple[str, str, int, str] | None:
    """From tag, Call-ID and CSeq of a request without To tag (§8.2.2.2), else None."""
    if request.to.tag is not None or request.method in ("ACK", "CANCEL"):
        return None
    return (request.from_.tag or "", request.call_id, request.cseq.seq, request.cseq.method)


# --------------------------------------------------------------------------- the runner
@dataclass(frozen=True, slots=True)
class Arm:
    """Arm ``timer`` of transaction ``key`` for ``deadline``; stale unless ``token`` still holds."""

    key: TransactionKey
    timer: Timer
    deadline: float
    token: int


Effect = Outgoing | Event | Arm
AckBuilder = Callable[[Request, Response], Request]
"""Builds the ACK of a client INVITE from the INVITE and the non-2xx response (``ict.make_ack``)."""


class Transaction:
    """One running transaction: a machine, its state, its timers and what it last sent.

    ``peer`` is where the transaction sends: the next hop of a client transaction, the response
    destination of a server transaction (§18.2.2). ``make_ack`` builds the ACK of a client INVITE;
    ``tokens`` is the endpoint-wide source of timer tokens.
    """

    __slots__ = (
        "_fired",
        "_timers",
        "_tokens",
        "ack_bytes",
        "config",
        "key",
        "last_response",
        "last_response_bytes",
        "last_response_tag",
        "machine",
        "make_ack",
        "peer",
        "request",
        "request_bytes",
        "state",
    )

    def __init__(
        self,
        machine: Machine[Any],
        key: TransactionKey,
        request: Request,
        peer: Peer,
        config: TimerConfig,
        make_ack: AckBuilder | None = None,
        tokens: Iterator[int] | None = None,
    ) -> None:
        self.machine = machine
        self.key = key
        self.request = request
        self.request_bytes = bytes(request) if key.role is Role.CLIENT else b""
        self.peer = peer
        self.config = config
        self.make_ack = make_ack
        self.state: Enum = machine.initial
        self.last_response: Response | None = None
        self.last_response_bytes: bytes | None = None
        self.last_response_tag: str | None = None
        """The To tag of the last response sent: kept when the response itself is let go."""
        self.ack_bytes: bytes | None = None
        self._timers: dict[Timer, int] = {}
        self._fired: dict[Timer, int] = {}
        # Timer tokens must be unique across every transaction the endpoint ever ran: a key can be
        # reused after Terminated, and a stale heap entry must never match the new transaction.
        self._tokens = tokens if tokens is not None else itertools.count(1)

    @property
    def terminated(self) -> bool:
        return self.state is self.machine.terminated

    @property
    def reliable(self) -> bool:
        return self.peer.reliable

    def timer_token(self, timer: Timer) -> int | None:
        """Token of the armed ``timer``, None when it is not running."""
        return self._timers.get(timer)

    def running_timers(self) -> frozenset[Timer]:
        return frozenset(self._timers)

    def start(self, now: float) -> list[Effect]:
        """Apply the machine's initial transition (send the request, start the first timers)."""
        effects: list[Effect] = []
        pending: deque[Input] = deque()
        self._apply(self.machine.initial_actions, now, None, None, effects, pending)
        self._drain(pending, now, effects)
        return effects

    def fire(self, timer: Timer, token: int, now: float) -> list[Effect]:
        """Timer ``timer`` reached its deadline; ignored when it was stopped or restarted since."""
        if self._timers.get(timer) != token:
            return []
        del self._timers[timer]
        self._fired[timer] = self._fired.get(timer, 0) + 1
        return self.handle(TIMER_INPUTS[timer], now)

    def handle(
        self,
        inp: Input,
        now: float,
        message: Request | Response | None = None,
        source: Peer | None = None,
    ) -> list[Effect]:
        """Feed one input; return the effects. Inputs without a table entry change nothing."""
        effects: list[Effect] = []
        pending: deque[Input] = deque()
        self._step(inp, now, message, source, effects, pending)
        self._drain(pending, now, effects)
        return effects

    def _drain(self, pending: deque[Input], now: float, effects: list[Effect]) -> None:
        # Zero-length timers (D, I, J, K on a reliable transport) fire within the same call.
        while pending:
            self._step(pending.popleft(), now, None, None, effects, pending)

    def _step(
        self,
        inp: Input,
        now: float,
        message: Request | Response | None,
        source: Peer | None,
        effects: list[Effect],
        pending: deque[Input],
    ) -> None:
        entry = step(self.machine, self.state, inp)
        if entry is None:
            return
        next_state, actions = entry
        changed = next_state is not self.state
        self.state = next_state
        self._apply(actions, now, message, source, effects, pending)
        if changed and next_state in self.machine.lingering:
            self.linger()
        if self.terminated:
            self._timers.clear()
            pending.clear()
            effects.append(TransactionTerminated(self.key))

    def linger(self) -> None:
        """Keep only what absorbing retransmissions needs: bytes, tags and the key.

        A transaction lingers up to 64*T1 (32 s) after its final response (Timers D, I, J, K, L,
        M), so at a few hundred calls a second tens of thousands of them hold their messages. The
        parsed views and the last response are what make those messages heavy for memory and for
        the garbage collector, which walks every one of them on each full collection; the
        request stays (reports and RFC 2543 matching need it) and re-parses a view on demand.
        """
        self.last_response = None
        self.make_ack = None
        self.request.forget_views()

    def _apply(
        self,
        actions: tuple[Action, ...],
        now: float,
        message: Request | Response | None,
        source: Peer | None,
        effects: list[Effect],
        pending: deque[Input],
    ) -> None:
        for action in actions:
            if isinstance(action, StartTimer):
                self._start_timer(action, now, effects, pending)
            elif isinstance(action, StopTimer):
                self._timers.pop(action.timer, None)
            else:
                self._act(action, message, source, effects)

    def _start_timer(
        self, action: StartTimer, now: float, effects: list[Effect], pending: deque[Input]
    ) -> None:
        timer = action.timer
        duration = self.config.duration(
            timer, reliable=self.reliable, fired=self._fired.get(timer, 0), at_t2=action.at_t2
        )
        if duration is None:
            self._timers.pop(timer, None)
            return
        if duration <= 0:
            self._timers.pop(timer, None)
            pending.append(TIMER_INPUTS[timer])
            return
        token = next(self._tokens)
        self._timers[timer] = token
        effects.append(Arm(self.key, timer, now + duration, token))

    def _act(
        self,
        action: Act,
        message: Request | Response | None,
        source: Peer | None,
        effects: list[Effect],
    ) -> None:
        if action is Act.SEND_REQUEST:
            effects.append(Outgoing(self.request_bytes, self.peer, self.key))
        elif action is Act.SEND_ACK:
            build = self.make_ack
            if self.ack_bytes is None and isinstance(message, Response) and build is not None:
                self.ack_bytes = bytes(build(self.request, message))
            if self.ack_bytes is not None:
                effects.append(Outgoing(self.ack_bytes, self.peer, self.key))
        elif action is Act.SEND_RESPONSE:
            if isinstance(message, Response):
                if self.state not in self.machine.lingering:
                    self.last_response = message
                self.last_response_bytes = bytes(message)
                self.last_response_tag = message.to.tag
                effects.append(Outgoing(self.last_response_bytes, self.peer, self.key))
        elif action is Act.RESEND_RESPONSE:
            if self.last_response_bytes is not None:
                effects.append(Outgoing(self.last_response_bytes, self.peer, self.key))
        elif action is Act.PASS_TO_TU:
            peer = source if source is not None else self.peer
            if isinstance(message, Response):
                effects.append(ResponseReceived(message, self.key, peer))
            elif isinstance(message, Request):
                # Only the ACK reaches here (IST in Accepted, RFC 6026 §8.7): the dialog owns it.
                effects.append(RequestReceived(message, None, peer))
        elif action is Act.REPORT_TIMEOUT:
            effects.append(TransactionTimeout(self.key, self.request))
        elif action is Act.REPORT_TRANSPORT_ERROR:
            effects.append(TransportFailed(self.key, self.request))
