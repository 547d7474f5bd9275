"""The call engine's corner cases over real UDP sockets on 127.0.0.x, with hand-written SIP.

SIPp drives the ordinary call flows (tests/interop); these tests need to look at single header
lines or send what SIPp's scenarios cannot express simply: a Require the switch must refuse,
Max-Forwards 0, an INVITE without SDP (the offer comes in the 2xx, the answer in the ACK), a
carrier's reliable 183 (PRACKed on its own leg, relayed unreliably), and the callback flow.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from softswitch.calls.call import Call
from softswitch.calls.control import CallbackRequest
from softswitch.runtime.server import Server
from softswitch.sip import Request, Response, make_response, parse_message
from softswitch.sip.digest_client import authorize

ADMIN = "edge-admin-password-1"


def _sdp(user: str, host: str, port: int) -> bytes:
    return (
        f"v=0\r\no={user} 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\n"
    ).encode()


SDP_A = _sdp("a", "127.0.0.2", 4000)
SDP_B = _sdp("b", "127.0.0.3", 5000)
_seq = itertools.count(1)
UdpClient = Any  # tests/conftest.py's UDP test peer


@dataclass
class Bed:
    server: Server
    sip: tuple[str, int]
    api: httpx.AsyncClient
    account_id: int
    caller: UdpClient
    gateway: UdpClient


async def _receive(client: UdpClient, timeout: float = 5.0) -> Request | Response:
    return parse_message(await client.recv(timeout))


async def _next(
    client: UdpClient, want: Callable[[Request | Response], bool], timeout: float = 5.0
) -> Request | Response:
    """The next message ``want`` accepts, skipping others (100 Trying, retransmissions)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await _receive(client, max(0.05, deadline - loop.time()))
        if want(message):
            return message


def _request_from(
    client: UdpClient,
    method: str,
    uri: str,
    *,
    call_id: str,
    from_tag: str = "caller-tag",
    to: str = "",
    cseq: int = 1,
    body: bytes = b"",
    headers: tuple[str, ...] = (),
    host: str = "127.0.0.2",
) -> bytes:
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{client.port};branch=z9hG4bK-edge-{next(_seq)};rport",
        "Max-Forwards: 70",
        f"From: <sip:5551000@{host}>;tag={from_tag}",
        f"To: {to or '<' + uri + '>'}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:5551000@{host}:{client.port}>",
        *headers,
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _answer(
    request: Request,
    status: int,
    *,
    tag: str,
    client: UdpClient,
    host: str,
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
) -> bytes:
    extra = list(headers)
    if 101 <= status < 300:
        extra.append(("Contact", f"<sip:gw@{host}:{client.port}>"))
    response = make_response(
        request,
        status,
        to_tag=tag,
        headers=extra,
        body=body,
        content_type="application/sdp" if body else None,
    )
    return bytes(response)


async def _cdr(bed: Bed, call_id: str) -> dict[str, object]:
    now, day = datetime.now(UTC), timedelta(days=1)
    for _ in range(50):
        found = await bed.api.get(
            "/cdrs",
            params={"start": (now - day).isoformat(), "end": (now + day).isoformat()},
        )
        assert found.status_code == 200, found.text
        for item in found.json()["items"]:
            if item["call_id"] == call_id:
                return dict(item)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no CDR for {call_id}")


@pytest.fixture
async def bed(
    start_server: Callable[..., Awaitable[Server]],
    udp_client: Callable[[str], Awaitable[UdpClient]],
    free_port_for: Callable[[str], int],
) -> AsyncIterator[Bed]:
    http = free_port_for("127.0.0.1")
    server = await start_server(
        http_listen=f"127.0.0.1:{http}", admin_password=ADMIN, sip_tls_listen=""
    )
    caller = await udp_client("127.0.0.2")
    gateway = await udp_client("127.0.0.3")
    api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{http}/api/v1", timeout=10.0)
    login = await api.post("/auth/login", json={"username": "admin", "password": ADMIN})
    api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    account = await api.post(
        "/accounts", json={"code": "EDGE", "currency": "USD", "billing_mode": "postpaid"}
    )
    assert account.status_code == 201, account.text
    account_id = account.json()["id"]
    trunk = await api.post(
        "/mapping-gateways",
        json={
            "name": "edge-in",
            "account_id": account_id,
            "source_ips": ["127.0.0.2/32"],
            "callee_rewrite": ["strip 2"],
        },
    )
    assert trunk.status_code == 201, trunk.text
    route = await api.post(
        "/routing-gateways",
        json={"name": "edge-out", "host": "127.0.0.3", "port": gateway.port, "prefixes": ["44"]},
    )
    assert route.status_code == 201, route.text
    assert server.snapshots is not None
    for _ in range(50):
        if server.snapshots.current.gateways:
            break
        await asyncio.sleep(0.05)
    (udp,) = [address for transport, address in server.listening if transport == "UDP"]
    yield Bed(server, (udp.host, udp.port), api, account_id, caller, gateway)
    await api.aclose()


