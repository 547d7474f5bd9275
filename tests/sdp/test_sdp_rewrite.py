"""Rewriting for a media relay / B2BUA leg: each helper changes its lines and nothing else."""

from __future__ import annotations

import pytest

from softswitch.sdp import (
    Attribute,
    Codec,
    Connection,
    Direction,
    Field,
    bump_version,
    filter_codecs,
    hold,
    parse,
    serialize,
    with_connection_address,
    with_direction,
    with_media_port,
    with_origin_address,
    without_attributes,
)

OFFER = (
    b"v=0\r\n"
    b"o=- 1732529123 7 IN IP4 198.51.100.7\r\n"
    b"s=SIP Call\r\n"
    b"c=IN IP4 198.51.100.7\r\n"
    b"t=0 0\r\n"
    b"a=X-vendor:keep me\r\n"
    b"m=audio 16384 RTP/AVP 0 8 18 96 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:18 G729/8000\r\n"
    b"a=fmtp:18 annexb=no\r\n"
    b"a=rtpmap:96 AMR/8000\r\n"
    b"a=fmtp:96 octet-align=1\r\n"
    b"a=rtcp-fb:96 nack\r\n"
    b"a=rtcp-fb:* trr-int 100\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
    b"m=video 16386 RTP/AVP 99\r\n"
    b"c=IN IP4 198.51.100.8\r\n"
    b"a=rtpmap:99 H264/90000\r\n"
)


def test_connection_address_replaced_at_session_and_media_level() -> None:
    sd = with_connection_address(parse(OFFER), "203.0.113.1")
    assert sd.connection == Connection("IN", "IP4", "203.0.113.1")
    assert sd.media[1].connection == Connection("IN", "IP4", "203.0.113.1")
    expected = OFFER.replace(b"198.51.100.8", b"203.0.113.1").replace(
        b"c=IN IP4 198.51.100.7", b"c=IN IP4 203.0.113.1"
    )
    assert serialize(sd) == expected  # the o= line is not a media address: untouched


def test_connection_address_to_ipv6_changes_addrtype_and_drops_multicast_suffix() -> None:
    body = OFFER.replace(b"c=IN IP4 198.51.100.8", b"c=IN IP4 224.2.1.1/127/2")
    sd = with_connection_address(parse(body), "2001:db8::1")
    assert sd.connection == Connection("IN", "IP6", "2001:db8::1")
    assert sd.media[1].connection == Connection("IN", "IP6", "2001:db8::1")
    assert b"c=IN IP6 2001:db8::1\r\n" in serialize(sd)


def test_connection_added_at_session_level_when_a_section_has_none() -> None:
    body = (
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n"
        b"m=audio 5000 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\nm=audio 5002 RTP/AVP 0\r\n"
    )
    sd = with_connection_address(parse(body), "203.0.113.1")
    # Inserted before t=, where RFC 8866 §5 puts c=.
    assert serialize(sd).startswith(
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\n"
    )
    assert sd.connection_of(0) == sd.connection_of(1) == Connection("IN", "IP4", "203.0.113.1")


def test_connection_not_added_when_every_section_has_one() -> None:
    body = (
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n"
        b"m=audio 5000 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\n"
    )
    sd = with_connection_address(parse(body), "203.0.113.1")
    assert sd.connection is None
    assert sd.media[0].connection == Connection("IN", "IP4", "203.0.113.1")


def test_media_port_replaced_for_one_section() -> None:
    sd = with_media_port(parse(OFFER), 1, 30002)
    assert [m.port for m in sd.media] == [16384, 30002]
    assert serialize(sd) == OFFER.replace(b"m=video 16386", b"m=video 30002")


def test_origin_address_replaced_and_version_bumped() -> None:
    sd = with_origin_address(parse(OFFER), "2001:db8::9")
    assert sd.origin.address == "2001:db8::9"
    assert sd.origin.addrtype == "IP6"
    assert sd.origin.session_version == 8
    assert sd.origin.session_id == "1732529123"
    unbumped = with_origin_address(parse(OFFER), "192.0.2.2", bump=False)
    assert unbumped.origin.session_version == 7
    assert bump_version(bump_version(parse(OFFER))).origin.session_version == 9


