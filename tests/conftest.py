"""Shared fixtures: free loopback ports, and the softswitch running as a real subprocess.

Every wait here is bounded; a switch that does not come up fails the test with its log attached
instead of hanging the suite. The subprocess is stopped by its own PID (SIGTERM, then SIGKILL if
it does not exit), and a clean stop must exit 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.database import sqlite_template as sqlite_template
from softswitch.params import ParamStore, load_catalog
from softswitch.runtime.server import Server
from softswitch.runtime.settings import load_settings

START_TIMEOUT = 20.0
READY_LINE = " ready (data in "
"""What ``softswitch run`` logs once every listener is open."""
STOP_TIMEOUT = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` (the switch binds both on one port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as udp:
                    udp.bind((host, port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port found")


def options_request(target: str, via_host: str, via_port: int, transport: str = "UDP") -> bytes:
    """A minimal OPTIONS whose Via asks for rport (RFC 3581)."""
    host = f"[{via_host}]" if ":" in via_host else via_host
    return (
        f"OPTIONS sip:{target} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {host}:{via_port};branch=z9hG4bK-{time.monotonic_ns()};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{host}>;tag=probe\r\n"
        f"To: <sip:{target}>\r\n"
        f"Call-ID: probe-{time.monotonic_ns()}@test\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def udp_probe(host: str, port: int, timeout: float = 0.5) -> bytes | None:
    """Send one OPTIONS over UDP and return the answer, or None if none came in time."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.bind((host, 0))
        local_port = int(sock.getsockname()[1])
        sock.sendto(options_request(f"{host}:{port}", host, local_port), (host, port))
        try:
            return sock.recv(65535)
        except OSError:
            return None


@dataclass
class SwitchProcess:
    """A running ``softswitch run`` subprocess and where to reach it."""

    process: subprocess.Popen[bytes]
    host: str
    sip_port: int
    tls_port: int
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Stop by PID with ``signum``; the exit code."""
        return stop_switch(self, signum)


def start_switch(
    workdir: Path, extra_env: Mapping[str, str] | None = None, host: str = "127.0.0.1"
) -> SwitchProcess:
    """Start ``python -m softswitch.cli run`` on free ports; return once it answers OPTIONS."""
    workdir.mkdir(parents=True, exist_ok=True)
    sip_port, tls_port = free_port(host), free_port(host)
    data_dir = workdir / "data"
    log_path = workdir / "softswitch.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOFTSWITCH_")}
    bracketed = f"[{host}]" if ":" in host else host
    env.update(
        {
            "SOFTSWITCH_DATA_DIR": str(data_dir),
            "SOFTSWITCH_SIP_LISTEN": f"{bracketed}:{sip_port}",
            "SOFTSWITCH_SIP_TLS_LISTEN": f"{bracketed}:{tls_port}",
            "SOFTSWITCH_HTTP_LISTEN": f"{bracketed}:{free_port(host)}",
            "SOFTSWITCH_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "softswitch.cli", "run"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    switch = SwitchProcess(process, host, sip_port, tls_port, data_dir, log_path)
    # Ready once it says so: with SS_REPLY_UNAUTHORIZED Off (the default) an OPTIONS probe from
    # an address the switch does not know gets no answer at all, so it cannot tell readiness.
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"softswitch exited with {process.returncode}:\n{switch.log()}")
        if READY_LINE in switch.log():
            return switch
        time.sleep(0.05)
    stop_switch(switch)
    raise RuntimeError(f"softswitch did not become ready in {START_TIMEOUT} s:\n{switch.log()}")


def stop_switch(switch: SwitchProcess, signum: int = signal.SIGTERM) -> int:
    """Stop the subprocess by its PID; returns its exit code (SIGKILL after a bounded wait)."""
    process = switch.process
    if process.poll() is None:
        os.kill(process.pid, signum)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
    return process.returncode


@pytest.fixture
def launch_switch(tmp_path: Path) -> Iterator[Callable[..., SwitchProcess]]:
    """Factory of softswitch subprocesses for one test; any left running are stopped."""
    started: list[SwitchProcess] = []

    def launch(
        extra_env: Mapping[str, str] | None = None, host: str = "127.0.0.1"
    ) -> SwitchProcess:
        switch = start_switch(tmp_path / f"switch{len(started)}", extra_env, host)
        started.append(switch)
        return switch

    yield launch
    for switch in started:
        stop_switch(switch)


@pytest.fixture(scope="module")
def switch_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwitchProcess]:
    """The softswitch as a subprocess, once per test module; must stop with exit code 0."""
    switch = start_switch(tmp_path_factory.mktemp("switch"))
    yield switch
    code = stop_switch(switch)
    assert code == 0, f"softswitch exited with {code}:\n{switch.log()}"


# --------------------------------------------------------------------------- in-process helpers
# Transport tests run the composition root in the test's own event loop and talk to it with
# asyncio sockets, so nothing blocks the loop the switch runs on.


class UdpClient(asyncio.DatagramProtocol):
    """A test peer on a UDP socket: queues what it receives, with the source address."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((data, addr))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, host: str, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, (host, port))

    async def recv(self, timeout: float = 5.0) -> bytes:
        data, _ = await asyncio.wait_for(self.received.get(), timeout)
        return data

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@pytest.fixture
def free_port_for() -> Callable[[str], int]:
    """``free_port`` as a fixture: a port free for UDP and TCP on a host."""
    return free_port


@pytest.fixture
def make_options() -> Callable[..., bytes]:
    """``options_request`` as a fixture."""
    return options_request


@pytest.fixture
async def udp_client() -> AsyncIterator[Callable[[str], Awaitable[UdpClient]]]:
    """Factory of UDP test peers bound on a host (closed at the end of the test)."""
    clients: list[UdpClient] = []

    async def make(host: str = "127.0.0.1") -> UdpClient:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_datagram_endpoint(UdpClient, local_addr=(host, 0))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    """Factory of in-process servers on free ports; ``params`` is override-file text.

    The transport tests probe from addresses the switch does not know, so these servers answer
    them (SS_REPLY_UNAUTHORIZED On) unless ``params`` says otherwise."""
    servers: list[Server] = []

    async def start(*, params: str = "", host: str = "127.0.0.1", **overrides: str) -> Server:
        bracketed = f"[{host}]" if ":" in host else host
        settings = load_settings(
            {},
            overrides={
                "data_dir": str(tmp_path / "data"),
                "sip_listen": f"{bracketed}:{free_port(host)}",
                "sip_tls_listen": f"{bracketed}:{free_port(host)}",
                # Never the default 8080: another switch on this machine may hold it.
                "http_listen": f"127.0.0.1:{free_port('127.0.0.1')}",
                **overrides,
            },
        )
        store = ParamStore(load_catalog())
        store.apply_text("SS_REPLY_UNAUTHORIZED = On")
        store.apply_text(params)
        server = Server(settings, store)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()
