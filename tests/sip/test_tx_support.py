"""Builders shared by the transaction and endpoint tests (this module holds no tests itself)."""

from __future__ import annotations

from softswitch.sip.endpoint import Endpoint, EndpointConfig
from softswitch.sip.events import Event, Outgoing, Peer
from softswitch.sip.ids import RandomIds
from softswitch.sip.message import Request, Response
from softswitch.sip.parser import parse_message
from softswitch.sip.timers import TimerConfig

LOCAL = "192.0.2.1:5060"
UDP = Peer("UDP", "192.0.2.10", 5060)
TCP = Peer("TCP", "192.0.2.10", 40000, connection=7)


def new_endpoint(timers: TimerConfig | None = None, **options: object) -> Endpoint:
    """An endpoint that re-raises internal errors (so no bug hides) with a fixed id seed."""
    config = EndpointConfig(
        timers=timers or TimerConfig(),
        local_addresses=frozenset({LOCAL}),
        strict=True,
        **options,  # type: ignore[arg-type]
    )
    return Endpoint(config, RandomIds(b"endpoint-under-test"))


def wire(
    method: str,
    branch: str | None,
    *,
    via: str = "192.0.2.10:5060",
    transport: str = "UDP",
    uri: str = "sip:bob@192.0.2.1",
    call_id: str = "call-1@192.0.2.10",
    from_tag: str | None = "ft1",
    to_tag: str | None = None,
    cseq: int = 1,
    cseq_method: str | None = None,
    extra: tuple[str, ...] = (),
    vias: tuple[str, ...] = (),
) -> bytes:
    """A request as a peer would send it."""
    params = "" if branch is None else f";branch={branch}"
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {via}{params}",
        *(f"Via: {v}" for v in vias),
        "Max-Forwards: 70",
        "From: <sip:alice@192.0.2.10>" + ("" if from_tag is None else f";tag={from_tag}"),
        "To: <sip:bob@192.0.2.1>" + ("" if to_tag is None else f";tag={to_tag}"),
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        *extra,
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def request(method: str, branch: str | None, **kwargs: object) -> Request:
    msg = parse_message(wire(method, branch, **kwargs))  # type: ignore[arg-type]
    assert isinstance(msg, Request)
    return msg


def our_request(ep: Endpoint, method: str = "INVITE", **kwargs: object) -> Request:
    """A request the TU would send through ``ep``: our Via, our branch."""
    kwargs.setdefault("via", LOCAL)
    kwargs.setdefault("uri", "sip:carol@192.0.2.10")
    return request(method, ep.ids.branch(), **kwargs)


def response_to(req: Request, status: int, to_tag: str | None = "tt1") -> Response:
    """The response the peer sends back to ``req``."""
    lines = [f"SIP/2.0 {status} Whatever"]
    for item in req.headers:
        if item.key in ("via", "from", "call-id", "cseq"):
            lines.append(item.wire())
        elif item.key == "to":
            suffix = "" if to_tag is None or ";tag=" in item.value else f";tag={to_tag}"
            lines.append(f"To: {item.value}{suffix}")
    lines.append("Content-Length: 0")
    msg = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(msg, Response)
    return msg


def events(ep: Endpoint) -> list[Event]:
    out: list[Event] = []
    while (event := ep.next_event()) is not None:
        out.append(event)
    return out


def sent(ep: Endpoint) -> list[tuple[Request | Response, Peer]]:
    """Parsed messages the endpoint wants to send (connection closes are not messages)."""
    out: list[tuple[Request | Response, Peer]] = []
    for item in ep.outgoing():
        assert isinstance(item, Outgoing), item
        out.append((parse_message(item.data), item.peer))
    return out


def statuses(items: list[tuple[Request | Response, Peer]]) -> list[int]:
    return [m.status for m, _ in items if isinstance(m, Response)]
