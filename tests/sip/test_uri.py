"""Tests for softswitch.sip.uri: RFC 3261 §19.1 / §25.1, RFC 3966, RFC 4475, RFC 5118."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.uri import (
    AbsoluteUri,
    HostKind,
    SipUri,
    TelUri,
    UriError,
    escape_header,
    escape_param,
    escape_password,
    escape_user,
    parse_uri,
    unescape,
    uri_equal,
)
from softswitch.sip.uri_escape import canonical

# -- RFC 3261 §19.1.4, verbatim ----------------------------------------------------------------

EQUIVALENT_SETS = [
    ["sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"],
    [
        "sip:carol@chicago.com",
        "sip:carol@chicago.com;newparam=5",
        "sip:carol@chicago.com;security=on",
    ],
    [
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ],
    [
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ],
]

NOT_EQUIVALENT_PAIRS = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
]


@pytest.mark.parametrize("uris", EQUIVALENT_SETS)
def test_rfc3261_equivalent_sets_are_equal_both_ways(uris: list[str]) -> None:
    parsed = [parse_uri(u) for u in uris]
    for a in parsed:
        for b in parsed:
            assert uri_equal(a, b), (str(a), str(b))


@pytest.mark.parametrize(("left", "right"), NOT_EQUIVALENT_PAIRS)
def test_rfc3261_non_equivalent_pairs_differ_both_ways(left: str, right: str) -> None:
    a, b = parse_uri(left), parse_uri(right)
    assert not uri_equal(a, b)
    assert not uri_equal(b, a)


def test_rfc3261_equivalence_is_not_transitive() -> None:
    # §19.1.4: carol == carol;security=on and carol == carol;security=off, but on != off.
    plain = SipUri.parse("sip:carol@chicago.com")
    on = SipUri.parse("sip:carol@chicago.com;security=on")
    off = SipUri.parse("sip:carol@chicago.com;security=off")
    assert plain.matches(on) and plain.matches(off)
    assert not on.matches(off)


def test_sip_and_sips_are_never_equal() -> None:
    assert not uri_equal(parse_uri("sip:alice@atlanta.com"), parse_uri("sips:alice@atlanta.com"))


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        ("sip:bob@h;user=phone", "sip:bob@h", False),  # user param in one only
        ("sip:bob@h;ttl=5", "sip:bob@h", False),
        ("sip:bob@h;method=INVITE", "sip:bob@h", False),
        ("sip:bob@h;maddr=239.0.0.1", "sip:bob@h", False),
        ("sip:bob@h;method=INVITE", "sip:bob@h;method=invite", False),  # methods: case-sensitive
        ("sip:bob@h;user=Phone", "sip:bob@h;USER=phone", True),
        ("sip:bob@h;lr", "sip:bob@h", True),  # other params in one only are ignored
        ("sip:bob@h;foo=a", "sip:bob@h;foo=b", False),  # in both: must match
        ("sip:bob@h;foo", "sip:bob@h;foo=x", False),
        ("sip:bob:pw@h", "sip:bob@h", False),  # password in one only
        ("sip:bob:pw@h", "sip:bob:PW@h", False),  # userinfo is case-sensitive
        ("sip:h", "sip:bob@h", False),  # user in one only
        ("sip:a%3Bb@h", "sip:a;b@h", False),  # reserved chars are not equal to their escape
        ("sip:a%3bb@h", "sip:a%3Bb@h", True),  # hex digits are case-insensitive
        ("sip:%41@h", "sip:A@h", True),
        ("sip:%2541@h", "sip:%41@h", False),  # one level: %2541 is "%41", not "A"
        ("sip:h?a=1&a=2", "sip:h?a=2&a=1", True),
        ("sip:h?a=1", "sip:h?a=1&b=2", False),
        ("sip:h?Subject=x", "sip:h?subject=x", True),  # header names are case-insensitive
        ("sip:h?subject=X", "sip:h?subject=x", False),
        ("sip:%6C%72@h;%6C%72", "sip:lr@h;lr", True),
        ("sip:u@[2001:DB8::1]", "sip:u@[2001:db8:0::1]", True),
    ],
)
def test_comparison_rules(left: str, right: str, equal: bool) -> None:
    assert uri_equal(parse_uri(left), parse_uri(right)) is equal
    assert uri_equal(parse_uri(right), parse_uri(left)) is equal


def test_different_kinds_of_uri_are_never_equal() -> None:
    sip = parse_uri("sip:+12015550123@example.com;user=phone")
    tel = parse_uri("tel:+12015550123")
    other = parse_uri("http://example.com")
    assert not uri_equal(sip, tel) and not uri_equal(tel, sip)
    assert not uri_equal(sip, other) and not uri_equal(other, tel)


# -- RFC 4475 torture URIs ----------------------------------------------------------------------

TORTURE_URIS = [
    "sip:vivekg@chair-dnrc.example.com;unknownparam",  # wsinv
    "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
    "(doesn't-it)@example.com",  # intmeth
    "sip:sips%3Auser%40example.com@example.net",  # esc01
    "sip:%75se%72@example.com",
    "sip:I%20have%20spaces@example.net",
    "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31",
    "sip:null-%00-null@example.com",  # escnull
    "sip:%00@host5.example.com",
    "sip:%00%00@host5.example.com",
    "sip:user;par=u%40example.net@example.com",  # semiuri
    "sip:user@example.com?Route=%3Csip:example.com%3E",  # escruri
    "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # regescrt
    "sip:+19725552222@gw1.example.net;unknownparam",  # cparam01/02
    "sip:services.example.com;lr;unknownwith=value;unknown-no-value",
    "sip:user@example.com:6000;unknownparam1=verylonglonglonglonglonglongvalue;"
    "longparamnamenamenamenamename=shortvalue;verylonglongParameterNameWithNoValue",  # longreq
    "sip:+13035551111@ift.client.example.net;user=phone",
    "nobodyKnowsThisScheme:totallyopaquecontent",  # unkscm
    "soap.beep://192.0.2.103:3002",  # novelsc
    "isbn:2983792873",  # unksm2
    "http://www.example.com",
    "name:John_Smith",
    # RFC 5118
    "sip:[2001:db8::10]",
    "sip:caller@[2001:db8::1]",
    "sip:[2001:db8::10:5070]",
    "sip:[2001:db8::10]:5070",
    "sip:user@[2001:db8:::192.0.2.1]",
    "sip:user@[2001:db8::192.0.2.1]",
    "sip:ted@[::ffff:192.0.2.2]",
    # odd but legal spellings
    "SIP:Alice@Atlanta.COM:05060;Transport=TCP",
    "tel:+1-201-555-0123",
    "tel:7042;phone-context=example.com",
    "TEL:+1(201)555.0123;ext=22",
]


@pytest.mark.parametrize("text", TORTURE_URIS)
def test_unmodified_uri_serializes_back_exactly(text: str) -> None:
    assert str(parse_uri(text)) == text


def test_esc01_request_uri_user_is_kept_escaped_and_unescapes_once() -> None:
    uri = SipUri.parse("sip:sips%3Auser%40example.com@example.net")
    assert uri.user == "sips%3Auser%40example.com"
    assert unescape(uri.user) == "sips:user@example.com"
    assert uri.host == "example.net"


def test_esc01_escaped_user_equals_unescaped_user() -> None:
    assert uri_equal(parse_uri("sip:%75se%72@example.com"), parse_uri("sip:user@example.com"))
    spaces = SipUri.parse("sip:I%20have%20spaces@example.net")
    assert spaces.user is not None and unescape(spaces.user) == "I have spaces"


def test_esc01_contact_params_are_escaped_names_and_unescape_one_level() -> None:
    uri = SipUri.parse("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert uri.lr is True  # ";%6C%72" is ";lr"
    value = uri.param("name")
    assert value == "v%61lue%25%34%31"
    assert unescape(value) == "value%41"  # never "valueA"
    assert uri.user is not None and unescape(uri.user) == "caller"


def test_escnull_users_keep_nul_and_are_distinct() -> None:
    aor = SipUri.parse("sip:null-%00-null@example.com")
    assert aor.user is not None and unescape(aor.user) == "null-\x00-null"
    one = SipUri.parse("sip:%00@host5.example.com")
    two = SipUri.parse("sip:%00%00@host5.example.com")
    assert one.user is not None and unescape(one.user) == "\x00"
    assert two.user is not None and unescape(two.user) == "\x00\x00"
    assert not uri_equal(one, two)


def test_semiuri_semicolon_belongs_to_user_part() -> None:
    uri = SipUri.parse("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u%40example.net"
    assert unescape(uri.user) == "user;par=u@example.net"
    assert uri.host == "example.com"
    assert uri.params == ()


def test_intmeth_unusual_userinfo() -> None:
    uri = SipUri.parse(TORTURE_URIS[1])
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert uri.params == () and uri.headers == ()


def test_escaped_headers_are_parsed_and_can_be_dropped() -> None:
    uri = SipUri.parse("sip:user@example.com?Route=%3Csip:example.com%3E")
    assert uri.headers == (("Route", "%3Csip:example.com%3E"),)
    assert unescape(uri.headers[0][1]) == "<sip:example.com>"
    assert str(uri.without_headers()) == "sip:user@example.com"


def test_contact_unknown_flag_param() -> None:
    uri = SipUri.parse("sip:+19725552222@gw1.example.net;unknownparam")
    assert uri.params == (("unknownparam", None),)
    assert uri.has_param("UNKNOWNPARAM") and uri.param("unknownparam") is None


@pytest.mark.parametrize(
    ("text", "scheme"),
    [
        ("nobodyKnowsThisScheme:totallyopaquecontent", "nobodyknowsthisscheme"),
        ("soap.beep://192.0.2.103:3002", "soap.beep"),
        ("isbn:2983792873", "isbn"),
        ("http://www.example.com", "http"),
        ("name:John_Smith", "name"),
        ("mailto:alice@example.com", "mailto"),
    ],
)
def test_unknown_schemes_are_opaque_absolute_uris(text: str, scheme: str) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, AbsoluteUri)
    assert uri.scheme == scheme
    assert str(uri) == text


def test_absolute_uri_comparison_folds_scheme_case_only() -> None:
    assert uri_equal(parse_uri("HTTP://www.example.com"), parse_uri("http://www.example.com"))
    assert not uri_equal(parse_uri("http://www.example.com"), parse_uri("http://WWW.example.com"))


def test_sip_uri_parse_of_other_scheme_asks_for_416() -> None:
    with pytest.raises(UriError) as info:
        SipUri.parse("nobodyKnowsThisScheme:totallyopaquecontent")
    assert info.value.status_hint == 416
    with pytest.raises(UriError) as info:
        SipUri.parse("tel:+12015550123")
    assert info.value.status_hint == 416


# -- RFC 5118 IPv6 -------------------------------------------------------------------------


def test_ipv6_host_with_port_outside_brackets() -> None:
    uri = SipUri.parse("sip:[2001:db8::10]:5070")
    assert (uri.host, uri.port) == ("[2001:db8::10]", 5070)
    assert uri.is_ipv6 and uri.host_kind is HostKind.IPV6
    assert uri.host_port == "[2001:db8::10]:5070"


def test_ipv6_port_inside_brackets_is_part_of_the_address() -> None:
    uri = SipUri.parse("sip:[2001:db8::10:5070]")
    assert (uri.host, uri.port) == ("[2001:db8::10:5070]", None)


def test_ipv6_three_colon_bug_is_accepted_and_equals_two_colon_form() -> None:
    bug = SipUri.parse("sip:user@[2001:db8:::192.0.2.1]")
    good = SipUri.parse("sip:user@[2001:db8::192.0.2.1]")
    assert bug.host == "[2001:db8:::192.0.2.1]"  # kept as sent
    assert uri_equal(bug, good)
    assert not uri_equal(bug, SipUri.parse("sip:user@[2001:db8::192.0.2.2]"))


def test_ipv4_mapped_ipv6_is_accepted() -> None:
    uri = SipUri.parse("sip:ted@[::ffff:192.0.2.2]")
    assert uri.host_kind is HostKind.IPV6
    assert uri.host == "[::ffff:192.0.2.2]"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("sip:a@192.0.2.4", HostKind.IPV4),
        ("sip:a@example.com", HostKind.DOMAIN),
        ("sip:a@3com.example", HostKind.DOMAIN),
        ("sip:a@[::1]", HostKind.IPV6),
    ],
)
def test_host_kind(text: str, kind: HostKind) -> None:
    assert SipUri.parse(text).host_kind is kind


# -- rejection --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sip:2001:db8::10", "IPv6 address must be enclosed"),  # RFC 5118 ipv6-bad
        ("sip:user@example.com; lr", "whitespace at position 21"),  # RFC 4475 lwsruri
        ("sip:user@example.com\r\n", "whitespace"),
        ("sip:us\x01er@example.com", "control character"),
        ("<sip:user@example.com>", "enclosed in '<' '>'"),  # RFC 4475 ltgtruri
        ("sip:", "missing host"),
        ("sip:user@", "missing host"),
        ("sip:user@:5060", "missing host"),
        ("sip:@example.com", "empty user part"),
        ("sip:example.com:", "empty port"),
        ("sip:example.com:50a", "non-numeric port"),
        ("sip:example.com:65536", "out of range"),
        ("sip:example.com:99999999", "out of range"),
        ("sip:[2001:db8::1", "unterminated '['"),
        ("sip:[2001:db8::1:5060", "unterminated '['"),
        ("sip:[2001:db8::1]5060", "unexpected text after IPv6"),
        ("sip:[2001:db8::zz]", "invalid IPv6 address"),
        ("sip:alice@atlanta.com@gateway.com", "'@' in the user part must be escaped"),
        ("sip:alice@192.0.329.18", "invalid IPv4 address"),
        ("sip:alice@1923.0.2.4", "invalid IPv4 address"),
        ("sip:alice@exa!mple.com", "invalid host"),
        ("sip:a%zzb@example.com", "does not start a %HH escape"),
        ("sip:a%4@example.com", "does not start a %HH escape"),
        ("sip:caf\u00e9@example.com", "non-ASCII"),
        ("sip:example.com;", "empty URI parameter"),
        ("sip:example.com;;lr", "empty URI parameter"),
        ("sip:example.com?", "empty URI header"),
        ("sip:example.com?subject", "has no '='"),
        ("", "missing ':'"),
        ("example.com", "missing ':'"),
        (":foo", "empty URI scheme"),
        ("1sip:foo", "invalid URI scheme"),
        ("foo:", "nothing after the URI scheme"),
        ("tel:", "invalid telephone number"),
        ("tel:+", "invalid telephone number"),
        ("tel:+1-201-555-012x", "invalid telephone number"),
        ("tel:--", "no digits"),
        ("tel:+1201 5550123", "whitespace"),
    ],
)
def test_invalid_uris_are_rejected_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(UriError) as info:
        parse_uri(text)
    assert message in str(info.value)
    assert info.value.status_hint == 400
    assert isinstance(info.value, ValueError)


def test_error_message_quotes_the_offending_text() -> None:
    with pytest.raises(UriError, match=re.escape("'sip:example.com:70000'")):
        parse_uri("sip:example.com:70000")


# -- accessors and copies ---------------------------------------------------------------------


def test_parameter_accessors() -> None:
    uri = SipUri.parse(
        "sips:+1-212-555-1212:1234@gateway.com;User=Phone;TRANSPORT=TCP;lr;maddr=239.255.255.1;"
        "ttl=15;method=REGISTER"
    )
    assert uri.scheme == "sips" and uri.is_secure
    assert uri.user == "+1-212-555-1212" and uri.password == "1234"
    assert uri.transport == "tcp"
    assert uri.user_param == "phone"
    assert uri.lr is True
    assert uri.maddr == "239.255.255.1"
    assert uri.ttl == 15
    assert uri.method == "REGISTER"
    assert uri.param("Transport") == "TCP"
    assert uri.param("nope", "dflt") == "dflt"


def test_absent_parameters() -> None:
    uri = SipUri.parse("sip:alice@atlanta.com")
    assert uri.transport is None and uri.user_param is None and uri.maddr is None
    assert uri.ttl is None and uri.method is None and uri.lr is False
    assert uri.port is None and uri.host_port == "atlanta.com" and not uri.is_secure


def test_malformed_ttl_raises_on_access() -> None:
    uri = SipUri.parse("sip:alice@atlanta.com;ttl=300")
    with pytest.raises(UriError, match="ttl"):
        _ = uri.ttl


def test_with_params_replaces_in_place_and_appends() -> None:
    uri = SipUri.parse("sip:alice@atlanta.com;Transport=udp;foo=1")
    changed = uri.with_params(transport="tcp", lr=None)
    assert str(changed) == "sip:alice@atlanta.com;transport=tcp;foo=1;lr"
    assert str(uri) == "sip:alice@atlanta.com;Transport=udp;foo=1"  # original untouched
    assert str(uri.with_params([("x-y", "1")], foo="2")) == (
        "sip:alice@atlanta.com;Transport=udp;foo=2;x-y=1"
    )
    assert str(uri.with_params({"FOO": None})) == "sip:alice@atlanta.com;Transport=udp;FOO"


def test_without_params() -> None:
    uri = SipUri.parse("sip:alice@atlanta.com;transport=udp;lr;foo=1")
    assert str(uri.without_params("LR", "foo")) == "sip:alice@atlanta.com;transport=udp"
    assert str(uri.without_params()) == "sip:alice@atlanta.com"


def test_with_host_port_and_with_user() -> None:
    uri = SipUri.parse("SIP:Alice@Atlanta.COM:05060;lr")
    moved = uri.with_host_port("[2001:db8::1]", 5070)
    assert str(moved) == "sip:Alice@[2001:db8::1]:5070;lr"
    assert str(moved.with_host_port("192.0.2.4")) == "sip:Alice@192.0.2.4;lr"
    assert str(uri.with_user(escape_user("bob smith"))) == "sip:bob%20smith@Atlanta.COM:5060;lr"
    assert str(uri.with_user(None)) == "sip:Atlanta.COM:5060;lr"
    with pytest.raises(UriError, match="port"):
        uri.with_host_port("example.com", 70000)
    with pytest.raises(UriError, match="invalid host"):
        uri.with_host_port("bad host")


def test_structural_equality_ignores_original_spelling_of_scheme() -> None:
    parsed = SipUri.parse("SIP:alice@atlanta.com")
    built = SipUri(user="alice", host="atlanta.com")
    assert parsed == built and hash(parsed) == hash(built)
    assert str(parsed) == "SIP:alice@atlanta.com" and str(built) == "sip:alice@atlanta.com"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": ""}, "missing host"),
        ({"host": "example.com", "scheme": "tel"}, "scheme must be"),
        ({"host": "example.com", "port": -1}, "out of range"),
        ({"host": "example.com", "user": "a@b"}, "'@' must be escaped"),
        ({"host": "example.com", "user": "a:b"}, "':' must be escaped"),
        ({"host": "example.com", "user": ""}, "empty user part"),
        ({"host": "example.com", "user": "a b"}, "whitespace"),
        ({"host": "example.com", "password": "x"}, "needs a user part"),
        ({"host": "example.com", "params": (("a;b", None),)}, "';' must be escaped"),
        ({"host": "example.com", "params": (("x", "a@b"),)}, "'@' must be escaped"),
        ({"host": "example.com", "headers": (("a", "b&c"),)}, "'&' must be escaped"),
        ({"host": "[::1"}, "unterminated"),
    ],
)
def test_constructor_validates(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UriError, match=message):
        SipUri(**kwargs)  # type: ignore[arg-type]


def test_constructor_accepts_lists_and_freezes_them() -> None:
    uri = SipUri(host="example.com", params=[("lr", None)], headers=[("a", "b")])  # type: ignore[arg-type]
    assert uri.params == (("lr", None),) and uri.headers == (("a", "b"),)
    assert str(uri) == "sip:example.com;lr?a=b"


# -- tel URIs (RFC 3966) ----------------------------------------------------------------------


def test_global_tel_uri() -> None:
    uri = TelUri.parse("tel:+1-201-555-0123;ext=22")
    assert uri.scheme == "tel" and uri.is_global
    assert uri.number == "+1-201-555-0123"
    assert uri.normalized_number() == "+12015550123"
    assert uri.param("EXT") == "22" and uri.phone_context is None


def test_local_tel_uri() -> None:
    uri = TelUri.parse("tel:7042;phone-context=example.com")
    assert not uri.is_global
    assert uri.phone_context == "example.com"
    assert uri.normalized_number() == "7042"
    assert TelUri.parse("tel:*21#;phone-context=+1").number == "*21#"


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        ("tel:+1-201-555-0123", "tel:+1.201.555.0123", True),
        ("tel:+1-201-555-0123", "tel:+1(201)5550123", True),
        ("tel:+1-201-555-0123", "tel:+1-201-555-0124", False),
        ("tel:+12015550123", "tel:12015550123;phone-context=+1", False),  # global vs local
        ("tel:7042;phone-context=Example.COM", "tel:7042;PHONE-CONTEXT=example.com", True),
        ("tel:7042;phone-context=+1-201", "tel:7042;phone-context=+1201", True),
        ("tel:7042;phone-context=a.example", "tel:7042;phone-context=b.example", False),
        ("tel:+12015550123;ext=1-2", "tel:+12015550123;ext=12", True),
        ("tel:+12015550123;isub=1", "tel:+12015550123", False),  # param in one only
        ("tel:+12015550123;foo=a;bar=b", "tel:+12015550123;bar=b;foo=a", True),
        ("tel:abc;phone-context=x.example", "tel:ABC;phone-context=x.example", True),
    ],
)
def test_tel_comparison(left: str, right: str, equal: bool) -> None:
    assert uri_equal(parse_uri(left), parse_uri(right)) is equal
    assert uri_equal(parse_uri(right), parse_uri(left)) is equal


def test_tel_constructor_and_serialization() -> None:
    uri = TelUri(number="+44-20-7946-0000", params=[("ext", "9")])  # type: ignore[arg-type]
    assert str(uri) == "tel:+44-20-7946-0000;ext=9"
    assert parse_uri(str(uri)) == uri
    assert uri.matches(parse_uri("tel:+442079460000;ext=9"))
    with pytest.raises(UriError, match="telephone number"):
        TelUri(number="+44 20")
    with pytest.raises(UriError, match="';' must be escaped"):
        TelUri(number="+1", params=(("a", "b;c"),))


# -- escaping -------------------------------------------------------------------------------


def test_unescape_is_one_level() -> None:
    assert unescape("value%2541") == "value%41"
    assert unescape("%25%34%31") == "%41"
    assert unescape("plain") == "plain"
    assert unescape("caf%C3%A9") == "caf\u00e9"


def test_escape_functions_keep_their_components_safe_characters() -> None:
    assert escape_user("alice;day=tuesday") == "alice;day=tuesday"
    assert escape_user("a@b:c d%") == "a%40b%3Ac%20d%25"
    assert escape_password("p:w;d") == "p%3Aw%3Bd"
    assert escape_param("a;b=c[1]") == "a%3Bb%3Dc[1]"
    assert escape_header("<sip:a@b;lr>") == "%3Csip:a%40b%3Blr%3E"


def test_canonical_form_decodes_only_unreserved_escapes() -> None:
    assert canonical("%61lice") == "alice"
    assert canonical("a%3bb") == "a%3Bb"
    assert canonical("%2541") == "%2541"
    assert canonical("%00") == "%00"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_escape_then_unescape_round_trips(text: str) -> None:
    for escape in (escape_user, escape_password, escape_param, escape_header):
        assert unescape(escape(text)) == text


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1))
def test_any_user_text_survives_a_trip_through_a_uri(text: str) -> None:
    uri = SipUri(user=escape_user(text), host="example.com")
    parsed = SipUri.parse(str(uri))
    assert parsed.user is not None and unescape(parsed.user) == text


# -- hypothesis round trips -------------------------------------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_UNRESERVED = _ALNUM + "-_.!~*'()"
_USER_CHARS = _UNRESERVED + "&=+$,;?/"
_PASSWORD_CHARS = _UNRESERVED + "&=+$,"
_PARAM_CHARS = _UNRESERVED + "[]/:&+$"
_HEADER_CHARS = _UNRESERVED + "[]/?:+$"


def _component(
    alphabet: str, escape: Callable[[str], str], min_size: int
) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(alphabet, min_size=min_size, max_size=12),
        st.text(min_size=min_size, max_size=6).map(escape),
    )


_label = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?", fullmatch=True)
_top_label = st.from_regex(r"[a-zA-Z]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
_domains = st.builds(
    lambda labels, top: ".".join([*labels, top]), st.lists(_label, max_size=3), _top_label
)
_hosts = st.one_of(
    _domains,
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
_params = st.lists(
    st.tuples(
        _component(_PARAM_CHARS, escape_param, 1),
        st.none() | _component(_PARAM_CHARS, escape_param, 0),
    ),
    max_size=4,
).map(tuple)
_headers = st.lists(
    st.tuples(
        _component(_HEADER_CHARS, escape_header, 1), _component(_HEADER_CHARS, escape_header, 0)
    ),
    max_size=3,
).map(tuple)


@st.composite
def sip_uris(draw: st.DrawFn) -> SipUri:
    user = draw(st.none() | _component(_USER_CHARS, escape_user, 1))
    password = None
    if user is not None:
        password = draw(st.none() | _component(_PASSWORD_CHARS, escape_password, 0))
    return SipUri(
        scheme=draw(st.sampled_from(["sip", "sips"])),
        user=user,
        password=password,
        host=draw(_hosts),
        port=draw(st.none() | st.integers(0, 65535)),
        params=draw(_params),
        headers=draw(_headers),
    )


@settings(max_examples=200, deadline=None)
@given(sip_uris())
def test_value_to_text_to_value_round_trip(uri: SipUri) -> None:
    text = str(uri)
    parsed = parse_uri(text)
    assert parsed == uri
    assert str(parsed) == text
    assert uri_equal(parsed, uri)
    assert uri.matches(parsed)


@settings(max_examples=200, deadline=None)
@given(sip_uris())
def test_textual_identity_for_any_spelling(uri: SipUri) -> None:
    # Upper-case scheme, zero-padded port: the value is the same and the text survives as sent.
    text = str(uri)
    scheme, _, rest = text.partition(":")
    varied = scheme.upper() + ":" + rest
    parsed = parse_uri(varied)
    assert str(parsed) == varied
    assert parsed == uri
    if uri.port is not None and uri.user is None and not uri.params and not uri.headers:
        padded = f"{text[: text.rindex(':')]}:{uri.port:05d}"
        assert str(parse_uri(padded)) == padded
        assert parse_uri(padded) == uri


def _escape_alnum(text: str) -> str:
    out = []
    index = 0
    while index < len(text):
        if text[index] == "%":  # keep existing escapes whole
            out.append(text[index : index + 3])
            index += 3
            continue
        char = text[index]
        out.append(f"%{ord(char):02x}" if char in _ALNUM else char)
        index += 1
    return "".join(out)


@settings(max_examples=200, deadline=None)
@given(sip_uris())
def test_escaping_unreserved_user_characters_keeps_equivalence(uri: SipUri) -> None:
    if uri.user is None:
        return
    other = uri.with_user(_escape_alnum(uri.user), uri.password)
    other = other.with_host_port(uri.host.upper(), uri.port)
    assert uri_equal(uri, other)
    assert uri_equal(other, uri)
    if any(c in _ALNUM for c in re.sub("%..", "", uri.user)):
        assert other.user != uri.user  # the test did change the spelling
