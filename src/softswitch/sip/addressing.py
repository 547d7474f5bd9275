"""Where SIP messages come from and go to (RFC 3261 §18, RFC 3581, RFC 5118).

The transport rules the endpoint applies to every message: stamping ``received``/``rport`` on an
inbound request's top Via, choosing the address a response goes to, recognising our own sent-by
addresses (loop detection), and salvaging enough of a request with a broken request line to answer
it. Pure functions over messages and :class:`Peer` values.
"""

from __future__ import annotations

import ipaddress

from softswitch.sip.errors import ProtocolError
from softswitch.sip.events import Peer
from softswitch.sip.grammar import split_commas
from softswitch.sip.headers import Via, parse_via
from softswitch.sip.message import MessageError, Request, Response, parse_message

__all__ = ["AddressSet", "response_peer", "salvage_request", "sent_by_peer", "stamp_via"]

_DEFAULT_PORTS = {"TLS": 5061}


def _bare(host: str) -> str:
    """A host as Peer holds it: IPv6 references lose their brackets (RFC 5118)."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _default_port(transport: str) -> int:
    return _DEFAULT_PORTS.get(transport.upper(), 5060)


def _same_host(via_host: str, ip: str) -> bool:
    a, b = _bare(via_host), _bare(ip)
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.lower() == b.lower()


def stamp_via(request: Request, peer: Peer) -> Request:
    """Add ``received`` (§18.2.1) and fill ``rport`` (RFC 3581 §4) on the top Via.

    ``received`` is added when the sent-by host is not the source address, and always when the
    client asked for ``rport``. Only the top value is rewritten; the other Vias keep their text.
    """
    top = request.top_via
    new = top
    if top.rport is True:
        new = new.with_param("received", _bare(peer.host)).with_param("rport", str(peer.port))
    elif not _same_host(top.host, peer.host):
        new = new.with_param("received", _bare(peer.host))
    if new is top:
        return request
    lines = request.get_all("via")
    rest = split_commas(lines[0])[1:]
    stamped: Request = request.replacing("via", str(new), *rest, *lines[1:])
    return stamped


def sent_by_peer(request: Request, peer: Peer) -> Peer:
    """The address a response goes to when no connection is open (§18.2.2, RFC 3581 §4)."""
    via = request.top_via
    port = via.port or _default_port(peer.transport)
    if not peer.reliable and via.maddr:
        return Peer(peer.transport, _bare(via.maddr), port)
    rport = via.rport
    host = via.received or via.host
    if type(rport) is int and not peer.reliable:
        # RFC 3581 §4: the source port of the request, i.e. the client's NAT binding.
        return Peer(peer.transport, _bare(host), rport)
    return Peer(peer.transport, _bare(host), port)


def response_peer(request: Request, peer: Peer) -> Peer:
    """Where responses to ``request`` (received from ``peer``, Via stamped) are sent (§18.2.2).

    On a stream: back on the same connection while it is open. Over UDP: ``maddr`` when present,
    else the received address and rport, else the received address with the sent-by port, else
    the sent-by itself.
    """
    if peer.reliable and peer.connection is not None:
        return peer
    return sent_by_peer(request, peer)


def salvage_request(data: bytes) -> Request | None:
    """The header fields of a request whose request line is unusable (bad version, spaces in the
    Request-URI), so that its 400 or 505 can still be addressed and matched (RFC 4475 badvers,
    lwsruri). None for responses, ACKs (never answered) and unreadable header blocks."""
    head = data.lstrip(b"\r\n")
    line, newline, rest = head.partition(b"\n")
    if not newline or line.startswith(b"SIP/") or line.split(b" ", 1)[0] == b"ACK":
        return None
    found: Request | Response | None
    try:
        found = parse_message(b"OPTIONS sip:invalid SIP/2.0\r\n" + rest)
    except MessageError as exc:
        found = exc.message
    return found if isinstance(found, Request) else None


class AddressSet:
    """Our own sent-by addresses, compared as (host, port) with default ports filled in."""

    __slots__ = ("_items",)

    def __init__(self, addresses: frozenset[str]) -> None:
        items: set[tuple[str, int]] = set()
        for text in addresses:
            try:
                via = parse_via(f"SIP/2.0/UDP {text.strip()}")[0]
            except ProtocolError:
                raise ValueError(f"Not a host[:port] address: {text!r}") from None
            items.add((_bare(via.host).lower(), via.port or 5060))
        self._items = frozenset(items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def has_via(self, via: Via) -> bool:
        port = via.port or _default_port(via.transport)
        return (_bare(via.host).lower(), port) in self._items
