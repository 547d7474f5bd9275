"""Sockets for the SIP core: UDP, TCP and TLS listeners and clients, and the asyncio driver.

Layer L3: imports only :mod:`softswitch.sip`; collaborators (the dispatcher, run-time settings)
come in through constructors. See :class:`~softswitch.transport.driver.Driver`.
"""

from softswitch.transport.addresses import HostPort, format_host, normalize_host, parse_hostport
from softswitch.transport.driver import Dispatcher, Driver, Sender
from softswitch.transport.qos import apply_tos, read_tos
from softswitch.transport.tcp import ConnectionPool, StreamConnection
from softswitch.transport.tls import client_context, ensure_self_signed, server_context
from softswitch.transport.udp import UdpListener, open_udp

__all__ = [
    "ConnectionPool",
    "Dispatcher",
    "Driver",
    "HostPort",
    "Sender",
    "StreamConnection",
    "UdpListener",
    "apply_tos",
    "client_context",
    "ensure_self_signed",
    "format_host",
    "normalize_host",
    "open_udp",
    "parse_hostport",
    "read_tos",
    "server_context",
]
