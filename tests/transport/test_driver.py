"""The driver keeps exactly one timer armed and drives Timer A over UDP (RFC 3261 §17.1.1.2).

No wall-clock assertion: the test watches the ORDER and COUNT of what reaches a silent peer
with a shortened SS_SIP_RESEND_INTERVAL, and inspects the timer handles the driver creates.
"""

from __future__ import annotations

import asyncio
from typing import Any

from softswitch.sip.events import Event, Peer, TransactionTimeout
from softswitch.sip.message import Request
from softswitch.sip.parser import parse_message
from softswitch.transport.driver import Sender

WAIT = 10.0


class _TimerWatch:
    """Wraps ``loop.call_at``; counts the driver's handles armed, neither fired nor cancelled."""

    def __init__(self, loop: asyncio.AbstractEventLoop, owner: Any) -> None:
        self.original = loop.call_at
        self.owner = owner
        self.handles: list[tuple[asyncio.TimerHandle, list[bool]]] = []
        self.most_pending = 0

    def pending(self) -> int:
        return sum(1 for handle, fired in self.handles if not fired[0] and not handle.cancelled())

    def call_at(self, when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        if callback != self.owner:
            return self.original(when, callback, *args, **kwargs)
        fired = [False]

        def run(*inner: Any) -> None:
            fired[0] = True
            callback(*inner)

        handle = self.original(when, run, *args, **kwargs)
        self.handles.append((handle, fired))
        self.most_pending = max(self.most_pending, self.pending())
        return handle


async def test_timer_a_retransmits_in_order_and_count_with_one_armed_timer(
    start_server, udp_client, monkeypatch
) -> None:
    server = await start_server(params="SS_SIP_RESEND_INTERVAL = 0.05,0.1,0.2\n")
    driver = server.driver
    loop = asyncio.get_running_loop()
    watch = _TimerWatch(loop, driver._on_timer)
    monkeypatch.setattr(loop, "call_at", watch.call_at)

    timed_out = asyncio.Event()
    dispatcher = driver.dispatcher

    class Spy:
        def dispatch(self, event: Event, sender: Sender) -> None:
            if isinstance(event, TransactionTimeout):
                timed_out.set()
            dispatcher.dispatch(event, sender)

    driver.dispatcher = Spy()
    silent = await udp_client("127.0.0.1")
    local = next(addr for kind, addr in server.listening if kind == "UDP")
    invite = parse_message(
        (
            f"INVITE sip:silent@127.0.0.1:{silent.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local};branch={driver.endpoint.ids.branch()}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:switch@{local}>;tag=sw\r\nTo: <sip:silent@127.0.0.1>\r\n"
            "Call-ID: timer-a@test\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:switch@{local}>\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(invite, Request)

    driver.send_request(invite, Peer("UDP", "127.0.0.1", silent.port))
    # Timer B (64*T1) ends the transaction; by then every retransmission has been sent.
    await asyncio.wait_for(timed_out.wait(), WAIT)

    copies: list[bytes] = []
    while not silent.received.empty():
        copies.append(silent.received.get_nowait()[0])
    # The first send plus one retransmission per interval of the schedule, identical bytes.
    assert len(copies) == 4
    assert all(copy == bytes(invite) for copy in copies)
    # One timer per deadline (A, A, A, B ...), never two armed at once.
    assert len(watch.handles) >= 4
    assert watch.most_pending == 1
    assert driver.armed_deadline is None or watch.pending() == 1


async def test_resend_interval_change_applies_to_new_transactions(start_server) -> None:
    server = await start_server()
    assert server.endpoint.config.timers.resend_intervals[0] == 0.5
    server.params.set("SS_SIP_RESEND_INTERVAL", "0.25,0.5")
    assert server.endpoint.config.timers.resend_intervals == (0.25, 0.5)
