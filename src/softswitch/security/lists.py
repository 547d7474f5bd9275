"""Static black- and whitelists of numbers and addresses, global or per account (issue 6 §1).

Operators keep these lists through the API (``/api/v1/security/lists``); the call path reads
them from the snapshot. One rule for both kinds of list keeps them predictable:

* a **blacklist** entry blocks: an address (CIDR) is dropped before parsing, a caller or callee
  number (prefix) is refused with a CDR;
* a **whitelist** entry exempts from every automatic defence: a whitelisted address is never
  rate-limited, banned or suspended and is answered even when SS_REPLY_UNAUTHORIZED is Off; a
  whitelisted number is never put on the dynamic blacklists and overrides a blacklist prefix
  (the longer prefix of the two wins, so ``+44`` black and ``+44207`` white lets London through).

An account's entries apply to its calls only; global ones (no account) to every call.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Network, IPv6Network

__all__ = [
    "EntryKind",
    "ListEntry",
    "ListType",
    "NumberVerdict",
    "StaticLists",
    "parse_entry_value",
]

_Network = IPv4Network | IPv6Network


class ListType(Enum):
    BLACK = "blacklist"
    WHITE = "whitelist"


class EntryKind(Enum):
    """What an entry's value is matched against."""

    CALLER = "caller"
    """The caller's number (after the ingress rewrite rules), by prefix."""
    CALLEE = "callee"
    """The called number (after the ingress rewrite rules), by prefix."""
    IP = "ip"
    """The source address of SIP packets, by network (CIDR)."""


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One row of the lists. ``value`` is a number prefix (digits, an optional leading ``+``)
    or a network in CIDR form (a bare address is a /32 or /128)."""

    list_type: ListType
    kind: EntryKind
    value: str
    account_id: int | None = None
    id: int | None = None


def parse_entry_value(kind: EntryKind, value: str) -> str:
    """``value`` in canonical form for ``kind``; ``ValueError`` saying what to fix otherwise."""
    text = value.strip()
    if kind is EntryKind.IP:
        try:
            network = ipaddress.ip_network(text.strip("[]"), strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or network (CIDR)") from None
        mapped = network.network_address
        if (
            isinstance(mapped, ipaddress.IPv6Address)
            and mapped.ipv4_mapped is not None
            and network.prefixlen >= 96
        ):
            # ::ffff:192.0.2.1 is how a dual-stack socket shows an IPv4 peer, and hosts are
            # matched as IPv4: keep the entry in the form it will be compared in.
            network = ipaddress.ip_network(f"{mapped.ipv4_mapped}/{network.prefixlen - 96}")
        return str(network)
    body = text[1:] if text.startswith("+") else text
    if not body or not body.isdigit() or not body.isascii() or len(text) > 32:
        raise ValueError(f"{value!r} is not a number prefix (digits, optionally a leading +)")
    return text


@dataclass(frozen=True, slots=True)
class NumberVerdict:
    """Whether a number is listed: ``blocked`` by ``entry``, or ``trusted`` (whitelisted)."""

    blocked: bool
    trusted: bool
    entry: ListEntry | None = None


_CLEAR = NumberVerdict(False, False)


class StaticLists:
    """The lists as lookup tables; immutable, rebuilt whenever the snapshot changes."""

    __slots__ = ("_black_nets", "_numbers", "_white_nets", "entries")

    def __init__(self, entries: Iterable[ListEntry] = ()) -> None:
        self.entries = tuple(entries)
        black: list[tuple[_Network, ListEntry]] = []
        white: list[tuple[_Network, ListEntry]] = []
        numbers: dict[tuple[EntryKind, int | None], dict[str, ListEntry]] = {}
        for entry in self.entries:
            if entry.kind is EntryKind.IP:
                network = ipaddress.ip_network(entry.value, strict=False)
                (black if entry.list_type is ListType.BLACK else white).append((network, entry))
            else:
                table = numbers.setdefault((entry.kind, entry.account_id), {})
                found = table.get(entry.value)
                # The same prefix on both lists: the whitelist wins (the operator's exception).
                if found is None or entry.list_type is ListType.WHITE:
                    table[entry.value] = entry
        self._black_nets = tuple(black)
        self._white_nets = tuple(white)
        self._numbers: Mapping[tuple[EntryKind, int | None], Mapping[str, ListEntry]] = numbers

    def __bool__(self) -> bool:
        return bool(self.entries)

    @staticmethod
    def _in(nets: tuple[tuple[_Network, ListEntry], ...], host: str) -> ListEntry | None:
        if not nets:
            return None
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        for network, entry in nets:
            if address.version == network.version and address in network:
                return entry
        return None

    def ip_blocked(self, host: str) -> ListEntry | None:
        """The blacklist entry holding ``host`` (when no whitelist entry holds it too)."""
        if self._in(self._white_nets, host) is not None:
            return None
        return self._in(self._black_nets, host)

    def ip_trusted(self, host: str) -> bool:
        return self._in(self._white_nets, host) is not None

    def number(self, kind: EntryKind, number: str, account_id: int | None) -> NumberVerdict:
        """The verdict on ``number`` as a caller or callee of ``account_id``: the longest
        listed prefix decides, the account's own entries before the global ones."""
        if not self._numbers or not number:
            return _CLEAR
        for scope in (account_id, None) if account_id is not None else (None,):
            table = self._numbers.get((kind, scope))
            if not table:
                continue
            for length in range(len(number), 0, -1):
                entry = table.get(number[:length])
                if entry is not None:
                    if entry.list_type is ListType.WHITE:
                        return NumberVerdict(False, True, entry)
                    return NumberVerdict(True, False, entry)
        return _CLEAR
