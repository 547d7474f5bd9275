"""The asyncio driver of the sans-IO endpoint: sockets and the clock on one side, the core on the
other.

After aioquic's and h11's drivers: everything that arrives (a datagram, stream bytes, a closed
connection, the timer) is handed to :class:`~softswitch.sip.endpoint.Endpoint` with
``loop.time()`` as ``now``; then the endpoint's events go to the dispatcher (call control, the
registrar ...), its output goes onto the sockets, and exactly one ``loop.call_at`` stays armed for
the endpoint's earliest deadline. The handle is replaced only when that deadline changes, so a
busy switch does not churn the event loop's timer heap on every message.

Where bytes go (RFC 3261 §18): the endpoint has already chosen the destination (received/rport,
the connection of the request, the sent-by). A stream destination goes on its connection while
it is open, else on any open connection to the same address (reuse, §18.1.1), else on a new
connection; datagrams leave from the UDP socket of the destination's address family.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Protocol

from softswitch.sip.endpoint import Endpoint
from softswitch.sip.events import CloseConnection, Event, Outgoing, Output, Peer
from softswitch.sip.message import Request, Response
from softswitch.sip.transaction import TransactionKey
from softswitch.transport.addresses import HostPort
from softswitch.transport.relay import RelayListener
from softswitch.transport.tcp import ConnectionPool, StreamConnection
from softswitch.transport.udp import RECEIVE_BUFFER, UdpListener, open_udp

__all__ = ["Dispatcher", "Driver", "Gate", "Sender"]

_log = logging.getLogger(__name__)


class Sender(Protocol):
    """What a dispatcher may do in return: the endpoint's TU verbs, with the clock filled in."""

    def now(self) -> float:
        """The driver's clock (``loop.time()``), the ``now`` the endpoint works with."""
        ...

    def send_response(self, transaction: TransactionKey, response: Response) -> None:
        """Answer through a server transaction."""
        ...

    def send_request(self, request: Request, peer: Peer) -> TransactionKey:
        """Start a client transaction."""
        ...

    def send_stateless(self, message: Request | Response, peer: Peer) -> None:
        """Send outside any transaction (ACK to a 2xx, 2xx retransmissions)."""
        ...


class Gate(Protocol):
    """The security gate (``softswitch.security``), asked before anything is parsed."""

    def admit_packet(self, host: str, data: bytes, now: float) -> bool:
        """Whether a datagram or stream chunk from ``host`` may reach the SIP core."""
        ...

    def admit_connection(self, host: str, now: float) -> bool:
        """Whether a new TCP/TLS connection from ``host`` may stay open."""
        ...


class Dispatcher(Protocol):
    """Receives every endpoint event; answers through ``sender``. Must not block."""

    def dispatch(self, event: Event, sender: Sender) -> None: ...