def _invite_uri(bed: Bed, number: str = "004420001") -> str:
    """The customer dials 00 44 ...; the trunk's rule strips the 00 before routing."""
    return f"sip:{number}@{bed.sip[0]}:{bed.sip[1]}"


async def test_a_required_extension_we_do_not_offer_is_refused_with_420(bed: Bed) -> None:
    uri = _invite_uri(bed)
    bed.caller.send(
        _request_from(
            bed.caller, "INVITE", uri, call_id="edge-420", body=SDP_A, headers=("Require: 100rel",)
        ),
        *bed.sip,
    )

    answer = await _next(bed.caller, lambda m: isinstance(m, Response) and m.status >= 200)

    assert isinstance(answer, Response) and answer.status == 420
    assert answer.get("unsupported") == "100rel"
    with pytest.raises(TimeoutError):
        await bed.gateway.recv(0.3)


async def test_max_forwards_zero_gets_483_and_goes_nowhere(bed: Bed) -> None:
    raw = _request_from(bed.caller, "INVITE", _invite_uri(bed), call_id="edge-483", body=SDP_A)
    bed.caller.send(raw.replace(b"Max-Forwards: 70", b"Max-Forwards: 0"), *bed.sip)

    answer = await _next(bed.caller, lambda m: isinstance(m, Response) and m.status >= 200)

    assert isinstance(answer, Response) and answer.status == 483
    with pytest.raises(TimeoutError):
        await bed.gateway.recv(0.3)


async def test_late_offer_travels_in_the_2xx_and_the_answer_in_the_callers_ack(bed: Bed) -> None:
    uri = _invite_uri(bed)
    bed.caller.send(_request_from(bed.caller, "INVITE", uri, call_id="edge-late"), *bed.sip)
    invite = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(invite, Request) and invite.body == b""
    assert invite.uri.startswith("sip:4420001@127.0.0.3")

    ok = _answer(invite, 200, tag="gw-late", client=bed.gateway, host="127.0.0.3", body=SDP_B)
    bed.gateway.send(ok, "127.0.0.1", bed.sip[1])
    answer = await _next(bed.caller, lambda m: isinstance(m, Response) and m.status == 200)
    assert isinstance(answer, Response) and answer.body == SDP_B
    to = answer.get("to") or ""
    # No ACK to the carrier yet: the answer to its offer is still with the caller.
    with pytest.raises(TimeoutError):
        await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "ACK", 0.3)

    ack = _request_from(bed.caller, "ACK", uri, call_id="edge-late", to=to, body=SDP_A)
    bed.caller.send(ack, *bed.sip)
    relayed = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "ACK")
    assert isinstance(relayed, Request) and relayed.body == SDP_A

    bye = _request_from(bed.caller, "BYE", uri, call_id="edge-late", to=to, cseq=2)
    bed.caller.send(bye, *bed.sip)
    their_bye = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "BYE")
    assert isinstance(their_bye, Request)
    bed.gateway.send(bytes(make_response(their_bye, 200)), "127.0.0.1", bed.sip[1])
    done = await _next(bed.caller, lambda m: isinstance(m, Response) and m.cseq.method == "BYE")
    assert isinstance(done, Response) and done.status == 200
    cdr = await _cdr(bed, "edge-late")
    assert cdr["termination_reason"] == "CallerHangup" and cdr["codec"] == "PCMU"
    assert (cdr["callee_in"], cdr["callee"], cdr["callee_out"]) == (
        "004420001",
        "4420001",
        "4420001",
    )
    assert cdr["caller_in"] == cdr["caller"] == "5551000"
    assert bed.server.calls is not None
    (gateway,) = bed.server.calls.monitor().gateways
    assert (gateway.name, gateway.attempts, gateway.answered, gateway.in_use) == (
        "edge-out",
        1,
        1,
        0,
    )
    (prefix,) = gateway.prefixes
    assert (prefix.prefix, prefix.attempts, prefix.answered, prefix.asr) == ("44", 1, 1, 100.0)
    assert prefix.acd is not None and prefix.acd >= 0


