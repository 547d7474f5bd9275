"""The offer/answer model (RFC 3264): answer an offer, read an answer, make a simple offer.

Codecs are matched by encoding name, clock rate and channel count, never by payload number: a
dynamic payload number means something only inside the description that defines it, and the
answer must use the offerer's numbers (RFC 3264 §6.1). What was agreed comes back as
``NegotiatedStream`` values so that call control and the media relay need not read SDP again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from softswitch.sdp.errors import SdpError
from softswitch.sdp.formats import STATIC_PAYLOAD_TYPES, Codec, Direction
from softswitch.sdp.lines import Attribute, Connection, Field, Origin, Timing
from softswitch.sdp.media import MediaDescription, MediaLine
from softswitch.sdp.session import SessionDescription, SessionLine

__all__ = [
    "Answer",
    "CodecOrder",
    "CodecSpec",
    "LocalCapabilities",
    "NegotiatedStream",
    "Negotiation",
    "answer",
    "create_offer",
    "process_answer",
]

_FIRST_DYNAMIC_PT = 96


@dataclass(frozen=True, slots=True)
class CodecSpec:
    """A format we can handle: an RTP encoding, or a non-RTP format name such as ``t38``.

    ``clock_rate`` ``None`` accepts any rate. ``payload_type`` is used only when we make an offer;
    static encodings find their number in RFC 3551 without it.
    """

    encoding: str
    clock_rate: int | None = None
    channels: int = 1
    media: str = "audio"
    payload_type: int | None = None

    def matches(self, codec: Codec) -> bool:
        """Whether an offered codec is this one (name case-insensitive, RFC 4855 §3)."""
        return (
            codec.encoding.casefold() == self.encoding.casefold()
            and (self.clock_rate is None or codec.clock_rate == self.clock_rate)
            and codec.channels == self.channels
        )


@dataclass(frozen=True, slots=True)
class LocalCapabilities:
    """What this side supports, in its order of preference.

    ``protos`` lists the transports we terminate: an offer of RTP/SAVP is refused (port 0) unless
    listed, since answering it without keys would be wrong. ``ptime`` is the packetization we want
    to receive; it is written into answers and offers when set.
    """

    codecs: tuple[CodecSpec, ...]
    telephone_event: bool = True
    telephone_event_payload_type: int = 101
    ptime: int | None = None
    protos: tuple[str, ...] = ("RTP/AVP", "udptl")

    def supports_proto(self, proto: str) -> bool:
        """Whether ``proto`` is one we terminate (compared case-insensitively)."""
        return proto.casefold() in (p.casefold() for p in self.protos)

    def preference(self, media: str, codec: Codec) -> int | None:
        """Index of the first capability matching ``codec``; ``None`` when unsupported."""
        for index, spec in enumerate(self.codecs):
            if spec.media == media and spec.matches(codec):
                return index
        return None


class CodecOrder(Enum):
    """Whose preference orders the codecs of an answer."""

    OFFERER = "offerer"  # RFC 3264 §6.1: the answerer SHOULD keep the offer's order
    LOCAL = "local"


@dataclass(frozen=True, slots=True)
class NegotiatedStream:
    """What one m= line came to, seen from our side.

    ``codecs`` are the agreed voice (or video) codecs in preference order, payload numbers being
    those to put on RTP we send; ``telephone_event`` is set when RFC 4733 events were agreed.
    ``direction`` is ours (sendonly means we send only). ``remote_address`` and ``remote_port``
    are where the peer wants media; ``remote_ptime`` its packetization wish.
    """

    index: int
    media: str
    proto: str
    accepted: bool
    codecs: tuple[Codec, ...] = ()
    formats: tuple[str, ...] = ()
    telephone_event: Codec | None = None
    direction: Direction = Direction.INACTIVE
    remote_address: str | None = None
    remote_port: int = 0
    remote_ptime: int | None = None

    @property
    def codec(self) -> Codec | None:
        """The first (preferred) agreed codec."""
        return self.codecs[0] if self.codecs else None

    @property
    def telephone_event_payload_type(self) -> int | None:
        """Payload number for RFC 4733 events, when they were agreed."""
        return None if self.telephone_event is None else self.telephone_event.payload_type


@dataclass(frozen=True, slots=True)
class Negotiation:
    """The outcome of one offer/answer exchange, one entry per m= line."""

    streams: tuple[NegotiatedStream, ...]

    @property
    def accepted(self) -> bool:
        """Whether any stream was agreed. If none was, the answerer sends 488 instead
        (RFC 3261 §13.3.1.1) and the offerer has no media."""
        return any(stream.accepted for stream in self.streams)

    @property
    def audio(self) -> NegotiatedStream | None:
        """The first accepted audio stream, the one a voice switch cares about."""
        for stream in self.streams:
            if stream.accepted and stream.media == "audio":
                return stream
        return None


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer description together with what it agrees to."""

    description: SessionDescription
    negotiation: Negotiation

    def __bytes__(self) -> bytes:
        return bytes(self.description)


