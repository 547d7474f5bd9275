"""Offer/answer (RFC 3264): codec intersection, payload numbers, rejection, direction, DTMF."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sdp import (
    Attribute,
    Codec,
    CodecOrder,
    CodecSpec,
    Connection,
    Direction,
    LocalCapabilities,
    MediaDescription,
    MediaLine,
    Negotiation,
    Origin,
    SdpError,
    SessionDescription,
    answer,
    create_offer,
    parse,
    process_answer,
    serialize,
)

ORIGIN = Origin("softswitch", "5001", 1, "IN", "IP4", "203.0.113.1")
HEAD = b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"

OFFER = HEAD + (
    b"m=audio 16384 RTP/AVP 0 8 18 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:18 G729/8000\r\n"
    b"a=fmtp:18 annexb=no\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
)

G711 = LocalCapabilities((CodecSpec("PCMA", 8000), CodecSpec("PCMU", 8000)))
EVERYTHING = LocalCapabilities(
    (
        CodecSpec("G729", 8000),
        CodecSpec("PCMA", 8000),
        CodecSpec("PCMU", 8000),
        CodecSpec("opus", 48000, 2),
        CodecSpec("AMR", 8000),
        CodecSpec("CN", 8000),
        CodecSpec("H264", 90000, media="video"),
        CodecSpec("t38", media="image"),
    ),
    ptime=20,
)


def respond(offer: bytes, caps: LocalCapabilities) -> tuple[bytes, Negotiation]:
    parsed = parse(offer)
    ports = [40000 + 2 * i for i in range(len(parsed.media))]
    result = answer(parsed, caps, origin=ORIGIN, address="203.0.113.1", ports=ports)
    return serialize(result.description), result.negotiation


def test_typical_answer_is_exact() -> None:
    body, negotiation = respond(OFFER, G711)
    assert body == (
        b"v=0\r\no=softswitch 5001 1 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 203.0.113.1\r\n"
        b"t=0 0\r\n"
        b"m=audio 40000 RTP/AVP 0 8 101\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\n"
        b"a=fmtp:101 0-16\r\n"
        b"a=sendrecv\r\n"
    )
    assert negotiation.accepted


@pytest.mark.parametrize(
    ("caps", "order", "expected_formats"),
    [
        (G711, CodecOrder.OFFERER, ("0", "8", "101")),
        (G711, CodecOrder.LOCAL, ("8", "0", "101")),
        (EVERYTHING, CodecOrder.OFFERER, ("0", "8", "18", "101")),
        (EVERYTHING, CodecOrder.LOCAL, ("18", "8", "0", "101")),
        (LocalCapabilities((CodecSpec("G729"),)), CodecOrder.OFFERER, ("18", "101")),
        (LocalCapabilities((CodecSpec("pcmu", 8000),)), CodecOrder.OFFERER, ("0", "101")),
    ],
)
def test_codec_intersection_order(
    caps: LocalCapabilities, order: CodecOrder, expected_formats: tuple[str, ...]
) -> None:
    result = answer(
        parse(OFFER), caps, origin=ORIGIN, address="203.0.113.1", ports=[4000], order=order
    )
    assert result.description.media[0].formats == expected_formats
    stream = result.negotiation.streams[0]
    assert stream.formats == expected_formats
    assert tuple(str(c.payload_type) for c in stream.codecs) == expected_formats[:-1]


def test_answer_keeps_rtpmap_and_fmtp_of_chosen_codecs() -> None:
    result = answer(
        parse(OFFER),
        LocalCapabilities((CodecSpec("G729", 8000),)),
        origin=ORIGIN,
        address="203.0.113.1",
        ports=[4000],
    )
    section = result.description.media[0]
    assert section.attributes == (
        Attribute("rtpmap", "18 G729/8000"),
        Attribute("fmtp", "18 annexb=no"),
        Attribute("rtpmap", "101 telephone-event/8000"),
        Attribute("fmtp", "101 0-16"),
        Attribute("sendrecv"),
    )
    assert result.negotiation.streams[0].codec == Codec(18, "G729", 8000, fmtp="annexb=no")


DYNAMIC_OFFER = HEAD + (
    b"m=audio 5004 RTP/AVP 120 97 8 126\r\n"
    b"a=rtpmap:120 opus/48000/2\r\n"
    b"a=fmtp:120 useinbandfec=1\r\n"
    b"a=rtpmap:97 AMR/8000\r\n"
    b"a=fmtp:97 octet-align=1\r\n"
    b"a=rtpmap:126 telephone-event/8000\r\n"
)


def test_dynamic_payload_types_use_the_offerers_numbers() -> None:
    caps = LocalCapabilities(
        (CodecSpec("AMR", 8000, payload_type=96), CodecSpec("opus", 48000, 2, payload_type=111))
    )
    result = answer(parse(DYNAMIC_OFFER), caps, origin=ORIGIN, address="203.0.113.1", ports=[4000])
    section = result.description.media[0]
    assert section.formats == ("120", "97", "126")
    assert section.codecs == (
        Codec(120, "opus", 48000, 2, "useinbandfec=1"),
        Codec(97, "AMR", 8000, 1, "octet-align=1"),
        Codec(126, "telephone-event", 8000),
    )
    stream = result.negotiation.streams[0]
    assert stream.telephone_event_payload_type == 126


def test_matching_needs_same_clock_rate_and_channels() -> None:
    offer = HEAD + (
        b"m=audio 5004 RTP/AVP 96 97 98\r\n"
        b"a=rtpmap:96 opus/48000\r\n"
        b"a=rtpmap:97 G722/16000\r\n"
        b"a=rtpmap:98 L16/8000/2\r\n"
    )
    caps = LocalCapabilities(
        (CodecSpec("opus", 48000, 2), CodecSpec("G722", 8000), CodecSpec("L16", 8000, 1))
    )
    result = answer(parse(offer), caps, origin=ORIGIN, address="203.0.113.1", ports=[4000])
    assert not result.negotiation.accepted
    assert result.description.media[0].port == 0


def test_no_common_codec_rejects_with_port_zero_same_media_and_proto() -> None:
    caps = LocalCapabilities((CodecSpec("GSM", 8000),))
    body, negotiation = respond(OFFER, caps)
    sd = parse(body)
    (section,) = sd.media
    assert (section.media, section.port, section.proto) == ("audio", 0, "RTP/AVP")
    assert len(section.formats) >= 1
    assert not negotiation.accepted
    assert negotiation.streams[0].codecs == ()


def test_only_auxiliary_codecs_in_common_is_no_agreement() -> None:
    offer = HEAD + b"m=audio 5004 RTP/AVP 18 13 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    caps = LocalCapabilities((CodecSpec("PCMU", 8000), CodecSpec("CN", 8000)))
    result = answer(parse(offer), caps, origin=ORIGIN, address="203.0.113.1", ports=[4000])
    assert result.description.media[0].port == 0
    assert not result.negotiation.accepted


MULTI_OFFER = HEAD + (
    b"m=audio 5004 RTP/AVP 0 8\r\n"
    b"m=video 5006 RTP/AVP 99\r\n"
    b"a=rtpmap:99 H264/90000\r\n"
    b"m=image 5008 udptl t38\r\n"
    b"a=T38FaxVersion:0\r\n"
    b"a=T38FaxRateManagement:transferredTCF\r\n"
    b"m=audio 0 RTP/AVP 0\r\n"
    b"m=audio 5010 RTP/SAVP 0\r\n"
    b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
)


def test_answer_has_as_many_m_lines_as_the_offer() -> None:
    result = answer(
        parse(MULTI_OFFER),
        G711,
        origin=ORIGIN,
        address="203.0.113.1",
        ports=[4000, 4002, 4004, 4006, 4008],
    )
    sections = result.description.media
    assert [(m.media, m.port, m.proto) for m in sections] == [
        ("audio", 4000, "RTP/AVP"),
        ("video", 0, "RTP/AVP"),  # no video capability
        ("image", 0, "udptl"),  # no T.38 capability
        ("audio", 0, "RTP/AVP"),  # offered with port 0
        ("audio", 0, "RTP/SAVP"),  # SRTP not terminated here
    ]
    assert all(m.formats for m in sections)
    assert [s.accepted for s in result.negotiation.streams] == [True, False, False, False, False]
    assert result.negotiation.audio is result.negotiation.streams[0]


def test_multiple_streams_accepted_with_capabilities() -> None:
    result = answer(
        parse(MULTI_OFFER),
        EVERYTHING,
        origin=ORIGIN,
        address="203.0.113.1",
        ports=[4000, 4002, 4004, 4006, 4008],
    )
    audio, video, image, disabled, secure = result.description.media
    assert audio.formats == ("0", "8")
    assert audio.ptime == 20
    assert video.formats == ("99",) and video.port == 4002
    assert image.formats == ("t38",)
    assert image.attribute("T38FaxRateManagement") == "transferredTCF"
    assert disabled.port == 0 and secure.port == 0


def test_our_port_zero_refuses_a_stream() -> None:
    result = answer(parse(OFFER), G711, origin=ORIGIN, address="203.0.113.1", ports=[0])
    assert result.description.media[0].port == 0
    assert not result.negotiation.accepted


def test_ports_must_match_m_lines() -> None:
    with pytest.raises(ValueError, match="one per m= line"):
        answer(parse(OFFER), G711, origin=ORIGIN, address="203.0.113.1", ports=[1, 2])


@pytest.mark.parametrize(
    ("offered", "session_level", "wanted", "answered"),
    [
        ("sendrecv", None, Direction.SENDRECV, Direction.SENDRECV),
        (None, None, Direction.SENDRECV, Direction.SENDRECV),
        ("sendonly", None, Direction.SENDRECV, Direction.RECVONLY),
        ("recvonly", None, Direction.SENDRECV, Direction.SENDONLY),
        ("inactive", None, Direction.SENDRECV, Direction.INACTIVE),
        (None, "sendonly", Direction.SENDRECV, Direction.RECVONLY),
        ("sendrecv", None, Direction.SENDONLY, Direction.SENDONLY),
        ("sendonly", None, Direction.SENDONLY, Direction.INACTIVE),
        ("recvonly", None, Direction.RECVONLY, Direction.INACTIVE),
    ],
)
def test_direction_answers(
    offered: str | None, session_level: str | None, wanted: Direction, answered: Direction
) -> None:
    head = HEAD + (b"" if session_level is None else f"a={session_level}\r\n".encode())
    media = b"m=audio 5004 RTP/AVP 0\r\n" + (
        b"" if offered is None else f"a={offered}\r\n".encode()
    )
    result = answer(
        parse(head + media),
        G711,
        origin=ORIGIN,
        address="203.0.113.1",
        ports=[4000],
        direction=wanted,
    )
    assert result.description.media[0].explicit_direction is answered
    assert result.negotiation.streams[0].direction is answered


@pytest.mark.parametrize(
    ("offer_events", "flag", "expected_pt"),
    [
        (b"a=rtpmap:101 telephone-event/8000\r\n", True, 101),
        (b"a=rtpmap:101 telephone-event/8000\r\n", False, None),
        (b"", True, None),
        (b"a=rtpmap:101 telephone-event/48000\r\n", True, None),  # rate must match the codec
        (
            b"a=rtpmap:100 telephone-event/48000\r\na=rtpmap:101 telephone-event/8000\r\n",
            True,
            101,
        ),
    ],
)
def test_telephone_event_kept_only_when_both_support_it(
    offer_events: bytes, flag: bool, expected_pt: int | None
) -> None:
    formats = b" 100 101" if b"100" in offer_events else (b" 101" if offer_events else b"")
    offer = HEAD + b"m=audio 5004 RTP/AVP 0" + formats + b"\r\n" + offer_events
    caps = LocalCapabilities((CodecSpec("PCMU", 8000),), telephone_event=flag)
    result = answer(parse(offer), caps, origin=ORIGIN, address="203.0.113.1", ports=[4000])
    stream = result.negotiation.streams[0]
    assert stream.telephone_event_payload_type == expected_pt
    expected_formats = ("0",) if expected_pt is None else ("0", str(expected_pt))
    assert result.description.media[0].formats == expected_formats


def test_max_codecs_limits_voice_codecs_but_keeps_dtmf_and_cn() -> None:
    offer = HEAD + (b"m=audio 5004 RTP/AVP 0 8 13 101\r\na=rtpmap:101 telephone-event/8000\r\n")
    caps = LocalCapabilities(
        (CodecSpec("PCMU", 8000), CodecSpec("PCMA", 8000), CodecSpec("CN", 8000))
    )
    result = answer(
        parse(offer), caps, origin=ORIGIN, address="203.0.113.1", ports=[4000], max_codecs=1
    )
    assert result.description.media[0].formats == ("0", "13", "101")


def test_negotiated_stream_reports_remote_media() -> None:
    result = answer(parse(OFFER), G711, origin=ORIGIN, address="2001:db8::5", ports=[4000])
    stream = result.negotiation.streams[0]
    assert (stream.remote_address, stream.remote_port, stream.remote_ptime) == (
        "198.51.100.7",
        16384,
        20,
    )
    assert result.description.connection == Connection("IN", "IP6", "2001:db8::5")


def test_answer_copies_offer_timing() -> None:
    offer = OFFER.replace(b"t=0 0", b"t=3338481189 3370017201")
    body, _ = respond(offer, G711)
    assert b"t=3338481189 3370017201\r\n" in body


# -- the offerer's side ----------------------------------------------------------------------


def test_offer_then_answer_agree_both_ways() -> None:
    offer = create_offer(EVERYTHING, origin=ORIGIN, address="203.0.113.1", port=30000)
    assert offer.media[0].formats == ("18", "8", "0", "96", "97", "13", "101")
    remote = answer(
        parse(bytes(offer)),
        LocalCapabilities((CodecSpec("PCMA", 8000), CodecSpec("AMR", 8000))),
        origin=Origin("-", "9", 9, "IN", "IP4", "198.51.100.7"),
        address="198.51.100.7",
        ports=[17000],
        direction=Direction.RECVONLY,
    )
    ours = process_answer(offer, remote.description)
    stream = ours.streams[0]
    assert stream.accepted
    assert [c.encoding for c in stream.codecs] == ["PCMA", "AMR"]
    assert stream.telephone_event_payload_type == 101
    assert (stream.remote_address, stream.remote_port) == ("198.51.100.7", 17000)
    assert stream.direction is Direction.SENDONLY


def test_process_answer_refuses_mismatched_answers() -> None:
    offer = parse(MULTI_OFFER)
    with pytest.raises(SdpError, match="m= lines"):
        process_answer(offer, parse(OFFER))
    swapped = parse(OFFER.replace(b"m=audio", b"m=video"))
    with pytest.raises(SdpError, match="offered 'audio'"):
        process_answer(parse(OFFER), swapped)


def test_process_answer_with_unoffered_codec_counts_as_refused() -> None:
    reply = parse(HEAD + b"m=audio 7000 RTP/AVP 3\r\n")
    negotiation = process_answer(parse(OFFER), reply)
    assert not negotiation.accepted


def test_process_answer_port_zero_is_refused() -> None:
    reply = parse(HEAD + b"m=audio 0 RTP/AVP 0\r\n")
    assert not process_answer(parse(OFFER), reply).streams[0].accepted


def test_create_offer_assigns_payload_types() -> None:
    caps = LocalCapabilities(
        (
            CodecSpec("PCMU"),
            CodecSpec("opus", 48000, 2, payload_type=111),
            CodecSpec("speex", 16000),
            CodecSpec("iLBC", 8000, payload_type=111),
        ),
        telephone_event_payload_type=96,
        ptime=30,
    )
    offer = create_offer(
        caps, origin=ORIGIN, address="192.0.2.1", port=8000, direction=Direction.SENDONLY
    )
    section = offer.media[0]
    assert section.codecs == (
        Codec(0, "PCMU", 8000),
        Codec(111, "opus", 48000, 2),
        Codec(96, "speex", 16000),
        Codec(97, "iLBC", 8000),
        Codec(98, "telephone-event", 8000, fmtp="0-16"),
    )
    assert section.ptime == 30
    assert section.explicit_direction is Direction.SENDONLY
    assert parse(bytes(offer)) == offer


def test_create_offer_needs_a_clock_rate_for_dynamic_codecs() -> None:
    with pytest.raises(ValueError, match="clock rate"):
        create_offer(
            LocalCapabilities((CodecSpec("opus"),)), origin=ORIGIN, address="192.0.2.1", port=1
        )


def test_answer_result_serializes_like_its_description() -> None:
    result = answer(parse(OFFER), G711, origin=ORIGIN, address="203.0.113.1", ports=[4000])
    assert bytes(result) == serialize(result.description)
    assert isinstance(result.description, SessionDescription)


# -- invariants over generated offers --------------------------------------------------------

POOL = [
    ("PCMU", 8000, 1),
    ("PCMA", 8000, 1),
    ("G729", 8000, 1),
    ("opus", 48000, 2),
    ("AMR", 8000, 1),
    ("telephone-event", 8000, 1),
    ("CN", 8000, 1),
]


@st.composite
def offers(draw: st.DrawFn) -> SessionDescription:
    sections = []
    for _ in range(draw(st.integers(1, 3))):
        chosen = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=5, unique=True))
        pts = draw(
            st.lists(st.integers(96, 127), min_size=len(chosen), max_size=len(chosen), unique=True)
        )
        lines: list[MediaLine] = [
            Attribute("rtpmap", str(Codec(pt, name, rate, ch).rtpmap))
            for pt, (name, rate, ch) in zip(pts, chosen, strict=True)
        ]
        direction = draw(st.sampled_from(list(Direction)))
        lines.append(Attribute(direction.value))
        port = draw(st.sampled_from([0, 5004, 6000]))
        sections.append(
            MediaDescription("audio", port, "RTP/AVP", tuple(map(str, pts)), None, tuple(lines))
        )
    return SessionDescription.new(
        Origin("-", "1", 1, "IN", "IP4", "192.0.2.1"),
        connection=Connection.for_address("192.0.2.1"),
        media=sections,
    )


CAPS = st.builds(
    LocalCapabilities,
    st.lists(st.sampled_from(POOL), max_size=5, unique=True).map(
        lambda items: tuple(CodecSpec(n, r, c) for n, r, c in items)
    ),
    telephone_event=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(offers(), CAPS, st.sampled_from(list(CodecOrder)))
def test_answer_invariants(
    offer: SessionDescription, caps: LocalCapabilities, order: CodecOrder
) -> None:
    result = answer(
        offer,
        caps,
        origin=ORIGIN,
        address="203.0.113.1",
        ports=[4000] * len(offer.media),
        order=order,
    )
    described = parse(bytes(result))
    assert described == result.description
    assert len(described.media) == len(offer.media)
    for index, (offered, answered) in enumerate(zip(offer.media, described.media, strict=True)):
        stream = result.negotiation.streams[index]
        assert (answered.media, answered.proto) == (offered.media, offered.proto)
        assert answered.formats, "every m= line keeps at least one format"
        if not stream.accepted:
            assert answered.port == 0
            continue
        assert answered.port == 4000 and offered.port != 0
        offered_by_pt = {c.payload_type: c for c in offered.codecs}
        for codec in answered.codecs:
            # Offerer's payload numbers, same codec, and something we support.
            assert offered_by_pt[codec.payload_type] == codec
            if not codec.is_telephone_event:
                assert any(spec.matches(codec) for spec in caps.codecs)
        assert any(not c.is_auxiliary for c in stream.codecs)
        assert (stream.telephone_event is not None) == (
            caps.telephone_event and stream.telephone_event in offered.telephone_events
        )
        rates = {c.clock_rate for c in stream.codecs}
        usable = caps.telephone_event and any(
            t.clock_rate in rates for t in offered.telephone_events
        )
        assert (stream.telephone_event is not None) == usable
        assert answered.explicit_direction is stream.direction
        assert (
            stream.direction.restricted_to(offer.direction_of(index).reversed()) is stream.direction
        )
        # The offerer reads the same agreement back.
        theirs = process_answer(offer, described).streams[index]
        assert theirs.accepted
        assert [c.key for c in theirs.codecs] == [c.key for c in stream.codecs]
        assert theirs.direction is stream.direction.reversed()