async def test_reliable_183_is_pracked_on_the_carrier_leg_and_relayed_unreliably(
    bed: Bed,
) -> None:
    uri = _invite_uri(bed)
    bed.caller.send(
        _request_from(bed.caller, "INVITE", uri, call_id="edge-prack", body=SDP_A), *bed.sip
    )
    invite = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(invite, Request)
    assert "100rel" not in (invite.get("supported") or "")

    early = _answer(
        invite,
        183,
        tag="gw-prack",
        client=bed.gateway,
        host="127.0.0.3",
        body=SDP_B,
        headers=(("Require", "100rel"), ("RSeq", "7")),
    )
    bed.gateway.send(early, "127.0.0.1", bed.sip[1])

    prack = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "PRACK")
    assert isinstance(prack, Request)
    assert prack.get("rack") == "7 1 INVITE"
    relayed = await _next(bed.caller, lambda m: isinstance(m, Response) and m.status == 183)
    assert isinstance(relayed, Response) and relayed.body == SDP_B
    assert relayed.get("require") is None and relayed.get("rseq") is None

    bed.gateway.send(bytes(make_response(prack, 200)), "127.0.0.1", bed.sip[1])
    bed.gateway.send(
        _answer(invite, 486, tag="gw-prack", client=bed.gateway, host="127.0.0.3"),
        "127.0.0.1",
        bed.sip[1],
    )
    busy = await _next(bed.caller, lambda m: isinstance(m, Response) and m.status >= 300)
    assert isinstance(busy, Response) and busy.status == 486
    cdr = await _cdr(bed, "edge-prack")
    assert cdr["termination_reason"] == "CalleeBusy" and cdr["ring_time"] is not None


async def test_callback_calls_a_then_bridges_b_with_as_offer(
    bed: Bed, udp_client: Callable[[str], Awaitable[UdpClient]]
) -> None:
    b = await udp_client("127.0.0.4")
    route = await bed.api.post(
        "/routing-gateways",
        json={"name": "edge-b", "host": "127.0.0.4", "port": b.port, "prefixes": ["33"]},
    )
    assert route.status_code == 201, route.text
    assert bed.server.snapshots is not None and bed.server.calls is not None
    for _ in range(50):
        if len(bed.server.snapshots.current.gateways) == 2:
            break
        await asyncio.sleep(0.05)

    outcome = bed.server.calls.callback(
        CallbackRequest(a="4411111", b="3322222", account_id=bed.account_id)
    )
    assert outcome.call_id is not None, outcome

    to_a = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(to_a, Request) and to_a.body == b""  # offerless: A makes the offer
    assert to_a.uri.startswith("sip:4411111@")
    bed.gateway.send(
        _answer(to_a, 200, tag="a-tag", client=bed.gateway, host="127.0.0.3", body=SDP_A),
        "127.0.0.1",
        bed.sip[1],
    )
    to_b = await _next(b, lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(to_b, Request) and to_b.body == SDP_A
    assert to_b.uri.startswith("sip:3322222@")
    (live,) = bed.server.calls.calls()
    assert live.id == outcome.call_id

    b.send(
        _answer(to_b, 200, tag="b-tag", client=b, host="127.0.0.4", body=SDP_B),
        "127.0.0.1",
        bed.sip[1],
    )
    ack_b = await _next(b, lambda m: isinstance(m, Request) and m.method == "ACK")
    ack_a = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "ACK")
    assert isinstance(ack_a, Request) and ack_a.body == SDP_B  # B's answer completes A
    assert isinstance(ack_b, Request) and ack_b.body == b""

    assert bed.server.calls.hangup(outcome.call_id)
    bye_a = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "BYE")
    bye_b = await _next(b, lambda m: isinstance(m, Request) and m.method == "BYE")
    assert isinstance(bye_a, Request) and isinstance(bye_b, Request)
    cdr = await _cdr(bed, to_a.call_id)
    assert cdr["termination_reason"] == "OperatorHangup"
    assert cdr["callee"] == "3322222" and cdr["call_id_out"] == to_b.call_id


async def _changed(bed: Bed, path: str, body: dict[str, object]) -> None:
    """PATCH through the API and wait until the call path's snapshot has the change."""
    assert bed.server.snapshots is not None
    before = bed.server.snapshots.current.version
    patched = await bed.api.patch(path, json=body)
    assert patched.status_code == 200, patched.text
    for _ in range(100):
        if bed.server.snapshots.current.version > before:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the snapshot did not follow the change")


async def _final(bed: Bed, call_id: str) -> Response:
    answer = await _next(
        bed.caller,
        lambda m: isinstance(m, Response) and m.status >= 200 and m.call_id == call_id,
    )
    assert isinstance(answer, Response)
    return answer


