"""NAT keep-alives and NAT endpoints over real UDP sockets (issue 7 §2, §4).

Each device is a UDP socket on its own 127.0.0.x address that registers (digest, as a phone
does) with a Via and Contact naming a private address (10.0.0.x:5060): the switch must see it
behind NAT, send its keep-alives to the socket the packets came from, and send calls there too.
Timing assertions are loose (a fraction of the parameters' own intervals, never tighter than
the parameter granularity); every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from softswitch.runtime.server import Server
from softswitch.sip import Request, Response, make_response, parse_message
from softswitch.sip.digest_client import authorize

ADMIN = "keepalive-admin-pw-1"
UdpClient = Any  # tests/conftest.py's UDP test peer
_seq = itertools.count(1)


@dataclass
class Device:
    """A phone behind a simulated NAT: ``client`` is its NAT's public side (127.0.0.x:port),
    ``private`` what it writes in Via and Contact."""

    client: UdpClient
    private: str
    call_id: str


@dataclass
class Bed:
    server: Server
    api: httpx.AsyncClient
    sip: tuple[str, int]
    account_id: int


@contextlib.asynccontextmanager
async def _bed(start_server, free_port_for, params: str) -> AsyncIterator[Bed]:
    http = free_port_for("127.0.0.1")
    server = await start_server(
        params=params, http_listen=f"127.0.0.1:{http}", admin_password=ADMIN, sip_tls_listen=""
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http}/api/v1", timeout=10.0) as api:
        login = await api.post("/auth/login", json={"username": "admin", "password": ADMIN})
        assert login.status_code == 200, login.text
        api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        account = await api.post(
            "/accounts", json={"code": "NAT", "currency": "USD", "billing_mode": "postpaid"}
        )
        assert account.status_code == 201, account.text
        (udp,) = [a for t, a in server.listening if t == "UDP"]
        yield Bed(server, api, (udp.host, udp.port), int(account.json()["id"]))


async def _phone(bed: Bed, number: str) -> None:
    body = {"number": number, "account_id": bed.account_id, "password": f"pw-{number}"}
    answer = await bed.api.post("/phones", json=body)
    assert answer.status_code == 201, answer.text
    assert bed.server.snapshots is not None
    for _ in range(100):  # the snapshot follows the API's change at once; bounded anyway
        if number in bed.server.snapshots.current.phones:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"phone {number} never reached the snapshot")


def _register(bed: Bed, device: Device, user: str, authorization: str = "") -> bytes:
    host, port = bed.sip
    cseq = next(_seq)
    lines = [
        f"REGISTER sip:{host}:{port} SIP/2.0",
        f"Via: SIP/2.0/UDP {device.private};branch=z9hG4bK-nat-{cseq};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{host}>;tag=nat-{cseq}",
        f"To: <sip:{user}@{host}>",
        f"Call-ID: {device.call_id}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:{user}@{device.private}>",
        "Expires: 3600",
        *([authorization] if authorization else []),
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _sip(device: Device, timeout: float = 5.0) -> Request | Response:
    """The next SIP message the device receives (keep-alives, which are not SIP, skipped)."""
    return await _sip_from(device.client, timeout)


async def _sip_from(client: UdpClient, timeout: float = 5.0) -> Request | Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        data, _ = await asyncio.wait_for(client.received.get(), deadline - loop.time())
        if data.startswith((b"SIP/2.0", b"INVITE", b"ACK", b"BYE", b"CANCEL", b"OPTIONS")):
            return parse_message(data)


async def _register_device(bed: Bed, device: Device, user: str) -> None:
    """REGISTER, answer the 401, expect 200 (RFC 3261 §22.2)."""
    host, port = bed.sip
    device.client.send(_register(bed, device, user), host, port)
    challenge = await _sip(device)
    assert isinstance(challenge, Response) and challenge.status == 401, challenge
    (offer,) = challenge.auth("WWW-Authenticate")
    value = authorize(offer, "REGISTER", f"sip:{host}:{port}", user, f"pw-{user}", "c0ffee")
    device.client.send(_register(bed, device, user, f"Authorization: {value}"), host, port)
    ok = await _sip(device)
    assert isinstance(ok, Response) and ok.status == 200, ok


async def _devices(udp_client, count: int, first_host: int = 10) -> list[Device]:
    out = []
    for i in range(count):
        client = await udp_client(f"127.0.0.{first_host + i}")
        out.append(Device(client, f"10.0.0.{i + 1}:5060", f"nat-{first_host + i}@test"))
    return out


async def _arrivals(
    devices: list[Device], seconds: float
) -> list[list[tuple[float, bytes, tuple[str, int]]]]:
    """Every datagram each device receives within ``seconds``: (loop time, payload, source)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    found: list[list[tuple[float, bytes, tuple[str, int]]]] = [[] for _ in devices]

    async def watch(i: int) -> None:
        queue = devices[i].client.received
        while (left := end - loop.time()) > 0:
            try:
                data, addr = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                return
            found[i].append((loop.time(), data, addr))

    await asyncio.gather(*(watch(i) for i in range(len(devices))))
    return found


