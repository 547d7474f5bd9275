"""Socket addresses as the SIP core sees them: IP literals and ports, IPv6 without brackets.

The core (``softswitch.sip.events.Peer``) names a peer by an IP literal and a port, with IPv6
hosts written *without* brackets; sockets and operators write ``[::1]:5060``. This module is the
one place where the two spellings meet, so the rest of the transport never parses addresses.
Host names are not resolved here: a listen address must be an IP literal (RFC 3263 resolution
of outbound targets belongs to a resolver, not to the socket layer).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from softswitch.sip.memo import Memo

__all__ = ["HostPort", "format_host", "normalize_host", "parse_hostport", "sockaddr_hostport"]


def normalize_host(host: str) -> str:
    """The canonical text of an IP literal (``[::1]`` and ``0:0::1`` both give ``::1``).

    One spelling per address matters because connection reuse looks connections up by
    ``(host, port)``: ``::1`` and ``0::1`` must find the same connection.
    """
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    text = text.split("%", 1)[0]  # a zone index (fe80::1%eth0) is not part of the address
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"not an IP address: {host!r}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; the peer is an IPv4 host.
        return str(address.ipv4_mapped)
    return str(address)


def format_host(host: str) -> str:
    """``host`` as written in a URI or Via: IPv6 in brackets (RFC 3261 §25.1 ``IPv6reference``)."""
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True, slots=True)
class HostPort:
    """An IP literal (IPv6 without brackets) and a port: a listen address or a peer."""

    host: str
    port: int

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")

    @property
    def family(self) -> socket.AddressFamily:
        """``AF_INET6`` for IPv6 hosts, ``AF_INET`` otherwise."""
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        return f"{format_host(self.host)}:{self.port}"


def parse_hostport(text: str, default_port: int) -> HostPort:
    """Parse ``1.2.3.4:5060``, ``[::1]:5060``, ``1.2.3.4``, ``[::1]`` or a bare ``::1``.

    Raises ``ValueError`` with a sentence an operator can act on.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty address")
    port_text: str | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"expected ':port' after ']' in {text!r}")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text  # IPv4 without port, or a bare IPv6 literal (ambiguous port: none taken)
    port = default_port
    if port_text is not None:
        if not port_text.isdigit():
            raise ValueError(f"bad port in {text!r}")
        port = int(port_text)
    return HostPort(normalize_host(host), port)


def _sockaddr_hostport(sockaddr: Any) -> HostPort:
    return HostPort(normalize_host(str(sockaddr[0])), int(sockaddr[1]))


sockaddr_hostport: Memo[Any, HostPort] = Memo(_sockaddr_hostport, 65536)
"""The peer or local address a socket reports (2-tuple for IPv4, 4-tuple for IPv6). Every
datagram's source passes here and its peers are few: memoized, so ``ipaddress`` does not run
on every message."""
