"""Media sections: the ``m=`` line, its lines, and the typed views offer/answer relies on.

Codec, direction, ptime and telephone-event views are computed from the ``a=`` lines each time
they are asked for; a media section has a handful of lines, and computing keeps the value a plain
frozen record that can never disagree with its own lines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from softswitch.sdp.errors import SdpError
from softswitch.sdp.formats import (
    STATIC_PAYLOAD_TYPES,
    Codec,
    Direction,
    RtpMap,
    parse_fmtp,
    parse_rtpmap,
)
from softswitch.sdp.lines import Attribute, Bandwidth, BlankLine, Connection, Field, set_line

__all__ = ["MediaDescription", "MediaLine", "direction_in"]

MediaLine = Connection | Bandwidth | Attribute | Field | BlankLine

# RFC 8866 §5 order of media-level types; used only to place a line we add.
_MEDIA_ORDER: Final = "icbka"


def direction_in(attributes: Iterable[Attribute]) -> Direction | None:
    """The first direction attribute among ``attributes`` (RFC 8866 §6.7), if any."""
    for attribute in attributes:
        if attribute.value is None:
            direction = Direction.from_attribute(attribute.name)
            if direction is not None:
                return direction
    return None


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """``m=<media> <port>[/<count>] <proto> <fmt> ...`` and the lines that follow it (§5.14).

    ``formats`` are kept as text: RTP payload types are numbers, but other transports (T.38 over
    ``udptl``) name their formats.
    """

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    lines: tuple[MediaLine, ...] = ()

    def __post_init__(self) -> None:
        for what, token in (
            ("media", self.media),
            ("proto", self.proto),
            *(("format", fmt) for fmt in self.formats),
        ):
            if not token or any(ch.isspace() for ch in token):
                raise SdpError(f"m= {what} must be a token without spaces, got {token!r}")
        if not 0 <= self.port <= 65535:
            raise SdpError(f"m= port out of range: {self.port}")
        if self.port_count is not None and self.port_count < 1:
            raise SdpError(f"m= port count must be positive: {self.port_count}")

    @property
    def header(self) -> str:
        """The text after ``m=``."""
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        return " ".join((self.media, port, self.proto, *self.formats))

    # -- line views --------------------------------------------------------------------------

    @property
    def connection(self) -> Connection | None:
        """The media-level ``c=`` (see ``SessionDescription.connection_of`` for inheritance)."""
        for line in self.lines:
            if isinstance(line, Connection):
                return line
        return None

    @property
    def bandwidths(self) -> tuple[Bandwidth, ...]:
        """Media-level ``b=`` lines."""
        return tuple(line for line in self.lines if isinstance(line, Bandwidth))

    @property
    def information(self) -> str | None:
        """Media title ``i=``."""
        for line in self.lines:
            if isinstance(line, Field) and line.letter == "i":
                return line.value
        return None

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        """Media-level ``a=`` lines, in order."""
        return tuple(line for line in self.lines if isinstance(line, Attribute))

    def attribute_values(self, name: str) -> tuple[str | None, ...]:
        """Values of every attribute called ``name`` (compared case-insensitively)."""
        wanted = name.lower()
        return tuple(a.value for a in self.attributes if a.name.lower() == wanted)

    def attribute(self, name: str) -> str | None:
        """Value of the first attribute called ``name``; ``None`` if absent or a property."""
        values = self.attribute_values(name)
        return values[0] if values else None

    def has_attribute(self, name: str) -> bool:
        """Whether any attribute is called ``name``."""
        return bool(self.attribute_values(name))

    # -- RTP views ---------------------------------------------------------------------------

    @property
    def is_rtp(self) -> bool:
        """Whether formats are RTP payload types (RTP/AVP, RTP/SAVP, UDP/TLS/RTP/SAVPF, ...)."""
        return "RTP/" in self.proto.upper()

    @property
    def is_rejected(self) -> bool:
        """Port 0 marks a stream refused or removed (RFC 3264 §6, §8.2)."""
        return self.port == 0

    @property
    def payload_types(self) -> tuple[int, ...]:
        """The RTP payload types listed on the m= line, in preference order."""
        if not self.is_rtp:
            return ()
        return tuple(int(f) for f in self.formats if f.isascii() and f.isdigit() and int(f) < 128)

    @property
    def rtpmaps(self) -> tuple[RtpMap, ...]:
        """Every well-formed rtpmap attribute, listed format or not."""
        maps = (parse_rtpmap(v) for v in self.attribute_values("rtpmap") if v is not None)
        return tuple(m for m in maps if m is not None)

    def rtpmap(self, payload_type: int) -> RtpMap | None:
        """The rtpmap of a payload type: its attribute, else the RFC 3551 static assignment."""
        for rtpmap in self.rtpmaps:
            if rtpmap.payload_type == payload_type:
                return rtpmap
        return STATIC_PAYLOAD_TYPES.get(payload_type)

    def fmtp(self, fmt: int | str) -> str | None:
        """The parameter text of the first ``a=fmtp`` for a format (a payload type or a name)."""
        wanted = str(fmt)
        for value in self.attribute_values("fmtp"):
            parsed = parse_fmtp(value) if value is not None else None
            if parsed is not None and parsed[0] == wanted:
                return parsed[1]
        return None

    @property
    def codecs(self) -> tuple[Codec, ...]:
        """Payload types resolved to codecs, in m= order.

        A dynamic payload type without an rtpmap cannot be identified and is left out: nothing can
        be agreed on it.
        """
        found: list[Codec] = []
        for pt in self.payload_types:
            rtpmap = self.rtpmap(pt)
            if rtpmap is not None:
                channels = 1 if rtpmap.channels is None else rtpmap.channels
                found.append(Codec(pt, rtpmap.encoding, rtpmap.clock_rate, channels, self.fmtp(pt)))
        return tuple(found)

    @property
    def telephone_events(self) -> tuple[Codec, ...]:
        """The RFC 4733 telephone-event payload types offered (one per clock rate, usually)."""
        return tuple(codec for codec in self.codecs if codec.is_telephone_event)

    @property
    def telephone_event(self) -> Codec | None:
        """The first telephone-event payload type, if any."""
        events = self.telephone_events
        return events[0] if events else None

    @property
    def ptime(self) -> int | None:
        """``a=ptime`` in milliseconds (RFC 8866 §6.4); a malformed value reads as absent."""
        return _milliseconds(self.attribute("ptime"))

    @property
    def maxptime(self) -> int | None:
        """``a=maxptime`` in milliseconds (RFC 8866 §6.5)."""
        return _milliseconds(self.attribute("maxptime"))

    @property
    def explicit_direction(self) -> Direction | None:
        """The media-level direction attribute, if one is present."""
        return direction_in(self.attributes)

    def direction(self, inherited: Direction = Direction.SENDRECV) -> Direction:
        """The media direction; ``inherited`` is the session-level one when there is one."""
        return self.explicit_direction or inherited

    # -- modified copies ---------------------------------------------------------------------

    def with_lines(self, lines: Iterable[MediaLine]) -> MediaDescription:
        """A copy with other lines."""
        return dataclasses.replace(self, lines=tuple(lines))

    def with_port(self, port: int) -> MediaDescription:
        """A copy on another port."""
        return dataclasses.replace(self, port=port)

    def with_connection(self, connection: Connection | None) -> MediaDescription:
        """A copy with its ``c=`` replaced in place, added, or (``None``) removed."""
        return self.with_lines(set_line(self.lines, Connection, "c", connection, _MEDIA_ORDER))

    def with_attribute(self, attribute: Attribute) -> MediaDescription:
        """A copy with ``attribute`` appended."""
        return self.with_lines((*self.lines, attribute))

    def without_attributes(self, *names: str) -> MediaDescription:
        """A copy without the attributes called any of ``names`` (case-insensitive)."""
        drop = {name.lower() for name in names}
        return self.with_lines(
            ln for ln in self.lines if not (isinstance(ln, Attribute) and ln.name.lower() in drop)
        )

    def with_direction(self, direction: Direction) -> MediaDescription:
        """A copy stating ``direction``: the first direction attribute is replaced where it
        stands (any others dropped), else the attribute is appended."""
        new = Attribute(direction.value)
        lines: list[MediaLine] = []
        placed = False
        for line in self.lines:
            if isinstance(line, Attribute) and direction_in((line,)) is not None:
                if not placed:
                    lines.append(new)
                    placed = True
                continue
            lines.append(line)
        if not placed:
            lines.append(new)
        return self.with_lines(lines)


def _milliseconds(value: str | None) -> int | None:
    # Some devices write "20.0"; RFC 8866 §6.4 allows a decimal value, we keep whole ms.
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not 0 < number < 10_000:
        return None
    return int(number)
