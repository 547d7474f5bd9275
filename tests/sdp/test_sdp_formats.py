"""Attribute-level vocabularies: direction algebra, rtpmap, fmtp, RFC 4733 event lists."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sdp import (
    Codec,
    Direction,
    RtpMap,
    first_audio_encoding,
    parse,
    parse_event_list,
    parse_fmtp_parameters,
    parse_rtpmap,
)


@pytest.mark.parametrize(
    ("direction", "reverse"),
    [
        (Direction.SENDRECV, Direction.SENDRECV),
        (Direction.SENDONLY, Direction.RECVONLY),
        (Direction.RECVONLY, Direction.SENDONLY),
        (Direction.INACTIVE, Direction.INACTIVE),
    ],
)
def test_direction_reversed(direction: Direction, reverse: Direction) -> None:
    assert direction.reversed() is reverse
    assert reverse.reversed() is direction


@pytest.mark.parametrize("a", list(Direction))
@pytest.mark.parametrize("b", list(Direction))
def test_direction_restriction_is_flagwise_and(a: Direction, b: Direction) -> None:
    both = a.restricted_to(b)
    assert both.sends == (a.sends and b.sends)
    assert both.receives == (a.receives and b.receives)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("sendrecv", Direction.SENDRECV), ("RecvOnly", Direction.RECVONLY), ("rtpmap", None)],
)
def test_direction_from_attribute(name: str, expected: Direction | None) -> None:
    assert Direction.from_attribute(name) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0 PCMU/8000", RtpMap(0, "PCMU", 8000)),
        ("111 opus/48000/2", RtpMap(111, "opus", 48000, 2)),
        ("101 telephone-event/8000 ", RtpMap(101, "telephone-event", 8000)),
        ("x PCMU/8000", None),
        ("96 AMR", None),
        ("96 AMR/fast", None),
        ("96 /8000", None),
        ("96 L16/8000/two", None),
    ],
)
def test_parse_rtpmap(value: str, expected: RtpMap | None) -> None:
    assert parse_rtpmap(value) == expected
    if expected is not None:
        assert str(expected) == value.strip()


def test_fmtp_parameters() -> None:
    assert parse_fmtp_parameters("annexb=no") == (("annexb", "no"),)
    assert parse_fmtp_parameters("Mode-Set=0,2; octet-align=1;") == (
        ("mode-set", "0,2"),
        ("octet-align", "1"),
    )
    assert parse_fmtp_parameters("0-16") == (("", "0-16"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0-15", frozenset(range(16))),
        ("0-16", frozenset(range(17))),
        ("0-15,66,70", frozenset([*range(16), 66, 70])),
        ("  5 , 7-8", frozenset({5, 7, 8})),
        ("x,3-1,2", frozenset({2})),
        ("", frozenset()),
    ],
)
def test_event_list(text: str, expected: frozenset[int]) -> None:
    assert parse_event_list(text) == expected


def test_telephone_event_defaults_to_0_15_without_fmtp() -> None:
    assert Codec(101, "telephone-event", 8000).events == frozenset(range(16))
    assert Codec(101, "Telephone-Event", 8000, fmtp="0-11").events == frozenset(range(12))
    assert Codec(0, "PCMU", 8000).events == frozenset()


def test_codec_matching_ignores_payload_number_and_name_case() -> None:
    assert Codec(96, "AMR", 8000).matches(Codec(97, "amr", 8000, fmtp="octet-align=1"))
    assert not Codec(96, "opus", 48000, 2).matches(Codec(96, "opus", 48000))
    assert not Codec(9, "G722", 8000).matches(Codec(9, "G722", 16000))
    assert Codec(111, "opus", 48000, 2).rtpmap == RtpMap(111, "opus", 48000, 2)
    assert Codec(0, "PCMU", 8000).rtpmap == RtpMap(0, "PCMU", 8000)


# -- first_audio_encoding: the CDR's codec, by a scan that must agree with the full parse ------

_PAYLOADS = st.lists(st.sampled_from(["0", "8", "18", "96", "101", "127", "3", "13"]), max_size=4)
_ENCODINGS = st.sampled_from(["PCMU", "PCMA", "G729", "opus", "telephone-event", "AMR"])


@st.composite
def _described(draw: st.DrawFn) -> bytes:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["audio", "video", "audio"]))
        pts = draw(_PAYLOADS)
        lines.append(f"m={kind} {draw(st.integers(1, 65535))} RTP/AVP {' '.join(pts) or '0'}")
        for pt in draw(st.lists(st.sampled_from(pts or ["0"]), max_size=3)):
            lines.append(f"a=rtpmap:{pt} {draw(_ENCODINGS)}/8000")
        lines.append("a=sendrecv")
    return ("\r\n".join(lines) + "\r\n").encode()


def _parsed_codec(body: bytes) -> str:
    for media in parse(body).media:
        if media.media == "audio":
            for codec in media.codecs:
                return str(codec.encoding)
    return ""


@given(_described())
@settings(max_examples=300, deadline=None)
def test_first_audio_encoding_agrees_with_the_full_parse(body: bytes) -> None:
    assert first_audio_encoding(body) == _parsed_codec(body)


def test_first_audio_encoding_of_a_typical_answer_and_of_nothing() -> None:
    answer = (
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.3\r\ns=-\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\n"
        b"m=audio 6000 RTP/AVP 18 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
    assert first_audio_encoding(answer) == "G729"  # static payload type 18, no rtpmap needed
    assert first_audio_encoding(b"") == ""
    assert first_audio_encoding(b"v=0\r\nm=video 5000 RTP/AVP 96\r\n") == ""
