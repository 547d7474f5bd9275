"""SIP over TLS: the self-signed certificate made at first start, inbound and outbound TLS."""

from __future__ import annotations

import asyncio
import ssl

from cryptography import x509

from softswitch.sip.events import Peer
from softswitch.sip.message import Request, Response
from softswitch.sip.parser import parse_message
from softswitch.sip.status import make_response
from softswitch.transport.addresses import HostPort
from softswitch.transport.tls import CERT_FILE, KEY_FILE, server_context

WAIT = 5.0


def _tls_address(server: object) -> HostPort:
    return next(addr for kind, addr in server.listening if kind == "TLS")  # type: ignore[attr-defined]


async def _read_message(reader: asyncio.StreamReader) -> Request | Response:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    return parse_message(head, stream=True)


async def test_options_over_tls_verified_against_the_generated_certificate(
    start_server, make_options
) -> None:
    server = await start_server()
    cert_file = server.settings.data_dir / CERT_FILE
    assert cert_file.exists() and (server.settings.data_dir / KEY_FILE).exists()
    assert (server.settings.data_dir / KEY_FILE).stat().st_mode & 0o077 == 0
    target = _tls_address(server)
    # A client that trusts exactly the generated certificate and checks the host (an IP SAN).
    context = ssl.create_default_context(cafile=str(cert_file))
    reader, writer = await asyncio.open_connection(
        target.host, target.port, ssl=context, server_hostname="127.0.0.1"
    )
    port = int(writer.get_extra_info("sockname")[1])
    writer.write(make_options(str(target), "127.0.0.1", port, "TLS"))
    await writer.drain()

    response = await _read_message(reader)

    assert isinstance(response, Response)
    assert response.status == 200
    assert response.top_via.transport == "TLS"
    writer.close()


async def test_the_certificate_is_reused_across_starts(start_server) -> None:
    first = await start_server()
    cert_file = first.settings.data_dir / CERT_FILE
    before = cert_file.read_bytes()
    await first.stop()

    second = await start_server()

    assert (second.settings.data_dir / CERT_FILE).read_bytes() == before
    cert = x509.load_pem_x509_certificate(before)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)


async def test_outbound_request_over_tls(start_server) -> None:
    """Client side TLS: the switch opens a TLS connection to a peer to send a request."""
    server = await start_server()
    data_dir = server.settings.data_dir
    received: asyncio.Future[Request] = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        message = await _read_message(reader)
        assert isinstance(message, Request)
        writer.write(bytes(make_response(message, 200, to_tag="tlspeer")))
        await writer.drain()
        received.set_result(message)

    peer_context = server_context(data_dir / CERT_FILE, data_dir / KEY_FILE)
    peer = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=peer_context)
    peer_port = int(peer.sockets[0].getsockname()[1])
    local = _tls_address(server)
    driver = server.driver
    request = parse_message(
        (
            f"OPTIONS sips:peer@127.0.0.1:{peer_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS {local};branch={driver.endpoint.ids.branch()}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sips:switch@{local}>;tag=sw\r\nTo: <sips:peer@127.0.0.1>\r\n"
            "Call-ID: tls-out@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(request, Request)

    driver.send_request(request, Peer("TLS", "127.0.0.1", peer_port))
    got = await asyncio.wait_for(received, WAIT)

    assert got.call_id == "tls-out@test"
    assert got.top_via.transport == "TLS"
    peer.close()