async def test_limits_and_a_locked_account_refuse_before_routing_each_with_its_reason(
    bed: Bed,
) -> None:
    trunk_id = (await bed.api.get("/mapping-gateways")).json()["items"][0]["id"]
    await _changed(bed, f"/mapping-gateways/{trunk_id}", {"capacity": 1})
    uri = _invite_uri(bed)
    bed.caller.send(_request_from(bed.caller, "INVITE", uri, call_id="held", body=SDP_A), *bed.sip)
    held = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(held, Request)
    bed.gateway.send(
        _answer(held, 180, tag="gw-held", client=bed.gateway, host="127.0.0.3"),
        "127.0.0.1",
        bed.sip[1],
    )

    bed.caller.send(_request_from(bed.caller, "INVITE", uri, call_id="over", body=SDP_A), *bed.sip)
    over = await _final(bed, "over")
    assert over.status == 503
    assert (await _cdr(bed, "over"))["termination_reason"] == "MappingGatewayLineLimit"

    await _changed(bed, f"/mapping-gateways/{trunk_id}", {"capacity": None})
    await _changed(bed, f"/accounts/{bed.account_id}", {"max_concurrent_calls": 1})
    bed.caller.send(_request_from(bed.caller, "INVITE", uri, call_id="acct", body=SDP_A), *bed.sip)
    assert (await _final(bed, "acct")).status == 503
    assert (await _cdr(bed, "acct"))["termination_reason"] == "AccountConcurrencyLimit"

    await _changed(bed, f"/accounts/{bed.account_id}", {"status": "locked"})
    bed.caller.send(_request_from(bed.caller, "INVITE", uri, call_id="lock", body=SDP_A), *bed.sip)
    locked = await _final(bed, "lock")
    assert locked.status == 403
    assert (await _cdr(bed, "lock"))["termination_reason"] == "CallerLocked"
    with pytest.raises(TimeoutError):
        # None of the refused calls reached the carrier: it only ever saw the held one.
        await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE", 0.3)


