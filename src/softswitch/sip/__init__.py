"""Sans-IO SIP core (RFC 3261 and companions): bytes and events in, bytes and deadlines out.

The package surface is the handful of names call control, the registrar and the transport use;
everything else is imported from its module (``softswitch.sip.headers``, ``softswitch.sip.ict``
...).
"""

from softswitch.sip.dialog import Dialog, DialogId, DialogState
from softswitch.sip.digest_client import DigestClient
from softswitch.sip.digest_server import AuthOutcome, AuthResult, DigestAuthenticator
from softswitch.sip.endpoint import Endpoint, EndpointConfig, EndpointStats
from softswitch.sip.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
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
from softswitch.sip.grammar import NameAddr
from softswitch.sip.ids import IdSource, RandomIds
from softswitch.sip.message import HeaderField, MessageError, Request, Response
from softswitch.sip.parser import parse_message
from softswitch.sip.status import make_response, reason_phrase
from softswitch.sip.timers import Timer, TimerConfig
from softswitch.sip.uri import AbsoluteUri, SipUri, TelUri, UriError, parse_uri, uri_equal

__all__ = [
    "AbsoluteUri",
    "AuthOutcome",
    "AuthResult",
    "CancelReceived",
    "CloseConnection",
    "ConnectionFailed",
    "Dialog",
    "DialogId",
    "DialogState",
    "DigestAuthenticator",
    "DigestClient",
    "Endpoint",
    "EndpointConfig",
    "EndpointStats",
    "Event",
    "HeaderField",
    "IdSource",
    "LocalProtocolError",
    "MessageDropped",
    "MessageError",
    "NameAddr",
    "Outgoing",
    "Output",
    "Peer",
    "ProtocolError",
    "RandomIds",
    "RemoteProtocolError",
    "Request",
    "RequestReceived",
    "Response",
    "ResponseReceived",
    "SipUri",
    "TelUri",
    "Timer",
    "TimerConfig",
    "TransactionTerminated",
    "TransactionTimeout",
    "TransportFailed",
    "UriError",
    "make_response",
    "parse_message",
    "parse_uri",
    "reason_phrase",
    "uri_equal",
]
