"""RFC 4475 and RFC 5118 torture messages through the endpoint, as datagrams and as streams.

The expected verdict of each message comes from the fixture index (``index.tsv``): ``valid``
messages reach the TU, ``valid-app-reject`` ones reach it too unless the endpoint itself is the one
that refuses them (501 for unknown methods, 416 for unknown URI schemes), ``reject`` ones get the
listed status (or are dropped when they cannot be answered at all), ``discard`` ones are silently
dropped. Every message must also survive being fed one byte at a time on a TCP connection.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_tx_support import events, new_endpoint

from softswitch.sip.endpoint import Endpoint
from softswitch.sip.events import (
    CloseConnection,
    MessageDropped,
    Outgoing,
    Peer,
    RequestReceived,
    ResponseReceived,
)
from softswitch.sip.message import MessageError, Response
from softswitch.sip.parser import parse_message
from softswitch.sip.validate import check_response

TORTURE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "sip-torture"
UDP = Peer("UDP", "192.0.2.77", 5060)
TCP = Peer("TCP", "192.0.2.77", 40001, connection=1)

# Rejected by the application, not by the endpoint: the request must reach the TU.
APP_LEVEL = {"unksm2", "bext01", "invut", "regaut01", "sdp01"}
# Where the index allows a choice, the one the endpoint makes (RFC 4475 §3.1.2.18 prefers 501).
PREFERRED = {"mismatch02": 501}
# baddn's archive copy lacks its final empty line, so it is not a whole message and is dropped;
# derived/baddn-terminated.dat is the answered case.
UNANSWERABLE = {"baddn"}


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    verdict: str
    expected: str


def _cases() -> list[Case]:
    cases: list[Case] = []
    with (TORTURE / "index.tsv").open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            path = TORTURE / row["file"]
            if row["rfc"] == "RFC5118":
                # The wire form (CRLF line ends) is in derived/; the .dat files are RFC text.
                path = TORTURE / "derived" / "rfc5118-wire" / f"{path.stem}.sip"
            cases.append(Case(row["name"], path, row["expected_verdict"], row["expected_response"]))
    cases.append(
        Case("baddn-terminated", TORTURE / "derived" / "baddn-terminated.dat", "reject", "400")
    )
    return cases


CASES = _cases()


def _outcome(ep: Endpoint) -> tuple[str, int | None]:
    """What the endpoint did: ("closed"|"answered"|"tu"|"response"|"dropped"|"nothing", status)."""
    got = events(ep)
    out = ep.outgoing()
    if any(isinstance(item, CloseConnection) for item in out):
        return ("closed", None)
    codes = []
    for item in out:
        assert isinstance(item, Outgoing)
        msg = parse_message(item.data)
        assert isinstance(msg, Response)
        if msg.status >= 200:
            codes.append(msg.status)
    assert len(codes) <= 1, codes
    if codes:
        return ("answered", codes[0])
    if any(isinstance(e, RequestReceived) for e in got):
        return ("tu", None)
    if any(isinstance(e, ResponseReceived) for e in got):
        return ("response", None)
    if any(isinstance(e, MessageDropped) for e in got):
        return ("dropped", None)
    return ("nothing", None)


def _status(case: Case) -> int:
    if case.name in PREFERRED:
        return PREFERRED[case.name]
    found = re.search(r"\b([1-6]\d\d)\b", case.expected)
    assert found, case
    return int(found.group(1))


def _check_udp(case: Case, outcome: tuple[str, int | None]) -> None:
    kind, status = outcome
    if case.verdict == "valid":
        assert kind in ("tu", "response", "dropped"), outcome
        if kind != "tu":  # a response: valid, but it matches none of our transactions
            msg = parse_message(case.path.read_bytes())
            assert isinstance(msg, Response)
            check_response(msg)
    elif case.verdict == "valid-app-reject":
        if case.name in APP_LEVEL:
            assert kind == "tu", outcome
        else:
            assert outcome == ("answered", _status(case))
    elif case.verdict == "reject":
        if case.name in UNANSWERABLE:
            assert kind == "dropped", outcome
        else:
            assert outcome == ("answered", _status(case))
    elif case.verdict == "reject-or-tolerate":
        assert outcome in (("answered", 400), ("tu", None)), outcome
    elif case.verdict == "discard":
        assert kind == "dropped", outcome
    else:  # unreferenced by the RFC (test.dat): anything but a crash or a success
        assert kind in ("answered", "dropped"), outcome
        assert status in (None, 400)


def _feed_udp(data: bytes) -> tuple[str, int | None]:
    ep = new_endpoint()
    ep.receive(data, UDP, 0.0)
    return _outcome(ep)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_datagram_verdict(case: Case) -> None:
    _check_udp(case, _feed_udp(case.path.read_bytes()))


@pytest.mark.parametrize("case", [c for c in CASES if c.verdict == "discard"], ids=lambda c: c.name)
def test_discarded_responses_fail_validation_or_matching(case: Case) -> None:
    data = case.path.read_bytes()
    try:
        msg = parse_message(data)
        assert isinstance(msg, Response)
        check_response(msg)
    except MessageError:
        return
    # bcast is well formed: it is discarded for its second Via (§8.1.3.3), never answered.
    assert len(msg.vias) > 1


# On a stream, framing is by Content-Length alone (§18.3); these messages frame differently.
STREAM_OUTCOMES: dict[str, tuple[str, int | None]] = {
    "clerr": ("nothing", None),  # waits for 9999 body bytes that never come (closed on timeout)
    "ncl": ("closed", None),  # negative Content-Length: the stream cannot be framed
    "mcl01": ("closed", None),  # two Content-Lengths disagree
    "baddn": ("nothing", None),  # no empty line yet: the framer keeps waiting
    # No Content-Length: on a stream the message ends at the empty line and its SDP is left in the
    # framer as the start of a next message that never completes (a datagram keeps it as body).
    "inv2543": ("tu", None),
}


def _feed_bytewise(data: bytes) -> tuple[Endpoint, tuple[str, int | None]]:
    ep = new_endpoint()
    for i in range(len(data)):
        ep.receive(data[i : i + 1], TCP, 0.0)
    return ep, _outcome(ep)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_stream_one_byte_at_a_time(case: Case) -> None:
    data = case.path.read_bytes()
    _, outcome = _feed_bytewise(data)
    if case.name in STREAM_OUTCOMES:
        assert outcome == STREAM_OUTCOMES[case.name]
    else:
        assert outcome == _feed_udp(data)


OPTIONS = (
    b"OPTIONS sip:probe@192.0.2.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 192.0.2.77:40001;branch=z9hG4bK-tail\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:p@192.0.2.77>;tag=p\r\nTo: <sip:probe@192.0.2.1>\r\n"
    b"Call-ID: tail@192.0.2.77\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)
TU_CASES = [
    c for c in CASES if c.name not in STREAM_OUTCOMES and _feed_udp(c.path.read_bytes())[0] == "tu"
]


@pytest.mark.parametrize("case", TU_CASES, ids=[c.name for c in TU_CASES])
def test_back_to_back_with_partial_tail(case: Case) -> None:
    data = case.path.read_bytes()
    if case.name == "dblreq":
        # Its trailing octets are an INVITE with a Content-Length of their own: on a stream they
        # are the next message (RFC 4475 §3.1.1.8 is about datagrams).
        data = data[: data.index(b"INVITE sip:")]
    ep = new_endpoint()
    ep.receive(data + OPTIONS + OPTIONS[:40], TCP, 0.0)
    got = [e for e in events(ep) if isinstance(e, RequestReceived)]
    assert [e.request.method for e in got][-1] == "OPTIONS" and len(got) == 2
    ep.outgoing()
    # A different request, not a retransmission (nor a merged request) of the first OPTIONS.
    tail = OPTIONS[40:].replace(b"z9hG4bK-tail", b"z9hG4bK-tai2").replace(b"tail@", b"tai2@")
    ep.receive(tail, TCP, 0.1)
    (last,) = events(ep)
    assert isinstance(last, RequestReceived) and last.request.top_via.branch == "z9hG4bK-tai2"
