"""The sans-IO SIP endpoint: bytes and time in, events and bytes out (RFC 3261 §17, §18).

Shaped after h11 and aioquic. The transport driver calls :meth:`Endpoint.receive` with what a socket
delivered and :meth:`Endpoint.handle_deadlines` when the one armed timer expires, then drains
:meth:`Endpoint.next_event` into call control and :meth:`Endpoint.outgoing` onto the sockets. The
transaction user (call control, the registrar) answers through :meth:`Endpoint.send_response` and
starts its own requests with :meth:`Endpoint.send_request`. Nothing here touches a socket or a
clock.

Inbound work per message: frame (streams), parse, validate (answering malformed requests statelessly
with the status their error names), stamp ``received``/``rport`` (§18.2.1, RFC 3581), then match a
transaction (§17.1.3, §17.2.3) or create one. Besides plain matching the endpoint answers CANCEL
itself (§9.2), and refuses merged requests (§8.2.2.2) and requests that loop back to us with 482.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field

from softswitch.sip import ict, ist, nict, nist
from softswitch.sip.addressing import (
    AddressSet,
    response_peer,
    salvage_request,
    sent_by_peer,
    stamp_via,
)
from softswitch.sip.errors import LocalProtocolError, ProtocolError
from softswitch.sip.events import (
    CancelReceived,
    CloseConnection,
    ConnectionFailed,
    Event,
    MessageDropped,
    Outgoing,
    Output,
    Peer,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailed,
)
from softswitch.sip.framing import FramingError, StreamFramer
from softswitch.sip.ids import IdSource, RandomIds, is_rfc3261_branch
from softswitch.sip.message import MessageError, Request, Response
from softswitch.sip.parser import parse_message
from softswitch.sip.status import make_response
from softswitch.sip.timers import Timer, TimerConfig
from softswitch.sip.transaction import (
    Arm,
    Effect,
    Input,
    Role,
    Transaction,
    TransactionKey,
    client_key,
    merge_key,
    response_key,
    server_key,
    tu_input,
)
from softswitch.sip.validate import check_request, check_response

__all__ = ["DEFAULT_METHODS", "Endpoint", "EndpointConfig", "EndpointStats"]

DEFAULT_METHODS = frozenset({
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE", "PRACK", "NOTIFY",
    "SUBSCRIBE", "REFER", "MESSAGE",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """Endpoint settings; the runtime builds it from the system parameters.

    ``local_addresses`` are the sent-by values (``host:port``) we write in our Vias: a request that
    carries one of them with a branch of ours has looped. ``strict`` re-raises unexpected exceptions
    met while handling a peer's bytes instead of counting them as drops: tests turn it on so a bug
    cannot hide behind the endpoint's promise that bad input never raises.
    """

    timers: TimerConfig = field(default_factory=TimerConfig)
    known_methods: frozenset[str] = DEFAULT_METHODS
    local_addresses: frozenset[str] = frozenset()
    max_message_size: int = 65535
    auto_trying: bool = True
    strict: bool = False


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """Counters since the endpoint was created (a snapshot).

    ``keepalives`` counts RFC 5626 §3.5.1 CRLF keep-alives (UDP datagrams of bare CRLFs, stream
    pings): they are neither messages received nor drops.
    """

    received: int
    sent: int
    dropped: int
    errors_answered: int
    transactions: int
    keepalives: int = 0


_Entry = tuple[float, int, TransactionKey, Timer, int]


def _internal(exc: Exception) -> str:
    return f"internal error: {type(exc).__name__}"


_TX_EVENTS = (TransactionTimeout, TransportFailed, TransactionTerminated)


class Endpoint:
    """One SIP endpoint: every transaction of one listening identity, behind three verbs."""

    def __init__(self, config: EndpointConfig | None = None, ids: IdSource | None = None) -> None:
        self.config = config if config is not None else EndpointConfig()
        self.ids: IdSource = ids if ids is not None else RandomIds()
        self._local = AddressSet(self.config.local_addresses)
        self._events: deque[Event] = deque()
        self._out: list[Output] = []
        self._client: dict[TransactionKey, Transaction] = {}
        self._server: dict[TransactionKey, Transaction] = {}
        self._merge: dict[tuple[str, str, int, str], TransactionKey] = {}
        self._internal: set[TransactionKey] = set()
        self._heap: list[_Entry] = []
        self._seq = 0
        self._tokens = itertools.count(1)
        self._framers: dict[tuple[str, int | None, str, int], StreamFramer] = {}
        # To tags the endpoint chose for INVITE server transactions (the 200 to a CANCEL, §9.2).
        self._tags: dict[TransactionKey, str] = {}
        self._received = self._sent = self._dropped = self._answered = self._keepalives = 0

    # ------------------------------------------------------------------ the three verbs
    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        """Take what the transport received from ``peer``; never raises on bad input."""
        try:
            if peer.transport.upper() == "UDP":
                if not data.strip():
                    # RFC 5626 §3.5.1 (and common practice): bare CRLFs keep a NAT binding open.
                    self._keepalives += 1
                    return
                self._receive_message(data, peer, now, stream=False)
            else:
                self._receive_stream(data, peer, now)
        except Exception as exc:
            if self.config.strict:
                raise
            self._drop(_internal(exc), peer)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def outgoing(self) -> list[Output]:
        """Everything to send (and connections to close) since the last call, in order."""
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_deadlines` must next be called; None when no timer runs."""
        heap = self._heap
        while heap:
            _, _, key, timer, token = heap[0]
            tx = self._lookup(key)
            if tx is not None and tx.timer_token(timer) == token:
                return heap[0][0]
            heapq.heappop(heap)  # lazy deletion of stopped and restarted timers
        return None

    def handle_deadlines(self, now: float) -> None:
        """Fire every timer whose deadline is at or before ``now``."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, key, timer, token = heapq.heappop(heap)
            tx = self._lookup(key)
            if tx is not None:
                self._run(tx.fire(timer, token, now))

    # ------------------------------------------------------------------ the TU's side
    def send_request(self, request: Request, peer: Peer, now: float) -> TransactionKey:
        """Start a client transaction for ``request`` (ICT for INVITE, NICT otherwise).

        The top Via must already carry a branch from :attr:`ids` (``ids.branch()``): the endpoint
        never rewrites the caller's message. An ACK is not a transaction: use
        :meth:`send_stateless`.
        """
        if request.method == "ACK":
            raise LocalProtocolError("ACK has no transaction: use send_stateless (§17.1.1.3)")
        try:
            branch = request.top_via.branch
            key = client_key(request)
            _ = request.cseq
        except ProtocolError as exc:
            raise LocalProtocolError(f"Cannot send a malformed request: {exc.reason}") from None
        if not is_rfc3261_branch(branch):
            raise LocalProtocolError("The top Via needs a branch from ids.branch() (§8.1.1.7)")
        if key in self._client:
            raise LocalProtocolError("A client transaction with this branch already exists")
        if request.method == "INVITE":
            tx = Transaction(
                ict.MACHINE, key, request, peer, self.config.timers, ict.make_ack, self._tokens
            )
        else:
            tx = Transaction(
                nict.MACHINE, key, request, peer, self.config.timers, None, self._tokens
            )
        self._client[key] = tx
        self._run(tx.start(now))
        return key

    def send_response(self, transaction: TransactionKey, response: Response, now: float) -> None:
        """Send ``response`` through server ``transaction``.

        Over UDP the INVITE server retransmits a non-2xx final on Timer G by itself; a 2xx is
        retransmitted by the TU, through this method while the transaction is in Accepted
        (RFC 6026), with :meth:`send_stateless` after that. Responses the table does not accept
        (a second final response) are discarded, as §17.2.2 asks.
        """
        tx = self._server.get(transaction)
        if tx is None:
            raise LocalProtocolError("No such server transaction", 481)
        self._run(tx.handle(tu_input(response.status), now, response))

    def abandon(self, transaction: TransactionKey) -> None:
        """Forget server ``transaction`` without answering it.

        For a request the TU decided to ignore (an INVITE from an unknown source when the
        switch must stay invisible): nothing is sent, and a later retransmission is a new
        request to the TU. The TU keeps the transaction until retransmissions stop (64*T1) so
        one request is one decision.
        """
        if transaction.role is Role.SERVER:
            self._forget(transaction)

    def send_stateless(self, message: Request | Response, peer: Peer) -> None:
        """Send outside any transaction: the ACK to a 2xx, 2xx retransmissions after Accepted."""
        self._emit_bytes(bytes(message), peer, None)

    def send_failed(self, item: Outgoing, now: float) -> None:
        """The transport could not send ``item``: its transaction learns of it (§17.1.4,
        §17.2.4)."""
        if item.transaction is not None:
            tx = self._lookup(item.transaction)
            if tx is not None:
                self._run(tx.handle(Input.TRANSPORT_ERROR, now))

    def connection_closed(self, peer: Peer) -> None:
        """A stream closed: forget its framing; its server transactions answer to the sent-by
        address from now on (§18.2.2: open a new connection when the old one is gone)."""
        self._framers.pop(self._framer_key(peer), None)
        if peer.connection is None:
            return
        for tx in self._server.values():
            if tx.peer.connection == peer.connection and tx.peer.transport == peer.transport:
                tx.peer = sent_by_peer(tx.request, tx.peer)

    def transaction_state(self, key: TransactionKey) -> str | None:
        """The RFC name of the state of transaction ``key`` ("Proceeding" ...), None if gone."""
        tx = self._lookup(key)
        return None if tx is None else str(tx.state.value)

    @property
    def stats(self) -> EndpointStats:
        return EndpointStats(
            self._received,
            self._sent,
            self._dropped,
            self._answered,
            len(self._client) + len(self._server),
            self._keepalives,
        )

    # ------------------------------------------------------------------ inbound
    @staticmethod
    def _framer_key(peer: Peer) -> tuple[str, int | None, str, int]:
        return (peer.transport.upper(), peer.connection, peer.host, peer.port)

    def _receive_stream(self, data: bytes, peer: Peer, now: float) -> None:
        key = self._framer_key(peer)
        framer = self._framers.get(key)
        if framer is None:
            framer = self._framers[key] = StreamFramer(self.config.max_message_size)
        try:
            messages = framer.feed(data)
        except Exception as exc:
            # §18.3: without a usable Content-Length the next message cannot be found again. Any
            # other failure leaves the framer in an unknown state: close rather than let the
            # connection sit with a buffer that only grows.
            reason = exc.reason if isinstance(exc, FramingError) else _internal(exc)
            self._framers.pop(key, None)
            self._dropped += 1
            self._events.append(ConnectionFailed(peer, reason))
            self._out.append(CloseConnection(peer, reason))
            if self.config.strict and not isinstance(exc, FramingError):
                raise
            return
        pings = framer.take_pings()
        if pings:
            # RFC 5626 §3.5.1: each double-CRLF ping is answered with a single CRLF pong.
            self._keepalives += pings
            self._out.extend(Outgoing(b"\r\n", peer) for _ in range(pings))
        for message in messages:
            self._receive_message(message, peer, now, stream=True)

    def _receive_message(self, data: bytes, peer: Peer, now: float, *, stream: bool) -> None:
        self._received += 1
        if len(data) > self.config.max_message_size:
            self._drop("message too large", peer)
            return
        try:
            message = parse_message(data, stream=stream)
        except MessageError as exc:
            found = exc.message
            request = found if isinstance(found, Request) else None
            if found is None:
                request = salvage_request(data)
            if request is None:
                self._drop(f"unparseable message: {exc.reason}", peer)
            else:
                self._answer_error(request, exc.status_hint, exc.reason, peer)
            return
        if isinstance(message, Response):
            self._receive_response(message, peer, now)
            return
        try:
            self._receive_request(message, peer, now)
        except ProtocolError as exc:
            # A header view no check covered turned out malformed before any transaction existed.
            self._answer_error(message, exc.status_hint, exc.reason, peer)

    def _receive_response(self, response: Response, peer: Peer, now: float) -> None:
        try:
            check_response(response)
            vias = response.vias
        except ProtocolError as exc:
            self._drop(f"malformed response: {exc.reason}", peer)  # §18.1.2: never answered
            return
        if len(vias) > 1:
            self._drop("response with more than one Via", peer)  # §8.1.3.3; RFC 4475 bcast
            return
        if self._local and not self._local.has_via(vias[0]):
            self._drop("response sent-by is not ours", peer)  # §18.1.2
            return
        tx = self._client.get(response_key(response))
        if tx is None:
            if 200 <= response.status < 300 and response.cseq.method == "INVITE":
                # A 2xx retransmission after Timer M, or another fork: the TU ACKs it again.
                self._events.append(ResponseReceived(response, None, peer))
            else:
                self._drop("response matches no transaction", peer)
            return
        if response.status < 200:
            inp = Input.PROVISIONAL
        elif response.status < 300:
            inp = Input.FINAL_2XX
        else:
            inp = Input.FINAL_NON2XX
        self._run(tx.handle(inp, now, response, peer))

    def _receive_request(self, request: Request, peer: Peer, now: float) -> None:
        try:
            check_request(request, self.config.known_methods)
        except MessageError as exc:
            self._answer_error(request, exc.status_hint, exc.reason, peer)
            return
        request = stamp_via(request, peer)
        dest = response_peer(request, peer)
        key = server_key(request)
        tx = self._find_server(key, request)
        looped = self._looped(request)
        if request.method == "ACK":
            if tx is not None:
                self._run(tx.handle(Input.ACK, now, request, peer))
            elif looped:
                self._drop("looped ACK", peer)
            else:
                self._events.append(RequestReceived(request, None, peer))
            return
        if tx is not None:
            self._run(tx.handle(Input.RETRANSMIT, now, request, peer))
            return
        if key in self._server:
            self._drop("RFC 2543 request collides with a transaction", peer)
            return
        if looped:
            self._reject(request, key, dest, 482, "Loop Detected", now)
            return
        if request.method == "CANCEL":
            self._receive_cancel(request, key, dest, peer, now)
            return
        merged = merge_key(request)
        if merged is not None and self._merge.get(merged) in self._server:
            self._reject(request, key, dest, 482, "Loop Detected (merged request)", now)
            return
        tx = self._new_server(request, key, dest)
        if merged is not None:
            self._merge[merged] = key
        self._events.append(RequestReceived(request, key, peer))
        if request.method == "INVITE" and self.config.auto_trying:
            # §17.2.1: the TU will rarely answer within 200 ms on a B2BUA, so answer at once.
            self._run(tx.handle(Input.TU_PROVISIONAL, now, make_response(request, 100)))

    def _receive_cancel(
        self, cancel: Request, key: TransactionKey, dest: Peer, peer: Peer, now: float
    ) -> None:
        invite_key = server_key(cancel, "INVITE")
        invite = self._find_server(invite_key, cancel)
        tx = self._new_server(cancel, key, dest, internal=True)
        if invite is None:
            self._answered += 1
            response = make_response(cancel, 481, to_tag=self.ids.tag())
            self._run(tx.handle(Input.TU_NON2XX, now, response))
            return
        tag = self._invite_tag(invite)
        self._run(tx.handle(Input.TU_2XX, now, make_response(cancel, 200, to_tag=tag)))
        if invite.state is ist.State.PROCEEDING:
            self._events.append(CancelReceived(invite_key, cancel, peer, tag))

    def _invite_tag(self, invite: Transaction) -> str:
        """The To tag for a response the endpoint itself sends on behalf of ``invite``.

        §8.2.6.2: every response but a 100 MUST carry a To tag, and §9.2 asks the 200 to a CANCEL
        to carry the tag of the INVITE's responses. So the tag of the last response sent is reused;
        without one (only the 100 went out) a tag is chosen and remembered, so a second CANCEL and
        the TU's 487 (told it by :class:`CancelReceived`) carry the same one.
        """
        tag = invite.last_response_tag
        if tag:
            return tag
        remembered = self._tags.get(invite.key)
        if remembered is None:
            remembered = self._tags[invite.key] = self.ids.tag()
        return remembered

    # ------------------------------------------------------------------ helpers
    def _looped(self, request: Request) -> bool:
        """A Via of ours (our branch and, when configured, our address) means a loop (§16.3)."""
        for via in request.vias:
            if self.ids.is_ours(via.branch) and (not self._local or self._local.has_via(via)):
                return True
        return False

    def _find_server(self, key: TransactionKey, request: Request) -> Transaction | None:
        tx = self._server.get(key)
        if tx is None or not key.legacy:
            return tx
        # RFC 2543 matching (§17.2.3) also compares To tags; an ACK carries the tag we sent.
        expected = tx.request.to.tag
        if request.method == "ACK" and tx.last_response_bytes is not None:
            expected = tx.last_response_tag or expected
        return tx if request.to.tag == expected else None

    def _new_server(
        self, request: Request, key: TransactionKey, dest: Peer, *, internal: bool = False
    ) -> Transaction:
        """A server transaction; ``internal`` ones (CANCEL, 482) are the endpoint's own business:
        the TU never hears of them, so none of their events reach it."""
        machine = ist.MACHINE if request.method == "INVITE" else nist.MACHINE
        tx = Transaction(machine, key, request, dest, self.config.timers, None, self._tokens)
        self._server[key] = tx
        if internal:
            self._internal.add(key)
        return tx

    def _reject(
        self,
        request: Request,
        key: TransactionKey,
        dest: Peer,
        status: int,
        reason: str,
        now: float,
    ) -> None:
        """Refuse through a transaction of its own: retransmissions (and the ACK) are absorbed."""
        tx = self._new_server(request, key, dest, internal=True)
        self._answered += 1
        response = make_response(request, status, reason, to_tag=self.ids.tag())
        self._run(tx.handle(Input.TU_NON2XX, now, response))

    def _answer_error(self, request: Request, status: int, reason: str, peer: Peer) -> None:
        """Stateless error response to a request refused before any transaction (§8.2, §18.2.2)."""
        if request.method == "ACK":
            self._drop(f"malformed ACK: {reason}", peer)  # an ACK is never answered
            return
        if not request.has("via"):
            self._drop(f"cannot answer without a Via: {reason}", peer)
            return
        try:
            stamped = stamp_via(request, peer)
            dest = response_peer(stamped, peer)
        except ProtocolError:
            stamped, dest = request, peer  # unreadable Via: the source address is all we have
        headers: tuple[tuple[str, str], ...] = ()
        if status == 501:
            headers = (("Allow", ", ".join(sorted(self.config.known_methods))),)
        phrase = "".join(c if c >= " " else " " for c in reason)
        response = make_response(stamped, status, phrase, to_tag=self.ids.tag(), headers=headers)
        self._answered += 1
        self._emit_bytes(bytes(response), dest, None)

    def _lookup(self, key: TransactionKey) -> Transaction | None:
        return (self._client if key.role is Role.CLIENT else self._server).get(key)

    def _drop(self, reason: str, peer: Peer) -> None:
        self._dropped += 1
        self._events.append(MessageDropped(reason, peer))

    def _emit_bytes(self, data: bytes, peer: Peer, key: TransactionKey | None) -> None:
        self._sent += 1
        self._out.append(Outgoing(data, peer, key))

    def _run(self, effects: list[Effect]) -> None:
        """Carry out what a transaction asked for."""
        for effect in effects:
            if isinstance(effect, Outgoing):
                self._sent += 1
                self._out.append(effect)
            elif isinstance(effect, Arm):
                self._seq += 1
                entry = (effect.deadline, self._seq, effect.key, effect.timer, effect.token)
                heapq.heappush(self._heap, entry)
            else:
                key = effect.transaction if isinstance(effect, _TX_EVENTS) else None
                if isinstance(effect, TransactionTerminated):
                    self._forget(effect.transaction)
                if key is None or key not in self._internal:
                    self._events.append(effect)
                elif isinstance(effect, TransactionTerminated):
                    self._internal.discard(key)

    def _forget(self, key: TransactionKey) -> None:
        table = self._client if key.role is Role.CLIENT else self._server
        tx = table.pop(key, None)
        self._tags.pop(key, None)
        if tx is not None and key.role is Role.SERVER:
            try:
                merged = merge_key(tx.request)
            except ProtocolError:
                merged = None
            if merged is not None and self._merge.get(merged) == key:
                del self._merge[merged]
