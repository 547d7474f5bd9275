"""Cost of the security gate per packet, on one core (run by hand, not a test).

    .venv/bin/python bench/gate.py [--seconds 2]

The gate (``softswitch.security.Guard.admit_packet``) runs on every datagram and stream chunk
before the parser. Prints admissions per second (and microseconds per packet) for:

* a packet from a source with no state yet but a bucket (the common case: a phone or trunk);
* a packet from a gateway exempt from the flood limit;
* a packet from a banned source (what a flood costs once its source is banned);
* the scanner-fingerprint check alone on an INVITE.

For comparison, ``bench/parse.py`` gives the parser's cost of the same INVITE. Results go in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

from softswitch.security import (
    DEFAULT_SCANNERS,
    FloodSettings,
    Guard,
    GuardSettings,
    ScannerFingerprints,
)

INVITE = (
    b"INVITE sip:8613800138000@203.0.113.5:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---7c4b0ac2d9a9e0f1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:5551000@192.0.2.10>;tag=9fxced76sl\r\n"
    b"To: <sip:8613800138000@203.0.113.5>\r\n"
    b"Call-ID: 3848276298220188511@192.0.2.10\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:5551000@192.0.2.10:5060>\r\n"
    b"User-Agent: Grandstream GXP1628 1.0.4.128\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def rate(label: str, work: Callable[[float], object], seconds: float) -> None:
    count, start = 0, time.perf_counter()
    now = 1.0
    while True:
        for _ in range(1000):
            now += 1e-5
            work(now)
        count += 1000
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    print(f"{label:<44} {count / elapsed:>12,.0f}/s {elapsed / count * 1e6:>8.2f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}")
    # A limit high enough never to ban the benchmark's one source: every packet pays the
    # bucket arithmetic.
    open_guard = Guard(GuardSettings(flood=FloodSettings(1e12, 1e12, 300.0)), lambda event: None)
    rate(
        "phone or trunk (bucket, fingerprint)",
        lambda now: open_guard.admit_packet("192.0.2.10", INVITE, now),
        args.seconds,
    )
    gateway_guard = Guard(GuardSettings(), lambda event: None, gateway=lambda host: True)
    rate(
        "gateway exempt from the flood limit",
        lambda now: gateway_guard.admit_packet("192.0.2.10", INVITE, now),
        args.seconds,
    )
    banned = Guard(GuardSettings(flood=FloodSettings(1.0, 1.0, 1e9)), lambda event: None)
    banned.admit_packet("198.51.100.9", INVITE, 0.0)
    banned.admit_packet("198.51.100.9", INVITE, 0.0)  # over the limit: banned
    rate(
        "banned source (dropped)",
        lambda now: banned.admit_packet("198.51.100.9", INVITE, now),
        args.seconds,
    )
    scanners = ScannerFingerprints(DEFAULT_SCANNERS)
    rate("scanner fingerprint alone", lambda now: scanners.match(INVITE), args.seconds)


if __name__ == "__main__":
    main()
