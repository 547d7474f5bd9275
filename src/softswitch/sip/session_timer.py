"""Session timers (RFC 4028): negotiation per leg and its deadlines, pure (layer L1).

A B2BUA runs one session timer per leg: each peer negotiates with the switch on its own, so one
side may refresh with UPDATE every 45 s while the other does not support timers at all. This
module decides, from the messages and the parameters read when the call started
(:class:`TimerSettings`):

* what the switch offers on the leg it originates (``Session-Expires``/``Min-SE``, §7.1);
* whether an incoming INVITE's interval is too small (422 with our Min-SE, §9);
* the interval and refresher of the leg it receives (§9) and of the leg it originates, from
  the 2xx (§7.2);
* when the switch must refresh (every interval / SS_SIP_SESSION_UPDATE_SEGMENT seconds when it is
  the refresher; the RFC's "half the interval" is the default segment of 2, §7.4/§10);
* when a leg whose peer should refresh is given up: before the expiry by a margin (§10: "the
  minimum of 32 seconds and one third of the session interval" — the minimum, not the maximum),
  or SS_SIP_SESSION_TIMEOUT_EARLY_HANGUP seconds when set;
* what a refresh answer means (§10: a timeout, 408 or 481 ends the call; 422 asks for a larger
  interval; 405/501 to UPDATE means the peer wants re-INVITE).

Nothing here reads a clock: ``now`` comes in, deadlines (monotonic seconds) go out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from softswitch.sip.errors import ProtocolError
from softswitch.sip.message import Request, Response

__all__ = [
    "TIMER",
    "Due",
    "LegTimer",
    "Outcome",
    "Refresher",
    "TimerSettings",
    "answer_headers",
    "from_answer",
    "from_request",
    "min_se_for_422",
    "offer_headers",
    "refresh_headers",
    "refresh_outcome",
    "renegotiated",
    "supports_timer",
]

TIMER = "timer"
"""The option tag of RFC 4028 (§3)."""

_RFC_MARGIN_CAP = 32.0


@dataclass(frozen=True, slots=True)
class TimerSettings:
    """The session-timer parameters of one call, read once when it starts (so an API change
    applies to the next call): SS_SIP_SESSION_TTL, SS_SIP_SESSION_MIN_SE,
    SS_SIP_SESSION_UPDATE_SEGMENT, SS_SIP_SESSION_TIMEOUT_EARLY_HANGUP and
    SS_SIP_NO_TIMER_REINVITE_INTERVAL (0: no limit), in seconds."""

    ttl: int = 600
    min_se: int = 90
    segment: int = 2
    early_hangup: int = 0
    no_timer_limit: int = 7200

    @property
    def offered(self) -> int:
        """The interval we offer: SS_SIP_SESSION_TTL, but never below our own Min-SE (§4: a
        Session-Expires smaller than the Min-SE sent with it is a contradiction; the catalogue
        lets TTL go down to 60 while MIN_SE starts at 90)."""
        return max(self.ttl, self.min_se)

    def margin(self, interval: int) -> float:
        """How long before the expiry a leg whose peer refreshes is given up (§10).

        SS_SIP_SESSION_TIMEOUT_EARLY_HANGUP when set, else the RFC's min(32, interval/3); in
        both cases at most half the interval, so a peer refreshing at the half-way point the
        RFC recommends is never cut by an overly large setting."""
        wanted = (
            float(self.early_hangup)
            if self.early_hangup > 0
            else min(_RFC_MARGIN_CAP, interval / 3)
        )
        return min(wanted, interval / 2)


class Refresher(Enum):
    """Who refreshes one leg's session: the switch (``LOCAL``) or its peer (``REMOTE``)."""

    LOCAL = "local"
    REMOTE = "remote"


class Due(Enum):
    """What a leg's next deadline asks for."""

    REFRESH = "refresh"
    EXPIRE = "expire"


