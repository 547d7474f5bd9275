"""What every part of the call engine shares: the way out to the wire, the clock, and the two
indexes that route the endpoint's events back to calls.

``client`` maps each client transaction the engine started to what its responses mean (an
attempt of a hunt, a relayed in-dialog request, or nothing worth reading: a BYE or CANCEL of
ours); ``dialogs`` maps every dialog of every leg, by its id from our side, to its call and
leg. Admission, hunting and the bridge all read and write them, so they live here, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from softswitch.calls.build import Local
from softswitch.sip.dialog import DialogId, DialogState
from softswitch.sip.errors import ProtocolError
from softswitch.sip.ict import make_cancel
from softswitch.sip.ids import IdSource
from softswitch.sip.message import Request
from softswitch.sip.status import make_response
from softswitch.sip.transaction import TransactionKey
from softswitch.transport.driver import Sender

if TYPE_CHECKING:
    from softswitch.calls.call import Attempt, Call, Leg

__all__ = ["IGNORE", "Wire"]

IGNORE = object()
"""The ``client`` entry of a transaction whose answer changes nothing (our BYE, CANCEL,
PRACK): its responses are consumed, never passed to the dispatcher."""


class Wire:
    """The engine's sender, identifiers, addresses and timers."""

    def __init__(self, ids: IdSource, locals_: Mapping[str, Local], product: str) -> None:
        self.ids = ids
        self.product = product
        self._locals = dict(locals_)
        self.sender: Sender | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.client: dict[TransactionKey, object] = {}
        self.dialogs: dict[DialogId, tuple[Call, Leg]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ clock and sending
    def attach(self, sender: Sender) -> None:
        self.sender = sender
        if self.loop is None:
            self.loop = asyncio.get_running_loop()

    def send(self) -> Sender:
        if self.sender is None:
            raise RuntimeError("the call engine has no transport yet")
        return self.sender

    def now(self) -> float:
        if self.sender is not None:
            return self.sender.now()
        return (self.loop or asyncio.get_running_loop()).time()

    def local(self, transport: str) -> Local:
        """Our address on ``transport`` (the first listener's when we have none of it)."""
        return self._locals.get(transport.upper()) or next(iter(self._locals.values()))

    def later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return (self.loop or asyncio.get_running_loop()).call_later(delay, callback)

    def at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return (self.loop or asyncio.get_running_loop()).call_at(when, callback)

    def spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the spawned work (CDRs being written)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ messages of ours
    def answer(
        self,
        request: Request,
        key: TransactionKey,
        status: int,
        reason: str | None = None,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        to_tag: str | None = None,
    ) -> None:
        """Answer ``request`` ourselves (not relaying anything)."""
        if to_tag is None and status != 100:
            to_tag = self.ids.tag()
        response = make_response(
            request, status, reason, to_tag=to_tag, headers=(*headers, ("Server", self.product))
        )
        self.send().send_response(key, response)

    def ack(self, leg: Leg, seq: int, body: bytes = b"", content_type: str | None = None) -> None:
        """ACK the 2xx to INVITE ``seq`` of ``leg``'s dialog (§13.2.2.4); kept on the leg to be
        sent again when the 2xx is retransmitted."""
        assert leg.dialog is not None
        local = leg.local
        ack = leg.dialog.ack_for(
            seq,
            branch=self.ids.branch(),
            via_host=local.host,
            via_port=local.port,
            transport=local.transport,
            body=body,
            content_type=content_type,
        )
        leg.ack = ack
        self.send().send_stateless(ack, leg.peer)

    def bye(self, leg: Leg) -> None:
        """End ``leg``'s dialog with a BYE (nothing when it has none or it already ended)."""
        dialog = leg.dialog
        if dialog is None or dialog.state is DialogState.TERMINATED:
            return
        local = leg.local
        try:
            dialog, bye = dialog.request(
                "BYE",
                branch=self.ids.branch(),
                via_host=local.host,
                via_port=local.port,
                transport=local.transport,
            )
        except ProtocolError:
            return
        leg.dialog = dialog.terminated()
        self.client[self.send().send_request(bye, leg.peer)] = IGNORE

    def cancel(self, attempt: Attempt) -> None:
        """CANCEL ``attempt``'s INVITE (§9.1)."""
        key = self.send().send_request(make_cancel(attempt.request), attempt.target.peer)
        self.client[key] = IGNORE
