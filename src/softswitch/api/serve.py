"""Serving the app with uvicorn inside the caller's event loop.

The runtime owns the process's signals (it stops SIP, RTP and HTTP in order), so uvicorn must
not install handlers of its own: :class:`_QuietServer` turns its ``capture_signals`` off. The
listening socket is bound here, before uvicorn starts, so port 0 works and the bound port is
known at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

__all__ = ["HttpServer", "serve_http"]

START_TIMEOUT = 10.0
"""Seconds to wait for uvicorn to report it is serving."""


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _listening_socket(host: str, port: int, family: socket.AddressFamily) -> socket.socket:
    """A TCP listening socket created with ``IPPROTO_TCP`` as its protocol.

    ``socket.create_server`` leaves the protocol 0, and asyncio turns Nagle's algorithm off
    (TCP_NODELAY) only on accepted sockets whose protocol says TCP: without it every small
    answer waits for the client's delayed ACK, about 40 ms per request.
    """
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock


async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    """Run uvicorn; its ``sys.exit`` on a failed startup must not escape into the event loop
    (asyncio re-raises ``SystemExit`` out of ``run``), so it becomes a ``RuntimeError``."""
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:
        raise RuntimeError(f"the HTTP server exited with status {exc.code}") from None
    finally:
        sock.close()


class HttpServer:
    """A running HTTP server; ``await stop()`` ends it (open connections are closed)."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], host: str, port: int):
        self._server = server
        self._task = task
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:8080``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting, finish or close open requests, run the app's shutdown."""
        self._server.should_exit = True
        await self._task


async def serve_http(app: FastAPI, host: str, port: int) -> HttpServer:
    """Start serving ``app`` on ``host:port`` (0 for any free port) in the running loop.

    Returns once the server accepts connections and the app's startup (lifespan) has run;
    raises ``RuntimeError`` if it does not start.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = _listening_socket(host, port, family)
    sock.setblocking(False)
    bound_port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = _QuietServer(config)
    task = asyncio.create_task(_serve(server, sock), name=f"http:{host}:{bound_port}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    try:
        while not server.started:
            if task.done():
                raise RuntimeError(f"the HTTP server on {host}:{bound_port} did not start")
            if loop.time() > deadline:
                raise RuntimeError(f"the HTTP server on {host}:{bound_port} did not start in time")
            await asyncio.sleep(0.01)
    except BaseException:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task
        raise
    return HttpServer(server, task, host, bound_port)