async def test_a_fault_in_call_control_clears_the_call_and_frees_its_lines(
    bed: Bed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the hunter raises on the carrier's answer. The call must not stay
    half-open: the caller gets a final answer, the CDR says ServerError, no line stays taken."""
    assert bed.server.calls is not None
    engine = bed.server.calls

    def broken(*_: object) -> None:
        raise RuntimeError("injected fault")

    uri = _invite_uri(bed)
    bed.caller.send(
        _request_from(bed.caller, "INVITE", uri, call_id="edge-fault", body=SDP_A), *bed.sip
    )
    invite = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(invite, Request)
    monkeypatch.setattr(engine._hunter, "response", broken)
    bed.gateway.send(
        _answer(invite, 180, tag="gw-fault", client=bed.gateway, host="127.0.0.3"),
        "127.0.0.1",
        bed.sip[1],
    )

    final = await _final(bed, "edge-fault")
    assert final.status == 500
    assert (await _cdr(bed, "edge-fault"))["termination_reason"] == "ServerError"
    assert engine.calls() == [] and dict(engine.table.gateways) == {}
    assert engine.monitor().concurrent_calls == 0


async def test_stopping_the_switch_clears_live_calls_and_records_them(bed: Bed) -> None:
    uri = _invite_uri(bed)
    bed.caller.send(
        _request_from(bed.caller, "INVITE", uri, call_id="edge-stop", body=SDP_A), *bed.sip
    )
    invite = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(invite, Request)
    bed.gateway.send(
        _answer(invite, 200, tag="gw-stop", client=bed.gateway, host="127.0.0.3", body=SDP_B),
        "127.0.0.1",
        bed.sip[1],
    )
    answer = await _next(bed.caller, lambda m: isinstance(m, Response) and m.status == 200)
    assert isinstance(answer, Response)
    ack = _request_from(bed.caller, "ACK", uri, call_id="edge-stop", to=answer.get("to") or "")
    bed.caller.send(ack, *bed.sip)
    data_dir = bed.server.settings.data_dir

    await bed.server.stop()  # what SIGTERM does

    to_caller = await _next(bed.caller, lambda m: isinstance(m, Request) and m.method == "BYE")
    to_gateway = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "BYE")
    assert isinstance(to_caller, Request) and isinstance(to_gateway, Request)
    records = [
        json.loads(line)
        for path in sorted((data_dir / "cdr").glob("cdr-*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    (record,) = [r for r in records if r["call_id"] == "edge-stop"]
    assert record["termination_reason"] == "SystemShutdown"
    assert record["hangup_side"] == "system" and record["answer_time"] is not None


async def test_a_mapping_gateway_authenticating_by_digest_is_challenged_then_routed(
    bed: Bed, udp_client: Callable[[str], Awaitable[UdpClient]]
) -> None:
    """A trunk with no source address of its own (a customer behind a dynamic IP) proves
    itself with its username and password; the call is billed to its account."""
    other = await bed.api.post(
        "/accounts", json={"code": "EDGE-DIGEST", "currency": "USD", "billing_mode": "postpaid"}
    )
    assert other.status_code == 201, other.text
    trunk = await bed.api.post(
        "/mapping-gateways",
        json={
            "name": "edge-digest",
            "account_id": other.json()["id"],
            "auth_username": "trunk7",
            "auth_password": "trunk7-secret",
        },
    )
    assert trunk.status_code == 201, trunk.text
    assert bed.server.snapshots is not None
    for _ in range(50):
        if "trunk7" in bed.server.snapshots.current.trunks_by_username:
            break
        await asyncio.sleep(0.05)
    device = await udp_client("127.0.0.5")
    uri = f"sip:4420555@{bed.sip[0]}:{bed.sip[1]}"

    def invite(cseq: int, *headers: str) -> bytes:
        raw = _request_from(
            device, "INVITE", uri, call_id="edge-digest", cseq=cseq, body=SDP_A,
            host="127.0.0.5", headers=headers,
        )  # fmt: skip
        return raw.replace(b"sip:5551000@127.0.0.5>;tag", b"sip:trunk7@127.0.0.5>;tag")

    device.send(invite(1), *bed.sip)
    challenge = await _next(device, lambda m: isinstance(m, Response) and m.status >= 200)
    assert isinstance(challenge, Response) and challenge.status == 401
    (offer,) = challenge.auth("WWW-Authenticate")
    credentials = authorize(offer, "INVITE", uri, "trunk7", "trunk7-secret", "c0ffee")
    device.send(invite(2, f"Authorization: {credentials}"), *bed.sip)

    routed = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(routed, Request) and routed.uri.startswith("sip:4420555@127.0.0.3")
    bed.gateway.send(
        _answer(routed, 486, tag="gw-digest", client=bed.gateway, host="127.0.0.3"),
        "127.0.0.1",
        bed.sip[1],
    )
    busy = await _next(
        device, lambda m: isinstance(m, Response) and m.cseq.seq == 2 and m.status >= 200
    )
    assert isinstance(busy, Response) and busy.status == 486
    cdr = await _cdr(bed, "edge-digest")
    assert cdr["mapping_gateway_id"] == trunk.json()["id"]
    assert cdr["account_id"] == other.json()["id"]


async def test_a_finished_call_is_freed_without_the_cyclic_garbage_collector(bed: Bed) -> None:
    """The running switch leaves full collections to a rare scheduled pass (runtime/heap.py),
    so a call must not sit in a reference cycle once it ends: its objects would wait for that
    pass. With the collector off, an answered, ACKed and hung-up call must be gone by
    reference counting alone once its CDR is written."""
    gc.collect()
    gc.disable()
    try:
        uri = _invite_uri(bed)
        bed.caller.send(
            _request_from(bed.caller, "INVITE", uri, call_id="edge-gc", body=SDP_A), *bed.sip
        )
        invite = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE")
        assert isinstance(invite, Request)
        ok = _answer(invite, 200, tag="gw-gc", client=bed.gateway, host="127.0.0.3", body=SDP_B)
        bed.gateway.send(ok, "127.0.0.1", bed.sip[1])
        answer = await _next(bed.caller, lambda m: isinstance(m, Response) and m.status == 200)
        assert isinstance(answer, Response)
        to = answer.get("to") or ""
        bed.caller.send(_request_from(bed.caller, "ACK", uri, call_id="edge-gc", to=to), *bed.sip)
        await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "ACK")
        bye = _request_from(bed.caller, "BYE", uri, call_id="edge-gc", to=to, cseq=2)
        bed.caller.send(bye, *bed.sip)
        their_bye = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "BYE")
        assert isinstance(their_bye, Request)
        bed.gateway.send(bytes(make_response(their_bye, 200)), "127.0.0.1", bed.sip[1])
        await _next(bed.caller, lambda m: isinstance(m, Response) and m.cseq.method == "BYE")
        assert (await _cdr(bed, "edge-gc"))["termination_reason"] == "CallerHangup"
        await asyncio.sleep(0.2)  # the CDR task and the call's last callbacks finish

        left = [
            o
            for o in gc.get_objects()
            if isinstance(o, Call) and o.inbound is not None and o.inbound.call_id == "edge-gc"
        ]
        assert left == []
    finally:
        gc.enable()
