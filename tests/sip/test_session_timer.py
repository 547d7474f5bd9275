"""Session-timer policy (RFC 4028) with a fake clock: offers, 422, refresher tables, exact
deadlines, refresh outcomes."""

from __future__ import annotations

import pytest

from softswitch.calls.sessions import same_sdp
from softswitch.sip import Request, Response, parse_message
from softswitch.sip.session_timer import (
    Due,
    LegTimer,
    Outcome,
    Refresher,
    TimerSettings,
    answer_headers,
    from_answer,
    from_request,
    min_se_for_422,
    offer_headers,
    refresh_headers,
    refresh_outcome,
    renegotiated,
)

DEFAULTS = TimerSettings()


def _invite(*headers: str) -> Request:
    lines = [
        "INVITE sip:4420@127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-st-1",
        "Max-Forwards: 70",
        "From: <sip:5551000@127.0.0.2>;tag=a",
        "To: <sip:4420@127.0.0.1>",
        "Call-ID: st-1",
        "CSeq: 1 INVITE",
        "Contact: <sip:5551000@127.0.0.2>",
        *headers,
        "Content-Length: 0",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def _ok(*headers: str) -> Response:
    lines = [
        "SIP/2.0 200 OK",
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-st-2",
        "From: <sip:5551000@127.0.0.1>;tag=b",
        "To: <sip:4420@127.0.0.3>;tag=c",
        "Call-ID: st-2",
        "CSeq: 1 INVITE",
        *headers,
        "Content-Length: 0",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Response)
    return message


# ---------------------------------------------------------------------------- settings
def test_the_offer_is_the_ttl_but_never_below_our_min_se() -> None:
    assert offer_headers(DEFAULTS) == (("Session-Expires", "600"), ("Min-SE", "90"))
    assert TimerSettings(ttl=60, min_se=90).offered == 90
    assert TimerSettings(ttl=1800, min_se=120).offered == 1800


@pytest.mark.parametrize(
    ("early_hangup", "interval", "margin"),
    [
        (0, 90, 30.0),  # RFC 4028 §10: min(32, 90/3)
        (0, 600, 32.0),  # min(32, 200)
        (0, 1800, 32.0),
        (10, 600, 10.0),  # SS_SIP_SESSION_TIMEOUT_EARLY_HANGUP when set
        (80, 90, 45.0),  # never more than half the interval
    ],
)
def test_the_hang_up_margin(early_hangup: int, interval: int, margin: float) -> None:
    assert TimerSettings(early_hangup=early_hangup).margin(interval) == margin


# ---------------------------------------------------------------------------- 422
@pytest.mark.parametrize(
    ("headers", "min_se", "expected"),
    [
        (("Supported: timer", "Session-Expires: 60"), 90, 90),
        (("Supported: timer", "Session-Expires: 89;refresher=uac"), 90, 90),
        (("Supported: timer", "Session-Expires: 90"), 90, None),
        (("Supported: timer", "Session-Expires: 100"), 120, 120),
        (("Supported: timer",), 90, None),  # no interval offered
        (("Session-Expires: 60",), 90, None),  # put there by a proxy: the UAC cannot retry
        ((), 90, None),
    ],
)
def test_422_only_to_a_timer_caller_offering_less_than_min_se(
    headers: tuple[str, ...], min_se: int, expected: int | None
) -> None:
    assert min_se_for_422(_invite(*headers), TimerSettings(min_se=min_se)) == expected


# ---------------------------------------------------------------------------- refresher tables
@pytest.mark.parametrize(
    ("headers", "interval", "refresher", "answer"),
    [
        # The caller names the refresher: kept (RFC 4028 §9).
        (("Supported: timer", "Session-Expires: 1800;refresher=uac"), 600, Refresher.REMOTE, "uac"),
        (("Supported: timer", "Session-Expires: 300;refresher=uas"), 300, Refresher.LOCAL, "uas"),
        # None named: the caller refreshes.
        (("Supported: timer", "Session-Expires: 300"), 300, Refresher.REMOTE, "uac"),
        # No interval: ours.
        (("Supported: timer",), 600, Refresher.REMOTE, "uac"),
        # Reduced to ours, but never below the request's Min-SE.
        (
            ("Supported: timer", "Session-Expires: 3600", "Min-SE: 900"),
            900,
            Refresher.REMOTE,
            "uac",
        ),
        (("Require: timer", "Session-Expires: 120;refresher=uac"), 120, Refresher.REMOTE, "uac"),
    ],
)
def test_the_callers_leg_negotiation(
    headers: tuple[str, ...], interval: int, refresher: Refresher, answer: str
) -> None:
    timer = from_request(_invite(*headers), DEFAULTS, now=100.0)
    assert timer is not None
    assert (timer.interval, timer.refresher, timer.proof) == (interval, refresher, 100.0)
    assert answer_headers(timer) == (
        ("Session-Expires", f"{interval};refresher={answer}"),
        ("Require", "timer"),
    )


def test_a_caller_without_timer_support_has_no_session_timer() -> None:
    assert from_request(_invite(), DEFAULTS, 0.0) is None
    assert from_request(_invite("Session-Expires: 600"), DEFAULTS, 0.0) is None
    assert answer_headers(None) == ()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (("Session-Expires: 90;refresher=uac", "Require: timer"), (90, Refresher.LOCAL)),
        (("Session-Expires: 600;refresher=uas", "Require: timer"), (600, Refresher.REMOTE)),
        (("Session-Expires: 600",), (600, Refresher.LOCAL)),
        (("Supported: timer",), None),  # §7.2: no Session-Expires, no session expiration
        ((), None),
    ],
)
def test_the_callee_leg_negotiation(
    headers: tuple[str, ...], expected: tuple[int, Refresher] | None
) -> None:
    timer = from_answer(_ok(*headers), 5.0)
    assert (None if timer is None else (timer.interval, timer.refresher)) == expected