@pytest.mark.parametrize(
    ("names", "keep_te", "reorder", "formats"),
    [
        (["PCMA"], True, False, ("8", "101")),
        (["PCMA"], False, False, ("8",)),
        (["pcma", "PCMU"], True, False, ("0", "8", "101")),
        (["pcma", "PCMU"], True, True, ("8", "0", "101")),
        (["G729/8000"], True, False, ("18", "101")),
        (["G729/16000"], True, False, None),
        (["AMR", "G729"], False, True, ("96", "18")),
        (["opus"], True, False, None),
    ],
)
def test_filter_codecs(
    names: list[str], keep_te: bool, reorder: bool, formats: tuple[str, ...] | None
) -> None:
    section = parse(OFFER).media[0]
    filtered = filter_codecs(section, names, keep_telephone_event=keep_te, reorder=reorder)
    if formats is None:
        assert filtered is None
        return
    assert filtered is not None
    assert filtered.formats == formats
    # rtpmap/fmtp/rtcp-fb of dropped payload types are gone; the others and the rest stay.
    kept_pts = {
        (a.value or "").split(" ")[0] for a in filtered.attributes if a.name in ("rtpmap", "fmtp")
    }
    assert kept_pts == set(formats)
    assert Attribute("rtcp-fb", "* trr-int 100") in filtered.attributes
    assert filtered.ptime == 20
    assert filtered.explicit_direction is Direction.SENDRECV


def test_filter_codecs_keeps_fmtp_of_kept_codec() -> None:
    filtered = filter_codecs(parse(OFFER).media[0], ["AMR"], keep_telephone_event=False)
    assert filtered is not None
    assert filtered.codecs == (Codec(96, "AMR", 8000, fmtp="octet-align=1"),)
    assert Attribute("rtcp-fb", "96 nack") in filtered.attributes


@pytest.mark.parametrize("direction", list(Direction))
def test_with_direction_replaces_in_place(direction: Direction) -> None:
    sd = with_direction(parse(OFFER), direction, 0)
    audio = sd.media[0]
    assert audio.explicit_direction is direction
    assert audio.lines[-1] == Attribute(direction.value)
    assert sum(1 for a in audio.attributes if Direction.from_attribute(a.name)) == 1
    assert sd.media[1] == parse(OFFER).media[1]


def test_with_direction_on_all_sections_drops_session_level_direction() -> None:
    body = OFFER.replace(b"a=X-vendor:keep me\r\n", b"a=X-vendor:keep me\r\na=recvonly\r\n")
    sd = with_direction(parse(body), Direction.INACTIVE)
    assert sd.explicit_direction is None
    assert Attribute("X-vendor", "keep me") in sd.attributes
    assert [sd.direction_of(i) for i in range(2)] == [Direction.INACTIVE] * 2


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (Direction.SENDRECV, Direction.SENDONLY),
        (Direction.RECVONLY, Direction.INACTIVE),
        (Direction.SENDONLY, Direction.SENDONLY),
        (Direction.INACTIVE, Direction.INACTIVE),
    ],
)
def test_hold_follows_rfc3264_section_8_4(before: Direction, after: Direction) -> None:
    sd = hold(with_direction(parse(OFFER), before))
    assert [sd.direction_of(i) for i in range(2)] == [after, after]


def test_hold_leaves_rejected_streams_alone() -> None:
    sd = hold(with_media_port(parse(OFFER), 1, 0))
    assert sd.media[1].explicit_direction is None
    assert sd.media[0].explicit_direction is Direction.SENDONLY


def test_without_attributes_everywhere_and_in_one_section() -> None:
    body = OFFER.replace(b"a=ptime:20\r\n", b"a=ptime:20\r\na=rtcp:16385\r\n")
    everywhere = without_attributes(parse(body), ["rtcp", "x-vendor"])
    assert everywhere.attributes == ()
    assert everywhere.media[0].attribute_values("rtcp") == ()
    one = without_attributes(parse(body), ["rtpmap"], index=1)
    assert one.media[1].attributes == ()
    assert one.media[0] == parse(body).media[0]


def test_rewrites_keep_unknown_lines() -> None:
    body = OFFER.replace(b"t=0 0\r\n", b"t=0 0\r\ny=0123\r\n")
    sd = hold(
        with_connection_address(with_origin_address(parse(body), "203.0.113.1"), "203.0.113.1")
    )
    assert Field("y", "0123") in sd.lines
    assert b"\r\ny=0123\r\n" in serialize(sd)
