"""Rewriting a description for a media relay or a B2BUA leg.

A B2BUA never forwards the other leg's body as is: it puts the relay's address and ports in, its
own origin, and perhaps fewer codecs or another direction (hold). Each helper here changes only
the lines it names and returns a new value; everything else, unknown lines included, stays as the
far end wrote it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from softswitch.sdp.formats import Codec, Direction
from softswitch.sdp.lines import Attribute, Connection
from softswitch.sdp.media import MediaDescription, MediaLine
from softswitch.sdp.session import SessionDescription

__all__ = [
    "bump_version",
    "filter_codecs",
    "hold",
    "with_connection_address",
    "with_direction",
    "with_media_port",
    "with_origin_address",
    "without_attributes",
]

# Attributes whose value starts with the payload type they describe.
_PER_FORMAT_ATTRIBUTES = frozenset({"rtpmap", "fmtp", "rtcp-fb"})


def _relocated(connection: Connection, address: str) -> Connection:
    # A relay address is unicast: any multicast TTL/count of the original does not apply to it.
    return Connection(connection.nettype, Connection.for_address(address).addrtype, address)


def with_connection_address(description: SessionDescription, address: str) -> SessionDescription:
    """Point every ``c=`` line (session and media level) at ``address`` (IPv4 or IPv6).

    If some media section would otherwise have no connection, a session-level ``c=`` is added
    (RFC 8866 §5.7 requires one or the other).
    """
    media = tuple(
        section
        if section.connection is None
        else section.with_connection(_relocated(section.connection, address))
        for section in description.media
    )
    session = description.connection
    if session is not None:
        new_session: Connection | None = _relocated(session, address)
    elif any(section.connection is None for section in media) or not media:
        new_session = Connection.for_address(address)
    else:
        new_session = None
    result = replace(description, media=media)
    return result.with_connection(new_session) if new_session is not None else result


def with_media_port(description: SessionDescription, index: int, port: int) -> SessionDescription:
    """Set the port of m= line ``index`` (0-based)."""
    return description.with_media(index, description.media[index].with_port(port))


def bump_version(description: SessionDescription) -> SessionDescription:
    """Increase ``sess-version`` by one, as every changed offer in a dialog must (RFC 3264 §8)."""
    origin = description.origin
    return description.with_origin(replace(origin, session_version=origin.session_version + 1))


def with_origin_address(
    description: SessionDescription, address: str, *, bump: bool = True
) -> SessionDescription:
    """Put our ``address`` in the ``o=`` line and, unless told not to, bump its version."""
    origin = description.origin
    addrtype = Connection.for_address(address).addrtype
    result = description.with_origin(replace(origin, addrtype=addrtype, address=address))
    return bump_version(result) if bump else result


def _parse_name(name: str) -> tuple[str, int | None, int | None]:
    parts = name.split("/")
    rate = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    channels = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
    return parts[0].casefold(), rate, channels


def _wanted(codec: Codec, names: Sequence[tuple[str, int | None, int | None]]) -> int | None:
    for position, (name, rate, channels) in enumerate(names):
        if (
            codec.encoding.casefold() == name
            and rate in (None, codec.clock_rate)
            and channels in (None, codec.channels)
        ):
            return position
    return None


def filter_codecs(
    section: MediaDescription,
    names: Iterable[str],
    *,
    keep_telephone_event: bool = True,
    reorder: bool = False,
) -> MediaDescription | None:
    """Keep only the codecs named (``"PCMU"``, ``"G729/8000"``, ``"opus/48000/2"``).

    Formats keep the offer's order unless ``reorder``, which puts them in the order of ``names``.
    rtpmap, fmtp and rtcp-fb lines of dropped payload types go too. Returns ``None`` when no named
    codec is present: the caller decides whether that means 488 or a refused stream.
    """
    wanted = [_parse_name(name) for name in names]
    kept: list[tuple[int, str]] = []
    for codec in section.codecs:
        position = _wanted(codec, wanted)
        if position is not None:
            kept.append((position, str(codec.payload_type)))
    if not kept:
        return None
    if reorder:
        kept.sort(key=lambda item: item[0])
    formats = [fmt for _, fmt in kept]
    if keep_telephone_event:
        formats.extend(
            str(c.payload_type)
            for c in section.telephone_events
            if str(c.payload_type) not in formats
        )
    keep = set(formats)

    def stays(line: MediaLine) -> bool:
        if not isinstance(line, Attribute) or line.name.lower() not in _PER_FORMAT_ATTRIBUTES:
            return True
        fmt = (line.value or "").split(" ", 1)[0]
        return fmt in keep or fmt == "*"

    return replace(section, formats=tuple(formats), lines=tuple(filter(stays, section.lines)))


def with_direction(
    description: SessionDescription, direction: Direction, index: int | None = None
) -> SessionDescription:
    """State ``direction`` on media section ``index``, or on all of them (``None``).

    When all are set, a session-level direction attribute is dropped: it would no longer say
    anything, and a reader that ignores media-level attributes would be misled by it.
    """
    if index is not None:
        return description.with_media(index, description.media[index].with_direction(direction))
    lines = (
        ln
        for ln in description.lines
        if not (
            isinstance(ln, Attribute) and ln.value is None and Direction.from_attribute(ln.name)
        )
    )
    media = tuple(section.with_direction(direction) for section in description.media)
    return replace(description.with_lines(lines), media=media)


def hold(description: SessionDescription) -> SessionDescription:
    """Put every stream on hold (RFC 3264 §8.4): sendrecv becomes sendonly, recvonly inactive.

    Rejected streams (port 0) are left alone.
    """
    result = description
    for index, section in enumerate(description.media):
        if section.is_rejected:
            continue
        current = description.direction_of(index)
        held = current.restricted_to(Direction.SENDONLY)
        result = result.with_media(index, section.with_direction(held))
    return result


def without_attributes(
    description: SessionDescription, names: Iterable[str], index: int | None = None
) -> SessionDescription:
    """Drop attributes (e.g. ``rtcp``, ``candidate``, ``ice-ufrag``) a relay cannot honour.

    ``index`` limits the change to one media section; ``None`` means the session level and every
    media section.
    """
    wanted = tuple(names)
    if index is not None:
        return description.with_media(index, description.media[index].without_attributes(*wanted))
    drop = {name.lower() for name in wanted}
    lines = (
        ln
        for ln in description.lines
        if not (isinstance(ln, Attribute) and ln.name.lower() in drop)
    )
    media = tuple(section.without_attributes(*wanted) for section in description.media)
    return replace(description.with_lines(lines), media=media)