class Driver:
    """Owns the endpoint, the listening sockets and the connections, and the one armed timer."""

    def __init__(
        self,
        endpoint: Endpoint,
        dispatcher: Dispatcher,
        *,
        tos: int | None = None,
        reset_on_close: bool = False,
        idle_timeout: float = 600.0,
        tls_client: ssl.SSLContext | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.dispatcher = dispatcher
        self.tls_client = tls_client
        self.gate = gate
        self._loop = asyncio.get_running_loop()
        self._tos = tos
        self._udp: list[UdpListener] = []
        self.pool = ConnectionPool(
            self._on_stream_data,
            self._on_stream_closed,
            idle_timeout=idle_timeout,
            reset_on_close=reset_on_close,
            tos=tos,
        )
        if gate is not None:
            self.pool.admit = lambda remote: gate.admit_connection(remote.host, self.now())
        self._connecting: dict[tuple[str, HostPort], list[Outgoing]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at: float | None = None
        self._pumping = False
        self._closed = False

    # -- listeners -------------------------------------------------------------------------------

    async def listen_udp(self, local: HostPort) -> HostPort:
        """Receive SIP over UDP on ``local``; returns the bound address (port 0 is filled in)."""
        listener = await open_udp(local, self._on_datagram, self._tos)
        self._udp.append(listener)
        return listener.local

    def listen_relay(
        self, local: HostPort, public: socket.socket, inbox: socket.socket
    ) -> HostPort:
        """Receive SIP over UDP relayed by the multi-process distributor on ``inbox`` and send
        from ``public``, its bound socket at ``local`` (``softswitch.transport.relay``)."""
        listener = RelayListener(local, public, inbox, self._on_datagram)
        if self._tos is not None:
            listener.set_tos(self._tos)
        listener.grow_receive_buffer(RECEIVE_BUFFER)
        self._udp.append(listener)
        return listener.local

    async def listen_stream(
        self, transport_name: str, local: HostPort, ssl_context: ssl.SSLContext | None = None
    ) -> HostPort:
        """Accept TCP (or, with ``ssl_context``, TLS) connections; returns the bound address."""
        server = await self.pool.listen(transport_name, local, ssl_context)
        sockname = server.sockets[0].getsockname()
        return HostPort(local.host, int(sockname[1]))

    @property
    def udp_listeners(self) -> tuple[UdpListener, ...]:
        return tuple(self._udp)

    # -- run-time settings -----------------------------------------------------------------------

    def set_tos(self, tos: int) -> None:
        """Apply a changed SS_QOS_SIGNAL to every socket, open or future."""
        self._tos = tos
        for listener in self._udp:
            listener.set_tos(tos)
        self.pool.set_tos(tos)

    def set_reset_on_close(self, reset: bool) -> None:
        """Apply a changed SS_TCP_CLOSE_RESET."""
        self.pool.reset_on_close = reset

    # -- Sender ----------------------------------------------------------------------------------

    def now(self) -> float:
        return self._loop.time()

    def send_response(self, transaction: TransactionKey, response: Response) -> None:
        self.endpoint.send_response(transaction, response, self.now())
        self._pump()

    def send_request(self, request: Request, peer: Peer) -> TransactionKey:
        key = self.endpoint.send_request(request, peer, self.now())
        self._pump()
        return key

    def send_stateless(self, message: Request | Response, peer: Peer) -> None:
        self.endpoint.send_stateless(message, peer)
        self._pump()

    # -- inbound ---------------------------------------------------------------------------------

    def _on_datagram(self, listener: UdpListener, data: bytes, source: HostPort) -> None:
        now = self._loop.time()
        gate = self.gate
        if gate is not None and not gate.admit_packet(source.host, data, now):
            return  # dropped before parsing: no answer, no log line per packet
        self.endpoint.receive(data, Peer("UDP", source.host, source.port), now)
        self._pump()

    def _on_stream_data(self, conn: StreamConnection, data: bytes) -> None:
        now = self._loop.time()
        gate = self.gate
        remote = conn.remote
        if (
            gate is not None
            and remote is not None
            and not gate.admit_packet(remote.host, data, now)
        ):
            conn.close(reset=True)
            return
        self.endpoint.receive(data, self._peer_of(conn), now)
        self._pump()

    def _on_stream_closed(self, conn: StreamConnection) -> None:
        self.endpoint.connection_closed(self._peer_of(conn))
        self._pump()

    @staticmethod
    def _peer_of(conn: StreamConnection) -> Peer:
        assert conn.remote is not None
        return Peer(conn.transport_name, conn.remote.host, conn.remote.port, conn.id)

    # -- the pump --------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Dispatch every event and send every output until both are empty, then re-arm.

        Re-entrant calls (a dispatcher answering from inside :meth:`Dispatcher.dispatch`) return
        at once: the outer pump sees what they queued.
        """
        if self._pumping:
            return
        self._pumping = True
        try:
            while True:
                event = self.endpoint.next_event()
                if event is not None:
                    try:
                        self.dispatcher.dispatch(event, self)
                    except Exception:
                        _log.exception("dispatcher failed on %s", type(event).__name__)
                    continue
                outputs = self.endpoint.outgoing()
                if not outputs:
                    break
                for item in outputs:
                    self._emit(item)
        finally:
            self._pumping = False
        self._rearm()

    def _rearm(self) -> None:
        if self._closed:
            return
        deadline = self.endpoint.next_deadline()
        if deadline == self._armed_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_at = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    @property
    def armed_deadline(self) -> float | None:
        """The deadline the one timer is armed for (None when nothing runs)."""
        return self._armed_at

    def _on_timer(self) -> None:
        self._timer = None
        self._armed_at = None
        self.endpoint.handle_deadlines(self.now())
        self._pump()

    # -- outbound --------------------------------------------------------------------------------

    def _emit(self, item: Output) -> None:
        if isinstance(item, CloseConnection):
            conn = None if item.peer.connection is None else self.pool.get(item.peer.connection)
            if conn is not None:
                _log.info("closing %r: %s", conn, item.reason)
                conn.close()
            return
        peer = item.peer
        if not peer.reliable:
            self._send_datagram(item)
            return
        conn = None if peer.connection is None else self.pool.get(peer.connection)
        target = HostPort(peer.host, peer.port)
        if conn is None:
            conn = self.pool.find(peer.transport.upper(), target)
        if conn is not None:
            conn.write(item.data)
            return
        key = (peer.transport.upper(), target)
        waiting = self._connecting.get(key)
        if waiting is not None:
            waiting.append(item)  # one connection attempt per destination
            return
        self._connecting[key] = [item]
        task = self._loop.create_task(self._connect(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send_datagram(self, item: Outgoing) -> None:
        target = HostPort(item.peer.host, item.peer.port)
        for listener in self._udp:
            if listener.family == target.family:
                listener.send(item.data, target)
                return
        _log.warning("no UDP socket for %s", target)
        self.endpoint.send_failed(item, self.now())

    async def _connect(self, key: tuple[str, HostPort]) -> None:
        transport_name, target = key
        context = self.tls_client if transport_name == "TLS" else None
        try:
            if transport_name == "TLS" and context is None:
                raise OSError("no TLS client context")
            conn = await self.pool.connect(transport_name, target, context, target.host)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            _log.info("cannot connect %s to %s: %s", transport_name, target, exc)
            for item in self._connecting.pop(key, []):
                self.endpoint.send_failed(item, self.now())
            self._pump()
            return
        for item in self._connecting.pop(key, []):
            conn.write(item.data)

    # -- shutdown --------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the timer, close every socket and connection, cancel pending connects."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_at = None
        for task in list(self._tasks):
            task.cancel()
        for listener in self._udp:
            await listener.close()
        self._udp.clear()
        await self.pool.close()