def answer(
    offer: SessionDescription,
    capabilities: LocalCapabilities,
    *,
    origin: Origin,
    address: str,
    ports: Sequence[int],
    order: CodecOrder = CodecOrder.OFFERER,
    direction: Direction = Direction.SENDRECV,
    max_codecs: int | None = None,
    session_name: str = "-",
) -> Answer:
    """Answer ``offer`` (RFC 3264 §6).

    ``ports`` gives our receive port for each m= line (0 refuses that stream). ``direction`` is
    what we want (a held party answers sendonly, say); the answer states the part of it the offer
    allows: sendonly is answered recvonly, recvonly sendonly, inactive inactive. The answer has as
    many m= lines as the offer; a refused one keeps media and proto with port 0. ``max_codecs``
    limits the voice codecs chosen, for peers that mishandle an answer with several. The t= lines
    are copied from the offer (§6).

    Raises:
        ValueError: ``ports`` does not have one entry per m= line.
    """
    if len(ports) != len(offer.media):
        raise ValueError(f"need {len(offer.media)} ports, one per m= line, got {len(ports)}")
    sections: list[MediaDescription] = []
    streams: list[NegotiatedStream] = []
    for index, (offered, port) in enumerate(zip(offer.media, ports, strict=True)):
        stream = _agree(offer, index, capabilities, order, direction, max_codecs)
        if port == 0:
            stream = _refused(offered, index)
        sections.append(_answer_section(offered, stream, port, capabilities))
        streams.append(stream)
    timing = [ln for ln in offer.lines if isinstance(ln, Timing | Field) and ln.letter in "trz"]
    lines: list[SessionLine] = [origin, Field("s", session_name), Connection.for_address(address)]
    lines.extend(timing or [Timing(0, 0)])
    description = SessionDescription(tuple(lines), tuple(sections))
    return Answer(description, Negotiation(tuple(streams)))


def process_answer(offer: SessionDescription, answer: SessionDescription) -> Negotiation:
    """What an answer to our ``offer`` agrees to, seen from our (the offerer's) side.

    Only codecs present in both are taken, in the answer's order and with its payload numbers
    (they name what the answerer receives). A stream whose answer lists nothing we offered counts
    as refused.

    Raises:
        SdpError: the answer does not mirror the offer's m= lines (RFC 3264 §6).
    """
    if len(answer.media) != len(offer.media):
        raise SdpError(
            f"answer has {len(answer.media)} m= lines, the offer {len(offer.media)} (RFC 3264 §6)"
        )
    streams: list[NegotiatedStream] = []
    for index, (ours, theirs) in enumerate(zip(offer.media, answer.media, strict=True)):
        if ours.media != theirs.media:
            raise SdpError(f"answer m= line {index} is {theirs.media!r}, offered {ours.media!r}")
        if ours.is_rejected or theirs.is_rejected:
            streams.append(_refused(ours, index))
            continue
        offered = ours.codecs
        common = [c for c in theirs.codecs if any(c.matches(o) for o in offered)]
        codecs = tuple(c for c in common if not c.is_telephone_event)
        formats = tuple(str(c.payload_type) for c in common)
        if not ours.is_rtp:
            formats = tuple(f for f in theirs.formats if f in ours.formats)
        if not formats or (ours.is_rtp and not any(not c.is_auxiliary for c in codecs)):
            streams.append(_refused(ours, index))
            continue
        events = [c for c in common if c.is_telephone_event]
        mine = offer.direction_of(index)
        connection = answer.connection_of(index)
        streams.append(
            NegotiatedStream(
                index=index,
                media=ours.media,
                proto=ours.proto,
                accepted=True,
                codecs=codecs,
                formats=formats,
                telephone_event=events[0] if events else None,
                direction=mine.restricted_to(answer.direction_of(index).reversed()),
                remote_address=None if connection is None else connection.address,
                remote_port=theirs.port,
                remote_ptime=theirs.ptime,
            )
        )
    return Negotiation(tuple(streams))


