"""The non-INVITE client transaction (RFC 3261 §17.1.2).

Over UDP the request is retransmitted on Timer E following the configured schedule
(SS_SIP_RESEND_INTERVAL), each interval capped at T2 (§17.1.2.2); once a provisional response has
arrived the next retransmissions come every T2. Timer F (64*T1) bounds the whole transaction and its
expiry is reported to the TU, which treats it as a 408. After the final response Timer K (T4 over
UDP, zero over TCP/TLS) keeps the transaction alive only to absorb retransmissions of that response.

CANCEL is a non-INVITE transaction like any other (§9.1); it shares the INVITE's branch, and the
CSeq method (CANCEL) keeps the two apart when responses are matched (§17.1.3).
"""

from __future__ import annotations

from enum import Enum

from softswitch.sip.timers import Timer
from softswitch.sip.transaction import Act, Action, Input, Machine, StartTimer, StopTimer

__all__ = ["MACHINE", "State"]


class State(Enum):
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


_COMPLETE: tuple[Action, ...] = (
    StopTimer(Timer.E),
    StopTimer(Timer.F),
    Act.PASS_TO_TU,
    StartTimer(Timer.K),
)
_TIMEOUT: tuple[Action, ...] = (Act.REPORT_TIMEOUT,)
_FAIL: tuple[Action, ...] = (Act.REPORT_TRANSPORT_ERROR,)

TABLE: dict[tuple[State, Input], tuple[State, tuple[Action, ...]]] = {
    (State.TRYING, Input.TIMER_E): (State.TRYING, (Act.SEND_REQUEST, StartTimer(Timer.E))),
    (State.TRYING, Input.TIMER_F): (State.TERMINATED, _TIMEOUT),
    (State.TRYING, Input.PROVISIONAL): (State.PROCEEDING, (Act.PASS_TO_TU,)),
    (State.TRYING, Input.FINAL_2XX): (State.COMPLETED, _COMPLETE),
    (State.TRYING, Input.FINAL_NON2XX): (State.COMPLETED, _COMPLETE),
    (State.TRYING, Input.TRANSPORT_ERROR): (State.TERMINATED, _FAIL),
    # Proceeding: the server is alive, so retransmit at the slow pace of T2.
    (State.PROCEEDING, Input.TIMER_E): (
        State.PROCEEDING,
        (Act.SEND_REQUEST, StartTimer(Timer.E, at_t2=True)),
    ),
    (State.PROCEEDING, Input.TIMER_F): (State.TERMINATED, _TIMEOUT),
    (State.PROCEEDING, Input.PROVISIONAL): (State.PROCEEDING, (Act.PASS_TO_TU,)),
    (State.PROCEEDING, Input.FINAL_2XX): (State.COMPLETED, _COMPLETE),
    (State.PROCEEDING, Input.FINAL_NON2XX): (State.COMPLETED, _COMPLETE),
    (State.PROCEEDING, Input.TRANSPORT_ERROR): (State.TERMINATED, _FAIL),
    # Completed: retransmitted final responses are absorbed by these explicit entries.
    (State.COMPLETED, Input.FINAL_2XX): (State.COMPLETED, ()),
    (State.COMPLETED, Input.FINAL_NON2XX): (State.COMPLETED, ()),
    (State.COMPLETED, Input.TIMER_K): (State.TERMINATED, ()),
}

MACHINE: Machine[State] = Machine(
    name="non-INVITE client",
    initial=State.TRYING,
    initial_actions=(Act.SEND_REQUEST, StartTimer(Timer.E), StartTimer(Timer.F)),
    table=TABLE,
    terminated=State.TERMINATED,
    lingering=frozenset({State.COMPLETED}),
)
