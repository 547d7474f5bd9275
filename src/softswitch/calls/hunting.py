"""Gateway hunting: the failover policy of one call, as a pure state machine (issue 4 §3).

Call control tries the routing gateways of a call one after another. This module decides, from
the events of the current attempt, whether to wait, to try the next gateway, to connect, or to
give up, and which final status the caller then gets. It does no I/O and reads no clock: time
comes in as ``now`` (monotonic seconds) and the INVITE timeout is returned as a deadline the
driver arms (the same shape as the SIP core's ``next_deadline`` / ``handle_deadlines``).

Rules (parameters arrive through :class:`HuntingPolicy`, built by the service from ``params``):

* Fail over on no final answer within ``SS_SIP_INVITE_TIMEOUT`` (the attempt is cancelled, and
  counts as a 408 as RFC 3261 §16.8 has a proxy do for a timed-out branch), on 408, on any 5xx,
  and on the gateway's own configured failover codes.
* Never fail over on 486 or 600 (the callee is busy: another carrier reaches the same busy
  phone, RFC 3261 §21.4.24 / §21.6.1) nor on 487 (the request was cancelled, §9.2); a
  configured failover code cannot override these.
* With ``SS_GATEWAY_SWITCH_STOP_AFTER_RTP_START`` On, never fail over once the attempt has sent
  early media (183 with SDP, RFC 3261 §13.3.1.1) or RTP has started: the caller already hears
  this carrier and a switch would give one-way or crossed audio.
* At most ``SS_GATEWAY_SWITCH_LIMIT`` attempts. ``0`` is read as "no failover": only the first
  gateway is tried. The catalogue range is 0-100 and the VOS3000 guide calls the parameter the
  "max failover attempts per call" without giving 0 a meaning; "unlimited" would let one call
  walk every gateway of a long route list (minutes of post-dial delay), so the safe reading is
  chosen. For 1-100 the value is the total number of gateways tried.

A 2xx ends the hunt (:class:`Connect`). A final response that is none of the above (404, 403,
3xx, 6xx other than 600 ...) stops the hunt: it is the carrier's statement about the callee.
The caller's final status is that definitive answer, or, when every answer said "try
elsewhere", the best of them (:func:`select_caller_status`, RFC 3261 §16.7 adapted); 503 when
there was no gateway at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "NEVER_FAILOVER",
    "Answered",
    "AttemptRecord",
    "CallerCancelled",
    "Connect",
    "Decision",
    "EarlyMedia",
    "Event",
    "FinalResponse",
    "Hunt",
    "HuntState",
    "HuntingError",
    "HuntingPolicy",
    "RtpStarted",
    "Stop",
    "StopReason",
    "Timeout",
    "TryNext",
    "Wait",
    "is_failover_status",
    "select_caller_status",
]

# Busy (486, 600) and cancelled (487): definitive answers no other carrier can improve on.
NEVER_FAILOVER: frozenset[int] = frozenset({486, 487, 600})
_TIMEOUT_STATUS = 408
_NO_GATEWAY_STATUS = 503


class HuntingError(Exception):
    """The driver used a :class:`Hunt` out of order (an event before ``start`` or after the end).

    A programming error, not a call outcome: business outcomes are :class:`Decision` values.
    """


@dataclass(frozen=True, slots=True)
class HuntingPolicy:
    """The parameter values hunting needs, decoupled from ``softswitch.params``.

    Field names mirror SS_SIP_INVITE_TIMEOUT (ms), SS_GATEWAY_SWITCH_LIMIT and
    SS_GATEWAY_SWITCH_STOP_AFTER_RTP_START; defaults are the catalogue defaults.
    """

    invite_timeout_ms: int = 30000
    switch_limit: int = 5
    stop_after_rtp_start: bool = True

    def __post_init__(self) -> None:
        if self.invite_timeout_ms <= 0:
            raise ValueError(f"invite_timeout_ms must be positive, got {self.invite_timeout_ms}")
        if self.switch_limit < 0:
            raise ValueError(f"switch_limit must be 0 or more, got {self.switch_limit}")

    @property
    def invite_timeout(self) -> float:
        """The INVITE timeout in seconds, the unit of ``now``."""
        return self.invite_timeout_ms / 1000.0

    @property
    def max_attempts(self) -> int:
        """Gateways tried at most; a switch limit of 0 means the first gateway only."""
        return max(1, self.switch_limit)


# --- events of the current attempt -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timeout:
    """No final answer within the INVITE timeout (the driver's timer fired)."""


@dataclass(frozen=True, slots=True)
class FinalResponse:
    """A non-2xx final response (300-699) from the current gateway."""

    status: int

    def __post_init__(self) -> None:
        if not 300 <= self.status <= 699:
            raise ValueError(f"a failure final response is 300-699, got {self.status}")


@dataclass(frozen=True, slots=True)
class EarlyMedia:
    """A provisional response with SDP (typically 183) from the current gateway."""


@dataclass(frozen=True, slots=True)
class RtpStarted:
    """RTP from the current gateway reached the switch."""


@dataclass(frozen=True, slots=True)
class Answered:
    """A 2xx final response from the current gateway."""


@dataclass(frozen=True, slots=True)
class CallerCancelled:
    """The caller cancelled its INVITE (CANCEL, RFC 3261 §9.2)."""


Event = Timeout | FinalResponse | EarlyMedia | RtpStarted | Answered | CallerCancelled


# --- decisions ---------------------------------------------------------------------------------


class StopReason(Enum):
    """Why hunting ended without an answer; the service maps it to a CDR termination reason."""

    NO_GATEWAY = "no gateway to try"
    BUSY = "callee busy (486/600)"
    CANCELLED = "cancelled (caller CANCEL or 487)"
    REJECTED = "final answer that does not allow failover"
    MEDIA_STARTED = "failure after early media or RTP; failover forbidden"
    LIMIT_REACHED = "SS_GATEWAY_SWITCH_LIMIT attempts made"
    GATEWAYS_EXHAUSTED = "every candidate gateway tried"


@dataclass(frozen=True, slots=True)
class Wait:
    """Keep waiting for the current gateway; arm the timer for ``deadline`` (or none)."""

    deadline: float | None


@dataclass(frozen=True, slots=True)
class TryNext:
    """Send the INVITE to candidate ``index``; its INVITE timeout falls at ``deadline``.

    ``cancel_current`` asks the driver to CANCEL the abandoned attempt first (after a timeout
    the INVITE is still pending; after a final response there is nothing to cancel).
    """

    index: int
    deadline: float
    cancel_current: bool = False


@dataclass(frozen=True, slots=True)
class Connect:
    """Candidate ``index`` answered: bridge the legs. (Named so it does not shadow the
    :class:`Answered` event.)"""

    index: int


@dataclass(frozen=True, slots=True)
class Stop:
    """Hunting is over without an answer: send ``status`` to the caller."""

    reason: StopReason
    status: int
    cancel_current: bool = False


Decision = Wait | TryNext | Connect | Stop


class HuntState(Enum):
    """Where the hunt is; ``EARLY_MEDIA`` is ``TRYING`` after early media or RTP was seen."""

    READY = "ready"
    TRYING = "trying"
    EARLY_MEDIA = "early media"
    CONNECTED = "connected"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempted gateway, for the CDR: its answer (``None`` while pending) and timing."""

    index: int
    started_at: float
    ended_at: float | None = None
    status: int | None = None
    timed_out: bool = False
    early_media: bool = False


def is_failover_status(status: int, failover_codes: frozenset[int] = frozenset()) -> bool:
    """True when a final ``status`` lets the hunt move on to the next gateway.

    408 and 5xx always do (the gateway, not the callee, failed); ``failover_codes`` are the
    gateway's configured extras; :data:`NEVER_FAILOVER` wins over both.
    """
    if status in NEVER_FAILOVER:
        return False
    return status == _TIMEOUT_STATUS or 500 <= status <= 599 or status in failover_codes


# --- best response -----------------------------------------------------------------------------

# Answers about the switch's own leg to the carrier (its credentials, extensions, session-timer
# or header limits) mean nothing to the caller, who cannot fix them: the caller gets 500.
_LEG_LOCAL = frozenset({401, 407, 420, 421, 422, 494})
# 4xx answers that tell the caller how to resubmit (RFC 3261 §16.7 step 6 lists 401, 407, 415,
# 420 and 484; of those only the body and the number are the caller's business across a B2BUA).
_PREFERRED_4XX = (484, 415)


def _normalise(status: int) -> int:
    if status in _LEG_LOCAL:
        return 500
    if 300 <= status <= 399:
        # The switch does not follow a carrier's redirect, and passing it on would hand the
        # customer the carrier's address: to the caller the callee is just not reachable.
        return 480
    return status


def select_caller_status(statuses: Iterable[int]) -> int:
    """The final status the caller gets when hunting ends without an answer.

    ``statuses`` are the failure answers of every attempt in order (408 for a timed-out one).
    :class:`Hunt` applies it to all attempts when the hunt ran out (limit, last gateway, media
    started), and to the single stopping answer when that answer was definitive (so a busy
    callee is reported busy even if an earlier carrier answered 484 or 6xx).
    RFC 3261 §16.7 step 6 (choosing the best response), adapted to a B2BUA:

    1. no attempt at all: 503 (the switch has no gateway for the call);
    2. leg-local answers (401, 407, 420, 421, 422, 494) become 500, redirects (3xx) become 480;
    3. a 6xx if there is one (global failures are definitive), else the lowest class;
    4. inside 4xx, 484 then 415 are preferred (they tell the caller what to change);
       otherwise the latest answer of the chosen class (the carrier nearest the end of the
       route list, which is also what the CDR shows as the last gateway's answer);
    5. a chosen 503 becomes 500: a 503 tells the caller's server that *this* switch is
       unavailable (RFC 3261 §21.5.4), which would divert all its traffic, not just this call.
    """
    answers = [_normalise(status) for status in statuses]
    if not answers:
        return _NO_GATEWAY_STATUS
    for status in answers:
        if not 300 <= status <= 699:
            raise ValueError(f"not a failure final status: {status}")
    six = [status for status in answers if status >= 600]
    if six:
        chosen = six[-1]
    else:
        lowest = min(status // 100 for status in answers)
        in_class = [status for status in answers if status // 100 == lowest]
        preferred = [code for code in _PREFERRED_4XX if code in in_class] if lowest == 4 else []
        chosen = preferred[0] if preferred else in_class[-1]
    return 500 if chosen == 503 else chosen


# --- the machine -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Current:
    index: int
    started_at: float
    deadline: float
    media: bool = False


@dataclass(slots=True)
class Hunt:
    """The hunting state of one call.

    ``candidates`` holds, per routing gateway in the order routing chose, that gateway's
    configured failover codes. Use: ``start(now)``, then ``handle(event, now)`` for each event
    of the current attempt (the driver drops events of abandoned attempts: a late 2xx to a
    cancelled INVITE is the driver's to ACK and BYE, RFC 3261 §9.1), and
    ``handle_deadline(now)`` when the armed timer fires.
    """

    policy: HuntingPolicy
    candidates: Sequence[frozenset[int]]
    state: HuntState = field(default=HuntState.READY, init=False)
    _records: list[AttemptRecord] = field(default_factory=list, init=False)
    _current: _Current | None = field(default=None, init=False)

    @property
    def attempts(self) -> tuple[AttemptRecord, ...]:
        """Every attempt so far, the pending one last (its ``status`` is ``None``)."""
        records = list(self._records)
        if self._current is not None and self.state in (HuntState.TRYING, HuntState.EARLY_MEDIA):
            cur = self._current
            records.append(AttemptRecord(cur.index, cur.started_at, early_media=cur.media))
        return tuple(records)

    @property
    def finished(self) -> bool:
        """True once the hunt connected or stopped; it takes no more events."""
        return self.state in (HuntState.CONNECTED, HuntState.STOPPED)

    def next_deadline(self) -> float | None:
        """When the current attempt's INVITE timeout fires, or ``None`` when nothing is pending."""
        if self._current is None or self.finished:
            return None
        return self._current.deadline

    def start(self, now: float) -> TryNext | Stop:
        """Begin with the first candidate, or stop at once with 503 when there is none."""
        if self.state is not HuntState.READY:
            raise HuntingError(f"start() called in state {self.state.name}")
        if not self.candidates:
            self.state = HuntState.STOPPED
            return Stop(StopReason.NO_GATEWAY, _NO_GATEWAY_STATUS)
        return self._begin(0, now, cancel_current=False)

    def handle_deadline(self, now: float) -> Decision:
        """Fire the INVITE timeout if it is due at ``now``; otherwise keep waiting."""
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return Wait(deadline)
        return self.handle(Timeout(), now)

    def handle(self, event: Event, now: float) -> Decision:
        """Apply one event of the current attempt and say what to do next."""
        if self.state in (HuntState.READY, HuntState.CONNECTED, HuntState.STOPPED):
            raise HuntingError(f"{type(event).__name__} in state {self.state.name}")
        cur = self._current
        assert cur is not None  # TRYING and EARLY_MEDIA always have a current attempt
        if isinstance(event, EarlyMedia | RtpStarted):
            cur.media = True
            self.state = HuntState.EARLY_MEDIA
            return Wait(cur.deadline)
        if isinstance(event, Answered):
            self._close(now, status=None)
            self.state = HuntState.CONNECTED
            return Connect(cur.index)
        if isinstance(event, CallerCancelled):
            # The caller's INVITE gets 487 whatever the gateways said (RFC 3261 §9.2).
            self._close(now, status=None)
            return self._stop(StopReason.CANCELLED, 487, cancel_current=True)
        if isinstance(event, Timeout):
            self._close(now, status=_TIMEOUT_STATUS, timed_out=True)
            return self._after_failure(_TIMEOUT_STATUS, cur, now, cancel=True)
        self._close(now, status=event.status)
        return self._after_failure(event.status, cur, now, cancel=False)

    # -- internals ---------------------------------------------------------------------------

    def _begin(self, index: int, now: float, *, cancel_current: bool) -> TryNext:
        deadline = now + self.policy.invite_timeout
        self._current = _Current(index, now, deadline)
        self.state = HuntState.TRYING
        return TryNext(index, deadline, cancel_current)

    def _close(self, now: float, *, status: int | None, timed_out: bool = False) -> None:
        cur = self._current
        assert cur is not None
        self._records.append(
            AttemptRecord(cur.index, cur.started_at, now, status, timed_out, cur.media)
        )

    def _stop(self, reason: StopReason, status: int, *, cancel_current: bool) -> Stop:
        self.state = HuntState.STOPPED
        return Stop(reason, status, cancel_current)

    def _caller_status(self) -> int:
        return select_caller_status(r.status for r in self._records if r.status is not None)

    def _after_failure(self, status: int, cur: _Current, now: float, *, cancel: bool) -> Decision:
        # A definitive answer (busy, cancelled, or one that allows no failover) is the callee's
        # own statement and reaches the caller as it is (only normalised); the best-response
        # choice is for hunts that end on answers which all said "try elsewhere".
        if status in (486, 600):
            return self._stop(StopReason.BUSY, status, cancel_current=cancel)
        if status == 487:
            return self._stop(StopReason.CANCELLED, 487, cancel_current=cancel)
        if not is_failover_status(status, self.candidates[cur.index]):
            own = select_caller_status([status])
            return self._stop(StopReason.REJECTED, own, cancel_current=cancel)
        if cur.media and self.policy.stop_after_rtp_start:
            reason = StopReason.MEDIA_STARTED
        elif cur.index + 1 >= len(self.candidates):
            reason = StopReason.GATEWAYS_EXHAUSTED
        elif len(self._records) >= self.policy.max_attempts:
            reason = StopReason.LIMIT_REACHED
        else:
            return self._begin(cur.index + 1, now, cancel_current=cancel)
        return self._stop(reason, self._caller_status(), cancel_current=cancel)
