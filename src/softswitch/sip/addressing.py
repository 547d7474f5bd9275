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
from softswitch.sip.message import MessageError, Request, Response
from softswitch.sip.parser import parse_message

__all__ = ["AddressSet", "response_peer", "salvage_request", "sent_by_peer", "stamp_via"]

_DEFAULT_PORTS = {"TLS": 5061}


def _bare(host: str) -> str:
    """A host as Peer holds it: IPv6 references lose their brackets (RFC 5118)."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _default_port(transport: str) -> int:
    return _DEFAULT_PORTS.get(transport.upper(), 5060)


def _has_param(via: Via, name: str) -> bool:
    """Whether ``name`` appears among the Via's parameters, with or without a value."""
    return any(key.lower() == name for key, _ in via.params)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(_bare(text))
    except ValueError:
        return None


def _same_host(via_host: str, ip: str) -> bool:
    if via_host == ip:
        return True  # the usual case, without parsing either
    a, b = _ip(via_host), _ip(ip)
    if a is not None and b is not None:
        return a == b
    return _bare(via_host).lower() == _bare(ip).lower()


def stamp_via(request: Request, peer: Peer) -> Request:
    """Overwrite ``received`` (§18.2.1) and ``rport`` (RFC 3581 §4) on the top Via.

    The server always writes these itself and never keeps values the client put there: a peer
    that sends ``received=<victim>`` or ``rport=<port>`` would otherwise have our responses
    reflected wherever it likes. ``received`` is set to the source address when the sent-by host
    is not the source, when the client asked for ``rport``, and when the Via already carries a
    ``received`` (which is then replaced); ``rport``, present in any form, becomes the source port.
    Only the top value is rewritten; the other Vias keep their text.
    """
    top = request.top_via
    rport = _has_param(top, "rport")
    new = top
    if rport or _has_param(top, "received") or not _same_host(top.host, peer.host):
        new = new.with_param("received", _bare(peer.host))
    if rport:
        new = new.with_param("rport", str(peer.port))
    if new == top:
        return request
    lines = request.get_all("via")
    rest = split_commas(lines[0])[1:]
    stamped: Request = request.replacing("via", str(new), *rest, *lines[1:])
    return stamped


def _maddr(via: Via, peer: Peer) -> str | None:
    """The ``maddr`` a response may go to (§18.2.2), or None to ignore it.

    Honoured only as an IP literal that is a multicast group or the source address itself: any
    other value would let a client point our responses at a third party (reflection).
    """
    if via.maddr is None:
        return None
    group = _ip(via.maddr)
    if group is None:
        return None
    if group.is_multicast or group == _ip(peer.host):
        return str(group)
    return None


def sent_by_peer(request: Request, peer: Peer) -> Peer:
    """The address a response goes to when no connection is open (§18.2.2, RFC 3581 §4).

    ``peer`` is where the request came from. The host is always that source address: it is what
    :func:`stamp_via` writes in ``received`` whenever the sent-by differs, and a ``received`` or
    ``rport`` value the client wrote itself is never trusted. Over UDP an acceptable ``maddr``
    wins, then ``rport`` (the client's NAT binding: the source port), then the sent-by port.
    """
    via = request.top_via
    port = via.port if via.port is not None else _default_port(peer.transport)
    if not peer.reliable:
        maddr = _maddr(via, peer)
        if maddr is not None:
            return Peer(peer.transport, maddr, port)
        if _has_param(via, "rport"):
            return Peer(peer.transport, _bare(peer.host), peer.port)
    return Peer(peer.transport, _bare(peer.host), port)


def response_peer(request: Request, peer: Peer) -> Peer:
    """Where responses to ``request`` (received from ``peer``, Via stamped) are sent (§18.2.2).

    On a stream: back on the same connection while it is open. Otherwise see
    :func:`sent_by_peer`: the source address, at the multicast or source ``maddr``'s, the rport's
    or the sent-by's port.
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
            items.add((_bare(via.host).lower(), via.port if via.port is not None else 5060))
        self._items = frozenset(items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def has_via(self, via: Via) -> bool:
        port = via.port if via.port is not None else _default_port(via.transport)
        return (_bare(via.host).lower(), port) in self._items
