"""The non-INVITE server transaction (RFC 3261 §17.2.2).

Retransmitted requests are answered with the last response sent, or absorbed while nothing has been
sent yet (Trying). After the final response Timer J (64*T1 over UDP, zero over TCP/TLS) keeps the
transaction around to absorb retransmissions; further responses from the TU are discarded.

Every 2xx and non-2xx is final here: the non-INVITE server has no ACK and no Accepted state, which
is why the table has one entry per final class pointing at the same place.
"""

from __future__ import annotations

from enum import Enum

from softswitch.sip.timers import Timer
from softswitch.sip.transaction import Act, Action, Input, Machine, StartTimer

__all__ = ["MACHINE", "State"]


class State(Enum):
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


_FINAL: tuple[Action, ...] = (Act.SEND_RESPONSE, StartTimer(Timer.J))
_FAIL: tuple[Action, ...] = (Act.REPORT_TRANSPORT_ERROR,)

TABLE: dict[tuple[State, Input], tuple[State, tuple[Action, ...]]] = {
    # Trying: nothing sent yet, so a retransmitted request is simply absorbed.
    (State.TRYING, Input.RETRANSMIT): (State.TRYING, ()),
    (State.TRYING, Input.TU_PROVISIONAL): (State.PROCEEDING, (Act.SEND_RESPONSE,)),
    (State.TRYING, Input.TU_2XX): (State.COMPLETED, _FINAL),
    (State.TRYING, Input.TU_NON2XX): (State.COMPLETED, _FINAL),
    (State.PROCEEDING, Input.RETRANSMIT): (State.PROCEEDING, (Act.RESEND_RESPONSE,)),
    (State.PROCEEDING, Input.TU_PROVISIONAL): (State.PROCEEDING, (Act.SEND_RESPONSE,)),
    (State.PROCEEDING, Input.TU_2XX): (State.COMPLETED, _FINAL),
    (State.PROCEEDING, Input.TU_NON2XX): (State.COMPLETED, _FINAL),
    (State.PROCEEDING, Input.TRANSPORT_ERROR): (State.TERMINATED, _FAIL),
    (State.COMPLETED, Input.RETRANSMIT): (State.COMPLETED, (Act.RESEND_RESPONSE,)),
    (State.COMPLETED, Input.TIMER_J): (State.TERMINATED, ()),
    (State.COMPLETED, Input.TRANSPORT_ERROR): (State.TERMINATED, _FAIL),
}

MACHINE: Machine[State] = Machine(
    name="non-INVITE server",
    initial=State.TRYING,
    initial_actions=(),
    table=TABLE,
    terminated=State.TERMINATED,
    lingering=frozenset({State.COMPLETED}),
)
