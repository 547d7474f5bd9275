"""REGISTER requests as a phone sends them, parsed by the SIP core's own parser."""

from __future__ import annotations

from softswitch.registrar import Binding
from softswitch.sip.events import Peer
from softswitch.sip.message import Request
from softswitch.sip.parser import parse_message
from softswitch.sip.uri import SipUri

DOMAIN = "switch.example"
AOR = f"sip:1001@{DOMAIN}"
PHONE = Peer("UDP", "192.0.2.10", 5060)
"""A phone on a public address: source and Contact agree, so not behind NAT."""
NATTED = Peer("UDP", "198.51.100.7", 40123)
"""A phone behind NAT: it writes its private address in Contact; packets come from here."""


def register(
    *contacts: str,
    user: str = "1001",
    call_id: str = "reg-1@192.0.2.10",
    cseq: int = 1,
    expires: int | None = None,
    extra: tuple[str, ...] = (),
    to: str | None = None,
    ruri: str = f"sip:{DOMAIN}",
) -> Request:
    """A REGISTER as bytes through ``parse_message``; each contact is one Contact line as given."""
    lines = [
        f"REGISTER {ruri} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-reg-" + str(cseq) + ";rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{DOMAIN}>;tag=f-{user}",
        f"To: {to if to is not None else f'<sip:{user}@{DOMAIN}>'}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        "User-Agent: TestPhone/1.0",
    ]
    lines += [f"Contact: {c}" for c in contacts]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines += list(extra)
    lines.append("Content-Length: 0")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode()
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def binding(
    contact: str = "sip:1001@192.0.2.10",
    *,
    aor: str = AOR,
    expires_at: float = 100.0,
    updated_at: float = 0.0,
    q: float = 1.0,
    call_id: str = "c1",
    cseq: int = 1,
    nat: bool = False,
) -> Binding:
    """A binding built directly, for table tests."""
    return Binding(
        aor=aor,
        uri=SipUri.parse(contact),
        expires_at=expires_at,
        call_id=call_id,
        cseq=cseq,
        source=PHONE,
        behind_nat=nat,
        updated_at=updated_at,
        expires=int(expires_at - updated_at),
        q=q,
    )
