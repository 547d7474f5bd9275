"""SIP over UDP: one bound socket per listen address (RFC 3261 §18.1.1, §18.2.1).

A datagram is one SIP message, so no framing is needed; the socket hands every datagram and its
real source address to the driver, which stamps nothing itself (``received``/``rport`` are the
core's job, RFC 3581 §4). Responses and requests leave from the same socket the peer talks to,
which is what lets NATed devices receive them (RFC 3581 §4: "the response MUST be sent from the
same address and port that the request was received on").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any, cast

from softswitch.transport.addresses import HostPort, sockaddr_hostport
from softswitch.transport.qos import apply_tos

__all__ = ["DatagramHandler", "UdpListener", "grow_receive_buffer", "open_udp"]

_log = logging.getLogger(__name__)

DatagramHandler = Callable[["UdpListener", bytes, HostPort], None]
"""Called for every datagram received: the listener it came on, the bytes, the source."""


def grow_receive_buffer(sock: Any, size: int) -> int:
    """Ask ``sock`` for a receive queue of ``size`` bytes; returns what the kernel granted (it
    caps the request at net.core.rmem_max and reports double the usable size on Linux); 0
    without a socket."""
    if sock is None:
        return 0
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


class UdpListener(asyncio.DatagramProtocol):
    """A bound UDP socket: receives datagrams for the driver and sends on its behalf."""

    def __init__(self, local: HostPort, on_datagram: DatagramHandler) -> None:
        self.local = local
        self._on_datagram = on_datagram
        self._transport: asyncio.DatagramTransport | None = None
        self._closed = asyncio.get_running_loop().create_future()

    # -- asyncio.DatagramProtocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not inherit from asyncio's classes, so no isinstance check.
        self._transport = cast(asyncio.DatagramTransport, transport)
        # With port 0 the kernel picked the port: report the real one.
        self.local = sockaddr_hostport(transport.get_extra_info("sockname"))

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            source = sockaddr_hostport(addr)
        except ValueError:
            return  # not an IP source (cannot happen on an INET socket); nothing to answer
        try:
            self._on_datagram(self, data, source)
        except Exception:
            # One bad datagram must never stop the socket from receiving the next one.
            _log.exception("error handling a datagram from %s", source)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the transaction layer's timers deal with silence.
        _log.debug("UDP %s: %s", self.local, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closed.done():
            self._closed.set_result(None)

    # -- use -------------------------------------------------------------------------------------

    @property
    def family(self) -> socket.AddressFamily:
        return self.local.family

    @property
    def socket(self) -> Any:
        """The underlying socket (for socket options); None once closed."""
        return None if self._transport is None else self._transport.get_extra_info("socket")

    def send(self, data: bytes, to: HostPort) -> None:
        """Send one datagram to ``to``; silently dropped once the socket is closed."""
        if self._transport is None or self._transport.is_closing():
            return
        self._transport.sendto(data, (to.host, to.port))

    def set_tos(self, tos: int) -> None:
        """Mark every datagram this socket sends with ``tos`` (SS_QOS_SIGNAL)."""
        sock = self.socket
        if sock is not None:
            apply_tos(sock, tos)

    def grow_receive_buffer(self, size: int) -> int:
        """Ask for a receive queue of ``size`` bytes; returns what the kernel granted."""
        return grow_receive_buffer(self.socket, size)

    async def close(self) -> None:
        """Close the socket and wait until asyncio has released it."""
        if self._transport is not None:
            self._transport.close()
            await self._closed


RECEIVE_BUFFER = 4 * 1024 * 1024
"""Bytes asked for the socket's receive queue. The kernel's default (about 208 KiB) holds a
few hundred messages: a burst arriving while the event loop is busy for a moment overflows it
and the datagrams are lost, to be recovered only by the peers' retransmissions (a second or
more later). The kernel caps the request at net.core.rmem_max."""


async def open_udp(local: HostPort, on_datagram: DatagramHandler, tos: int | None) -> UdpListener:
    """Bind a UDP socket on ``local`` (port 0 picks a free one) and start receiving."""
    loop = asyncio.get_running_loop()
    listener = UdpListener(local, on_datagram)
    await loop.create_datagram_endpoint(
        lambda: listener, local_addr=(local.host, local.port), family=local.family
    )
    if tos is not None:
        listener.set_tos(tos)
    listener.grow_receive_buffer(RECEIVE_BUFFER)
    return listener
