"""Gateway hunting (issue 4 §3): failover decisions, limits and the caller's final status."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.calls import (
    Answered,
    CallerCancelled,
    Connect,
    Decision,
    EarlyMedia,
    Event,
    FinalResponse,
    Hunt,
    HuntingError,
    HuntingPolicy,
    HuntState,
    RtpStarted,
    Stop,
    StopReason,
    Timeout,
    TryNext,
    Wait,
    is_failover_status,
    select_caller_status,
)

NONE: frozenset[int] = frozenset()
POLICY = HuntingPolicy(invite_timeout_ms=30000, switch_limit=5, stop_after_rtp_start=True)


def hunt_of(n: int, policy: HuntingPolicy = POLICY, codes: frozenset[int] = NONE) -> Hunt:
    return Hunt(policy, [codes] * n)


@dataclass(frozen=True)
class Scenario:
    name: str
    events: tuple[Event, ...]
    expected: type[TryNext | Stop | Connect | Wait]
    reason: StopReason | None = None
    status: int | None = None
    policy: HuntingPolicy = POLICY
    codes: frozenset[int] = NONE
    gateways: int = 3


SCENARIOS = [
    Scenario("timeout -> next", (Timeout(),), TryNext),
    Scenario("408 -> next", (FinalResponse(408),), TryNext),
    Scenario("503 -> next", (FinalResponse(503),), TryNext),
    Scenario("500 -> next", (FinalResponse(500),), TryNext),
    Scenario("486 -> busy", (FinalResponse(486),), Stop, StopReason.BUSY, 486),
    Scenario("600 -> busy", (FinalResponse(600),), Stop, StopReason.BUSY, 600),
    Scenario("487 -> cancelled", (FinalResponse(487),), Stop, StopReason.CANCELLED, 487),
    Scenario("404 -> rejected", (FinalResponse(404),), Stop, StopReason.REJECTED, 404),
    Scenario(
        "configured failover code -> next",
        (FinalResponse(404),),
        TryNext,
        codes=frozenset({404, 403}),
    ),
    Scenario(
        "configured code cannot override busy",
        (FinalResponse(486),),
        Stop,
        StopReason.BUSY,
        486,
        codes=frozenset({486}),
    ),
    Scenario(
        "183 with SDP then 503, stop-after-RTP On -> stop",
        (EarlyMedia(), FinalResponse(503)),
        Stop,
        StopReason.MEDIA_STARTED,
        500,
    ),
    Scenario(
        "183 with SDP then 503, stop-after-RTP Off -> next",
        (EarlyMedia(), FinalResponse(503)),
        TryNext,
        policy=HuntingPolicy(stop_after_rtp_start=False),
    ),
    Scenario(
        "RTP then timeout, stop-after-RTP On -> stop",
        (RtpStarted(), Timeout()),
        Stop,
        StopReason.MEDIA_STARTED,
        408,
    ),
    Scenario("early media alone -> wait", (EarlyMedia(),), Wait),
    Scenario("200 -> connect", (Answered(),), Connect),
    Scenario("caller CANCEL -> 487", (CallerCancelled(),), Stop, StopReason.CANCELLED, 487),
    Scenario(
        "last gateway 503 -> exhausted",
        (FinalResponse(503),),
        Stop,
        StopReason.GATEWAYS_EXHAUSTED,
        500,
        gateways=1,
    ),
    Scenario(
        "switch limit 0 means the first gateway only",
        (FinalResponse(503),),
        Stop,
        StopReason.LIMIT_REACHED,
        500,
        policy=HuntingPolicy(switch_limit=0),
    ),
    Scenario(
        "switch limit 1 means the first gateway only",
        (Timeout(),),
        Stop,
        StopReason.LIMIT_REACHED,
        408,
        policy=HuntingPolicy(switch_limit=1),
    ),
]


@pytest.mark.parametrize("case", SCENARIOS, ids=lambda c: c.name)
def test_scenario(case: Scenario) -> None:
    hunt = Hunt(case.policy, [case.codes] * case.gateways)
    first = hunt.start(now=100.0)
    assert first == TryNext(0, 100.0 + case.policy.invite_timeout)
    decision = None
    for event in case.events:
        decision = hunt.handle(event, now=110.0)
    assert isinstance(decision, case.expected)
    if isinstance(decision, Stop):
        assert decision.reason is case.reason
        assert decision.status == case.status
        assert hunt.state is HuntState.STOPPED
    if isinstance(decision, TryNext):
        assert decision.index == 1
        assert decision.deadline == 110.0 + case.policy.invite_timeout


def test_timeout_cancels_the_pending_invite_but_a_final_answer_does_not() -> None:
    hunt = hunt_of(3)
    hunt.start(0.0)
    after_timeout = hunt.handle(Timeout(), 30.0)
    assert after_timeout == TryNext(1, 60.0, cancel_current=True)
    after_503 = hunt.handle(FinalResponse(503), 31.0)
    assert after_503 == TryNext(2, 61.0, cancel_current=False)


def test_deadline_fires_only_when_due() -> None:
    hunt = hunt_of(2, HuntingPolicy(invite_timeout_ms=2000))
    hunt.start(10.0)
    assert hunt.next_deadline() == 12.0
    assert hunt.handle_deadline(11.999) == Wait(12.0)
    assert hunt.handle_deadline(12.0) == TryNext(1, 14.0, cancel_current=True)
    assert hunt.next_deadline() == 14.0


def test_limit_reached_after_exactly_limit_attempts() -> None:
    hunt = hunt_of(10, HuntingPolicy(switch_limit=3))
    decisions: list[Decision] = [hunt.start(0.0)]
    for t in (1.0, 2.0, 3.0):
        decisions.append(hunt.handle(FinalResponse(503), t))
    assert [type(d) for d in decisions] == [TryNext, TryNext, TryNext, Stop]
    final = decisions[-1]
    assert isinstance(final, Stop) and final.reason is StopReason.LIMIT_REACHED
    assert [a.index for a in hunt.attempts] == [0, 1, 2]


def test_no_gateway_at_all_gives_503() -> None:
    hunt = hunt_of(0)
    assert hunt.start(0.0) == Stop(StopReason.NO_GATEWAY, 503)
    assert hunt.finished


def test_attempt_records_carry_answers_for_the_cdr() -> None:
    hunt = hunt_of(3)
    hunt.start(0.0)
    hunt.handle(Timeout(), 30.0)
    hunt.handle(EarlyMedia(), 31.0)
    pending = hunt.attempts[-1]
    assert (pending.index, pending.status, pending.early_media) == (1, None, True)
    hunt.handle(Answered(), 35.0)
    first, second = hunt.attempts
    assert (first.status, first.timed_out, first.ended_at) == (408, True, 30.0)
    assert (second.status, second.early_media, second.ended_at) == (None, True, 35.0)
    assert hunt.state is HuntState.CONNECTED


def test_events_outside_an_attempt_are_refused() -> None:
    hunt = hunt_of(1)
    with pytest.raises(HuntingError):
        hunt.handle(Timeout(), 0.0)
    hunt.start(0.0)
    hunt.handle(Answered(), 1.0)
    with pytest.raises(HuntingError):
        hunt.handle(FinalResponse(503), 2.0)
    with pytest.raises(HuntingError):
        hunt.start(3.0)


def test_policy_and_event_validation() -> None:
    with pytest.raises(ValueError):
        HuntingPolicy(switch_limit=-1)
    with pytest.raises(ValueError):
        HuntingPolicy(invite_timeout_ms=0)
    with pytest.raises(ValueError):
        FinalResponse(200)
    assert HuntingPolicy().invite_timeout == 30.0


@pytest.mark.parametrize(
    ("status", "codes", "expected"),
    [
        (408, NONE, True),
        (500, NONE, True),
        (599, NONE, True),
        (404, NONE, False),
        (404, frozenset({404}), True),
        (486, frozenset({486}), False),
        (487, frozenset({487}), False),
        (600, frozenset({600}), False),
        (603, frozenset({603}), True),
        (302, NONE, False),
    ],
)
def test_is_failover_status(status: int, codes: frozenset[int], expected: bool) -> None:
    assert is_failover_status(status, codes) is expected


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], 503),  # no gateway at all
        ([503], 500),  # a carrier's 503 must not say the switch is unavailable
        ([408, 408], 408),
        ([503, 404], 404),  # lowest class wins
        ([404, 503], 404),
        ([404, 603, 480], 603),  # 6xx beats everything
        ([480, 484, 404], 484),  # 484 tells the caller what to change
        ([480, 415, 404], 415),
        ([480, 404], 404),  # otherwise the latest answer of the class
        ([404, 480], 480),
        ([407], 500),  # our leg's credentials are not the caller's business
        ([302, 503], 480),  # redirects are not followed nor passed on
        ([500, 502, 504], 504),
        ([503, 503], 500),
    ],
)
def test_select_caller_status(statuses: list[int], expected: int) -> None:
    assert select_caller_status(statuses) == expected


def test_caller_status_after_mixed_attempts() -> None:
    hunt = hunt_of(4, codes=frozenset({404}))
    hunt.start(0.0)
    hunt.handle(FinalResponse(503), 1.0)
    hunt.handle(FinalResponse(404), 2.0)
    hunt.handle(Timeout(), 32.0)
    assert hunt.handle(FinalResponse(502), 33.0) == Stop(StopReason.GATEWAYS_EXHAUSTED, 408)


def test_definitive_answer_reaches_the_caller_unchanged() -> None:
    # 484 and 603 are configured failover codes here; they must not mask the later busy.
    hunt = hunt_of(4, codes=frozenset({484, 603}))
    hunt.start(0.0)
    hunt.handle(FinalResponse(484), 1.0)
    hunt.handle(FinalResponse(603), 2.0)
    assert hunt.handle(FinalResponse(486), 3.0) == Stop(StopReason.BUSY, 486)


def test_rejection_with_a_redirect_is_normalised() -> None:
    hunt = hunt_of(2)
    hunt.start(0.0)
    assert hunt.handle(FinalResponse(302), 1.0) == Stop(StopReason.REJECTED, 480)


# --- properties over random event sequences ----------------------------------------------------

STATUSES = st.sampled_from([404, 408, 480, 484, 486, 487, 500, 502, 503, 600, 603])
EVENTS: st.SearchStrategy[Event] = st.one_of(
    st.just(Timeout()),
    STATUSES.map(FinalResponse),
    st.just(EarlyMedia()),
    st.just(RtpStarted()),
    st.just(Answered()),
    st.just(CallerCancelled()),
)


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(EVENTS, max_size=40),
    gateways=st.integers(0, 8),
    limit=st.integers(0, 6),
    stop_after_rtp=st.booleans(),
    codes=st.frozensets(STATUSES, max_size=4),
)
def test_random_sequences_respect_limit_and_never_hunt_past_busy(
    events: list[Event], gateways: int, limit: int, stop_after_rtp: bool, codes: frozenset[int]
) -> None:
    policy = HuntingPolicy(switch_limit=limit, stop_after_rtp_start=stop_after_rtp)
    hunt = Hunt(policy, [codes] * gateways)
    decision: Decision = hunt.start(0.0)
    tried = 1 if isinstance(decision, TryNext) else 0
    now = 0.0
    media = False
    for event in events:
        if hunt.finished:
            break
        now += 1.0
        decision = hunt.handle(event, now)
        busy = isinstance(event, FinalResponse) and event.status in (486, 600, 487)
        if isinstance(event, CallerCancelled) or busy:
            assert isinstance(decision, Stop), "never TryNext after busy or cancel"
        if isinstance(event, EarlyMedia | RtpStarted):
            media = True
        if isinstance(decision, TryNext):
            assert not (media and stop_after_rtp), "no failover after early media"
            tried += 1
            media = False
        assert tried <= policy.max_attempts
        assert tried <= gateways
    assert len(hunt.attempts) == tried
    if isinstance(decision, Stop):
        assert 300 <= decision.status <= 699
