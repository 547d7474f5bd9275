"""Parse and serialize: realistic bodies, byte-exact round trips, typed views, errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from softswitch.sdp import (
    Attribute,
    Bandwidth,
    BlankLine,
    Codec,
    Connection,
    Direction,
    Field,
    MediaDescription,
    Origin,
    RtpMap,
    SdpError,
    SessionDescription,
    Timing,
    parse,
    serialize,
)

TYPICAL_OFFER = (
    b"v=0\r\n"
    b"o=- 1732529123 1732529123 IN IP4 198.51.100.7\r\n"
    b"s=SIP Call\r\n"
    b"c=IN IP4 198.51.100.7\r\n"
    b"t=0 0\r\n"
    b"m=audio 16384 RTP/AVP 0 8 18 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:18 G729/8000\r\n"
    b"a=fmtp:18 annexb=no\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

RFC5118_STYLE = (
    b"v=0\r\n"
    b"o=assistant 971731711378798081 0 IN IP6 2001:db8::20\r\n"
    b"s=Live video feed for today's meeting\r\n"
    b"c=IN IP6 2001:db8::20\r\n"
    b"t=3338481189 3370017201\r\n"
    b"m=audio 6000 RTP/AVP 2\r\n"
    b"a=rtpmap:2 G726-32/8000\r\n"
    b"m=video 6024 RTP/AVP 107\r\n"
    b"a=rtpmap:107 H263-1998/90000\r\n"
)

# Every line type RFC 8866 defines, plus lines nobody defines and lines out of place.
KITCHEN_SINK = (
    b"v=0\r\n"
    b"o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n"
    b"s=SDP Seminar\r\n"
    b"i=A Seminar on the session description protocol\r\n"
    b"u=http://www.example.com/seminars/sdp.pdf\r\n"
    b"e=j.doe@example.com (Jane Doe)\r\n"
    b"p=+1 617 555-6011\r\n"
    b"c=IN IP4 224.2.17.12/127/2\r\n"
    b"b=CT:128\r\n"
    b"y=0123456789\r\n"
    b"t=2873397496 2873404696\r\n"
    b"r=7d 1h 0 25h\r\n"
    b"z=2882844526 -1h 2898848070 0\r\n"
    b"k=prompt\r\n"
    b"a=recvonly\r\n"
    b"a=X-nat:0\r\n"
    b"m=audio 49170/2 RTP/AVP 0\r\n"
    b"i=voice\r\n"
    b"a=rtcp:53020 IN IP4 10.47.16.5\r\n"
    b"c=IN IP4 10.47.16.6\r\n"
    b"b=AS:64\r\n"
    b"x=vendor-thing\r\n"
    b"k=clear:secret\r\n"
    b"m=video 51372 RTP/AVP 99\r\n"
    b"c=IN IP6 ff15::101/3\r\n"
    b"a=rtpmap:99 h263-1998/90000\r\n"
    b"a=orient:\r\n"
    b"m=image 5000 udptl t38\r\n"
    b"a=T38FaxVersion:0\r\n"
    b"\r\n"
)

WIRE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "sip-torture" / "derived"


def sip_body(name: str) -> bytes:
    message = (WIRE / "rfc5118-wire" / name).read_bytes()
    _head, sep, body = message.partition(b"\r\n\r\n")
    assert sep, f"{name} has no blank line between headers and body"
    assert body, f"{name} has an empty body"
    return body


@pytest.mark.parametrize("body", [TYPICAL_OFFER, RFC5118_STYLE, KITCHEN_SINK])
def test_unmodified_description_serializes_byte_exact(body: bytes) -> None:
    assert serialize(parse(body)) == body
    assert bytes(parse(body)) == body


def test_typical_offer_typed_views() -> None:
    sd = parse(TYPICAL_OFFER)
    assert sd.version == 0
    assert sd.origin == Origin("-", "1732529123", 1732529123, "IN", "IP4", "198.51.100.7")
    assert sd.name == "SIP Call"
    assert sd.connection == Connection("IN", "IP4", "198.51.100.7")
    assert sd.timings == (Timing(0, 0),)
    (audio,) = sd.media
    assert (audio.media, audio.port, audio.proto) == ("audio", 16384, "RTP/AVP")
    assert audio.formats == ("0", "8", "18", "101")
    assert audio.payload_types == (0, 8, 18, 101)
    assert audio.codecs == (
        Codec(0, "PCMU", 8000),
        Codec(8, "PCMA", 8000),
        Codec(18, "G729", 8000, fmtp="annexb=no"),
        Codec(101, "telephone-event", 8000, fmtp="0-16"),
    )
    assert audio.codecs[2].parameters == (("annexb", "no"),)
    assert audio.telephone_event == Codec(101, "telephone-event", 8000, fmtp="0-16")
    assert audio.telephone_event.events == frozenset(range(17))
    assert audio.fmtp(18) == "annexb=no"
    assert audio.fmtp(0) is None
    assert audio.ptime == 20
    assert audio.explicit_direction is Direction.SENDRECV
    assert sd.direction_of(0) is Direction.SENDRECV
    assert sd.connection_of(0) == Connection("IN", "IP4", "198.51.100.7")


def test_rfc5118_ipv6_connection_without_brackets() -> None:
    sd = parse(RFC5118_STYLE)
    assert sd.connection == Connection("IN", "IP6", "2001:db8::20")
    assert sd.origin.session_id == "971731711378798081"
    assert sd.timings == (Timing(3338481189, 3370017201),)
    assert [m.media for m in sd.media] == ["audio", "video"]
    assert sd.media[0].rtpmap(2) == RtpMap(2, "G726-32", 8000)
    assert sd.media[1].codecs == (Codec(107, "H263-1998", 90000),)


def test_kitchen_sink_keeps_unknown_and_misplaced_lines_in_order() -> None:
    sd = parse(KITCHEN_SINK)
    assert sd.information == "A Seminar on the session description protocol"
    assert sd.uri == "http://www.example.com/seminars/sdp.pdf"
    assert sd.emails == ("j.doe@example.com (Jane Doe)",)
    assert sd.phones == ("+1 617 555-6011",)
    assert sd.connection == Connection("IN", "IP4", "224.2.17.12", ttl=127, count=2)
    assert sd.bandwidths == (Bandwidth("CT", 128),)
    assert Field("y", "0123456789") in sd.lines
    assert (
        sd.lines.index(Field("r", "7d 1h 0 25h"))
        == sd.lines.index(Timing(2873397496, 2873404696)) + 1
    )
    assert sd.explicit_direction is Direction.RECVONLY
    audio, video, image = sd.media
    assert audio.port_count == 2
    assert audio.information == "voice"
    # c= after a= is still the media connection; the unknown x= line stays between b= and k=.
    assert audio.connection == Connection("IN", "IP4", "10.47.16.6")
    assert [type(ln).__name__ for ln in audio.lines] == [
        "Field", "Attribute", "Connection", "Bandwidth", "Field", "Field",
    ]  # fmt: skip
    assert audio.lines[4] == Field("x", "vendor-thing")
    # Session-level recvonly is inherited by sections that state no direction.
    assert sd.direction_of(0) is Direction.RECVONLY
    assert video.connection == Connection("IN", "IP6", "ff15::101", count=3)
    assert video.codecs == (Codec(99, "h263-1998", 90000),)
    assert video.attributes[1] == Attribute("orient", "")
    assert not image.is_rtp
    assert image.payload_types == ()
    assert image.formats == ("t38",)
    assert image.lines == (Attribute("T38FaxVersion", "0"), BlankLine())


def test_bare_lf_input_parses_like_crlf_and_serializes_with_crlf() -> None:
    bare = TYPICAL_OFFER.replace(b"\r\n", b"\n")
    assert parse(bare) == parse(TYPICAL_OFFER)
    assert serialize(parse(bare)) == TYPICAL_OFFER


def test_mixed_line_ends_and_missing_final_newline() -> None:
    mixed = b"v=0\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\nt=0 0"
    assert serialize(parse(mixed)) == b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"


def test_non_utf8_bytes_round_trip_losslessly() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=caf\xe9 \xff\r\nt=0 0\r\n"
    sd = parse(body)
    assert sd.name is not None and sd.name.startswith("caf")
    assert serialize(sd) == body


def test_utf8_text_is_decoded() -> None:
    body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=Conférence\r\nt=0 0\r\n".encode()
    assert parse(body).name == "Conférence"


@pytest.mark.parametrize("name", ["ipv6-in-sdp.sip", "mult-ip-in-sdp.sip"])
def test_rfc5118_wire_bodies_parse_and_round_trip(name: str) -> None:
    body = sip_body(name)
    assert serialize(parse(body)) == body


def test_rfc5118_ipv6_in_sdp_values() -> None:
    sd = parse(sip_body("ipv6-in-sdp.sip"))
    assert sd.origin.addrtype == "IP6"
    assert sd.origin.address == "2001:db8::20"
    assert sd.connection == Connection("IN", "IP6", "2001:db8::20")
    assert [(m.media, m.port) for m in sd.media] == [("audio", 6000), ("video", 6024)]


def test_rfc5118_multiple_addresses_per_media_section() -> None:
    sd = parse(sip_body("mult-ip-in-sdp.sip"))
    assert sd.connection is None
    assert sd.name == ""
    assert sd.connection_of(0) == Connection("IN", "IP4", "192.0.2.1")
    assert sd.connection_of(1) == Connection("IN", "IP6", "2001:db8::1")
    assert sd.media[0].codecs == (Codec(0, "PCMU", 8000),)  # static: no rtpmap needed


@pytest.mark.parametrize(
    ("pt", "expected"),
    [
        (0, RtpMap(0, "PCMU", 8000)),
        (8, RtpMap(8, "PCMA", 8000)),
        (18, RtpMap(18, "G729", 8000)),
        (4, RtpMap(4, "G723", 8000)),
        (3, RtpMap(3, "GSM", 8000)),
        (9, RtpMap(9, "G722", 8000)),
        (13, RtpMap(13, "CN", 8000)),
        (96, None),
    ],
)
def test_static_payload_types_need_no_rtpmap(pt: int, expected: RtpMap | None) -> None:
    section = MediaDescription("audio", 4000, "RTP/AVP", (str(pt),))
    assert section.rtpmap(pt) == expected


def test_explicit_rtpmap_overrides_static_assignment_and_channels() -> None:
    section = parse(
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 18 111 97\r\n"
        b"a=rtpmap:18 G729/8000\r\n"
        b"a=rtpmap:111 opus/48000/2\r\n"
    ).media[0]
    # 97 has no rtpmap: a dynamic type that cannot be identified is left out.
    assert section.codecs == (Codec(18, "G729", 8000), Codec(111, "opus", 48000, 2))


@pytest.mark.parametrize(
    ("attributes", "session_level", "expected"),
    [
        ((), None, Direction.SENDRECV),
        (("sendonly",), None, Direction.SENDONLY),
        (("recvonly",), None, Direction.RECVONLY),
        (("inactive",), None, Direction.INACTIVE),
        ((), "inactive", Direction.INACTIVE),
        (("sendrecv",), "inactive", Direction.SENDRECV),
        (("SendOnly",), None, Direction.SENDONLY),
    ],
)
def test_direction_defaults_and_inheritance(
    attributes: tuple[str, ...], session_level: str | None, expected: Direction
) -> None:
    section = MediaDescription(
        "audio", 4000, "RTP/AVP", ("0",), lines=tuple(Attribute(a) for a in attributes)
    )
    extra = () if session_level is None else (Attribute(session_level),)
    sd = SessionDescription.new(
        Origin("-", "1", 1, "IN", "IP4", "h"), attributes=extra, media=[section]
    )
    assert sd.direction_of(0) is expected


@pytest.mark.parametrize(
    ("value", "expected"), [("20", 20), ("30.0", 30), ("", None), ("abc", None), ("0", None)]
)
def test_ptime_values(value: str, expected: int | None) -> None:
    section = MediaDescription("audio", 4000, "RTP/AVP", ("0",), lines=(Attribute("ptime", value),))
    assert section.ptime == expected


def test_new_builds_canonical_description() -> None:
    sd = SessionDescription.new(
        Origin("ss", "42", 7, "IN", "IP4", "192.0.2.9"),
        connection=Connection.for_address("192.0.2.9"),
        media=[MediaDescription("audio", 30000, "RTP/AVP", ("8",), lines=(Attribute("sendonly"),))],
    )
    assert serialize(sd) == (
        b"v=0\r\no=ss 42 7 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"
        b"m=audio 30000 RTP/AVP 8\r\na=sendonly\r\n"
    )


def test_replace_builds_modified_copies_and_leaves_original() -> None:
    sd = parse(TYPICAL_OFFER)
    moved = sd.with_media(0, dataclasses.replace(sd.media[0], port=20000))
    assert moved.media[0].port == 20000
    assert sd.media[0].port == 16384
    with pytest.raises(dataclasses.FrozenInstanceError):
        sd.version = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"o=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n", "v= line"),
        (b"v=zero\r\no=- 1 1 IN IP4 192.0.2.1\r\n", "v= must be a number"),
        (b"v=0\r\ns=-\r\nt=0 0\r\n", "o= line"),
        (b"v=0\r\no=- 1 IN IP4 192.0.2.1\r\n", "o= line needs 6 fields"),
        (b"v=0\r\no=- 1 x IN IP4 192.0.2.1\r\n", "sess-version"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nbogus\r\n", "line 3"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4\r\n", "c= line needs 3 fields"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 224.0.0.1/x\r\n", "TTL/count"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP6 ff15::1/1/2\r\n", "one /count"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nb=AS\r\n", "b= line"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nb=AS:lots\r\n", "bandwidth"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nt=0\r\n", "t= line"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\na=:x\r\n", "attribute name"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 4000\r\n", "m= line needs"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio port RTP/AVP 0\r\n", "m= port must be a number"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 70000 RTP/AVP 0\r\n", "out of range"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 4000/x RTP/AVP 0\r\n", "port count"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio -1 RTP/AVP 0\r\n", "m= port must be a number"),
        (b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 4000 RTP/AVP 0\r\n a=x\r\n", "line 4"),
    ],
)
def test_malformed_sdp_raises_sdp_error(body: bytes, message: str) -> None:
    with pytest.raises(SdpError, match=message):
        parse(body)


def test_sdp_error_is_a_value_error() -> None:
    assert issubclass(SdpError, ValueError)


def test_serialize_refuses_values_that_would_inject_lines() -> None:
    sd = SessionDescription.new(Origin("-", "1", 1, "IN", "IP4", "h"), name="x\r\na=evil")
    with pytest.raises(SdpError, match="CR or LF"):
        serialize(sd)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Connection("IN", "IP6", "::1", ttl=5),
        lambda: Connection("IN", "IP4", "224.0.0.1", count=2),
        lambda: Connection("IN", "IP4", "1.2.3.4/5"),
        lambda: Attribute("a:b"),
        lambda: Field("ab", "x"),
        lambda: Origin("a b", "1", 1, "IN", "IP4", "h"),
        lambda: MediaDescription("audio", 65536, "RTP/AVP", ("0",)),
        lambda: SessionDescription(lines=(Field("s", "-"),)),
    ],
)
def test_invalid_values_are_refused_at_construction(build: object) -> None:
    assert callable(build)
    with pytest.raises(SdpError):
        build()
