"""``snapshot.sources.NetworkIndex``: the most specific network wins, whatever the order the
networks were given in, for IPv4, IPv6 and IPv4-mapped IPv6 addresses."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network

from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.snapshot import NetworkIndex, parse_address

networks = st.builds(
    lambda number, length: IPv4Network((number, length), strict=False),
    st.integers(0, 2**32 - 1).map(lambda n: n & 0xFF0000FF),  # few distinct blocks: overlaps
    st.integers(0, 32),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(networks, max_size=30), st.integers(0, 2**32 - 1).map(lambda n: n & 0xFF0000FF))
def test_lookup_is_the_most_specific_match(blocks: list[IPv4Network], number: int) -> None:
    address = IPv4Address(number)
    index = NetworkIndex((block, position) for position, block in enumerate(blocks))
    holding = [(block, position) for position, block in enumerate(blocks) if address in block]
    if not holding:
        assert index.lookup(address) == ()
        return
    best = max(block.prefixlen for block, _ in holding)
    expected = tuple(position for block, position in holding if block.prefixlen == best)
    assert index.lookup(address) == expected
    assert index.lookup(str(address)) == expected
    assert index.lookup(f"::ffff:{address}") == expected


def test_ipv6_and_ipv4_are_kept_apart() -> None:
    index = NetworkIndex([(ip_network("::/0"), "v6"), (ip_network("0.0.0.0/0"), "v4")])
    assert index.lookup("2001:db8::1") == ("v6",)
    assert index.lookup("192.0.2.1") == ("v4",)
    assert index.lookup("bogus") == ()
    assert len(index) == 2


def test_parse_address_unmaps_ipv4_in_ipv6() -> None:
    assert parse_address("::ffff:192.0.2.1") == ip_address("192.0.2.1")
    assert parse_address(" 2001:db8::1 ") == ip_address("2001:db8::1")
    assert parse_address("300.1.1.1") is None
