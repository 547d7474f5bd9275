"""RTP media formats as SDP describes them: rtpmap, fmtp, static payload types, direction.

These are the attribute-level vocabularies that both parsing (``session``) and offer/answer
(``negotiation``) need. They live apart so that neither of those modules grows past a readable
size, and so that call control can name a codec without holding a whole session description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Final

__all__ = [
    "AUXILIARY_ENCODINGS",
    "STATIC_PAYLOAD_TYPES",
    "Codec",
    "Direction",
    "RtpMap",
    "first_audio_encoding",
    "parse_event_list",
    "parse_fmtp",
    "parse_fmtp_parameters",
    "parse_rtpmap",
]

_DIGITS: Final = re.compile(r"[0-9]+")


class Direction(Enum):
    """Media direction attributes (RFC 8866 §6.7, RFC 3264 §5.1).

    The value is the attribute name as it appears on the wire. Directions are always read from the
    point of view of the party that wrote the description.
    """

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        """Whether the writer of the description sends media."""
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        """Whether the writer of the description is willing to receive media."""
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def from_flags(cls, *, sends: bool, receives: bool) -> Direction:
        """The direction attribute that states the given sending and receiving wishes."""
        if sends and receives:
            return cls.SENDRECV
        if sends:
            return cls.SENDONLY
        if receives:
            return cls.RECVONLY
        return cls.INACTIVE

    @classmethod
    def from_attribute(cls, name: str) -> Direction | None:
        """The direction an attribute name denotes, or ``None`` when it is no direction."""
        try:
            return cls(name.lower())
        except ValueError:
            return None

    def reversed(self) -> Direction:
        """The same media flow seen from the other end (sendonly <-> recvonly, RFC 3264 §6.1)."""
        return Direction.from_flags(sends=self.receives, receives=self.sends)

    def restricted_to(self, other: Direction) -> Direction:
        """The flow both this and ``other`` permit, both written by the same party."""
        return Direction.from_flags(
            sends=self.sends and other.sends, receives=self.receives and other.receives
        )


@dataclass(frozen=True, slots=True)
class RtpMap:
    """One ``a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`` value (RFC 8866 §6.6).

    ``channels`` is ``None`` when the encoding parameters were absent, so that a parsed value
    formats back to exactly what was read.
    """

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    def __str__(self) -> str:
        text = f"{self.payload_type} {self.encoding}/{self.clock_rate}"
        return text if self.channels is None else f"{text}/{self.channels}"


def parse_rtpmap(value: str) -> RtpMap | None:
    """Read an rtpmap attribute value; ``None`` when it is not well formed.

    A broken rtpmap does not make the whole description unusable: its payload type is simply
    unknown, which offer/answer treats like any other codec we cannot match.
    """
    pt_text, _, rest = value.strip().partition(" ")
    parts = rest.strip().split("/")
    if not _DIGITS.fullmatch(pt_text) or len(parts) not in (2, 3) or not parts[0]:
        return None
    if not _DIGITS.fullmatch(parts[1]):
        return None
    channels: int | None = None
    if len(parts) == 3:
        if not _DIGITS.fullmatch(parts[2]):
            return None
        channels = int(parts[2])
    return RtpMap(int(pt_text), parts[0], int(parts[1]), channels)


def parse_fmtp(value: str) -> tuple[str, str] | None:
    """Split an fmtp attribute value into its format and its parameter text (RFC 8866 §6.15)."""
    fmt, sep, params = value.partition(" ")
    if not fmt or not sep:
        return None
    return fmt, params.strip()


def parse_fmtp_parameters(params: str) -> tuple[tuple[str, str], ...]:
    """``annexb=no;mode=30`` -> ``(("annexb", "no"), ("mode", "30"))``.

    Parameter names are folded to lower case because the codec registrations (RFC 4856 and
    others) define them case-insensitively. A bare token (as in telephone-event's ``0-16``) is
    returned with an empty name.
    """
    pairs: list[tuple[str, str]] = []
    for item in params.split(";"):
        item = item.strip()
        if not item:
            continue
        name, sep, val = item.partition("=")
        if sep:
            pairs.append((name.strip().lower(), val.strip()))
        else:
            pairs.append(("", item))
    return tuple(pairs)


def parse_event_list(text: str) -> frozenset[int]:
    """The named events an RFC 4733 §7.1.1 fmtp list announces (``0-15,66,70`` style).

    Malformed items are ignored rather than rejected: the list only narrows what we may send.
    """
    events: set[int] = set()
    for item in text.split(","):
        low, sep, high = item.strip().partition("-")
        if not _DIGITS.fullmatch(low) or (sep and not _DIGITS.fullmatch(high)):
            continue
        first, last = int(low), int(high) if sep else int(low)
        if first <= last <= 255:
            events.update(range(first, last + 1))
    return frozenset(events)


#: Payload types with a fixed meaning, usable without an rtpmap line (RFC 3551 §6, tables 4 and
#: 5). Payload type 2 is left out on purpose: its old G721 meaning was withdrawn.
STATIC_PAYLOAD_TYPES: Final = MappingProxyType(
    {
        pt: RtpMap(pt, name, rate, channels)
        for pt, name, rate, channels in (
            (0, "PCMU", 8000, None),
            (3, "GSM", 8000, None),
            (4, "G723", 8000, None),
            (5, "DVI4", 8000, None),
            (6, "DVI4", 16000, None),
            (7, "LPC", 8000, None),
            (8, "PCMA", 8000, None),
            (9, "G722", 8000, None),
            (10, "L16", 44100, 2),
            (11, "L16", 44100, None),
            (12, "QCELP", 8000, None),
            (13, "CN", 8000, None),
            (14, "MPA", 90000, None),
            (15, "G728", 8000, None),
            (16, "DVI4", 11025, None),
            (17, "DVI4", 22050, None),
            (18, "G729", 8000, None),
            (25, "CelB", 90000, None),
            (26, "JPEG", 90000, None),
            (28, "nv", 90000, None),
            (31, "H261", 90000, None),
            (32, "MPV", 90000, None),
            (33, "MP2T", 90000, None),
            (34, "H263", 90000, None),
        )
    }
)

#: Encodings that travel beside a voice codec but never carry the call's audio on their own, so a
#: stream whose only common formats are these is not an agreement (RFC 4733, RFC 3389, RFC 2198).
AUXILIARY_ENCODINGS: Final = frozenset({"telephone-event", "cn", "red", "ulpfec", "rtx"})


@dataclass(frozen=True, slots=True)
class Codec:
    """A payload type resolved to its encoding, as one media section offers or agreed on it.

    ``channels`` defaults to 1 (RFC 8866 §6.6: omitted encoding parameters mean one audio
    channel), so that ``opus/48000/2`` and ``PCMU/8000`` compare the same way.
    """

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None

    @property
    def key(self) -> tuple[str, int, int]:
        """What identifies the codec across two descriptions: never the payload number, which
        for dynamic types is local to each description (RFC 3264 §6.1)."""
        return (self.encoding.casefold(), self.clock_rate, self.channels)

    def matches(self, other: Codec) -> bool:
        """Same encoding name (case-insensitive, RFC 4855 §3), clock rate and channel count."""
        return self.key == other.key

    @property
    def is_telephone_event(self) -> bool:
        """RFC 4733 named telephone events (DTMF)."""
        return self.encoding.casefold() == "telephone-event"

    @property
    def is_auxiliary(self) -> bool:
        """Whether the codec can only accompany a voice codec (see ``AUXILIARY_ENCODINGS``)."""
        return self.encoding.casefold() in AUXILIARY_ENCODINGS

    @property
    def rtpmap(self) -> RtpMap:
        """The rtpmap value that describes this codec."""
        return RtpMap(
            self.payload_type,
            self.encoding,
            self.clock_rate,
            None if self.channels == 1 else self.channels,
        )

    @property
    def parameters(self) -> tuple[tuple[str, str], ...]:
        """The fmtp parameters as name/value pairs (empty when there is no fmtp)."""
        return () if self.fmtp is None else parse_fmtp_parameters(self.fmtp)

    @property
    def events(self) -> frozenset[int]:
        """For telephone-event, the events offered; RFC 4733 §7.1.1 says 0-15 when no fmtp."""
        if not self.is_telephone_event:
            return frozenset()
        if self.fmtp is None:
            return frozenset(range(16))
        return parse_event_list(self.fmtp)


def first_audio_encoding(body: bytes) -> str:
    """The encoding name of the first resolvable payload type of the first audio stream that
    has one, or "".

    For records (the CDR's codec), read on every answered call: a scan of the ``m=`` and
    ``a=rtpmap`` lines only, about a tenth of the cost of :func:`~softswitch.sdp.parse`. It
    resolves a payload type the way ``MediaDescription.codecs`` does (its rtpmap in that media
    section, else the RFC 3551 static assignment) and is lenient about everything else.
    """
    payload_types: list[str] | None = None
    rtpmaps: dict[str, str] = {}
    for line in [*body.decode("utf-8", "replace").splitlines(), "m="]:
        if line.startswith("m="):
            for pt in payload_types or ():  # the audio section before this line ended
                if pt in rtpmaps:
                    return rtpmaps[pt]
                static = STATIC_PAYLOAD_TYPES.get(int(pt)) if _DIGITS.fullmatch(pt) else None
                if static is not None:
                    return static.encoding
            fields = line[2:].split()
            payload_types = fields[3:] if fields and fields[0] == "audio" else None
            rtpmaps = {}
        elif payload_types is not None and line.startswith("a=rtpmap:"):
            parsed = parse_rtpmap(line[9:])
            if parsed is not None:
                rtpmaps.setdefault(str(parsed.payload_type), parsed.encoding)
    return ""