def test_update_is_used_when_the_peer_allows_it() -> None:
    allows = from_answer(_ok("Session-Expires: 90;refresher=uac", "Allow: INVITE, UPDATE"), 0.0)
    assert allows is not None and allows.update
    denies = from_answer(_ok("Session-Expires: 90;refresher=uac", "Allow: INVITE, BYE"), 0.0)
    assert denies is not None and not denies.update


# ---------------------------------------------------------------------------- deadlines
def test_the_switch_refreshes_every_interval_over_segment() -> None:
    settings = TimerSettings(segment=2)
    timer = LegTimer(600, Refresher.LOCAL, proof=1000.0)
    assert timer.next_due(settings) == (1300.0, Due.REFRESH)
    assert timer.next_due(TimerSettings(segment=10)) == (1060.0, Due.REFRESH)
    # While the refresh is out only the expiry is armed: the whole interval for the refresher.
    pending = LegTimer(600, Refresher.LOCAL, proof=1000.0, pending=True)
    assert pending.next_due(settings) == (1600.0, Due.EXPIRE)
    # A successful refresh moves every deadline.
    assert pending.refreshed(1301.5).next_due(settings) == (1601.5, Due.REFRESH)


def test_a_peer_refreshed_leg_expires_the_margin_before_its_end() -> None:
    timer = LegTimer(90, Refresher.REMOTE, proof=10.0)
    assert timer.next_due(DEFAULTS) == (10.0 + 90 - 30, Due.EXPIRE)
    assert timer.next_due(TimerSettings(early_hangup=5)) == (95.0, Due.EXPIRE)
    assert timer.refreshed(50.0).next_due(DEFAULTS) == (110.0, Due.EXPIRE)


def test_a_refresh_renegotiates_interval_and_refresher() -> None:
    timer = LegTimer(600, Refresher.LOCAL, proof=0.0, pending=True)
    again = renegotiated(timer, _ok("Session-Expires: 300;refresher=uas"), 10.0)
    assert (again.interval, again.refresher, again.proof, again.pending) == (
        300,
        Refresher.REMOTE,
        10.0,
        False,
    )
    same = renegotiated(timer, _ok(), 20.0)
    assert (same.interval, same.refresher, same.proof) == (600, Refresher.LOCAL, 20.0)


def test_the_refresher_parameter_follows_the_transaction_roles() -> None:
    ours = LegTimer(90, Refresher.LOCAL, 0.0)
    theirs = LegTimer(90, Refresher.REMOTE, 0.0)
    assert refresh_headers(ours, DEFAULTS)[0] == ("Session-Expires", "90;refresher=uac")
    assert refresh_headers(theirs, DEFAULTS)[0] == ("Session-Expires", "90;refresher=uas")
    assert answer_headers(ours)[0] == ("Session-Expires", "90;refresher=uas")
    assert answer_headers(theirs)[0] == ("Session-Expires", "90;refresher=uac")


@pytest.mark.parametrize(
    ("status", "method", "outcome"),
    [
        (200, "UPDATE", Outcome.REFRESHED),
        (200, "INVITE", Outcome.REFRESHED),
        (None, "UPDATE", Outcome.FATAL),  # timeout or transport failure
        (408, "INVITE", Outcome.FATAL),
        (481, "UPDATE", Outcome.FATAL),
        (422, "INVITE", Outcome.LARGER),
        (405, "UPDATE", Outcome.USE_INVITE),
        (501, "UPDATE", Outcome.USE_INVITE),
        (501, "INVITE", Outcome.IGNORED),
        (491, "INVITE", Outcome.RETRY),
        (500, "INVITE", Outcome.IGNORED),
        (488, "INVITE", Outcome.IGNORED),
    ],
)
def test_refresh_outcomes(status: int | None, method: str, outcome: Outcome) -> None:
    assert refresh_outcome(status, method) is outcome


def test_an_offer_with_the_same_origin_line_is_a_refresh() -> None:
    first = b"v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n"
    same_version = b"v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=other\r\nm=audio 4000 RTP/AVP 0\r\n"
    next_version = b"v=0\r\no=a 1 2 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 4002 RTP/AVP 0\r\n"
    assert same_sdp(first, same_version)
    assert not same_sdp(first, next_version)
    assert not same_sdp(b"", first)
    assert same_sdp(b"opaque", b"opaque\r\n") and not same_sdp(b"opaque", b"other")
