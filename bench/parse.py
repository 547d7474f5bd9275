"""Parse and serialize throughput of the SIP message core, on one core (run by hand, not a test).

    .venv/bin/python bench/parse.py [--seconds 2]

Prints, for a typical INVITE with SDP and for a 200 OK: parses per second (start line and header
lines split, no view touched), parses per second with the views a B2BUA reads on every message (top
Via branch, Call-ID, CSeq, From/To tags), and serializations per second of a modified copy (a new
top Via and Max-Forwards: what a forwarding leg does). Results go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

from softswitch.sip.message import Request
from softswitch.sip.parser import parse_message

SDP = (
    b"v=0\r\no=- 3875123 3875123 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 8 0 18 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
)
INVITE = (
    b"INVITE sip:8613800138000@203.0.113.5:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---7c4b0ac2d9a9e0f1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:1001@192.0.2.10:5060>\r\n"
    b"To: <sip:8613800138000@203.0.113.5>\r\n"
    b'From: "1001" <sip:1001@203.0.113.5>;tag=4f2a9c1e\r\n'
    b"Call-ID: 8cd1f3e2a0b94c17b1d4f6a3e2c1b0a9@192.0.2.10\r\n"
    b"CSeq: 2 INVITE\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Supported: replaces, timer\r\n"
    b"Session-Expires: 1800;refresher=uac\r\n"
    b"User-Agent: Grandstream GXP1625 1.0.11.23\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)
OK200 = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK.ss.4a1b2c3d4e5f;rport=5060\r\n"
    b"Record-Route: <sip:203.0.113.9;lr>\r\n"
    b"Contact: <sip:8613800138000@203.0.113.9:5060>\r\n"
    b"To: <sip:8613800138000@203.0.113.9>;tag=as5e2f1c90\r\n"
    b'From: "1001" <sip:1001@198.51.100.1>;tag=ss-91a2b3\r\n'
    b"Call-ID: ss-7f0e1d2c3b4a5968@198.51.100.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Server: carrier-sbc\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)


def rate(fn: Callable[[], object], seconds: float) -> float:
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(1000):
            fn()
        count += 1000
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, one core")
    for name, data in (("INVITE+SDP", INVITE), ("200 OK+SDP", OK200)):
        msg = parse_message(data)

        def parse(data: bytes = data) -> object:
            return parse_message(data)

        def parse_views(data: bytes = data) -> object:
            m = parse_message(data)
            return (m.top_via.branch, m.call_id, m.cseq, m.from_.tag, m.to.tag)

        def serialize(msg: object = msg) -> bytes:
            assert isinstance(msg, Request) or True
            copy = msg.with_header_first(  # type: ignore[attr-defined]
                "Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbench"
            ).replacing("Max-Forwards", "69")
            return bytes(copy)

        for label, fn in (
            ("parse", parse),
            ("parse+views", parse_views),
            ("modify+serialize", serialize),
        ):
            print(f"{name:12} {label:18} {rate(fn, args.seconds):>10,.0f} /s")


if __name__ == "__main__":
    main()
