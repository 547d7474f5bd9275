"""The INVITE server transaction (RFC 3261 §17.2.1, amended by RFC 6026 §8.5-8.7).

The transaction answers retransmitted INVITEs with the last response it sent and, over UDP,
retransmits a non-2xx final response on Timer G (T1 doubling, capped at T2) until the ACK arrives or
Timer H (64*T1) gives up. That ACK is absorbed here: it belongs to the transaction (§17.1.1.3).

A 2xx is different (RFC 6026): the transaction moves to Accepted for Timer L (64*T1) and does not
retransmit the 2xx itself - the TU (the dialog) does, through this transaction, until its ACK comes.
In Accepted, retransmitted INVITEs are absorbed silently (the TU's 2xx retransmissions answer them)
and any ACK that matches is passed to the TU. The initial delivery of the INVITE to the TU, and the
100 Trying, are the endpoint's doing (it needs the transaction key for the event).
"""

from __future__ import annotations

from enum import Enum

from softswitch.sip.timers import Timer
from softswitch.sip.transaction import Act, Action, Input, Machine, StartTimer, StopTimer

__all__ = ["MACHINE", "State"]


class State(Enum):
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


_FAIL: tuple[Action, ...] = (Act.REPORT_TRANSPORT_ERROR,)

TABLE: dict[tuple[State, Input], tuple[State, tuple[Action, ...]]] = {
    # Proceeding: a retransmitted INVITE gets the last provisional again (if any was sent).
    (State.PROCEEDING, Input.RETRANSMIT): (State.PROCEEDING, (Act.RESEND_RESPONSE,)),
    (State.PROCEEDING, Input.TU_PROVISIONAL): (State.PROCEEDING, (Act.SEND_RESPONSE,)),
    (State.PROCEEDING, Input.TU_2XX): (
        State.ACCEPTED,
        (Act.SEND_RESPONSE, StartTimer(Timer.L)),
    ),
    (State.PROCEEDING, Input.TU_NON2XX): (
        State.COMPLETED,
        (Act.SEND_RESPONSE, StartTimer(Timer.G), StartTimer(Timer.H)),
    ),
    (State.PROCEEDING, Input.TRANSPORT_ERROR): (State.TERMINATED, _FAIL),
    # Completed: wait for the ACK, retransmitting the final response (UDP) meanwhile.
    (State.COMPLETED, Input.RETRANSMIT): (State.COMPLETED, (Act.RESEND_RESPONSE,)),
    (State.COMPLETED, Input.TIMER_G): (
        State.COMPLETED,
        (Act.RESEND_RESPONSE, StartTimer(Timer.G)),
    ),
    (State.COMPLETED, Input.TIMER_H): (State.TERMINATED, (Act.REPORT_TIMEOUT,)),
    (State.COMPLETED, Input.ACK): (
        State.CONFIRMED,
        (StopTimer(Timer.G), StopTimer(Timer.H), StartTimer(Timer.I)),
    ),
    (State.COMPLETED, Input.TRANSPORT_ERROR): (State.TERMINATED, _FAIL),
    # Confirmed: only there to absorb ACK (and late INVITE) retransmissions until Timer I.
    (State.CONFIRMED, Input.ACK): (State.CONFIRMED, ()),
    (State.CONFIRMED, Input.RETRANSMIT): (State.CONFIRMED, ()),
    (State.CONFIRMED, Input.TIMER_I): (State.TERMINATED, ()),
    # Accepted (RFC 6026 §8.7).
    (State.ACCEPTED, Input.RETRANSMIT): (State.ACCEPTED, ()),
    (State.ACCEPTED, Input.ACK): (State.ACCEPTED, (Act.PASS_TO_TU,)),
    (State.ACCEPTED, Input.TU_2XX): (State.ACCEPTED, (Act.SEND_RESPONSE,)),
    (State.ACCEPTED, Input.TRANSPORT_ERROR): (State.ACCEPTED, _FAIL),
    (State.ACCEPTED, Input.TIMER_L): (State.TERMINATED, ()),
}

MACHINE: Machine[State] = Machine(
    name="INVITE server",
    initial=State.PROCEEDING,
    initial_actions=(),
    table=TABLE,
    terminated=State.TERMINATED,
    lingering=frozenset({State.CONFIRMED, State.ACCEPTED}),
)
