"""Message parsing, typed views and serialization (RFC 3261 §7, §20, §25)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.framing import FramingError, StreamFramer
from softswitch.sip.grammar import parse_name_addr, parse_params, split_commas
from softswitch.sip.message import MessageError, Request, Response
from softswitch.sip.parser import MAX_HEADERS, parse_message
from softswitch.sip.status import make_response

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n"
    b"v: SIP/2.0/TCP proxy.example.com:5061;branch=z9hG4bK1,SIP/2.0/UDP [2001:db8::9]:5070"
    b";branch=z9hG4bK2;received=192.0.2.4\r\n"
    b"Max-Forwards: 70\r\n"
    b'To: "Bob \\"B\\"" <sip:bob@biloxi.example.com>\r\n'
    b"f: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"i: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"m: <sip:alice@pc33.atlanta.example.com>;expires=60, sip:a2@192.0.2.1;q=0.5\r\n"
    b"Subject: folded\r\n  over two lines\r\n"
    b"k: timer, 100rel\r\n"
    b"Supported: replaces\r\n"
    b"x: 1800;refresher=uac\r\n"
    b"Min-SE: 90\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def test_request_line_and_views() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert (msg.method, msg.uri, msg.version) == ("INVITE", "sip:bob@biloxi.example.com", "SIP/2.0")
    vias = msg.vias
    assert [v.transport for v in vias] == ["UDP", "TCP", "UDP"]
    assert vias[0].branch == "z9hG4bK776asdhds" and vias[0].rport is True
    assert vias[1].port == 5061 and vias[2].host == "[2001:db8::9]" and vias[2].port == 5070
    assert vias[2].received == "192.0.2.4"
    assert msg.to.display_name == 'Bob "B"' and msg.to.tag is None
    assert msg.from_.tag == "1928301774" and msg.from_.display_name == "Alice"
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert (msg.cseq.seq, msg.cseq.method) == (314159, "INVITE")
    assert msg.max_forwards == 70
    contacts = msg.contacts
    assert contacts is not None and len(contacts) == 2
    assert contacts[0].param("expires") == "60" and contacts[1].uri == "sip:a2@192.0.2.1"
    assert contacts[1].param("q") == "0.5" and not contacts[1].bracketed
    assert msg.get("subject") == "folded over two lines"
    assert msg.supported == ("timer", "100rel", "replaces")
    se = msg.session_expires
    assert se is not None and se.delta == 1800 and se.refresher == "uac"
    assert msg.min_se == 90
    ct = msg.content_type
    assert ct is not None and ct.mime == "application/sdp"
    assert msg.body == b"v=0\n"


def test_unmodified_message_round_trips_byte_exact() -> None:
    assert bytes(parse_message(INVITE)) == INVITE


def test_modified_copy_keeps_other_headers_exact() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    copy = msg.with_header_first("Via", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKnew").replacing(
        "Max-Forwards", "69"
    )
    data = bytes(copy)
    assert b"Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKnew\r\nVia: SIP/2.0/UDP pc33" in data
    assert b"Max-Forwards: 69\r\n" in data
    assert b"Subject: folded\r\n  over two lines\r\n" in data  # untouched folding kept
    assert parse_message(data).top_via.branch == "z9hG4bKnew"
    assert msg.max_forwards == 70  # the original is unchanged


def test_messages_are_immutable() -> None:
    msg = parse_message(INVITE)
    with pytest.raises(AttributeError):
        msg.body = b"x"  # type: ignore[misc]


def test_with_body_sets_length_and_type() -> None:
    msg = parse_message(INVITE).with_body(b"hello", "text/plain")
    again = parse_message(bytes(msg))
    assert again.body == b"hello" and again.get("content-length") == "5"
    assert again.get("content-type") == "text/plain"


def test_response_parse() -> None:
    data = b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n"
    msg = parse_message(data)
    assert isinstance(msg, Response) and msg.status == 180 and msg.reason == "Ringing"
    assert bytes(msg) == data


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"INVITE sip:a@b SIP/3.0\r\n\r\n", 505, "Version Not Supported"),
        (b"INVITE  sip:a@b SIP/2.0\r\n\r\n", 400, "Malformed request line"),
        (b"INVITE <sip:a@b> SIP/2.0\r\n\r\n", 400, "Malformed Request-URI"),
        (b"INV@ITE sip:a@b SIP/2.0\r\n\r\n", 400, "Malformed method"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nBad Header: x\r\n\r\n", 400, "Malformed header line"),
        (b"OPTIONS sip:a@b SIP/2.0\r\n continuation\r\n\r\n", 400, "Folded line before any"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nl: 10\r\n\r\nabc", 400, "Content-Length larger"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n", 400, "Malformed Content-Length"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nab", 400, "Conflicting Content-Length"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nTo: x\r\n", 400, "No empty line"),
        (b"SIP/2.0 2000 OK\r\n\r\n", 400, "Malformed status line"),
        (b"SIP/2.0 099 Low\r\n\r\n", 400, "Status code out of range"),
    ],
)
def test_malformed_messages_name_the_problem(data: bytes, status: int, reason: str) -> None:
    with pytest.raises(MessageError) as info:
        parse_message(data)
    assert info.value.status_hint == status
    assert info.value.reason.startswith(reason)


def test_header_count_is_bounded() -> None:
    head = b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X-A: 1\r\n" * (MAX_HEADERS + 1) + b"\r\n"
    with pytest.raises(MessageError, match="Too many header fields"):
        parse_message(head)


def test_datagram_ignores_octets_after_content_length() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\nl: 2\r\n\r\nabINVITE garbage"
    assert parse_message(data).body == b"ab"


def test_stream_requires_exact_body() -> None:
    with pytest.raises(MessageError, match="Missing Content-Length"):
        parse_message(b"OPTIONS sip:a@b SIP/2.0\r\n\r\nxyz", stream=True)


def test_views_raise_named_errors() -> None:
    msg = parse_message(
        b'OPTIONS sip:a@b SIP/2.0\r\nCSeq: 99999999999 OPTIONS\r\nTo: "open <sip:a@b>\r\n'
        b"Max-Forwards: 300\r\nVia: SIP/2.0/UDP h;;branch=1\r\n\r\n"
    )
    for view, reason in [
        ("cseq", "CSeq number out of range"),
        ("to", "Unterminated quoted string in To"),
        ("max_forwards", "Max-Forwards out of range"),
        ("vias", "Malformed parameter ''"),
        ("from_", "Missing From header"),
    ]:
        with pytest.raises(RemoteProtocolError) as info:
            getattr(msg, view)
        assert info.value.reason == reason


def test_grammar_pieces() -> None:
    assert split_commas('a, "b,c" <sip:x,y>, d') == ["a", '"b,c" <sip:x,y>', "d"]
    assert parse_params(';lr;transport=tcp;x="a;b"') == (
        ("lr", None),
        ("transport", "tcp"),
        ("x", '"a;b"'),
    )
    addr = parse_name_addr("Bob<sip:bob@h>;tag=9")
    assert (addr.display_name, addr.uri, addr.tag) == ("Bob", "sip:bob@h", "9")
    plain = parse_name_addr("sip:u@h;transport=udp;tag=1")
    assert plain.uri == "sip:u@h" and plain.param("transport") == "udp"
    with pytest.raises(RemoteProtocolError, match="Display name must be quoted"):
        parse_name_addr("Bell, Alexander <sip:a@b>")


def test_make_response_copies_and_tags() -> None:
    request = parse_message(INVITE)
    assert isinstance(request, Request)
    response = make_response(request, 486, to_tag="xyz")
    assert response.status == 486 and response.reason == "Busy Here"
    again = parse_message(bytes(response))
    assert again.to.tag == "xyz" and again.call_id == request.call_id
    assert [v.branch for v in again.vias] == [v.branch for v in request.vias]
    assert again.get_all("via") == request.get_all("via")


# --------------------------------------------------------------------------- framing
def test_framer_byte_at_a_time_and_back_to_back() -> None:
    one = b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabc"
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(len(one)):
        out.extend(framer.feed(one[i : i + 1]))
    assert out == [one]
    assert framer.feed(b"\r\n\r\n" + one + one + one[:10]) == [one, one]
    assert framer.pending == 10


def test_framer_bounds() -> None:
    framer = StreamFramer(max_size=100)
    with pytest.raises(FramingError):
        framer.feed(b"X" * 101)
    with pytest.raises(FramingError):
        StreamFramer(max_size=100).feed(b"OPTIONS sip:a SIP/2.0\r\nl: 500\r\n\r\n")
    with pytest.raises(FramingError):
        StreamFramer().feed(b"OPTIONS sip:a SIP/2.0\r\nContent-Length: x\r\n\r\n")


# --------------------------------------------------------------------------- round trip
_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-.!%*_+`'~", min_size=1)
_value = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FF, exclude_characters="\x7f"),
    max_size=40,
)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.tuples(_token, _value), max_size=12))
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        start = f"{draw(_token)} sip:{draw(_token)}@example.com SIP/2.0"
    else:
        start = f"SIP/2.0 {draw(st.integers(100, 699))} {draw(_value)}"
    sep = draw(st.sampled_from([":", ": ", " :  ", ":\t"]))
    lines = [
        start,
        *(f"{n}{sep}{v}" for n, v in headers if n.lower() not in ("l", "content-length")),
    ]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


@settings(max_examples=300, deadline=None)
@given(messages())
def test_round_trip_is_byte_exact(data: bytes) -> None:
    msg = parse_message(data)
    assert bytes(msg) == data
    assert parse_message(data, stream=True).body == msg.body
    framer = StreamFramer()
    assert framer.feed(data[:7]) + framer.feed(data[7:]) == [data]


def test_known_header_name_without_colon_is_refused() -> None:
    parse_message(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n")  # warms the name memo
    with pytest.raises(MessageError, match="Malformed header line"):
        parse_message(b"OPTIONS sip:a@b SIP/2.0\r\nVia\r\n\r\n")


# --------------------------------------------------------------------------- hostile input
@pytest.mark.parametrize(
    ("header", "view"),
    [
        ("CSeq: \u00b2 OPTIONS", "cseq"),
        ("CSeq: \u0663 OPTIONS", "cseq"),  # Arabic-Indic three: not CSeq 3
        ("Max-Forwards: \u00b2", "max_forwards"),
        ("Expires: " + "9" * 5000, "expires"),
        ("Via: SIP/2.0/UDP 192.0.2.1:50\u00b2;branch=z9hG4bK1", "vias"),
        ("Via: SIP/2.0/UDP 192.0.2.1:0;branch=z9hG4bK1", "vias"),
        ("Via: SIP/2.0/UDP 192.0.2.1;rport=\u00b2;branch=z9hG4bK1", "top_via.rport"),
    ],
)
def test_numbers_are_ascii_digits_only(header: str, view: str) -> None:
    """``str.isdigit`` passes Unicode digits that ``int`` refuses or misreads (RFC 3261 §25.1:
    DIGIT is ASCII)."""
    msg = parse_message(f"OPTIONS sip:a@b SIP/2.0\r\n{header}\r\n\r\n".encode())
    with pytest.raises(RemoteProtocolError):
        target: object = msg
        for part in view.split("."):
            target = getattr(target, part)


@pytest.mark.parametrize("length", ["\u00b2", "1" * 5000, "+5", "0x10"])
def test_content_length_is_ascii_digits_only(length: str) -> None:
    data = f"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: {length}\r\n\r\n".encode()
    with pytest.raises(MessageError, match="Malformed Content-Length"):
        parse_message(data)
    with pytest.raises(FramingError, match="Malformed Content-Length"):
        StreamFramer().feed(data)


@pytest.mark.parametrize(
    "line",
    [
        b"Subject: hi\rX-Evil: 1",
        b"Call-ID: c1\x00y",
        b'Via: SIP/2.0/UDP h;branch=z9hG4bK1;x="a\rInjected: yes"',
    ],
)
def test_bare_cr_and_control_characters_are_refused(line: bytes) -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n" + line + b"\r\n\r\n"
    with pytest.raises(MessageError, match="Control character") as info:
        parse_message(data)
    assert info.value.message is not None and info.value.message.get("cseq") == "1 OPTIONS"


def test_escaped_control_characters_in_quoted_strings_are_valid() -> None:
    """RFC 4475 intmeth: a quoted-pair may escape NUL, BEL and DEL."""
    msg = parse_message(b'OPTIONS sip:a@b SIP/2.0\r\nTo: "\\\x00\\\x07" <sip:b@c>\r\n\r\n')
    assert msg.to.display_name == "\x00\x07"


def test_reason_phrase_with_bare_cr_is_refused() -> None:
    with pytest.raises(MessageError, match="Control character in the reason phrase"):
        parse_message(b"SIP/2.0 486 Busy\rX-Injected: 1\r\nCSeq: 1 INVITE\r\n\r\n")


def test_we_never_write_cr_or_lf_into_a_header_or_status_line() -> None:
    from softswitch.sip.errors import LocalProtocolError
    from softswitch.sip.message import HeaderField

    with pytest.raises(LocalProtocolError):
        HeaderField.make("Subject", "a\r\nInjected: 1")
    with pytest.raises(LocalProtocolError):
        Response(200, "OK\r\nInjected: 1")
    with pytest.raises(LocalProtocolError):
        Request("INVITE", "sip:a@b SIP/2.0\r\nX: 1")


def test_quoted_parameter_value_is_one_quoted_string() -> None:
    with pytest.raises(RemoteProtocolError, match="Malformed value of parameter 'branch'"):
        parse_params(';branch="x"garbage<>@')


def test_framer_and_parser_agree_on_bare_lf_lines() -> None:
    """A Content-Length on a bare-LF line frames the body for both, so nothing hides inside it."""
    inner = b"BYE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n"
    outer = b"OPTIONS sip:a@b SIP/2.0\r\nX-Pad: 1\nContent-Length: %d\r\n\r\n" % len(inner)
    framed = StreamFramer().feed(outer + inner)
    assert framed == [outer + inner]
    assert parse_message(framed[0], stream=True).body == inner


def test_header_block_ends_at_the_first_empty_line_of_either_kind() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\nCSeq: 1 OPTIONS\n\nbody\r\n\r\nmore"
    msg = parse_message(data)
    assert msg.get("cseq") == "1 OPTIONS" and msg.body == b"body\r\n\r\nmore"


def test_folding_is_linear_and_lines_are_bounded() -> None:
    from softswitch.sip.parser import MAX_LINES

    many = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: a\r\n" + b" b\r\n" * (MAX_LINES - 2) + b"\r\n"
    assert parse_message(many).get("subject") == "a" + " b" * (MAX_LINES - 2)
    with pytest.raises(MessageError, match="Too many header lines"):
        parse_message(many.replace(b"\r\n\r\n", b"\r\n b\r\n b\r\n\r\n"))


def test_via_values_are_bounded() -> None:
    from softswitch.sip.headers import MAX_VIAS

    vias = ",".join(f"SIP/2.0/UDP h{i};branch=z9hG4bK{i}" for i in range(MAX_VIAS + 1))
    msg = parse_message(f"OPTIONS sip:a@b SIP/2.0\r\nVia: {vias}\r\n\r\n".encode())
    with pytest.raises(RemoteProtocolError, match="Too many Via values"):
        _ = msg.vias


@pytest.mark.parametrize(
    "to",
    ["<sip:b@x;tag=1>", '"x;tag=y" <sip:b@x>'],
)
def test_make_response_adds_a_tag_when_to_has_none_of_its_own(to: str) -> None:
    request = parse_message(
        f"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: {to}\r\n"
        "From: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n".encode()
    )
    assert isinstance(request, Request)
    assert parse_message(bytes(make_response(request, 200, to_tag="ours"))).to.tag == "ours"


def test_make_response_keeps_an_existing_tag_written_with_spaces() -> None:
    request = parse_message(
        b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"To: <sip:b@x>;tag\t=\tabc\r\nFrom: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 BYE\r\n\r\n"
    )
    assert isinstance(request, Request)
    response = parse_message(bytes(make_response(request, 200, to_tag="ours")))
    assert response.get_all("to") == ["<sip:b@x>;tag\t=\tabc"] and response.to.tag == "abc"


@pytest.mark.parametrize(
    "odd",
    [
        "Expires: Thu, 01 Dec 2094 16:00:00 GMT",
        "Content-Type: application/sdp;",
        "Max-Forwards: 300",
        "Contact: <sip:b@x>;expires=3600.0",
    ],
)
def test_odd_optional_headers_do_not_drop_responses_or_acks(odd: str) -> None:
    """§18.1.2 checks a response's Via only; the 200 OK of a carrier must still end the INVITE."""
    from softswitch.sip.validate import check_request, check_response

    common = (
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:b@x>;tag=t\r\nFrom: <sip:c@d>;tag=f\r\n"
        f"Call-ID: x\r\n{odd}\r\n"
    )
    response = parse_message(f"SIP/2.0 200 OK\r\n{common}CSeq: 1 INVITE\r\n\r\n".encode())
    assert isinstance(response, Response)
    check_response(response)
    ack = parse_message(f"ACK sip:b@x SIP/2.0\r\n{common}CSeq: 1 ACK\r\n\r\n".encode())
    assert isinstance(ack, Request)
    check_request(ack)
    bye = parse_message(f"BYE sip:b@x SIP/2.0\r\n{common}CSeq: 2 BYE\r\n\r\n".encode())
    assert isinstance(bye, Request)
    with pytest.raises(MessageError):
        check_request(bye)
