"""SIP over TCP through real sockets: framing, same-connection responses, closing, reuse."""

from __future__ import annotations

import asyncio
import socket

import pytest

from softswitch.sip.events import Peer
from softswitch.sip.message import Request, Response
from softswitch.sip.parser import parse_message
from softswitch.sip.status import make_response
from softswitch.transport.addresses import HostPort
from softswitch.transport.qos import read_tos

WAIT = 5.0


def _tcp_address(server: object) -> HostPort:
    return next(addr for kind, addr in server.listening if kind == "TCP")  # type: ignore[attr-defined]


async def _read_message(reader: asyncio.StreamReader) -> Response | Request:
    """Read one Content-Length framed message (our responses carry Content-Length: 0)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    message = parse_message(head, stream=True)
    if message.content_length:
        body = await asyncio.wait_for(reader.readexactly(message.content_length), WAIT)
        message = parse_message(head + body, stream=True)
    return message


async def _read_response(reader: asyncio.StreamReader) -> Response:
    message = await _read_message(reader)
    assert isinstance(message, Response)
    return message


async def _connect(server: object) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
    target = _tcp_address(server)
    reader, writer = await asyncio.open_connection(target.host, target.port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer, int(writer.get_extra_info("sockname")[1])


async def test_message_split_byte_by_byte(start_server, make_options) -> None:
    server = await start_server()
    reader, writer, port = await _connect(server)
    request = make_options(str(_tcp_address(server)), "127.0.0.1", port, "TCP")
    for i in range(len(request)):
        writer.write(request[i : i + 1])
        await writer.drain()
        await asyncio.sleep(0)  # let the switch read each byte on its own

    response = await _read_response(reader)

    assert response.status == 200
    assert response.cseq.method == "OPTIONS"
    writer.close()


async def test_two_messages_in_one_segment_get_two_answers_on_the_same_connection(
    start_server, make_options
) -> None:
    server = await start_server()
    reader, writer, port = await _connect(server)
    target = str(_tcp_address(server))
    first = make_options(target, "127.0.0.1", port, "TCP").replace(b"CSeq: 1", b"CSeq: 11")
    second = make_options(target, "127.0.0.1", port, "TCP").replace(b"CSeq: 1", b"CSeq: 12")
    writer.write(first + second)
    await writer.drain()

    answers = [await _read_response(reader), await _read_response(reader)]

    assert [a.status for a in answers] == [200, 200]
    assert sorted(a.cseq.seq for a in answers) == [11, 12]
    # §18.2.2: the answers came back on the connection the requests arrived on.
    writer.close()


async def test_response_goes_back_on_the_requests_connection(start_server, make_options) -> None:
    server = await start_server()
    reader_a, writer_a, port_a = await _connect(server)
    reader_b, writer_b, _ = await _connect(server)
    # The Via names connection A's port but the request travels on B: the answer must use B.
    request = make_options(str(_tcp_address(server)), "127.0.0.1", port_a, "TCP")
    writer_b.write(request)
    await writer_b.drain()

    response = await _read_response(reader_b)

    assert response.status == 200
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader_a.read(1), 0.2)
    writer_a.close()
    writer_b.close()


async def test_oversize_message_closes_the_connection_with_fin(start_server) -> None:
    server = await start_server()
    reader, writer, _ = await _connect(server)
    # A header block with no end that passes the 64 KiB stream limit: framing cannot go on.
    writer.write(b"OPTIONS sip:x SIP/2.0\r\nX-Filler: " + b"a" * 70_000)
    await writer.drain()

    data = await asyncio.wait_for(reader.read(), WAIT)

    assert data == b""  # orderly close (FIN): read() sees end of stream, not an error
    writer.close()


async def test_ss_tcp_close_reset_closes_with_rst(start_server) -> None:
    server = await start_server(params="SS_TCP_CLOSE_RESET = On\n")
    reader, writer, _ = await _connect(server)
    writer.write(b"OPTIONS sip:x SIP/2.0\r\nX-Filler: " + b"a" * 70_000)
    await writer.drain()

    with pytest.raises(ConnectionResetError):
        while await asyncio.wait_for(reader.read(65536), WAIT):
            pass
    writer.close()


async def test_close_reset_follows_parameter_changes(start_server) -> None:
    server = await start_server()
    assert server.driver.pool.reset_on_close is False
    server.params.set("SS_TCP_CLOSE_RESET", "On")
    assert server.driver.pool.reset_on_close is True


async def test_idle_connection_is_closed(start_server) -> None:
    server = await start_server(tcp_idle_timeout="0.2")
    reader, writer, _ = await _connect(server)

    data = await asyncio.wait_for(reader.read(), WAIT)

    assert data == b""
    assert len(server.driver.pool) == 0
    writer.close()


async def test_accepted_connections_carry_the_tos_byte(start_server, make_options) -> None:
    server = await start_server(params="SS_QOS_SIGNAL = 0x88\n")
    reader, writer, port = await _connect(server)
    writer.write(make_options(str(_tcp_address(server)), "127.0.0.1", port, "TCP"))
    await _read_response(reader)

    (conn,) = list(server.driver.pool._by_id.values())
    assert read_tos(conn.socket) == 0x88
    writer.close()


async def test_requests_to_the_same_peer_reuse_one_connection(start_server) -> None:
    """§18.1.1: a second request to a host:port we are connected to goes on that connection."""
    server = await start_server()
    accepted: list[asyncio.StreamReader] = []
    got_first, got_all = asyncio.Event(), asyncio.Event()
    requests: list[Request] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(reader)
        while len(requests) < 2:
            message = await _read_message(reader)
            assert isinstance(message, Request)
            requests.append(message)
            writer.write(bytes(make_response(message, 200, to_tag="peer")))
            got_first.set()
        got_all.set()

    peer_server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    peer_port = int(peer_server.sockets[0].getsockname()[1])
    local = _tcp_address(server)
    driver = server.driver
    for number in (1, 2):
        request = parse_message(
            (
                f"OPTIONS sip:peer@127.0.0.1:{peer_port};transport=tcp SIP/2.0\r\n"
                f"Via: SIP/2.0/TCP {local};branch={driver.endpoint.ids.branch()}\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:switch@{local}>;tag=sw\r\nTo: <sip:peer@127.0.0.1>\r\n"
                f"Call-ID: reuse-{number}@test\r\nCSeq: {number} OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()
        )
        assert isinstance(request, Request)
        driver.send_request(request, Peer("TCP", "127.0.0.1", peer_port))
        # The second request is sent once the first connection is up and in use.
        await asyncio.wait_for(got_first.wait(), WAIT)

    await asyncio.wait_for(got_all.wait(), WAIT)

    assert len(accepted) == 1
    assert [r.call_id for r in requests] == ["reuse-1@test", "reuse-2@test"]
    peer_server.close()
