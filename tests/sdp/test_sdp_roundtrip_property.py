"""Property: any valid description survives serialize -> parse unchanged, and its bytes too."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sdp import (
    Attribute,
    Bandwidth,
    BlankLine,
    Connection,
    Field,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
    parse,
    serialize,
)

# Tokens hold no whitespace; text holds anything but CR and LF (and no lone surrogates, which
# only stand for undecodable bytes and would decode to something else).
TOKEN = st.text(st.characters(exclude_categories=("Z", "C")), min_size=1, max_size=12).filter(
    lambda s: not any(ch.isspace() for ch in s)
)
TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=30)
NUMBER = st.integers(min_value=0, max_value=2**64)
ADDRESS = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    TOKEN.filter(lambda s: "/" not in s),
)


@st.composite
def connections(draw: st.DrawFn) -> Connection:
    kind = draw(st.sampled_from(["IP4", "IP6", "X-OTHER"]))
    address = draw(ADDRESS)
    if kind == "IP4":
        ttl = draw(st.none() | st.integers(0, 255))
        count = None if ttl is None else draw(st.none() | st.integers(1, 16))
        return Connection("IN", kind, address, ttl, count)
    if kind == "IP6":
        return Connection("IN", kind, address, None, draw(st.none() | st.integers(1, 16)))
    return Connection(draw(TOKEN), kind, draw(TOKEN))


ORIGINS = st.builds(Origin, TOKEN, TOKEN, NUMBER, TOKEN, TOKEN, TOKEN)
BANDWIDTHS = st.builds(Bandwidth, TOKEN.filter(lambda s: ":" not in s), NUMBER)
TIMINGS = st.builds(Timing, NUMBER, NUMBER)
ATTRIBUTES = st.builds(Attribute, TOKEN.filter(lambda s: ":" not in s), st.none() | TEXT)
BLANKS = st.just(BlankLine())


def fields(letters: str) -> st.SearchStrategy[Field]:
    return st.builds(Field, st.sampled_from(letters), TEXT)


# Letters that parse typed at each level never appear as plain fields.
SESSION_LINES = st.one_of(
    ORIGINS, connections(), BANDWIDTHS, TIMINGS, ATTRIBUTES, BLANKS, fields("siuepzrkxy")
)
MEDIA_LINES = st.one_of(connections(), BANDWIDTHS, ATTRIBUTES, BLANKS, fields("ikxyt"))

MEDIA = st.builds(
    MediaDescription,
    media=TOKEN,
    port=st.integers(0, 65535),
    proto=TOKEN,
    formats=st.lists(TOKEN, max_size=5).map(tuple),
    port_count=st.none() | st.integers(1, 8),
    lines=st.lists(MEDIA_LINES, max_size=6).map(tuple),
)


@st.composite
def descriptions(draw: st.DrawFn) -> SessionDescription:
    lines = draw(st.lists(SESSION_LINES, max_size=8))
    lines.insert(draw(st.integers(0, len(lines))), draw(ORIGINS))
    media = draw(st.lists(MEDIA, max_size=3))
    return SessionDescription(tuple(lines), tuple(media), draw(st.integers(0, 3)))


@settings(max_examples=200, deadline=None)
@given(descriptions())
def test_serialize_then_parse_gives_back_the_same_value(sd: SessionDescription) -> None:
    data = serialize(sd)
    again = parse(data)
    assert again == sd
    assert serialize(again) == data


@settings(max_examples=200, deadline=None)
@given(descriptions())
def test_bare_lf_form_parses_to_the_same_value(sd: SessionDescription) -> None:
    assert parse(serialize(sd).replace(b"\r\n", b"\n")) == sd
