"""Static black- and whitelists (issue 6 §1): entry values, CIDR lookups, number prefixes."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.security.lists import (
    EntryKind,
    ListEntry,
    ListType,
    StaticLists,
    parse_entry_value,
)

BLACK, WHITE = ListType.BLACK, ListType.WHITE
CALLER, CALLEE, IP = EntryKind.CALLER, EntryKind.CALLEE, EntryKind.IP


def ip(list_type: ListType, value: str) -> ListEntry:
    return ListEntry(list_type, IP, value)


def num(list_type: ListType, kind: EntryKind, value: str, account: int | None = None) -> ListEntry:
    return ListEntry(list_type, kind, value, account)


# -- parse_entry_value --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "canonical"),
    [
        (IP, "10.0.0.1", "10.0.0.1/32"),
        (IP, " 10.0.0.0/8 ", "10.0.0.0/8"),
        (IP, "10.1.2.3/8", "10.0.0.0/8"),  # host bits dropped, not refused
        (IP, "192.0.2.0/24", "192.0.2.0/24"),
        (IP, "2001:DB8::1", "2001:db8::1/128"),
        (IP, "2001:db8:0:0::/32", "2001:db8::/32"),
        (IP, "0.0.0.0/0", "0.0.0.0/0"),
        (CALLER, " +44207 ", "+44207"),
        (CALLEE, "0044", "0044"),
        (CALLEE, "9", "9"),
        (CALLER, "1" * 32, "1" * 32),
        (CALLEE, "+" + "1" * 31, "+" + "1" * 31),
    ],
)
def test_parse_entry_value_returns_the_canonical_form(
    kind: EntryKind, value: str, canonical: str
) -> None:
    assert parse_entry_value(kind, value) == canonical


@pytest.mark.parametrize(
    ("kind", "value", "says"),
    [
        (IP, "10.0.0.256", "not an IP address or network"),
        (IP, "10.0.0.0/33", "not an IP address or network"),
        (IP, "2001:db8::/129", "not an IP address or network"),
        (IP, "", "not an IP address or network"),
        (IP, "sip.example.com", "not an IP address or network"),
        (IP, "+44207", "not an IP address or network"),
        (CALLER, "", "not a number prefix"),
        (CALLER, "   ", "not a number prefix"),
        (CALLER, "+", "not a number prefix"),
        (CALLER, "++44", "not a number prefix"),
        (CALLER, "4+4", "not a number prefix"),
        (CALLER, "-44", "not a number prefix"),
        (CALLER, "44 20", "not a number prefix"),
        (CALLEE, "44a", "not a number prefix"),
        (CALLEE, "10.0.0.1", "not a number prefix"),
        (CALLEE, "١٢٣", "not a number prefix"),  # Arabic-Indic digits: isdigit() but not ASCII
        (CALLEE, "²", "not a number prefix"),
        (CALLEE, "1" * 33, "not a number prefix"),
        (CALLER, "+" + "1" * 32, "not a number prefix"),
    ],
)
def test_parse_entry_value_rejects_bad_values_naming_them(
    kind: EntryKind, value: str, says: str
) -> None:
    with pytest.raises(ValueError) as raised:
        parse_entry_value(kind, value)
    message = str(raised.value)
    assert repr(value) in message
    assert says in message


_networks = st.one_of(
    st.tuples(st.ip_addresses(v=4), st.integers(0, 32)),
    st.tuples(st.ip_addresses(v=6), st.integers(0, 128)),
).map(lambda pair: f"{pair[0]}/{pair[1]}")


@given(_networks)
def test_parse_entry_value_of_a_network_is_canonical_and_the_same_network(value: str) -> None:
    canonical = parse_entry_value(IP, value)
    assert parse_entry_value(IP, canonical) == canonical
    given = ipaddress.ip_network(value, strict=False)
    mapped = getattr(given.network_address, "ipv4_mapped", None)
    if mapped is not None and given.prefixlen >= 96:
        # IPv4-mapped IPv6 networks are kept as the IPv4 network they stand for.
        given = ipaddress.ip_network(f"{mapped}/{given.prefixlen - 96}")
    assert ipaddress.ip_network(canonical) == given


@given(st.text(alphabet="0123456789", min_size=1, max_size=31), st.booleans())
def test_parse_entry_value_keeps_any_digit_prefix(digits: str, plus: bool) -> None:
    value = ("+" if plus else "") + digits
    assert parse_entry_value(CALLEE, f"  {value}\t") == value


# -- addresses -----------------------------------------------------------------------------------

_IP_LISTS = StaticLists(
    [
        ip(BLACK, "10.0.0.0/8"),
        ip(WHITE, "10.1.0.0/16"),
        ip(BLACK, "192.0.2.7/32"),
        ip(BLACK, "2001:db8::/32"),
        ip(WHITE, "2001:db8:1::/48"),
    ]
)


@pytest.mark.parametrize(
    ("host", "blocked_by", "trusted"),
    [
        ("10.2.3.4", "10.0.0.0/8", False),
        ("10.255.255.255", "10.0.0.0/8", False),
        ("10.1.2.3", None, True),  # the whitelist inside the blacklisted network
        ("11.0.0.1", None, False),
        ("192.0.2.7", "192.0.2.7/32", False),
        ("192.0.2.8", None, False),
        ("2001:db8::5", "2001:db8::/32", False),
        ("[2001:db8::5]", "2001:db8::/32", False),  # a host as it appears in a Via
        ("2001:db8:1::5", None, True),
        ("2001:db9::1", None, False),
        ("::ffff:10.2.3.4", "10.0.0.0/8", False),  # IPv4-mapped: matched as IPv4
        ("::ffff:10.1.0.1", None, True),
        ("::ffff:192.0.2.7", "192.0.2.7/32", False),
        ("not-an-address", None, False),
        ("", None, False),
    ],
)
def test_ip_lookup_table(host: str, blocked_by: str | None, trusted: bool) -> None:
    entry = _IP_LISTS.ip_blocked(host)
    assert (entry.value if entry is not None else None) == blocked_by
    assert _IP_LISTS.ip_trusted(host) is trusted


def test_a_whitelisted_address_is_not_blocked_even_by_a_narrower_blacklist_entry() -> None:
    lists = StaticLists([ip(BLACK, "10.1.2.3/32"), ip(WHITE, "10.0.0.0/8")])
    assert lists.ip_blocked("10.1.2.3") is None
    assert lists.ip_trusted("10.1.2.3")


def test_ipv4_networks_do_not_hold_unmapped_ipv6_addresses() -> None:
    lists = StaticLists([ip(BLACK, "0.0.0.0/0")])
    assert lists.ip_blocked("2001:db8::1") is None
    assert lists.ip_blocked("203.0.113.9") is not None


@given(st.ip_addresses(v=4), st.ip_addresses(v=4), st.integers(0, 32))
def test_ipv4_mapped_addresses_match_ipv4_networks(
    address: ipaddress.IPv4Address, base: ipaddress.IPv4Address, prefix: int
) -> None:
    network = ipaddress.ip_network(f"{base}/{prefix}", strict=False)
    lists = StaticLists([ip(BLACK, str(network))])
    expected = address in network
    assert (lists.ip_blocked(str(address)) is not None) is expected
    assert (lists.ip_blocked(f"::ffff:{address}") is not None) is expected


def test_an_entry_in_ipv4_mapped_form_blocks_that_address() -> None:
    value = parse_entry_value(IP, "::ffff:10.0.0.1")
    lists = StaticLists([ip(BLACK, value)])
    assert lists.ip_blocked("::ffff:10.0.0.1") is not None
    assert lists.ip_blocked("10.0.0.1") is not None


def test_static_lists_are_false_only_when_empty() -> None:
    assert not StaticLists()
    assert StaticLists([num(BLACK, CALLEE, "900")])


# -- numbers -----------------------------------------------------------------------------------

_NUMBER_LISTS = StaticLists(
    [
        num(BLACK, CALLEE, "+44"),
        num(WHITE, CALLEE, "+44207"),
        num(BLACK, CALLEE, "+1900"),
        num(WHITE, CALLEE, "+1900555", account=7),
        num(BLACK, CALLEE, "+1", account=8),
        num(WHITE, CALLEE, "+1800"),
        num(WHITE, CALLEE, "+33", account=9),
        num(BLACK, CALLEE, "+33"),
        num(BLACK, CALLER, "666"),
    ]
)


@pytest.mark.parametrize(
    ("kind", "number", "account", "verdict", "by"),
    [
        (CALLEE, "+442071234567", None, "trusted", "+44207"),  # longer white beats black
        (CALLEE, "+441612345678", None, "blocked", "+44"),
        (CALLEE, "+4420", None, "blocked", "+44"),  # shorter than the whitelist prefix
        (CALLEE, "+44207", None, "trusted", "+44207"),  # exactly the prefix
        (CALLEE, "+4", None, "clear", None),
        (CALLEE, "4420712345", None, "clear", None),  # no '+': another prefix
        (CALLEE, "+19005551234", 7, "trusted", "+1900555"),  # account entry
        (CALLEE, "+19005551234", None, "blocked", "+1900"),  # account 7's entry: not global
        (CALLEE, "+19005551234", 6, "blocked", "+1900"),  # nor another account's
        (CALLEE, "+18005551234", 8, "blocked", "+1"),  # account first, though global is longer
        (CALLEE, "+18005551234", 7, "trusted", "+1800"),
        (CALLEE, "+12125551234", 8, "blocked", "+1"),
        (CALLEE, "+12125551234", 7, "clear", None),
        (CALLEE, "+33123456789", 9, "trusted", "+33"),
        (CALLEE, "+33123456789", None, "blocked", "+33"),
        (CALLEE, "+33123456789", 0, "blocked", "+33"),  # account 0 is an account, not global
        (CALLER, "6661234", None, "blocked", "666"),
        (CALLER, "6661234", 7, "blocked", "666"),  # global entries apply to every account
        (CALLER, "+442071234567", None, "clear", None),  # callee entries: not for callers
        (CALLEE, "6661234", None, "clear", None),
        (CALLEE, "", None, "clear", None),
    ],
)
def test_number_lookup_table(
    kind: EntryKind, number: str, account: int | None, verdict: str, by: str | None
) -> None:
    found = _NUMBER_LISTS.number(kind, number, account)
    assert (found.blocked, found.trusted) == {
        "blocked": (True, False),
        "trusted": (False, True),
        "clear": (False, False),
    }[verdict]
    assert (found.entry.value if found.entry is not None else None) == by


@pytest.mark.parametrize("white_first", [False, True])
@pytest.mark.parametrize("account", [None, 3])
def test_whitelist_wins_on_an_equal_prefix_in_any_order(
    white_first: bool, account: int | None
) -> None:
    entries = [num(BLACK, CALLER, "900", account), num(WHITE, CALLER, "900", account)]
    lists = StaticLists(reversed(entries) if white_first else entries)
    found = lists.number(CALLER, "9001234", account)
    assert found.trusted and not found.blocked
    assert found.entry is not None and found.entry.list_type is WHITE


_entries = st.lists(
    st.builds(
        ListEntry,
        st.sampled_from(ListType),
        st.sampled_from([CALLER, CALLEE]),
        st.text(alphabet="12", min_size=1, max_size=3),
        st.sampled_from([None, 1, 2]),
    ),
    max_size=12,
)


def _reference(
    entries: list[ListEntry], kind: EntryKind, number: str, account: int | None
) -> tuple[str, str | None]:
    """The rule, spelled out: the account's entries first, then the global ones; in each,
    the longest matching prefix; on an equal prefix the whitelist."""
    for scope in [account, None] if account is not None else [None]:
        matching = [
            e
            for e in entries
            if number and e.kind is kind and e.account_id == scope and number.startswith(e.value)
        ]
        if matching:
            longest = max(len(e.value) for e in matching)
            best = [e for e in matching if len(e.value) == longest]
            white = any(e.list_type is WHITE for e in best)
            return ("trusted" if white else "blocked", number[:longest])
    return ("clear", None)


@given(
    _entries,
    st.sampled_from([CALLER, CALLEE]),
    st.text(alphabet="12", max_size=5),
    st.sampled_from([None, 1, 2, 3]),
)
def test_number_verdict_follows_the_longest_prefix_rule(
    entries: list[ListEntry], kind: EntryKind, number: str, account: int | None
) -> None:
    found = StaticLists(entries).number(kind, number, account)
    verdict = "trusted" if found.trusted else "blocked" if found.blocked else "clear"
    assert not (found.trusted and found.blocked)
    value = found.entry.value if found.entry is not None else None
    assert (verdict, value) == _reference(entries, kind, number, account)
