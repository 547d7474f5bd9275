"""SIP over streams (TCP and TLS): connections, reuse and idle closing (RFC 3261 §18).

Every accepted or opened connection gets a connection id; the core's ``Peer.connection`` carries
it so that a response goes back on the connection its request came on (§18.2.2). Connections
are also indexed by transport and remote address, so a request to a host and port we already
hold a connection with reuses it instead of opening another (§18.1.1; the spirit of RFC 5923).

Bytes go to the core unframed, tagged with the connection id: the endpoint frames each
connection itself and, when framing breaks (oversize or unreadable Content-Length), asks for the
connection to be closed, since no later message boundary can be trusted. Idle connections are
closed by one sweep timer for the whole pool, not one timer per connection. SS_TCP_CLOSE_RESET
closes with an RST (``SO_LINGER`` 0) so the switch keeps no TIME_WAIT sockets under heavy
connection churn.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import ssl
import struct
from collections.abc import Callable
from typing import Any, cast

from softswitch.transport.addresses import HostPort, sockaddr_hostport
from softswitch.transport.qos import apply_tos

__all__ = ["ClosedHandler", "ConnectionPool", "StreamConnection", "StreamHandler"]

_log = logging.getLogger(__name__)

_LINGER_RESET = struct.pack("ii", 1, 0)

StreamHandler = Callable[["StreamConnection", bytes], None]
"""Called with the bytes of each read from a connection (not framed)."""

ClosedHandler = Callable[["StreamConnection"], None]
"""Called once when a connection is gone (closed by either side or reset)."""


class StreamConnection(asyncio.Protocol):
    """One TCP or TLS connection, framed into SIP messages."""

    def __init__(self, pool: ConnectionPool, transport_name: str, conn_id: int) -> None:
        self.id = conn_id
        self.transport_name = transport_name
        self.remote: HostPort | None = None
        self.local: HostPort | None = None
        self.last_activity = 0.0
        self._pool = pool
        self._transport: asyncio.Transport | None = None
        self._closed = asyncio.get_running_loop().create_future()

    def __repr__(self) -> str:
        return f"<{self.transport_name} connection {self.id} {self.remote}>"

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not inherit from asyncio's classes, so no isinstance check.
        self._transport = cast(asyncio.Transport, transport)
        self.remote = sockaddr_hostport(transport.get_extra_info("peername"))
        self.local = sockaddr_hostport(transport.get_extra_info("sockname"))
        self.last_activity = asyncio.get_running_loop().time()
        self._pool._opened(self)
        admit = self._pool.admit
        if admit is not None and not admit(self.remote):
            self.close(reset=True)  # a banned or blacklisted source: no SIP, no FIN dance

    def data_received(self, data: bytes) -> None:
        # Any bytes count as activity, including RFC 5626 CRLF keep-alives.
        self.last_activity = asyncio.get_running_loop().time()
        if self._transport is None or self._transport.is_closing():
            return  # closed by us (framing error, RST): what is still buffered is not wanted
        try:
            self._pool.on_data(self, data)
        except Exception:
            _log.exception("error handling data from %r", self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._pool._lost(self)
        if not self._closed.done():
            self._closed.set_result(None)

    # -- use -------------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    @property
    def socket(self) -> Any:
        """The underlying socket (TLS included), for socket options; None once closed."""
        return None if self._transport is None else self._transport.get_extra_info("socket")

    def write(self, data: bytes) -> None:
        """Queue ``data`` for sending; dropped if the connection is already closing."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)
            self.last_activity = asyncio.get_running_loop().time()

    def close(self, reset: bool | None = None) -> None:
        """Close: with FIN after the queued data, or at once with RST when ``reset``.

        ``reset`` defaults to the pool's SS_TCP_CLOSE_RESET setting.
        """
        transport = self._transport
        if transport is None:
            return
        if reset if reset is not None else self._pool.reset_on_close:
            sock = transport.get_extra_info("socket")
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            except (OSError, AttributeError) as exc:
                _log.debug("cannot set SO_LINGER on %r: %s", self, exc)
            transport.abort()  # closes the socket now; with linger 0 the kernel sends RST
        else:
            transport.close()

    async def wait_closed(self) -> None:
        await self._closed


