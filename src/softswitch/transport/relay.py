"""SIP over UDP through a distributor: the worker side of the multi-process switch (EXPERIMENTAL).

With SOFTSWITCH_SIP_WORKERS above 1 one parent process owns the public UDP socket and receives
every datagram; it picks a worker by the message's Call-ID (:func:`call_id_of`,
:func:`worker_of`) and hands it the datagram with its source address over a Unix datagram
socket pair (:func:`pack` / :func:`unpack`). The worker's :class:`RelayListener` takes the place
of a bound :class:`~softswitch.transport.udp.UdpListener`: it receives from its end of the pair
and sends **through the public socket** (inherited from the parent: ``sendto`` from several
processes on one UDP socket is fine), so every datagram still leaves from the public
address:port, as NATs and RFC 3581 §4 require.

The Call-ID scan is deliberately crude and cheap: the first header line named ``Call-ID`` or
``i`` (compact form, §7.3.3), any case, is taken; nothing else is parsed. A message whose
Call-ID cannot be found goes to worker 0, which answers or drops it as a single process would.
The hash must equal the one the workers' identifier sources use for their own Call-IDs
(:func:`owns`), or answers to the calls a worker starts would reach another worker.
"""

from __future__ import annotations

import asyncio
import logging
import re
import struct
import zlib
from socket import socket as Socket

from softswitch.transport.addresses import HostPort
from softswitch.transport.qos import apply_tos
from softswitch.transport.udp import DatagramHandler, UdpListener, grow_receive_buffer

__all__ = ["RelayListener", "call_id_of", "owns", "pack", "unpack", "worker_of"]

_log = logging.getLogger(__name__)

_CALL_ID = re.compile(rb"^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE | re.MULTILINE)
_HEAD = struct.Struct("!BH")
_BATCH = 256
"""Datagrams read per wake-up of the event loop at most (others wait for the next turn)."""


def call_id_of(data: bytes) -> bytes | None:
    """The Call-ID value of a SIP datagram (bytes, surrounding blanks removed), or None."""
    found = _CALL_ID.search(data)
    if found is None:
        return None
    value = found.group(1).strip()
    return value or None


def worker_of(data: bytes, count: int) -> int:
    """The worker (0 .. count-1) that handles this datagram."""
    call_id = call_id_of(data)
    return 0 if call_id is None else zlib.crc32(call_id) % count


def owns(call_id: str, index: int, count: int) -> bool:
    """Whether a Call-ID we mint reaches worker ``index`` of ``count`` (see :func:`worker_of`)."""
    return zlib.crc32(call_id.encode("utf-8", "surrogateescape")) % count == index


def pack(source: tuple[str, int], data: bytes) -> bytes:
    """The relayed datagram: its source address, then the bytes as received."""
    host = source[0].encode("ascii")
    return _HEAD.pack(len(host), source[1]) + host + data


def unpack(relayed: bytes) -> tuple[HostPort, bytes]:
    """The source address and the datagram of a relayed datagram; ValueError if malformed."""
    try:
        size, port = _HEAD.unpack_from(relayed)
    except struct.error:
        raise ValueError("relayed datagram too short") from None
    start = _HEAD.size + size
    if len(relayed) < start:
        raise ValueError("relayed datagram too short")
    host = relayed[_HEAD.size : start].decode("ascii")
    return HostPort(host, port), relayed[start:]


class RelayListener(UdpListener):
    """A worker's UDP listener: receives what the distributor relays on ``inbox`` and sends
    from ``public``, the parent's bound socket. ``local`` is the public address."""

    def __init__(
        self,
        local: HostPort,
        public: Socket,
        inbox: Socket,
        on_datagram: DatagramHandler,
    ) -> None:
        super().__init__(local, on_datagram)
        self._public: Socket | None = public
        self._inbox: Socket | None = inbox
        self._loop = asyncio.get_running_loop()
        inbox.setblocking(False)
        self._loop.add_reader(inbox.fileno(), self._readable)

    def _readable(self) -> None:
        inbox = self._inbox
        if inbox is None:
            return
        for _ in range(_BATCH):
            try:
                relayed = inbox.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                _log.warning("relay socket of %s: %s", self.local, exc)
                return
            try:
                source, data = unpack(relayed)
            except ValueError:
                continue
            try:
                self._on_datagram(self, data, source)
            except Exception:
                _log.exception("error handling a datagram from %s", source)

    @property
    def socket(self) -> Socket | None:
        return self._public

    def send(self, data: bytes, to: HostPort) -> None:
        """Send one datagram from the public socket; dropped (as UDP may) when its send
        queue is full or once closed."""
        public = self._public
        if public is None:
            return
        try:
            public.sendto(data, (to.host, to.port))
        except (BlockingIOError, InterruptedError):
            _log.debug("UDP %s: send queue full, datagram to %s dropped", self.local, to)
        except OSError as exc:
            _log.debug("UDP %s: sending to %s: %s", self.local, to, exc)

    def set_tos(self, tos: int) -> None:
        if self._public is not None:
            apply_tos(self._public, tos)

    def grow_receive_buffer(self, size: int) -> int:
        """The relay socket's receive queue (the public socket's is the parent's business)."""
        return grow_receive_buffer(self._inbox, size)

    async def close(self) -> None:
        """Stop receiving and close this process's copies of both sockets."""
        inbox, self._inbox = self._inbox, None
        if inbox is not None:
            self._loop.remove_reader(inbox.fileno())
            inbox.close()
        public, self._public = self._public, None
        if public is not None:
            public.close()  # our descriptor only: the parent's socket stays open