def _params(**values: object) -> str:
    return "".join(f"SS_SIP_NAT_KEEP_ALIVE_{k.upper()} = {v}\n" for k, v in values.items())


async def test_nat_endpoints_get_keepalives_in_batches_from_the_sip_socket(
    start_server, free_port_for, udp_client
) -> None:
    # A long pause between batches at start; the change below restarts the cycle at once.
    params = _params(message="PING", period=60, send_interval=10000, send_one_time=1)
    async with _bed(start_server, free_port_for, params) as bed:
        await _phone(bed, "1001")
        natted = await _devices(udp_client, 5)
        for device in natted:
            await _register_device(bed, device, "1001")
        public = await udp_client("127.0.0.20")
        direct = Device(public, f"127.0.0.20:{public.port}", "direct@test")
        await _register_device(bed, direct, "1001")
        bindings = {b.source.host: b for b in bed.server.registrar.lookup_user("1001")}
        assert [bindings[f"127.0.0.{10 + i}"].behind_nat for i in range(5)] == [True] * 5
        assert not bindings["127.0.0.20"].behind_nat
        assert bed.server.registrar.counts().behind_nat == 5

        bed.server.params.update(
            {"SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL": 500, "SS_SIP_NAT_KEEP_ALIVE_SEND_ONE_TIME": 2}
        )
        seen = await _arrivals([*natted, direct], 2.5)

    assert seen[5] == []  # not behind NAT: no keep-alive
    for arrivals in seen[:5]:
        assert [(data, source) for _, data, source in arrivals] == [(b"PING", bed.sip)]
    at = [arrivals[0][0] for arrivals in seen[:5]]
    # Batches of two in registration order, 500 ms apart (loose: 0.35 s to 2 s).
    assert abs(at[1] - at[0]) < 0.25 and abs(at[3] - at[2]) < 0.25
    assert 0.35 <= at[2] - at[0] <= 2.0 and 0.35 <= at[4] - at[2] <= 2.0
    figures = bed.server.keepalive.figures() if bed.server.keepalive else None
    assert figures is None or figures.packets >= 5


async def test_emptying_the_message_stops_keepalives_through_the_api_and_the_store(
    start_server, free_port_for, udp_client
) -> None:
    params = _params(message="HELLO", period=60, send_interval=1000, send_one_time=1)
    async with _bed(start_server, free_port_for, params) as bed:
        await _phone(bed, "1001")
        devices = await _devices(udp_client, 3)
        for device in devices:
            await _register_device(bed, device, "1001")
        keepalive = bed.server.keepalive
        assert keepalive is not None

        # Through the API: a new message restarts the cycle now; emptying it stops it.
        answer = await bed.api.put("/params/SS_SIP_NAT_KEEP_ALIVE_MESSAGE", json={"value": "KA1"})
        assert answer.status_code == 200, answer.text
        data, _ = await asyncio.wait_for(devices[0].client.received.get(), 5.0)
        assert data == b"KA1"
        answer = await bed.api.put("/params/SS_SIP_NAT_KEEP_ALIVE_MESSAGE", json={"value": ""})
        assert answer.status_code == 200, answer.text
        assert keepalive.next_deadline is None
        # Device 1's batch was due 1 s after device 0's: nothing comes any more.
        assert await _arrivals(devices, 1.6) == [[], [], []]

        # Through the parameter store, the same.
        bed.server.params.set("SS_SIP_NAT_KEEP_ALIVE_MESSAGE", "KA2")
        data, _ = await asyncio.wait_for(devices[0].client.received.get(), 5.0)
        assert data == b"KA2"
        bed.server.params.set("SS_SIP_NAT_KEEP_ALIVE_MESSAGE", "")
        assert keepalive.next_deadline is None
        assert await _arrivals(devices, 1.6) == [[], [], []]


