"""What a call's CDR says about its duration (``calls.call``): the hold time from the answer,
whole seconds per SERVER_BILLING_HOLD_TIME_PRECISION, and nothing for a call the caller never
acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from softswitch.billing import billable_seconds
from softswitch.calls.build import Local
from softswitch.calls.call import Call, Leg
from softswitch.calls.ingress import Identified, Kind
from softswitch.cdr.record import TerminationReason
from softswitch.sip.events import Peer

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hold_ms", "precision_ms", "seconds"),
    [
        (0, 1000, 0),
        (999, 1000, 0),  # 1000: fractions never count
        (61_999, 1000, 61),
        (61_500, 500, 62),  # at least 500 ms over a whole second: one more second
        (61_499, 500, 61),
        (61_001, 0, 62),  # 0: any fraction counts
        (61_000, 0, 61),
    ],
)
def test_billable_seconds_follow_the_hold_time_precision(
    hold_ms: int, precision_ms: int, seconds: int
) -> None:
    assert billable_seconds(hold_ms, precision_ms) == seconds


def _answered_call(reason: TerminationReason) -> Call:
    local = Local("127.0.0.1", 5060)
    call = Call(
        id="c1",
        start_mono=100.0,
        start_wall=T0,
        ident=Identified(Kind.TRUNK, "1", "2", "1", "2", None),
        caller=Leg("caller", Peer("UDP", "127.0.0.2", 5060), local),
        inbound=None,
        inbound_key=None,
        to_tag="t",
    )
    call.answer_mono, call.answer_wall = 101.0, T0
    call.end_mono, call.end_wall = 133.25, T0
    call.reason, call.hangup_side = reason, "caller"
    return call


def test_hold_time_runs_from_answer_to_end() -> None:
    record = _answered_call(TerminationReason.CALLER_HANGUP).cdr(200.0, 1000)
    assert (record["hold_time_ms"], record["billed_seconds"]) == (32_250, 32)


def test_a_call_whose_answer_was_never_acknowledged_is_not_billed() -> None:
    record = _answered_call(TerminationReason.ACK_TIMEOUT).cdr(200.0, 1000)
    assert (record["hold_time_ms"], record["billed_seconds"]) == (0, 0)
    assert record["termination_reason"] == "AckTimeout"
