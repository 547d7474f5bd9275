"""The interim dispatcher's answers, over real UDP sockets (RFC 3261 §8.2 order of checks)."""

from __future__ import annotations

from softswitch.sip.digest import Algorithm, ha1, request_digest
from softswitch.sip.message import Response
from softswitch.sip.parser import parse_message
from softswitch.transport.addresses import HostPort


def _udp(server: object) -> HostPort:
    return next(addr for kind, addr in server.listening if kind == "UDP")  # type: ignore[attr-defined]


def _request(
    method: str,
    target: HostPort,
    port: int,
    extra: str = "",
    cseq: int = 1,
    to: str = "<sip:1001@127.0.0.1>",
) -> bytes:
    return (
        f"{method} sip:{target} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{method}{cseq};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=f1\r\nTo: {to}\r\n"
        f"Call-ID: {method}-disp@test\r\nCSeq: {cseq} {method}\r\n"
        f"Contact: <sip:1001@127.0.0.1:{port}>\r\n{extra}Content-Length: 0\r\n\r\n"
    ).encode()


async def _ask(client, server, data: bytes) -> Response:
    target = _udp(server)
    client.send(data, target.host, target.port)
    message = parse_message(await client.recv())
    assert isinstance(message, Response)
    return message


async def test_unsupported_require_gets_420_with_unsupported(start_server, udp_client) -> None:
    server = await start_server()
    client = await udp_client()
    data = _request("OPTIONS", _udp(server), client.port, "Require: foo, bar\r\n")

    response = await _ask(client, server, data)

    assert response.status == 420
    assert response.get("Unsupported") == "foo, bar"


async def test_request_for_an_unknown_dialog_gets_481(start_server, udp_client) -> None:
    server = await start_server()
    client = await udp_client()
    data = _request("OPTIONS", _udp(server), client.port, to="<sip:x@127.0.0.1>;tag=gone")

    response = await _ask(client, server, data)

    assert response.status == 481


async def test_register_challenge_then_unknown_user_is_403(start_server, udp_client) -> None:
    server = await start_server()
    client = await udp_client()
    target = _udp(server)

    challenge = await _ask(client, server, _request("REGISTER", target, client.port))
    assert challenge.status == 401
    (offer,) = challenge.auth("WWW-Authenticate")
    assert offer.get("algorithm") == "MD5" and offer.get("qop") == "auth"
    realm, nonce = offer.get("realm"), offer.get("nonce")
    assert realm == "127.0.0.1" and nonce

    uri = f"sip:{target}"
    digest = request_digest(
        Algorithm.MD5,
        ha1("1001", realm, "pw", Algorithm.MD5),
        nonce=nonce,
        method="REGISTER",
        uri=uri,
        qop="auth",
        nc="00000001",
        cnonce="abc",
    )
    authorization = (
        f'Authorization: Digest username="1001", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{digest}", algorithm=MD5, qop=auth, nc=00000001, cnonce="abc", '
        f'opaque="{offer.get("opaque")}"\r\n'
    )
    refused = await _ask(
        client, server, _request("REGISTER", target, client.port, authorization, cseq=2)
    )

    assert refused.status == 403
    assert refused.reason == "Forbidden"  # the same as a wrong password's


async def test_challenge_code_follows_ss_sip_authentication_code(start_server, udp_client) -> None:
    server = await start_server(
        params="SS_SIP_AUTHENTICATION_CODE = Proxy Authentication Required(407)\n"
    )
    client = await udp_client()

    response = await _ask(client, server, _request("REGISTER", _udp(server), client.port))

    assert response.status == 407
    assert response.auth("Proxy-Authenticate")[0].get("realm") == "127.0.0.1"
    assert not response.has("WWW-Authenticate")


async def test_bye_outside_a_dialog_gets_481(start_server, udp_client) -> None:
    server = await start_server()
    client = await udp_client()

    response = await _ask(client, server, _request("BYE", _udp(server), client.port))

    assert response.status == 481


async def test_register_with_credentials_that_do_not_parse_gets_400(
    start_server, udp_client
) -> None:
    """Found by tests/interop/test_fuzz.py: the parse error escaped the dispatcher and the
    request was never answered."""
    server = await start_server()
    client = await udp_client()
    for n, value in enumerate((",", "<sip:a@b", "Digest x"), start=1):
        data = _request("REGISTER", _udp(server), client.port, f"Authorization: {value}\r\n", n)

        response = await _ask(client, server, data)

        assert response.status == 400, value
        assert response.reason.startswith("Bad Request ("), response.reason