async def test_a_cycle_not_finished_in_its_period_starts_over_and_is_warned_about(
    start_server, free_port_for, udp_client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="softswitch.runtime.keepalive")
    params = _params(period=10, send_interval=5000, send_one_time=1)
    async with _bed(start_server, free_port_for, params) as bed:
        await _phone(bed, "1001")
        devices = await _devices(udp_client, 4)
        for device in devices:
            await _register_device(bed, device, "1001")
        before = len(caplog.records)

        # 4 endpoints x 4 s > 10 s: batches at 0, 4, 8, then the next cycle starts over at 10
        # with the first endpoint; the fourth never gets one. The change restarts the cycle.
        bed.server.params.set("SS_SIP_NAT_KEEP_ALIVE_SEND_INTERVAL", 4000)
        start = asyncio.get_running_loop().time()
        seen = await _arrivals(devices, 11.5)

    times = [[t - start for t, _, _ in arrivals] for arrivals in seen]
    assert len(times[0]) == 2 and len(times[1]) == 1 and len(times[2]) == 1, times
    assert times[3] == [], times
    assert times[0][0] < 1.0
    assert 3.0 <= times[1][0] - times[0][0] <= 6.0
    assert 7.0 <= times[2][0] - times[0][0] <= 10.0
    assert 9.0 <= times[0][1] - times[0][0] <= 11.0
    warnings = [r.getMessage() for r in caplog.records[before:] if r.levelno == logging.WARNING]
    unreachable = [w for w in warnings if "4 NAT endpoints need 4 keep-alive batches" in w]
    assert len(unreachable) == 1, warnings  # once for this configuration, not once per cycle
    assert "16 s, more than SS_SIP_NAT_KEEP_ALIVE_PERIOD 10 s" in unreachable[0]
    assert "after the first 3" in unreachable[0]


async def test_a_period_too_close_to_nat_expire_is_warned_at_start(
    start_server, free_port_for, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="softswitch.runtime.keepalive")
    params = _params(period=200) + "SS_ENDPOINT_NAT_EXPIRE = 300\n"
    async with _bed(start_server, free_port_for, params):
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(
            "PERIOD 200 s is not well below SS_ENDPOINT_NAT_EXPIRE 300 s" in w for w in warnings
        )


async def test_a_call_to_a_phone_behind_nat_goes_to_its_observed_address(
    start_server, free_port_for, udp_client
) -> None:
    async with _bed(start_server, free_port_for, _params(message="")) as bed:
        caller = await udp_client("127.0.0.2")
        trunk = await bed.api.post(
            "/mapping-gateways",
            json={"name": "nat-in", "account_id": bed.account_id, "source_ips": ["127.0.0.2/32"]},
        )
        assert trunk.status_code == 201, trunk.text
        await _phone(bed, "1002")
        (device,) = await _devices(udp_client, 1, first_host=5)
        await _register_device(bed, device, "1002")
        for _ in range(100):
            if bed.server.snapshots is not None and bed.server.snapshots.current.trunks:
                break
            await asyncio.sleep(0.05)

        host, port = bed.sip
        uri = f"sip:1002@{host}:{port}"
        invite = (
            f"INVITE {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.2:{caller.port};branch=z9hG4bK-natcall;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:5551000@127.0.0.2>;tag=c1\r\n"
            f"To: <{uri}>\r\nCall-ID: natcall@test\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:5551000@127.0.0.2:{caller.port}>\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        caller.send(invite, host, port)
        relayed = await _sip(device)

        assert isinstance(relayed, Request) and relayed.method == "INVITE"
        # Sent to the NAT's public side (this socket), addressed to the Contact it registered.
        assert relayed.uri == f"sip:1002@{device.private}"
        # Busy: the caller hears it, and the switch is left with no call to clear at stop.
        busy = make_response(relayed, 486, to_tag="busy")
        device.client.send(bytes(busy), host, port)
        while True:
            answer = await _sip_from(caller)
            if isinstance(answer, Response) and answer.status >= 200:
                break
        assert answer.status == 486
