"""The INVITE client transaction (RFC 3261 §17.1.1, amended by RFC 6026 §8.4), and the requests it
derives from its INVITE: the ACK of a non-2xx final response (§17.1.1.3) and CANCEL (§9.1).

RFC 6026 changes one thing that matters to a B2BUA: a 2xx no longer destroys the transaction. It
moves to Accepted for Timer M (64*T1) so that 2xx retransmissions, and the 2xx of other forks, still
find a home and are passed to the TU, which ACKs each of them itself (the ACK to a 2xx is not part
of the transaction).
"""

from __future__ import annotations

from enum import Enum

from softswitch.sip.message import HeaderField, Request, Response
from softswitch.sip.timers import Timer
from softswitch.sip.transaction import Act, Action, Input, Machine, StartTimer, StopTimer

__all__ = ["MACHINE", "State", "make_ack", "make_cancel"]


class State(Enum):
    CALLING = "Calling"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


_LEAVE_CALLING: tuple[Action, ...] = (StopTimer(Timer.A), StopTimer(Timer.B))
_ACCEPT: tuple[Action, ...] = (Act.PASS_TO_TU, StartTimer(Timer.M))
_COMPLETE: tuple[Action, ...] = (Act.SEND_ACK, Act.PASS_TO_TU, StartTimer(Timer.D))
_FAIL: tuple[Action, ...] = (Act.REPORT_TRANSPORT_ERROR,)

TABLE: dict[tuple[State, Input], tuple[State, tuple[Action, ...]]] = {
    # Calling: retransmit on A (UDP only), give up on B (the TU acts as if 408, §8.1.3.1).
    (State.CALLING, Input.TIMER_A): (State.CALLING, (Act.SEND_REQUEST, StartTimer(Timer.A))),
    (State.CALLING, Input.TIMER_B): (State.TERMINATED, (Act.REPORT_TIMEOUT,)),
    (State.CALLING, Input.PROVISIONAL): (State.PROCEEDING, (*_LEAVE_CALLING, Act.PASS_TO_TU)),
    (State.CALLING, Input.FINAL_2XX): (State.ACCEPTED, (*_LEAVE_CALLING, *_ACCEPT)),
    (State.CALLING, Input.FINAL_NON2XX): (State.COMPLETED, (*_LEAVE_CALLING, *_COMPLETE)),
    (State.CALLING, Input.TRANSPORT_ERROR): (State.TERMINATED, _FAIL),
    # Proceeding: no more retransmissions; how long to ring is the TU's call (no Timer B here).
    (State.PROCEEDING, Input.PROVISIONAL): (State.PROCEEDING, (Act.PASS_TO_TU,)),
    (State.PROCEEDING, Input.FINAL_2XX): (State.ACCEPTED, _ACCEPT),
    (State.PROCEEDING, Input.FINAL_NON2XX): (State.COMPLETED, _COMPLETE),
    # A stream that dies while we wait would otherwise leave the TU waiting forever (§17.1.4).
    (State.PROCEEDING, Input.TRANSPORT_ERROR): (State.TERMINATED, _FAIL),
    # Completed: a retransmitted final response is absorbed and ACKed again, not passed up.
    (State.COMPLETED, Input.FINAL_NON2XX): (State.COMPLETED, (Act.SEND_ACK,)),
    (State.COMPLETED, Input.TIMER_D): (State.TERMINATED, ()),
    (State.COMPLETED, Input.TRANSPORT_ERROR): (State.TERMINATED, _FAIL),
    # Accepted (RFC 6026): every further 2xx goes to the TU; late 1xx are ignored.
    (State.ACCEPTED, Input.FINAL_2XX): (State.ACCEPTED, (Act.PASS_TO_TU,)),
    (State.ACCEPTED, Input.TIMER_M): (State.TERMINATED, ()),
}

MACHINE: Machine[State] = Machine(
    name="INVITE client",
    initial=State.CALLING,
    initial_actions=(Act.SEND_REQUEST, StartTimer(Timer.A), StartTimer(Timer.B)),
    table=TABLE,
    terminated=State.TERMINATED,
    lingering=frozenset({State.COMPLETED, State.ACCEPTED}),
)


def _first_via(request: Request) -> HeaderField:
    """The top Via alone: a line of its own, kept verbatim when it already is one."""
    for item in request.headers:
        if item.key == "via":
            if "," not in item.value:
                return item
            break
    return HeaderField.make("Via", str(request.top_via))


def _derived(invite: Request, method: str, to: HeaderField) -> Request:
    """A request that shares the INVITE's identity (§9.1, §17.1.1.3): same Request-URI, Call-ID,
    From, CSeq number, top Via and Route set; only the method, To and body differ."""
    fields: list[HeaderField] = [_first_via(invite)]
    max_forwards = invite.get("max-forwards")
    fields.append(HeaderField.make("Max-Forwards", max_forwards or "70"))
    for item in invite.headers:
        if item.key in ("from", "call-id", "route"):
            fields.append(item)
    fields.append(to)
    fields.append(HeaderField.make("CSeq", f"{invite.cseq.seq} {method}"))
    fields.append(HeaderField.make("Content-Length", "0"))
    return Request(method, invite.uri, fields)


def _to_field(message: Request | Response) -> HeaderField:
    for item in message.headers:
        if item.key == "to":
            return item
    return HeaderField.make("To", str(message.to))


def make_ack(invite: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response to ``invite`` (§17.1.1.3).

    Same Request-URI, Call-ID, From, top Via (so the same branch) and Route headers as the INVITE;
    To from the response (it carries the UAS's tag); CSeq number of the INVITE with method ACK.
    """
    return _derived(invite, "ACK", _to_field(response))


def make_cancel(invite: Request) -> Request:
    """A CANCEL for ``invite`` (§9.1): it names the INVITE by reusing its branch, To and CSeq
    number.

    The TU sends it with ``Endpoint.send_request``; it is a non-INVITE transaction of its own. §9.1
    forbids sending it before a provisional response arrived: that timing is the TU's to respect.
    """
    return _derived(invite, "CANCEL", _to_field(invite))