def create_offer(
    capabilities: LocalCapabilities,
    *,
    origin: Origin,
    address: str,
    port: int,
    direction: Direction = Direction.SENDRECV,
    session_name: str = "-",
) -> SessionDescription:
    """An offer of one RTP/AVP audio stream with every audio capability, in preference order.

    Static encodings take their RFC 3551 number, others their ``payload_type`` or the next free
    dynamic number; telephone-event is added at 8000 Hz when enabled (RFC 4733 §7.1.1).

    Raises:
        ValueError: a capability has no clock rate and no static payload type to supply one.
    """
    codecs: list[Codec] = []
    used: set[int] = set()
    for spec in (s for s in capabilities.codecs if s.media == "audio"):
        codec = _offer_codec(spec, used)
        used.add(codec.payload_type)
        codecs.append(codec)
    if capabilities.telephone_event:
        pt = capabilities.telephone_event_payload_type
        if pt in used:
            pt = _free_dynamic(used)
        codecs.append(Codec(pt, "telephone-event", 8000, fmtp="0-16"))
    lines: list[MediaLine] = list(_format_lines(codecs))
    if capabilities.ptime is not None:
        lines.append(Attribute("ptime", str(capabilities.ptime)))
    lines.append(Attribute(direction.value))
    section = MediaDescription(
        "audio", port, "RTP/AVP", tuple(str(c.payload_type) for c in codecs), None, tuple(lines)
    )
    return SessionDescription.new(
        origin, name=session_name, connection=Connection.for_address(address), media=(section,)
    )


def _agree(
    offer: SessionDescription,
    index: int,
    capabilities: LocalCapabilities,
    order: CodecOrder,
    wanted: Direction,
    max_codecs: int | None,
) -> NegotiatedStream:
    offered = offer.media[index]
    if offered.is_rejected or not capabilities.supports_proto(offered.proto):
        return _refused(offered, index)
    codecs: tuple[Codec, ...] = ()
    event: Codec | None = None
    if offered.is_rtp:
        codecs = _choose(offered, capabilities, order, max_codecs)
        if not any(not codec.is_auxiliary for codec in codecs):
            return _refused(offered, index)
        if capabilities.telephone_event:
            event = _telephone_event(offered, codecs)
        formats = tuple(str(c.payload_type) for c in (*codecs, *([event] if event else [])))
    else:
        formats = tuple(
            fmt
            for fmt in offered.formats
            if any(
                s.media == offered.media and s.encoding.casefold() == fmt.casefold()
                for s in capabilities.codecs
            )
        )
        if not formats:
            return _refused(offered, index)
    theirs = offer.direction_of(index)
    connection = offer.connection_of(index)
    return NegotiatedStream(
        index=index,
        media=offered.media,
        proto=offered.proto,
        accepted=True,
        codecs=codecs,
        formats=formats,
        telephone_event=event,
        direction=wanted.restricted_to(theirs.reversed()),
        remote_address=None if connection is None else connection.address,
        remote_port=offered.port,
        remote_ptime=offered.ptime,
    )


def _choose(
    offered: MediaDescription,
    capabilities: LocalCapabilities,
    order: CodecOrder,
    max_codecs: int | None,
) -> tuple[Codec, ...]:
    ranked: list[tuple[int, Codec]] = []
    for codec in offered.codecs:
        if codec.is_telephone_event:
            continue  # decided by the telephone_event flag, after the voice codec is known
        rank = capabilities.preference(offered.media, codec)
        if rank is not None:
            ranked.append((rank, codec))
    if order is CodecOrder.LOCAL:
        ranked.sort(key=lambda item: item[0])  # stable: ties keep the offer's order
    chosen = [codec for _, codec in ranked]
    if max_codecs is not None:
        voice = [c for c in chosen if not c.is_auxiliary][:max_codecs]
        chosen = [c for c in chosen if c.is_auxiliary or c in voice]
    # An auxiliary codec (CN) first would make it the "preferred" one; voice leads.
    chosen.sort(key=lambda codec: codec.is_auxiliary)
    return tuple(chosen)


