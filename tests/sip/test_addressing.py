"""Where responses go (RFC 3261 §18.2.1-§18.2.2, RFC 3581 §4): never where the client says.

A client controls every byte of its top Via. Only the source address of the packet is trustworthy,
so ``received``/``rport`` are always overwritten and ``maddr`` is honoured only when it cannot point
at a third party.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tx_support import wire

from softswitch.sip.addressing import AddressSet, response_peer, sent_by_peer, stamp_via
from softswitch.sip.events import Peer
from softswitch.sip.headers import Via
from softswitch.sip.message import Request
from softswitch.sip.parser import parse_message

SOURCE = Peer("UDP", "198.51.100.7", 5060)


def _request(via: str, transport: str = "UDP") -> Request:
    msg = parse_message(wire("OPTIONS", "z9hG4bK-1", via=via, transport=transport))
    assert isinstance(msg, Request)
    return msg


def test_peer_written_received_is_replaced_not_trusted() -> None:
    stamped = stamp_via(_request("198.51.100.7:5060;received=203.0.113.99"), SOURCE)
    assert stamped.top_via.received == "198.51.100.7"
    assert response_peer(stamped, SOURCE) == SOURCE
    # Even an unstamped request cannot steer the destination.
    assert sent_by_peer(_request("198.51.100.7:5060;received=203.0.113.99"), SOURCE) == SOURCE


@pytest.mark.parametrize("rport", ["rport=19", "rport=70000", "rport=0", "rport=abc", "RPORT"])
def test_rport_in_any_form_becomes_the_source_port(rport: str) -> None:
    source = Peer("UDP", "198.51.100.7", 61000)
    stamped = stamp_via(_request(f"198.51.100.7:5060;{rport}"), source)
    top = stamped.top_via
    assert top.rport == 61000 and top.received == "198.51.100.7"
    assert [k.lower() for k, _ in top.params].count("rport") == 1
    assert response_peer(stamped, source) == source


def test_stamping_keeps_the_request_when_nothing_changes() -> None:
    request = _request("198.51.100.7:5060")
    assert stamp_via(request, SOURCE) is request
    request = _request("198.51.100.7:5060;received=198.51.100.7")
    assert stamp_via(request, SOURCE) is request


def test_foreign_sent_by_gets_received_only_on_the_top_via() -> None:
    data = wire("OPTIONS", "z9hG4bK-1", via="pbx.example.com:5080", vias=("SIP/2.0/UDP b;x=1",))
    request = parse_message(data)
    assert isinstance(request, Request)
    stamped = stamp_via(request, SOURCE)
    assert stamped.top_via.received == "198.51.100.7"
    assert stamped.get_all("via")[1:] == ["SIP/2.0/UDP b;x=1"]
    assert response_peer(stamped, SOURCE) == Peer("UDP", "198.51.100.7", 5080)


@pytest.mark.parametrize(
    ("maddr", "expected"),
    [
        ("239.1.1.1", Peer("UDP", "239.1.1.1", 5070)),  # multicast (§18.2.2)
        ("198.51.100.7", Peer("UDP", "198.51.100.7", 5070)),  # the source itself
        ("[ff02::1]", Peer("UDP", "ff02::1", 5070)),
        ("203.0.113.99", Peer("UDP", "198.51.100.7", 5070)),  # a third party: ignored
        ("victim.example.com", Peer("UDP", "198.51.100.7", 5070)),  # not an IP literal: ignored
    ],
)
def test_maddr_only_when_multicast_or_the_source(maddr: str, expected: Peer) -> None:
    stamped = stamp_via(_request(f"198.51.100.7:5070;maddr={maddr}"), SOURCE)
    assert response_peer(stamped, SOURCE) == expected


def test_ignored_maddr_falls_back_to_rport() -> None:
    source = Peer("UDP", "198.51.100.7", 61000)
    stamped = stamp_via(_request("10.0.0.1:5070;rport;maddr=203.0.113.99"), source)
    assert response_peer(stamped, source) == source


def test_reliable_transports_answer_on_the_connection_or_the_source_address() -> None:
    tcp = Peer("TCP", "198.51.100.7", 40000, connection=3)
    request = stamp_via(_request("10.0.0.1;received=203.0.113.99;rport=9", "TCP"), tcp)
    assert response_peer(request, tcp) == tcp
    assert sent_by_peer(request, tcp) == Peer("TCP", "198.51.100.7", 5060)
    tls = Peer("TLS", "198.51.100.7", 40000, connection=4)
    request = stamp_via(_request("10.0.0.1;maddr=239.1.1.1", "TLS"), tls)
    assert sent_by_peer(request, tls) == Peer("TLS", "198.51.100.7", 5061)


def test_port_zero_is_not_the_default_port() -> None:
    """``via.port or default`` would read port 0 as 5060 (the parser refuses 0 as well)."""
    local = AddressSet(frozenset({"192.0.2.1:5060"}))
    assert local.has_via(Via("UDP", "192.0.2.1", None))
    assert local.has_via(Via("UDP", "192.0.2.1", 5060))
    assert not local.has_via(Via("UDP", "192.0.2.1", 0))
    assert not AddressSet(frozenset({"192.0.2.1"})).has_via(Via("UDP", "192.0.2.1", 0))


_IPV4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_PARAM = st.one_of(
    _IPV4.map(lambda ip: f"received={ip}"),
    st.just("rport"),
    st.from_regex(r"rport=[0-9a-z]{1,6}", fullmatch=True),
    _IPV4.map(lambda ip: f"maddr={ip}"),
    st.just("maddr=host.example.com"),
)


@settings(max_examples=200, deadline=None)
@given(
    sent_host=_IPV4,
    sent_port=st.one_of(st.none(), st.integers(1, 65535)),
    params=st.lists(_PARAM, max_size=4),
    source_host=_IPV4,
    source_port=st.integers(1, 65535),
)
def test_responses_go_to_the_source_host_or_a_multicast_group(
    sent_host: str,
    sent_port: int | None,
    params: list[str],
    source_host: str,
    source_port: int,
) -> None:
    sent_by = sent_host if sent_port is None else f"{sent_host}:{sent_port}"
    via = ";".join([sent_by, *params])
    source = Peer("UDP", source_host, source_port)
    stamped = stamp_via(_request(via), source)
    top = stamped.top_via
    if top.received is not None:
        assert top.received == source_host
    if top.rport is not None:
        assert top.rport == source_port
    dest = response_peer(stamped, source)
    assert dest.host == source_host or dest.host.startswith(tuple(f"{n}." for n in range(224, 240)))
    assert dest.port in (source_port, 5060 if sent_port is None else sent_port)
