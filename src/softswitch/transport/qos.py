"""Marking signalling packets with an IP ToS / traffic class byte (SS_QOS_SIGNAL).

Carriers queue SIP by DSCP: the default 0xa0 is CS5 (RFC 4594 §4.2, "signaling"). The byte is
set per socket, on IPv4 as ``IP_TOS`` and on IPv6 as ``IPV6_TCLASS``; a dual-stack IPv6 socket
also gets ``IP_TOS`` so IPv4-mapped traffic is marked too. Marking is best effort: a platform
that refuses the option still carries the call, so failures are logged and never raised.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import Any

__all__ = ["apply_tos", "read_tos"]

_log = logging.getLogger(__name__)

# IPV6_TCLASS is missing from the socket module on some builds; 67 is its Linux value.
_IPV6_TCLASS: int = getattr(socket, "IPV6_TCLASS", 67)


def apply_tos(sock: Any, tos: int) -> bool:
    """Set the ToS / traffic class of ``sock`` to ``tos`` (0-255); True when it was applied.

    ``sock`` is a socket or the socket-like object an asyncio transport exposes
    (``get_extra_info("socket")``), which both offer ``setsockopt``.
    """
    if not 0 <= tos <= 255:
        raise ValueError(f"ToS byte out of range: {tos}")
    try:
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_TCLASS, tos)
            # A dual-stack socket also sends IPv4; an IPv6-only one refuses, which is fine.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    except OSError as exc:
        _log.warning("cannot set ToS 0x%02x on %s: %s", tos, sock, exc)
        return False
    return True


def read_tos(sock: Any) -> int:
    """The ToS / traffic class byte currently set on ``sock`` (for checks and diagnostics)."""
    if sock.family == socket.AF_INET6:
        return int(sock.getsockopt(socket.IPPROTO_IPV6, _IPV6_TCLASS))
    return int(sock.getsockopt(socket.IPPROTO_IP, socket.IP_TOS))