def _telephone_event(offered: MediaDescription, codecs: Sequence[Codec]) -> Codec | None:
    """RFC 4733 §7.1.1: events are timed in the audio codec's clock. Take the telephone-event
    whose rate is that of the preferred codec, else of any other chosen one (opus/48000 offered
    with only telephone-event/8000 beside PCMU is common and works)."""
    events = offered.telephone_events
    for codec in codecs:
        for event in events:
            if event.clock_rate == codec.clock_rate:
                return event
    return None


def _refused(offered: MediaDescription, index: int) -> NegotiatedStream:
    return NegotiatedStream(index=index, media=offered.media, proto=offered.proto, accepted=False)


def _answer_section(
    offered: MediaDescription,
    stream: NegotiatedStream,
    port: int,
    capabilities: LocalCapabilities,
) -> MediaDescription:
    if not stream.accepted:
        # RFC 3264 §6: port zero, same media and proto, and at least one format.
        return MediaDescription(offered.media, 0, offered.proto, offered.formats[:1] or ("0",))
    lines: list[MediaLine] = []
    if offered.is_rtp:
        for fmt in stream.formats:
            lines.extend(_kept_lines(offered, fmt))
        if capabilities.ptime is not None:
            lines.append(Attribute("ptime", str(capabilities.ptime)))
    else:
        # Non-RTP formats (T.38) describe the fax session in attributes; a relay echoes them.
        lines.extend(a for a in offered.attributes if Direction.from_attribute(a.name) is None)
    lines.append(Attribute(stream.direction.value))
    return MediaDescription(offered.media, port, offered.proto, stream.formats, None, tuple(lines))


def _kept_lines(offered: MediaDescription, fmt: str) -> Iterable[Attribute]:
    """The offer's own rtpmap and fmtp lines for ``fmt``; an rtpmap is written for a static
    payload type the offer left implicit, as most implementations expect one."""
    rtpmaps = [a for a in offered.attributes if a.name.lower() == "rtpmap" and _names(a, fmt)]
    if rtpmaps:
        yield rtpmaps[0]
    else:
        static = STATIC_PAYLOAD_TYPES.get(int(fmt))
        if static is not None:
            yield Attribute("rtpmap", str(static))
    yield from (a for a in offered.attributes if a.name.lower() == "fmtp" and _names(a, fmt))


def _names(attribute: Attribute, fmt: str) -> bool:
    return attribute.value is not None and attribute.value.split(" ", 1)[0] == fmt


def _format_lines(codecs: Iterable[Codec]) -> Iterable[Attribute]:
    for codec in codecs:
        yield Attribute("rtpmap", str(codec.rtpmap))
        if codec.fmtp is not None:
            yield Attribute("fmtp", f"{codec.payload_type} {codec.fmtp}")


def _offer_codec(spec: CodecSpec, used: set[int]) -> Codec:
    for pt, static in STATIC_PAYLOAD_TYPES.items():
        channels = 1 if static.channels is None else static.channels
        if (
            static.encoding.casefold() == spec.encoding.casefold()
            and spec.clock_rate in (None, static.clock_rate)
            and channels == spec.channels
            and pt not in used
        ):
            return Codec(pt, static.encoding, static.clock_rate, channels)
    if spec.clock_rate is None:
        raise ValueError(f"capability {spec.encoding!r} needs a clock rate to be offered")
    wanted = spec.payload_type
    pt = _free_dynamic(used) if wanted is None or wanted in used else wanted
    return Codec(pt, spec.encoding, spec.clock_rate, spec.channels)


def _free_dynamic(used: set[int]) -> int:
    for pt in range(_FIRST_DYNAMIC_PT, 128):
        if pt not in used:
            return pt
    raise ValueError("no dynamic payload type left (RFC 3551 §3: 96-127)")
