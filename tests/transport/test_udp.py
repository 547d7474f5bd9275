"""SIP over UDP through real sockets: answers, Via received/rport (RFC 3581), IPv6, IP ToS."""

from __future__ import annotations

import socket
from pathlib import Path

from softswitch.sip.message import Response
from softswitch.sip.parser import parse_message
from softswitch.transport.addresses import HostPort
from softswitch.transport.qos import read_tos
from softswitch.transport.udp import RECEIVE_BUFFER


def _udp_address(server: object) -> HostPort:
    return next(addr for kind, addr in server.listening if kind == "UDP")  # type: ignore[attr-defined]


def _response(data: bytes) -> Response:
    message = parse_message(data)
    assert isinstance(message, Response)
    return message


async def test_options_gets_200_with_rport_and_received_echoed(
    start_server, udp_client, make_options
) -> None:
    server = await start_server()
    target = _udp_address(server)
    client = await udp_client("127.0.0.1")
    client.send(make_options(str(target), "127.0.0.1", client.port), target.host, target.port)

    response = _response(await client.recv())

    assert response.status == 200
    via = response.top_via
    # RFC 3581 §4: rport filled with the source port, received added because rport was asked.
    assert via.rport == client.port
    assert via.received == "127.0.0.1"
    assert "OPTIONS" in (response.get("Allow") or "")
    assert response.get("Accept") == "application/sdp"
    assert (response.get("Server") or "").startswith("softswitch/")


async def test_without_rport_the_via_keeps_its_port_and_gets_no_rport(
    start_server, udp_client
) -> None:
    server = await start_server()
    target = _udp_address(server)
    client = await udp_client("127.0.0.1")
    # The Via names another host than the source: received is added (§18.2.1), rport is not.
    request = (
        f"OPTIONS sip:{target} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 192.0.2.1:{client.port};branch=z9hG4bK-norport1\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\n"
        "Call-ID: norport@test\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    client.send(request, target.host, target.port)

    response = _response(await client.recv())

    assert response.status == 200
    assert response.top_via.received == "127.0.0.1"
    assert response.top_via.rport is None
    assert response.cseq.seq == 7


async def test_ipv6_udp_on_loopback(start_server, udp_client, make_options) -> None:
    server = await start_server(host="::1")
    target = _udp_address(server)
    assert target.family == socket.AF_INET6
    client = await udp_client("::1")
    client.send(make_options(str(target), "::1", client.port), "::1", target.port)

    response = _response(await client.recv())

    assert response.status == 200
    assert response.top_via.received == "::1"
    assert response.top_via.rport == client.port


async def test_ip_tos_is_set_from_ss_qos_signal_and_follows_changes(start_server) -> None:
    server = await start_server(params="SS_QOS_SIGNAL = 0xb8\n")
    (listener,) = server.driver.udp_listeners
    assert read_tos(listener.socket) == 0xB8

    server.params.set("SS_QOS_SIGNAL", "0x28")

    assert read_tos(listener.socket) == 0x28


async def test_ip_tos_on_ipv6_sockets_uses_the_traffic_class(start_server) -> None:
    server = await start_server(host="::1", params="SS_QOS_SIGNAL = 0x60\n")
    (listener,) = server.driver.udp_listeners
    assert listener.family == socket.AF_INET6
    assert read_tos(listener.socket) == 0x60


async def test_unknown_method_is_refused_and_bad_datagrams_do_not_stop_the_socket(
    start_server, udp_client, make_options
) -> None:
    server = await start_server()
    target = _udp_address(server)
    client = await udp_client("127.0.0.1")
    client.send(b"\x00garbage\r\n\r\n", target.host, target.port)
    unknown = make_options(str(target), "127.0.0.1", client.port).replace(b"OPTIONS", b"FROB")
    client.send(unknown, target.host, target.port)

    final = _response(await client.recv())

    # An extension method we do not know: 501 (RFC 3261 §8.2.1), and the socket still serves.
    assert final.status == 501


async def test_sip_udp_socket_asks_for_a_large_receive_queue(start_server) -> None:
    server = await start_server()
    listener = server.driver.udp_listeners[0]
    granted = listener.socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    # Linux doubles the request (bookkeeping) and caps it at rmem_max: what we asked for, or
    # the most this machine allows, never the ~208 KiB default when more is allowed.
    assert granted >= 2 * min(RECEIVE_BUFFER, rmem_max)