class Outcome(Enum):
    """What the final answer to a refresh of ours means (§10)."""

    REFRESHED = "refreshed"
    FATAL = "fatal"
    """Timeout, transport failure, 408 or 481: the session is gone; BYE both legs."""
    LARGER = "larger"
    """422: try again at once with the interval of its Min-SE (§7.3)."""
    USE_INVITE = "use-invite"
    """405 or 501 to UPDATE: the peer wants re-INVITE; send one now."""
    RETRY = "retry"
    """491: glare; try again shortly (RFC 3261 §14.1)."""
    IGNORED = "ignored"
    """Any other failure: the session was not refreshed; its expiry decides."""


@dataclass(frozen=True, slots=True)
class LegTimer:
    """The negotiated session timer of one leg.

    ``proof`` is the last proof of life: the answer, or the last successful refresh either way.
    ``update`` says the peer allows UPDATE (refreshes without touching the media, RFC 3311).
    ``pending`` is set while a refresh of ours awaits its answer."""

    interval: int
    refresher: Refresher
    proof: float
    update: bool = False
    pending: bool = False

    def refresh_at(self, settings: TimerSettings) -> float | None:
        """When the switch refreshes (None when the peer does, or a refresh is out)."""
        if self.refresher is not Refresher.LOCAL or self.pending:
            return None
        return self.proof + self.interval / max(2, settings.segment)

    def expires_at(self, settings: TimerSettings) -> float:
        """When the leg is given up. As refresher the switch waits out the whole interval (its
        own refresh fails earlier, by its answer or its transaction timeout); as the other side
        it hangs up the margin before (§10)."""
        if self.refresher is Refresher.LOCAL:
            return self.proof + self.interval
        return self.proof + self.interval - settings.margin(self.interval)

    def next_due(self, settings: TimerSettings) -> tuple[float, Due]:
        refresh = self.refresh_at(settings)
        if refresh is not None:
            return refresh, Due.REFRESH
        return self.expires_at(settings), Due.EXPIRE

    def refreshed(
        self, now: float, interval: int | None = None, refresher: Refresher | None = None
    ) -> LegTimer:
        """After a successful refresh (either way): a new proof of life, maybe a new interval
        or refresher (each refresh renegotiates, §7.4/§9)."""
        return replace(
            self,
            proof=now,
            interval=self.interval if interval is None else interval,
            refresher=self.refresher if refresher is None else refresher,
            pending=False,
        )

    def param(self, *, we_send_request: bool) -> str:
        """The refresher parameter in a message of a transaction: it names the transaction
        role of the refresher (§4), so it depends on who sent the request."""
        local = self.refresher is Refresher.LOCAL
        return "uac" if local == we_send_request else "uas"


# ---------------------------------------------------------------------------- negotiation
def supports_timer(message: Request | Response) -> bool:
    """Whether ``message`` says its sender supports session timers (Supported or Require)."""
    try:
        tags = (*message.supported, *message.require)
    except ProtocolError:
        return False
    return any(tag.lower() == TIMER for tag in tags)


def _allows_update(message: Request | Response) -> bool:
    return any(
        method.strip().upper() == "UPDATE"
        for value in message.get_all("allow")
        for method in value.split(",")
    )


def offer_headers(settings: TimerSettings) -> tuple[tuple[str, str], ...]:
    """Session-Expires and Min-SE of the INVITE the switch originates (§7.1). No refresher
    parameter: the UAS picks (§7.1 allows either); Supported: timer goes with the other
    option tags."""
    return (("Session-Expires", str(settings.offered)), ("Min-SE", str(settings.min_se)))


