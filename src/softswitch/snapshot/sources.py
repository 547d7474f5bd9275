"""Most-specific CIDR lookup: which trunk a packet's source address belongs to.

Customer trunks are recognised by where their INVITEs come from (issue 4 §2). Their source
lists mix single addresses (stored as /32 or /128) and blocks, and blocks may nest: a customer's
/24 with one address of it carved out for another customer's /32. The answer must then be the
most specific block, as a router's longest-prefix match would give, whatever order the rows
were saved in.

The same trick as ``routing.prefix_tree``: a table keyed by (prefix length, network number),
asked once per prefix length in use, longest first. Real deployments use a handful of lengths
(/32, /29, /24 …), so a lookup is a few dictionary probes whatever the number of trunks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Generic, TypeVar

__all__ = ["IpAddress", "IpNetwork", "NetworkIndex", "parse_address"]

T = TypeVar("T")

IpAddress = IPv4Address | IPv6Address
IpNetwork = IPv4Network | IPv6Network


def parse_address(address: str | IpAddress) -> IpAddress | None:
    """``address`` as an address object, None when it is not one.

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``, what a dual-stack socket reports for an
    IPv4 peer, RFC 4291 §2.5.5.2) is turned into its IPv4 address, so it matches IPv4 blocks.
    """
    if isinstance(address, str):
        try:
            address = ipaddress.ip_address(address.strip())
        except ValueError:
            return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class NetworkIndex(Generic[T]):
    """An immutable map from networks to values, searched by address, most specific first.

    Several values may share one network; they keep the order they were given in, so the
    builder decides ties (which is why ``lookup`` returns them all).
    """

    __slots__ = ("_lengths", "_table")

    _table: dict[tuple[int, int, int], tuple[T, ...]]
    _lengths: dict[int, tuple[int, ...]]

    def __init__(self, pairs: Iterable[tuple[IpNetwork, T]] = ()) -> None:
        grouped: dict[tuple[int, int, int], list[T]] = {}
        for network, value in pairs:
            key = (network.version, network.prefixlen, int(network.network_address))
            grouped.setdefault(key, []).append(value)
        self._table = {key: tuple(values) for key, values in grouped.items()}
        lengths: dict[int, set[int]] = {4: set(), 6: set()}
        for version, prefixlen, _ in self._table:
            lengths[version].add(prefixlen)
        # Longest first: the first hit is the most specific block.
        self._lengths = {
            version: tuple(sorted(found, reverse=True)) for version, found in lengths.items()
        }

    def lookup(self, address: str | IpAddress) -> tuple[T, ...]:
        """The values of the most specific network holding ``address`` (``()``: none does, or
        ``address`` is not an IP address)."""
        parsed = parse_address(address)
        if parsed is None:
            return ()
        version = parsed.version
        bits = 32 if version == 4 else 128
        number = int(parsed)
        table = self._table
        for prefixlen in self._lengths[version]:
            host_bits = bits - prefixlen
            values = table.get((version, prefixlen, (number >> host_bits) << host_bits))
            if values is not None:
                return values
        return ()

    def __len__(self) -> int:
        """The number of distinct networks."""
        return len(self._table)

    def __repr__(self) -> str:
        return f"NetworkIndex({len(self._table)} networks)"
