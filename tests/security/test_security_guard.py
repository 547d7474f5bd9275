"""The security gate (issue 6): every defence behind one object, driven with a fake clock."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.security.auth_failures import Suspension
from softswitch.security.blacklist import BlacklistSettings, Listed, ListedKind
from softswitch.security.guard import (
    Ban,
    BanReason,
    Block,
    Entry,
    EntryType,
    Guard,
    GuardSettings,
    SecurityEvent,
)
from softswitch.security.lists import EntryKind, ListEntry, ListType, StaticLists
from softswitch.security.rate_limit import FloodSettings
from softswitch.security.scanners import DEFAULT_SCANNERS
from softswitch.security.traffic import HISTORY, TrafficJump, WatchSettings

SETTINGS = GuardSettings(
    max_auth_retry=3,
    auth_suspend_s=60.0,
    flood=FloodSettings(rate=10.0, burst=5.0, ban_s=30.0),
    trust_gateways=True,
    scanners=DEFAULT_SCANNERS,
    scanner_ban_s=100.0,
    blacklist=BlacklistSettings(
        caller_limit=3,
        caller_window_s=10.0,
        caller_expire_s=100.0,
        no_answer_limit=2,
        no_answer_expire_s=50.0,
    ),
    watch=WatchSettings(digits=4, window_s=10.0, factor=5.0, min_calls=3),
)

HOST = "198.51.100.7"
PACKET = b"OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nUser-Agent: Linphone/5.2\r\n\r\n"
SCAN = b"OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nUser-Agent: friendly-scanner\r\n\r\n"


def ip_entry(list_type: ListType, value: str) -> ListEntry:
    return ListEntry(list_type, EntryKind.IP, value)


def number_entry(
    list_type: ListType, kind: EntryKind, value: str, account: int | None = None
) -> ListEntry:
    return ListEntry(list_type, kind, value, account)


def make(
    settings_: GuardSettings = SETTINGS,
    entries: tuple[ListEntry, ...] = (),
    gateway: Callable[[str], bool] | None = None,
) -> tuple[Guard, list[SecurityEvent]]:
    events: list[SecurityEvent] = []
    guard = Guard(settings_, events.append)
    if entries or gateway is not None:
        guard.set_sources(StaticLists(entries), gateway or (lambda _host: False))
    return guard, events


def admits(guard: Guard, host: str, now: float, count: int, data: bytes = PACKET) -> list[bool]:
    return [guard.admit_packet(host, data, now) for _ in range(count)]


def flood_ban(guard: Guard, host: str = HOST, now: float = 0.0) -> None:
    assert admits(guard, host, now, 6) == [True] * 5 + [False]


def suspend(guard: Guard, host: str = HOST, now: float = 0.0) -> None:
    for user in ("alice", "bob", "carol"):
        guard.auth_failed(host, user, now)


# -- flood -------------------------------------------------------------------------------------


def test_a_source_over_its_limit_is_banned_once() -> None:
    guard, events = make()
    flood_ban(guard)
    assert events == [Ban(HOST, BanReason.FLOOD, 30.0)]
    assert not any(admits(guard, HOST, 10.0, 20))  # no refill while banned
    assert not guard.admit_connection(HOST, 10.0)
    assert events == [Ban(HOST, BanReason.FLOOD, 30.0)]  # told once, not per packet
    assert guard.entries(10.0) == [Entry(EntryType.BAN, HOST, "flood", 30.0, "", 21)]
    assert guard.dropped == 21


def test_a_ban_until_t_admits_at_t_not_before_and_with_a_full_bucket() -> None:
    guard, events = make()
    flood_ban(guard)
    assert not guard.admit_packet(HOST, PACKET, 29.999)
    assert not guard.admit_connection(HOST, 29.999)
    assert guard.admit_connection(HOST, 30.0)
    assert admits(guard, HOST, 30.0, 6) == [True] * 5 + [False]  # and then a new ban
    assert events == [Ban(HOST, BanReason.FLOOD, 30.0), Ban(HOST, BanReason.FLOOD, 60.0)]


def test_other_sources_are_not_affected_by_a_ban() -> None:
    guard, _ = make()
    flood_ban(guard)
    assert all(admits(guard, "198.51.100.8", 0.0, 5))


@pytest.mark.parametrize(
    ("trust_gateways", "is_gateway", "banned"),
    [(True, True, False), (False, True, True), (True, False, True)],
)
def test_gateways_are_exempt_from_the_flood_limit_when_trusted(
    trust_gateways: bool, is_gateway: bool, banned: bool
) -> None:
    guard, events = make(
        replace(SETTINGS, trust_gateways=trust_gateways), gateway=lambda _h: is_gateway
    )
    results = admits(guard, HOST, 0.0, 1000)
    assert all(results) is not banned
    assert events == ([Ban(HOST, BanReason.FLOOD, 30.0)] if banned else [])


def test_flood_ban_time_zero_drops_only_the_excess() -> None:
    guard, events = make(replace(SETTINGS, flood=FloodSettings(10.0, 5.0, 0.0)))
    assert admits(guard, HOST, 0.0, 8) == [True] * 5 + [False] * 3
    assert admits(guard, HOST, 0.1, 2) == [True, False]
    assert events == []
    assert guard.entries(0.1) == []


def test_flood_rate_zero_admits_everything() -> None:
    guard, events = make(replace(SETTINGS, flood=FloodSettings(0.0, 5.0, 30.0)))
    assert all(admits(guard, HOST, 0.0, 1000))
    assert events == []


# -- whitelist, static blacklist ---------------------------------------------------------------


def test_a_whitelisted_address_is_exempt_from_every_defence() -> None:
    guard, events = make(
        entries=(ip_entry(ListType.WHITE, "198.51.100.0/24"), ip_entry(ListType.BLACK, HOST))
    )
    assert all(admits(guard, HOST, 0.0, 1000))
    assert all(admits(guard, HOST, 0.0, 5, SCAN))
    for i in range(20):
        guard.auth_failed(HOST, f"user{i}", 1.0)
    assert all(admits(guard, HOST, 2.0, 5))
    assert guard.admit_connection(HOST, 2.0)
    assert not guard.auth_suspended(HOST, "user0", 2.0)
    assert guard.trusted(HOST)
    assert events == []
    assert guard.entries(2.0) == []
    assert guard.dropped == 0


def test_a_statically_blacklisted_address_is_dropped_silently() -> None:
    guard, events = make(entries=(ip_entry(ListType.BLACK, "198.51.100.0/24"),))
    assert not any(admits(guard, HOST, 0.0, 10))
    assert not guard.admit_connection(HOST, 0.0)
    assert guard.admit_packet("192.0.2.1", PACKET, 0.0)
    assert events == []
    assert guard.entries(0.0) == []
    assert guard.dropped == 10


def test_new_sources_replace_what_was_learnt_about_an_address() -> None:
    guard, _ = make()
    assert admits(guard, HOST, 0.0, 5) == [True] * 5
    guard.set_sources(StaticLists([ip_entry(ListType.WHITE, HOST)]), lambda _h: False)
    assert all(admits(guard, HOST, 0.0, 100))  # now whitelisted: no limit
    guard.set_sources(StaticLists([ip_entry(ListType.BLACK, HOST)]), lambda _h: False)
    assert not guard.admit_packet(HOST, PACKET, 0.0)
    guard.set_sources(StaticLists(), lambda host: host == HOST)
    assert all(admits(guard, HOST, 0.0, 100))  # now a gateway


# -- authentication ----------------------------------------------------------------------------


def test_an_address_suspension_drops_its_packets_until_it_ends() -> None:
    guard, events = make()
    suspend(guard, now=5.0)
    assert events == [Suspension(HOST, None, 65.0, 3)]
    assert guard.entries(10.0) == [
        Entry(EntryType.SUSPENSION, HOST, "auth", 65.0, "3 failed authentications")
    ]
    assert guard.auth_suspended(HOST, "dave", 5.0)
    assert not guard.admit_packet(HOST, PACKET, 64.999)
    assert not guard.admit_connection(HOST, 64.999)
    assert guard.admit_packet(HOST, PACKET, 65.0)
    assert guard.admit_connection(HOST, 65.0)
    assert not guard.auth_suspended(HOST, "dave", 65.0)


def test_a_username_suspension_behind_a_proven_address_leaves_the_address_open() -> None:
    guard, events = make()
    guard.auth_succeeded(HOST, "alice", 0.0)
    for now in (1.0, 2.0, 3.0):
        guard.auth_failed(HOST, "bob", now)
    assert events == [Suspension(HOST, "bob", 63.0, 3)]
    assert guard.auth_suspended(HOST, "bob", 4.0)
    assert not guard.auth_suspended(HOST, "alice", 4.0)
    assert guard.admit_packet(HOST, PACKET, 4.0)
    assert guard.admit_connection(HOST, 4.0)
    assert guard.entries(4.0) == [
        Entry(EntryType.SUSPENSION, f"{HOST}/bob", "auth", 63.0, "3 failed authentications")
    ]


# -- scanners ----------------------------------------------------------------------------------


def test_a_scanner_is_banned_for_the_scanner_ban_time() -> None:
    guard, events = make()
    assert not guard.admit_packet(HOST, SCAN, 1.0)
    assert events == [Ban(HOST, BanReason.SCANNER, 101.0)]
    assert guard.entries(2.0) == [Entry(EntryType.BAN, HOST, "scanner", 101.0, "", 1)]
    assert not guard.admit_packet(HOST, PACKET, 100.999)  # every packet, not only scans
    assert guard.admit_packet(HOST, PACKET, 101.0)


def test_scanner_ban_time_zero_drops_only_the_scans() -> None:
    guard, events = make(replace(SETTINGS, scanner_ban_s=0.0))
    assert not guard.admit_packet(HOST, SCAN, 0.0)
    assert guard.admit_packet(HOST, PACKET, 0.0)
    assert events == []
    assert guard.dropped == 1


def test_no_scanner_names_no_fingerprinting() -> None:
    guard, events = make(replace(SETTINGS, scanners=()))
    assert guard.admit_packet(HOST, SCAN, 0.0)
    assert events == []


# -- the order of the checks -------------------------------------------------------------------


def _banned_then_whitelisted(guard: Guard) -> None:
    flood_ban(guard)
    guard.set_sources(StaticLists([ip_entry(ListType.WHITE, HOST)]), lambda _h: False)


def _whitelisted_and_blacklisted(guard: Guard) -> None:
    guard.set_sources(
        StaticLists([ip_entry(ListType.WHITE, HOST), ip_entry(ListType.BLACK, HOST)]),
        lambda _h: False,
    )


def _blacklisted_and_suspended(guard: Guard) -> None:
    suspend(guard)
    guard.set_sources(StaticLists([ip_entry(ListType.BLACK, HOST)]), lambda _h: False)


def _suspended(guard: Guard) -> None:
    suspend(guard)


def _bucket_empty(guard: Guard) -> None:
    admits(guard, HOST, 0.0, 5)


def _blacklisted(guard: Guard) -> None:
    guard.set_sources(StaticLists([ip_entry(ListType.BLACK, HOST)]), lambda _h: False)


@pytest.mark.parametrize(
    ("setup", "data", "admitted", "new_events"),
    [
        # ban before whitelist: a ban running when the address is whitelisted runs out
        (_banned_then_whitelisted, PACKET, False, []),
        # whitelist before the static blacklist
        (_whitelisted_and_blacklisted, SCAN, True, []),
        # static blacklist before the suspension and the scanner check: dropped silently
        (_blacklisted, SCAN, False, []),
        (_blacklisted_and_suspended, SCAN, False, []),
        # suspension before the scanner check: no scanner ban on top
        (_suspended, SCAN, False, []),
        # scanner before flood: an empty bucket and a scan make a scanner ban
        (_bucket_empty, SCAN, False, [Ban(HOST, BanReason.SCANNER, 100.0)]),
        # flood last
        (_bucket_empty, PACKET, False, [Ban(HOST, BanReason.FLOOD, 30.0)]),
    ],
)
def test_admit_packet_checks_in_order(
    setup: Callable[[Guard], None],
    data: bytes,
    admitted: bool,
    new_events: list[SecurityEvent],
) -> None:
    guard, events = make()
    setup(guard)
    before = len(events)
    assert guard.admit_packet(HOST, data, 0.0) is admitted
    assert events[before:] == new_events


def test_a_suspended_source_does_not_use_up_its_flood_bucket() -> None:
    guard, events = make()
    suspend(guard)
    admits(guard, HOST, 0.0, 100)
    assert guard.lift(EntryType.SUSPENSION, HOST, 0.0)
    assert admits(guard, HOST, 0.0, 6) == [True] * 5 + [False]
    assert events[-1] == Ban(HOST, BanReason.FLOOD, 30.0)


# -- numbers and calls -------------------------------------------------------------------------

_NUMBERS = (
    number_entry(ListType.BLACK, EntryKind.CALLEE, "+44"),
    number_entry(ListType.WHITE, EntryKind.CALLEE, "+44207"),
    number_entry(ListType.BLACK, EntryKind.CALLER, "666", account=7),
    number_entry(ListType.WHITE, EntryKind.CALLER, "+1212"),
    number_entry(ListType.WHITE, EntryKind.CALLEE, "+1800"),
)


@pytest.mark.parametrize(
    ("account", "caller", "callee", "kind", "number", "static"),
    [
        (None, "+15550001", "+33123", None, None, None),
        (None, "+15550001", "+441612345", EntryKind.CALLEE, "+441612345", "+44"),
        (None, "+15550001", "+442071234", None, None, None),  # the longer whitelist prefix
        (7, "6661234", "+33123", EntryKind.CALLER, "6661234", "666"),
        (8, "6661234", "+33123", None, None, None),  # account 7's entry only
        (7, "6661234", "+441612345", EntryKind.CALLER, "6661234", "666"),  # caller first
    ],
)
def test_check_numbers_static_table(
    account: int | None,
    caller: str,
    callee: str,
    kind: EntryKind | None,
    number: str | None,
    static: str | None,
) -> None:
    guard, _ = make(entries=_NUMBERS)
    block = guard.check_numbers(account, caller, callee, 0.0)
    if kind is None:
        assert block is None
        return
    assert block is not None
    assert (block.kind, block.number, block.dynamic) == (kind, number, None)
    assert block.static is not None and block.static.value == static


def test_block_describes_where_the_number_is_listed() -> None:
    guard, _ = make(entries=_NUMBERS)
    block = guard.check_numbers(7, "6661234", "+33", 0.0)
    assert block is not None
    assert block.describe == "caller 6661234 on the account blacklist (666)"
    block = guard.check_numbers(None, "1", "+4416", 0.0)
    assert block is not None
    assert block.describe == "callee +4416 on the global blacklist (+44)"


def test_a_malicious_caller_is_listed_once_and_blocked_until_the_listing_ends() -> None:
    guard, events = make()
    for now in (0.0, 1.0, 2.0):
        assert guard.check_numbers(None, "+15550001", "+33123", now) is None
        guard.call_admitted(None, "+15550001", "+33123", now)
    listed = Listed(ListedKind.CALLER, "+15550001", 102.0, 3)
    assert events == [listed]
    assert guard.entries(3.0) == [
        Entry(EntryType.BLACKLIST, "+15550001", "malicious_caller", 102.0, "caller, 3 calls")
    ]
    block = guard.check_numbers(None, "+15550001", "+33", 50.0)
    assert block is not None and block.describe == "caller +15550001 on the dynamic blacklist"
    assert guard.check_numbers(None, "+15550001", "+33", 101.999) == Block(
        EntryKind.CALLER, "+15550001", dynamic=listed
    )
    assert guard.check_numbers(None, "+15550001", "+33", 102.0) is None


def test_an_unanswered_callee_is_listed_and_an_answer_resets_the_run() -> None:
    guard, events = make()
    guard.call_ended(None, "+88161", False, 0.0)
    guard.call_ended(None, "+88161", True, 1.0)
    guard.call_ended(None, "+88161", False, 2.0)
    assert events == []
    guard.call_ended(None, "+88161", False, 3.0)
    listed = Listed(ListedKind.CALLEE, "+88161", 53.0, 2)
    assert events == [listed]
    assert guard.check_numbers(None, "+1555", "+88161", 4.0) == Block(
        EntryKind.CALLEE, "+88161", dynamic=listed
    )
    assert guard.entries(4.0) == [
        Entry(EntryType.BLACKLIST, "+88161", "no_answer", 53.0, "callee, 2 calls")
    ]


def test_whitelisted_numbers_are_never_listed() -> None:
    guard, events = make(entries=_NUMBERS)
    for i in range(10):
        guard.call_admitted(None, "+12125550001", f"+3{i}", float(i))  # whitelisted caller
        guard.call_ended(None, "+18005550001", False, float(i))  # whitelisted callee
    assert events == []
    assert guard.check_numbers(None, "+12125550001", "+18005550001", 10.0) is None
    assert guard.entries(10.0) == []


def test_a_traffic_jump_is_told_once_and_kept_as_an_alarm() -> None:
    guard, events = make()
    guard.call_admitted(None, "+1555", "+1111", 0.0)  # starts the watch
    now = HISTORY * 10.0
    for i in range(12):
        guard.call_admitted(None, f"+1555{i}", "+8821234", now)  # another caller each time
    jump = TrafficJump("+882", 5, 0.0, 10.0)
    assert events == [jump]
    assert list(guard.alarms) == [(now, jump)]


# -- operators ---------------------------------------------------------------------------------


def _everything(guard: Guard) -> None:
    flood_ban(guard, "192.0.2.1")
    guard.admit_packet("192.0.2.2", SCAN, 0.0)
    suspend(guard, "192.0.2.3")
    guard.auth_succeeded("2001:db8::4", "alice", 0.0)
    for _ in range(3):
        guard.auth_failed("2001:db8::4", "bob", 0.0)
    for now in (0.0, 1.0, 2.0):
        guard.call_admitted(None, "+15550001", "+33", now)
    for now in (0.0, 1.0):
        guard.call_ended(None, "+88161", False, now)


def test_entries_lists_every_live_ban_suspension_and_listing() -> None:
    guard, events = make()
    _everything(guard)
    assert len(events) == 6
    assert {(e.type, e.key, e.reason, e.until) for e in guard.entries(2.0)} == {
        (EntryType.BAN, "192.0.2.1", "flood", 30.0),
        (EntryType.BAN, "192.0.2.2", "scanner", 100.0),
        (EntryType.SUSPENSION, "192.0.2.3", "auth", 60.0),
        (EntryType.SUSPENSION, "2001:db8::4/bob", "auth", 60.0),
        (EntryType.BLACKLIST, "+15550001", "malicious_caller", 102.0),
        (EntryType.BLACKLIST, "+88161", "no_answer", 51.0),
    }
    assert {e.key for e in guard.entries(60.0)} == {"192.0.2.2", "+15550001"}
    assert guard.entries(102.0) == []


@pytest.mark.parametrize(
    ("type_", "key", "check"),
    [
        (EntryType.BAN, "192.0.2.1", lambda g: g.admit_packet("192.0.2.1", PACKET, 3.0)),
        (EntryType.BAN, "192.0.2.2", lambda g: g.admit_connection("192.0.2.2", 3.0)),
        (EntryType.SUSPENSION, "192.0.2.3", lambda g: g.admit_packet("192.0.2.3", PACKET, 3.0)),
        (
            EntryType.SUSPENSION,
            "2001:db8::4/bob",
            lambda g: not g.auth_suspended("2001:db8::4", "bob", 3.0),
        ),
        (
            EntryType.BLACKLIST,
            "+15550001",
            lambda g: g.check_numbers(None, "+15550001", "+33", 3.0) is None,
        ),
        (
            EntryType.BLACKLIST,
            "+88161",
            lambda g: g.check_numbers(None, "+1", "+88161", 3.0) is None,
        ),
    ],
)
def test_lift_ends_exactly_that_entry(
    type_: EntryType, key: str, check: Callable[[Guard], bool]
) -> None:
    guard, _ = make()
    _everything(guard)
    assert not check(guard)
    assert guard.lift(type_, key, 3.0)
    assert check(guard)
    assert key not in {e.key for e in guard.entries(3.0)}
    assert len(guard.entries(3.0)) == 5
    assert not guard.lift(type_, key, 3.0)  # gone


def test_a_lifted_flood_ban_starts_with_a_full_bucket() -> None:
    guard, _ = make()
    flood_ban(guard)
    assert guard.lift(EntryType.BAN, HOST, 0.0)
    assert admits(guard, HOST, 0.0, 6) == [True] * 5 + [False]


@pytest.mark.parametrize(
    ("type_", "key"),
    [
        (EntryType.BAN, "192.0.2.99"),
        (EntryType.SUSPENSION, "192.0.2.1"),  # banned, not suspended
        (EntryType.SUSPENSION, "192.0.2.3/alice"),  # the address, not a username
        (EntryType.BLACKLIST, "+15550002"),
    ],
)
def test_lift_of_no_such_entry_is_false(type_: EntryType, key: str) -> None:
    guard, _ = make()
    _everything(guard)
    assert not guard.lift(type_, key, 3.0)
    assert len(guard.entries(3.0)) == 6


def test_lift_of_an_expired_ban_is_false() -> None:
    witness, _ = make()
    flood_ban(witness)
    assert witness.entries(31.0) == []  # at 31 the ban (until 30) is no entry any more
    guard, _ = make()
    flood_ban(guard)
    assert not guard.lift(EntryType.BAN, HOST, 31.0)  # an operator lifting it at 31: no such entry


def test_prune_forgets_expired_and_idle_state() -> None:
    guard, _ = make()
    _everything(guard)
    admits(guard, "192.0.2.50", 0.0, 1)  # a bucket
    guard.prune(200.0)
    # Nothing expired is left to lift, and idle sources hold no bucket.
    assert not guard.lift(EntryType.BAN, "192.0.2.1", 200.0)
    assert not guard.lift(EntryType.BAN, "192.0.2.2", 200.0)
    assert not guard.lift(EntryType.SUSPENSION, "192.0.2.3", 200.0)
    assert not guard.lift(EntryType.SUSPENSION, "2001:db8::4/bob", 200.0)
    assert not guard.lift(EntryType.BLACKLIST, "+15550001", 200.0)
    assert len(guard.flood) == 0


def test_prune_keeps_what_is_live() -> None:
    guard, _ = make()
    _everything(guard)
    guard.prune(2.0)
    assert len(guard.entries(2.0)) == 6
    assert not guard.admit_packet("192.0.2.1", PACKET, 2.0)


# -- configuration -----------------------------------------------------------------------------


def test_configure_keeps_bans_suspensions_listings_and_counts() -> None:
    guard, events = make()
    _everything(guard)
    guard.auth_failed("192.0.2.60", "x", 0.0)
    guard.auth_failed("192.0.2.60", "x", 0.0)
    guard.configure(replace(SETTINGS, max_auth_retry=5, flood=FloodSettings(100.0, 500.0, 1.0)))
    assert len(guard.entries(2.0)) == 6
    assert not guard.admit_packet("192.0.2.1", PACKET, 2.0)
    told = len(events)
    guard.auth_failed("192.0.2.60", "x", 0.0)
    guard.auth_failed("192.0.2.60", "x", 0.0)
    assert len(events) == told  # 4 failures: the new limit is 5, not 3
    guard.auth_failed("192.0.2.60", "x", 0.0)
    assert events[told:] == [Suspension("192.0.2.60", None, 60.0, 5)]  # the 2 before counted


def test_configure_applies_new_limits_and_scanner_names() -> None:
    guard, events = make()
    guard.configure(replace(SETTINGS, scanners=("evil-tool",), flood=FloodSettings(10.0, 2.0, 5.0)))
    assert guard.admit_packet(HOST, SCAN, 0.0)  # friendly-scanner no longer listed
    assert admits(guard, HOST, 0.0, 2) == [True, False]  # a bucket of 2 now
    assert events == [Ban(HOST, BanReason.FLOOD, 5.0)]
    evil = b"OPTIONS sip:x SIP/2.0\r\nUser-Agent: Evil-Tool 1\r\n\r\n"
    assert not guard.admit_packet("192.0.2.9", evil, 0.0)
    assert events[-1] == Ban("192.0.2.9", BanReason.SCANNER, 100.0)


# -- properties --------------------------------------------------------------------------------

_hosts = st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1", "::ffff:192.0.2.1"])
_actions = st.lists(
    st.tuples(
        st.sampled_from(["packet", "scan", "auth_failed", "auth_ok", "connect", "prune"]),
        _hosts,
        st.floats(0.0, 5.0),
    ),
    max_size=150,
)


@settings(max_examples=100, deadline=None)
@given(_actions)
def test_every_drop_is_counted_and_every_ban_is_told_once(
    actions: list[tuple[str, str, float]],
) -> None:
    guard, events = make()
    now = 0.0
    refused = 0
    for action, host, gap in actions:
        now += gap
        if action == "packet":
            refused += not guard.admit_packet(host, PACKET, now)
        elif action == "scan":
            refused += not guard.admit_packet(host, SCAN, now)
        elif action == "auth_failed":
            guard.auth_failed(host, "alice", now)
        elif action == "auth_ok":
            guard.auth_succeeded(host, "alice", now)
        elif action == "connect":
            guard.admit_connection(host, now)
        else:
            guard.prune(now)
    assert guard.dropped == refused
    bans_by_host: dict[str, list[Ban]] = {}
    for event in events:
        if isinstance(event, Ban):
            bans_by_host.setdefault(event.host, []).append(event)
    length = {BanReason.FLOOD: 30.0, BanReason.SCANNER: 100.0}
    for bans in bans_by_host.values():
        for earlier, later in itertools.pairwise(bans):
            # A new ban only once the previous one has run out.
            assert later.until - length[later.reason] >= earlier.until


@settings(max_examples=100, deadline=None)
@given(_actions)
def test_a_whitelisted_address_is_always_admitted(actions: list[tuple[str, str, float]]) -> None:
    guard, events = make(entries=(ip_entry(ListType.WHITE, "192.0.2.0/24"),))
    now = 0.0
    for action, host, gap in actions:
        now += gap
        trusted = host != "2001:db8::1"  # ::ffff:192.0.2.1 is 192.0.2.1
        if action in ("packet", "scan"):
            admitted = guard.admit_packet(host, SCAN if action == "scan" else PACKET, now)
            assert admitted or not trusted
        elif action == "auth_failed":
            guard.auth_failed(host, "alice", now)
        elif action == "auth_ok":
            guard.auth_succeeded(host, "alice", now)
        elif action == "connect":
            assert guard.admit_connection(host, now) or not trusted
        else:
            guard.prune(now)
        if trusted:
            assert not guard.auth_suspended(host, "alice", now)
    assert all(getattr(e, "host", "2001:db8::1") == "2001:db8::1" for e in events)