class ConnectionPool:
    """All open stream connections: by id, by (transport, remote address), and idle sweeping."""

    def __init__(
        self,
        on_data: StreamHandler,
        on_closed: ClosedHandler | None = None,
        *,
        idle_timeout: float = 600.0,
        reset_on_close: bool = False,
        tos: int | None = None,
    ) -> None:
        self.on_data = on_data
        self.on_closed = on_closed
        self.idle_timeout = idle_timeout
        self.reset_on_close = reset_on_close
        self._tos = tos
        self._ids = itertools.count(1)
        self._by_id: dict[int, StreamConnection] = {}
        self._by_remote: dict[tuple[str, HostPort], StreamConnection] = {}
        self._servers: list[asyncio.Server] = []
        self._sweeper: asyncio.TimerHandle | None = None
        self.admit: Callable[[HostPort], bool] | None = None
        """Asked about every new connection's remote address (the security gate); False
        closes the connection at once with RST."""

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, conn_id: int) -> StreamConnection | None:
        """The open connection with id ``conn_id``, if any."""
        conn = self._by_id.get(conn_id)
        return conn if conn is not None and conn.is_open else None

    def find(self, transport_name: str, remote: HostPort) -> StreamConnection | None:
        """An open connection of ``transport_name`` to ``remote``, to reuse (§18.1.1)."""
        conn = self._by_remote.get((transport_name, remote))
        return conn if conn is not None and conn.is_open else None

    def _factory(self, transport_name: str) -> Callable[[], StreamConnection]:
        return lambda: StreamConnection(self, transport_name, next(self._ids))

    async def listen(
        self, transport_name: str, local: HostPort, ssl_context: ssl.SSLContext | None = None
    ) -> asyncio.Server:
        """Accept ``transport_name`` connections on ``local`` (port 0 picks a free one)."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            self._factory(transport_name),
            local.host,
            local.port,
            family=local.family,
            ssl=ssl_context,
            reuse_address=True,
        )
        self._servers.append(server)
        if self._tos is not None:
            for sock in server.sockets:
                apply_tos(sock, self._tos)  # inherited by accepted sockets on Linux
        self._arm_sweeper()
        return server

    async def connect(
        self,
        transport_name: str,
        remote: HostPort,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout: float = 10.0,
    ) -> StreamConnection:
        """Open a connection to ``remote`` (raises ``OSError`` or ``TimeoutError``)."""
        loop = asyncio.get_running_loop()
        kwargs: dict[str, Any] = {}
        if ssl_context is not None:
            kwargs["ssl"] = ssl_context
            kwargs["server_hostname"] = server_hostname or ""
        async with asyncio.timeout(timeout):
            _, conn = await loop.create_connection(
                self._factory(transport_name), remote.host, remote.port, **kwargs
            )
        self._arm_sweeper()
        return conn

    def set_tos(self, tos: int) -> None:
        """Apply a new SS_QOS_SIGNAL to listening and open sockets."""
        self._tos = tos
        for server in self._servers:
            for sock in server.sockets:
                apply_tos(sock, tos)
        for conn in list(self._by_id.values()):
            if conn.socket is not None:
                apply_tos(conn.socket, tos)

    # -- bookkeeping (called by connections) ----------------------------------------------------

    def _opened(self, conn: StreamConnection) -> None:
        self._by_id[conn.id] = conn
        assert conn.remote is not None
        # The newest connection to an address wins: it is the one the peer is using now.
        self._by_remote[(conn.transport_name, conn.remote)] = conn
        if self._tos is not None and conn.socket is not None:
            apply_tos(conn.socket, self._tos)

    def _lost(self, conn: StreamConnection) -> None:
        self._by_id.pop(conn.id, None)
        if conn.remote is not None:
            key = (conn.transport_name, conn.remote)
            if self._by_remote.get(key) is conn:
                del self._by_remote[key]
        if self.on_closed is not None:
            try:
                self.on_closed(conn)
            except Exception:
                _log.exception("error handling the close of %r", conn)

    # -- idle sweeping ---------------------------------------------------------------------------

    def _arm_sweeper(self) -> None:
        if self._sweeper is None and self.idle_timeout > 0:
            loop = asyncio.get_running_loop()
            # A quarter of the timeout bounds how late an idle connection is closed.
            self._sweeper = loop.call_later(self.idle_timeout / 4, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        now = asyncio.get_running_loop().time()
        for conn in list(self._by_id.values()):
            if now - conn.last_activity >= self.idle_timeout:
                _log.debug("closing idle %r", conn)
                conn.close()
        self._arm_sweeper()

    async def close(self) -> None:
        """Stop listening, close every connection and wait until they are gone."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for server in self._servers:
            server.close()
        conns = list(self._by_id.values())
        for conn in conns:
            conn.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if conns:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in conns], timeout=5)
