"""What the endpoint hands out: events for the transaction user, and bytes (or closes) for the wire.

Events are frozen, slotted values with named fields, never positional tuples, so the call-control
code reads ``event.request`` rather than ``event[0]``. The unions :data:`Event` and :data:`Output`
are explicit, so a ``match`` over them can be checked for exhaustiveness.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from softswitch.sip.message import Request, Response

if TYPE_CHECKING:
    from softswitch.sip.transaction import TransactionKey

__all__ = [
    "CancelReceived",
    "CloseConnection",
    "ConnectionFailed",
    "Event",
    "MessageDropped",
    "Outgoing",
    "Output",
    "Peer",
    "RequestReceived",
    "ResponseReceived",
    "TransactionTerminated",
    "TransactionTimeout",
    "TransportFailed",
]

RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS"})


@dataclass(frozen=True, slots=True)
class Peer:
    """The far end of one message.

    ``host`` is an IP literal (IPv6 without brackets). On a stream transport ``connection`` is the
    transport's id of the socket, so a response goes back on the connection its request came in on
    (§18.2.2); it is None for UDP and for a destination with no open connection yet.
    """

    transport: str
    host: str
    port: int
    connection: int | None = None

    @property
    def reliable(self) -> bool:
        """TCP and TLS deliver or fail loudly: no retransmission timers (§17.1.1.2, §17.1.2.2)."""
        return self.transport.upper() in RELIABLE_TRANSPORTS


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Bytes to send to ``peer``. ``transaction`` lets the driver report a failed send back."""

    data: bytes
    peer: Peer
    transaction: TransactionKey | None = None


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """The stream to ``peer`` cannot be framed any more: the transport must close it (§18.3)."""

    peer: Peer
    reason: str


Output = Outgoing | CloseConnection


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request for the TU, with the server transaction to answer it through.

    ``transaction`` is None for an ACK that matches no INVITE server transaction (the ACK to a 2xx
    is its own transaction-less request, §17.1.1.3) and for an ACK passed up in the Accepted state
    (RFC 6026 §8.7): in both cases the dialog, not a transaction, consumes it.
    """

    request: Request
    transaction: TransactionKey | None
    peer: Peer


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response for the TU; ``transaction`` is None for a stray 2xx to INVITE (re-ACK it)."""

    response: Response
    transaction: TransactionKey | None
    peer: Peer


@dataclass(frozen=True, slots=True)
class CancelReceived:
    """A CANCEL matched INVITE ``transaction`` (§9.2); it was answered 200 already.

    The TU answers the INVITE with 487 unless it already sent a final response. ``to_tag`` is the
    To tag the 200 carried: the 487 uses it too, so both name the same (early) dialog (§9.2).
    """

    transaction: TransactionKey
    cancel: Request
    peer: Peer
    to_tag: str | None = None


@dataclass(frozen=True, slots=True)
class TransactionTimeout:
    """Timer B, F or H fired: the TU acts as if a 408 had arrived (§8.1.3.1, §17.2.1)."""

    transaction: TransactionKey
    request: Request


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport could not deliver a message of ``transaction`` (§17.1.4, §17.2.4)."""

    transaction: TransactionKey
    request: Request


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    """``transaction`` reached Terminated; its key is free again."""

    transaction: TransactionKey


@dataclass(frozen=True, slots=True)
class MessageDropped:
    """A message was discarded without an answer; ``reason`` says why (counted, maybe logged)."""

    reason: str
    peer: Peer


@dataclass(frozen=True, slots=True)
class ConnectionFailed:
    """A stream from ``peer`` broke its framing; a :class:`CloseConnection` output was queued."""

    peer: Peer
    reason: str


Event = (
    RequestReceived
    | ResponseReceived
    | CancelReceived
    | TransactionTimeout
    | TransportFailed
    | TransactionTerminated
    | MessageDropped
    | ConnectionFailed
)