def min_se_for_422(request: Request, settings: TimerSettings) -> int | None:
    """The Min-SE of a 422 when ``request`` offers an interval below SS_SIP_SESSION_MIN_SE
    (§9); None when the interval is acceptable or there is none.

    Only a caller that supports timers gets 422: a Session-Expires without ``Supported: timer``
    was put there by a proxy, and a UAC that does not know the extension cannot retry (§8.1
    makes the same distinction for proxies). Such a caller is treated as not supporting timers.
    """
    try:
        offered = request.session_expires
    except ProtocolError:
        return None
    if offered is None or not supports_timer(request) or offered.delta >= settings.min_se:
        return None
    return settings.min_se


def from_request(request: Request, settings: TimerSettings, now: float) -> LegTimer | None:
    """The timer of the leg whose INVITE (or refresh) the switch answers (§9); None when the
    peer does not support timers (that leg has no session timer: the call falls under
    SS_SIP_NO_TIMER_REINVITE_INTERVAL).

    The interval is the request's, reduced to what we offer but never below the request's
    Min-SE; without one we propose ours. The refresher is the one the request names; when it
    names none the caller refreshes (``uac``): the peer knows best whether its session is
    alive, and the switch sends fewer requests.
    """
    if not supports_timer(request):
        return None
    try:
        offered = request.session_expires
        floor = max(settings.min_se, request.min_se or 0)
    except ProtocolError:
        return None
    ours = max(settings.offered, floor)
    interval = ours if offered is None else min(offered.delta, ours)
    refresher = Refresher.LOCAL if offered and offered.refresher == "uas" else Refresher.REMOTE
    return LegTimer(interval, refresher, now, update=_allows_update(request))


def answer_headers(timer: LegTimer | None) -> tuple[tuple[str, str], ...]:
    """What our 2xx to the peer's INVITE or refresh says (§9): Session-Expires with the
    refresher, and Require: timer (the peer supports it, so it may be required)."""
    if timer is None:
        return ()
    value = f"{timer.interval};refresher={timer.param(we_send_request=False)}"
    return (("Session-Expires", value), ("Require", TIMER))


def from_answer(response: Response, now: float) -> LegTimer | None:
    """The timer of the leg the switch originated, from the 2xx to its INVITE (§7.2); None when
    the 2xx has no Session-Expires (no session expiration on that leg)."""
    try:
        answered = response.session_expires
    except ProtocolError:
        return None
    if answered is None:
        return None
    # refresher=uas: the peer refreshes; uac (or, against §9, none): we do.
    refresher = Refresher.REMOTE if answered.refresher == "uas" else Refresher.LOCAL
    return LegTimer(max(1, answered.delta), refresher, now, update=_allows_update(response))


def refresh_headers(timer: LegTimer, settings: TimerSettings) -> tuple[tuple[str, str], ...]:
    """Session-Expires (with its refresher), Min-SE and Supported of a re-INVITE or UPDATE the
    switch sends on a leg with a timer: its refreshes, or another leg's request relayed
    (§7.4: a request without Session-Expires would turn the timer off)."""
    value = f"{timer.interval};refresher={timer.param(we_send_request=True)}"
    return (
        ("Session-Expires", value),
        ("Min-SE", str(settings.min_se)),
        ("Supported", TIMER),
    )


def renegotiated(timer: LegTimer, response: Response, now: float) -> LegTimer:
    """``timer`` after a 2xx to a re-INVITE/UPDATE of ours: the 2xx may change the interval
    or the refresher (§7.2)."""
    found = from_answer(response, now)
    if found is None:
        return timer.refreshed(now)
    return timer.refreshed(now, found.interval, found.refresher)


def refresh_outcome(status: int | None, method: str) -> Outcome:
    """The meaning of the final answer to our refresh (``status`` None: no answer at all or
    the transport failed) (§10)."""
    if status is None or status in (408, 481):
        return Outcome.FATAL
    if 200 <= status < 300:
        return Outcome.REFRESHED
    if status == 422:
        return Outcome.LARGER
    if method == "UPDATE" and status in (405, 501):
        return Outcome.USE_INVITE
    if status == 491:
        return Outcome.RETRY
    return Outcome.IGNORED
