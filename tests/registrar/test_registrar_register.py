"""REGISTER processing, rule by rule of RFC 3261 §10.3, plus the NAT expiry caps of issue 4 §1."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from registrar_support import AOR, DOMAIN, NATTED, PHONE, register

from softswitch.registrar import (
    BindingTable,
    ChangeKind,
    RegisterOutcome,
    RegistrarConfig,
    canonical_aor,
    is_behind_nat,
    lightweight_refresh,
    process_register,
)
from softswitch.sip.events import Peer
from softswitch.sip.grammar import parse_name_addr
from softswitch.sip.message import Request
from softswitch.sip.parser import parse_message
from softswitch.sip.uri import SipUri, UriError

CONFIG = RegistrarConfig(max_expires=3600, nat_max_expires=300, min_expires=60)
WIDE = RegistrarConfig(max_expires=3600, nat_max_expires=3600, min_expires=60)
"""No NAT cap: for tests about other rules whose contacts do not all match the source."""
CONTACT = "<sip:1001@192.0.2.10:5060>"


def run(
    request: Request,
    table: BindingTable,
    *,
    now: float = 0.0,
    source: Peer = PHONE,
    config: RegistrarConfig = CONFIG,
    user: str | None = "1001",
    wall_time: float | None = None,
) -> RegisterOutcome:
    return process_register(
        request, source, now, config, table, user, to_tag="tag-reg", wall_time=wall_time
    )


def contacts_of(outcome: RegisterOutcome) -> dict[str, int]:
    """Contact URI -> expires parameter of the response's Contact lines."""
    out: dict[str, int] = {}
    for value in outcome.response.get_all("contact"):
        addr = parse_name_addr(value)
        expires = addr.param("expires")
        assert expires is not None, "every Contact of a 200 carries expires (§10.3 step 8)"
        out[addr.uri] = int(expires)
    return out


# ---------------------------------------------------------------- success
def test_first_registration_binds_and_answers_200() -> None:
    table = BindingTable()
    outcome = run(register(CONTACT, expires=1800), table, now=10.0, wall_time=0.0)
    assert outcome.status == 200 and outcome.aor == AOR
    response = outcome.response
    assert response.to.tag == "tag-reg"
    assert response.call_id == "reg-1@192.0.2.10" and response.cseq.seq == 1
    assert contacts_of(outcome) == {"sip:1001@192.0.2.10:5060": 1800}
    assert response.get("expires") == "1800"
    assert response.get("date") == "Thu, 01 Jan 1970 00:00:00 GMT"
    ((kind, b),) = [(c.kind, c.binding) for c in outcome.changes]
    assert kind is ChangeKind.ADDED
    assert (b.aor, b.contact, b.expires_at, b.expires) == (
        AOR,
        "sip:1001@192.0.2.10:5060",
        1810.0,
        1800,
    )
    assert (b.call_id, b.cseq, b.source, b.behind_nat) == ("reg-1@192.0.2.10", 1, PHONE, False)
    assert b.user_agent == "TestPhone/1.0" and b.updated_at == 10.0
    assert table.lookup(AOR, 10.0) == [b]


def test_no_date_header_without_wall_time() -> None:
    outcome = run(register(CONTACT, expires=600), BindingTable())
    assert outcome.status == 200 and outcome.response.get("date") is None


def test_expires_precedence_contact_param_then_header_then_default() -> None:
    table = BindingTable()
    outcome = run(register(f"{CONTACT};expires=120", expires=900), table)
    assert contacts_of(outcome) == {"sip:1001@192.0.2.10:5060": 120}
    outcome = run(register(CONTACT, expires=900, cseq=2), table)
    assert contacts_of(outcome) == {"sip:1001@192.0.2.10:5060": 900}
    config = RegistrarConfig(default_expires=1234)
    outcome = run(register(CONTACT, cseq=3), table, config=config)
    assert contacts_of(outcome) == {"sip:1001@192.0.2.10:5060": 1234}


def test_expiry_capped_by_endpoint_expire() -> None:
    outcome = run(register(CONTACT, expires=86400), BindingTable())
    assert contacts_of(outcome) == {"sip:1001@192.0.2.10:5060": 3600}
    assert outcome.changes[0].binding.expires == 3600


def test_behind_nat_capped_by_nat_expire_and_keeps_observed_address() -> None:
    table = BindingTable()
    outcome = run(register("<sip:1001@10.0.0.5:5060>", expires=3600), table, source=NATTED)
    assert outcome.status == 200
    (b,) = table.lookup(AOR, 0.0)
    assert b.behind_nat and b.expires == 300 and b.expires_at == 300.0
    assert b.source == NATTED  # requests to this phone go to the NAT's public address
    assert contacts_of(outcome) == {"sip:1001@10.0.0.5:5060": 300}


def test_nat_below_the_cap_keeps_the_requested_value() -> None:
    outcome = run(register("<sip:1001@10.0.0.5>", expires=120), BindingTable(), source=NATTED)
    assert outcome.changes[0].binding.expires == 120


@pytest.mark.parametrize(
    ("contact", "source", "nat"),
    [
        ("sip:1001@192.0.2.10", PHONE, False),  # default port 5060
        ("sip:1001@192.0.2.10:5060", PHONE, False),
        ("sip:1001@192.0.2.10:5070", PHONE, True),  # port rewritten by a NAT
        ("sip:1001@10.0.0.5:5060", PHONE, True),  # private address in Contact
        ("sips:1001@192.0.2.10", Peer("TLS", "192.0.2.10", 5061), False),
        ("sip:1001@192.0.2.10;transport=tls", Peer("TLS", "192.0.2.10", 5061), False),
        ("sip:1001@[2001:db8::1]:5060", Peer("UDP", "2001:db8::1", 5060), False),
        ("sip:1001@phone.example:5060", PHONE, True),  # a name we cannot resolve here
    ],
)
def test_nat_detection(contact: str, source: Peer, nat: bool) -> None:
    assert is_behind_nat(SipUri.parse(contact), source) is nat


def test_several_contacts_in_one_register() -> None:
    table = BindingTable()
    request = register(
        "<sip:1001@192.0.2.10:5060>;q=0.5, <sip:1001@192.0.2.10:5062>;expires=600",
        "<sip:1001@192.0.2.10:5064>;q=1",
        expires=1800,
    )
    outcome = run(request, table, config=WIDE)
    assert outcome.status == 200 and len(outcome.changes) == 3
    assert contacts_of(outcome) == {
        "sip:1001@192.0.2.10:5060": 1800,
        "sip:1001@192.0.2.10:5062": 600,
        "sip:1001@192.0.2.10:5064": 1800,
    }
    assert outcome.response.get("expires") == "600"
    nat = {b.contact: b.behind_nat for b in table}
    assert nat == {
        "sip:1001@192.0.2.10:5060": False,
        "sip:1001@192.0.2.10:5062": True,
        "sip:1001@192.0.2.10:5064": True,
    }
    order = [b.contact for b in table.lookup(AOR, 0.0)]
    assert order[-1] == "sip:1001@192.0.2.10:5060"  # q=0.5 comes last
    # q is echoed back as the device sent it.
    assert any(";q=0.5" in v for v in outcome.response.get_all("contact"))


def test_response_lists_all_bindings_with_remaining_time() -> None:
    table = BindingTable()
    run(register("<sip:1001@192.0.2.10:5060>", expires=1000, call_id="a"), table, now=0.0)
    outcome = run(
        register("<sip:1001@192.0.2.11:5060>", expires=1000, call_id="b"),
        table,
        now=400.0,
        source=Peer("UDP", "192.0.2.11", 5060),
    )
    assert contacts_of(outcome) == {
        "sip:1001@192.0.2.10:5060": 600,
        "sip:1001@192.0.2.11:5060": 1000,
    }


def test_query_without_contact_changes_nothing() -> None:
    table = BindingTable()
    run(register(CONTACT, expires=1000), table)
    outcome = run(register(cseq=2), table, now=100.0)
    assert outcome.status == 200 and outcome.changes == ()
    assert contacts_of(outcome) == {"sip:1001@192.0.2.10:5060": 900}
    assert outcome.response.get("expires") is None


def test_refresh_same_call_id_higher_cseq_updates() -> None:
    table = BindingTable()
    run(register(CONTACT, expires=600), table, now=0.0)
    outcome = run(register(CONTACT, expires=600, cseq=2), table, now=500.0)
    assert outcome.status == 200
    ((kind, b),) = [(c.kind, c.binding) for c in outcome.changes]
    assert kind is ChangeKind.UPDATED and b.expires_at == 1100.0 and b.cseq == 2
    assert len(table) == 1


@pytest.mark.parametrize("cseq", [1, 0])
def test_out_of_order_cseq_same_call_id_is_500_and_changes_nothing(cseq: int) -> None:
    table = BindingTable()
    run(register(CONTACT, expires=600, cseq=1), table)
    before = table.bindings(AOR)
    outcome = run(register(CONTACT, expires=3000, cseq=cseq), table, now=1.0)
    assert outcome.status == 500 and outcome.changes == ()
    assert table.bindings(AOR) == before


def test_other_call_id_with_lower_cseq_replaces_the_binding() -> None:
    """A rebooted phone starts a new Call-ID and may restart CSeq: §10.3 step 7 updates."""
    table = BindingTable()
    run(register(CONTACT, expires=600, cseq=50, call_id="before-reboot"), table)
    outcome = run(register(CONTACT, expires=600, cseq=1, call_id="after-reboot"), table)
    assert outcome.status == 200 and outcome.changes[0].kind is ChangeKind.UPDATED
    assert table.lookup(AOR, 0.0)[0].call_id == "after-reboot"


def test_update_is_all_or_nothing() -> None:
    table = BindingTable()
    run(register("<sip:1001@192.0.2.10:5062>", expires=600, cseq=5), table)
    request = register(
        "<sip:1001@192.0.2.10:5060>", "<sip:1001@192.0.2.10:5062>", expires=600, cseq=5
    )
    outcome = run(request, table)
    assert outcome.status == 500
    assert [b.contact for b in table.bindings(AOR)] == ["sip:1001@192.0.2.10:5062"]


def test_expires_zero_removes_one_contact() -> None:
    table = BindingTable()
    request = register("<sip:1001@192.0.2.10:5060>", "<sip:1001@192.0.2.10:5062>", expires=600)
    run(request, table, config=WIDE)
    outcome = run(register("<sip:1001@192.0.2.10:5060>;expires=0", cseq=2), table, config=WIDE)
    assert outcome.status == 200
    assert [(c.kind, c.binding.contact) for c in outcome.changes] == [
        (ChangeKind.REMOVED, "sip:1001@192.0.2.10:5060")
    ]
    assert contacts_of(outcome) == {"sip:1001@192.0.2.10:5062": 600}


def test_expires_zero_for_unknown_contact_is_a_no_op() -> None:
    table = BindingTable()
    outcome = run(register(CONTACT, expires=0), table)
    assert outcome.status == 200 and outcome.changes == () and len(table) == 0
    assert outcome.response.get_all("contact") == []


def test_wildcard_removes_every_binding() -> None:
    table = BindingTable()
    run(register("<sip:1001@192.0.2.10:5060>", expires=600, call_id="x"), table)
    run(register("<sip:1001@192.0.2.11:5060>", expires=600, call_id="y", cseq=9), table)
    outcome = run(register("*", expires=0, call_id="x", cseq=2), table)
    assert outcome.status == 200 and len(table) == 0
    assert {c.kind for c in outcome.changes} == {ChangeKind.REMOVED} and len(outcome.changes) == 2
    assert outcome.response.get_all("contact") == []


def test_wildcard_out_of_order_is_500_and_removes_nothing() -> None:
    table = BindingTable()
    run(register("<sip:1001@192.0.2.10:5060>", expires=600, call_id="x"), table)
    run(register("<sip:1001@192.0.2.11:5060>", expires=600, call_id="y", cseq=9), table)
    outcome = run(register("*", expires=0, call_id="y", cseq=9), table)
    assert outcome.status == 500 and len(table) == 2


@pytest.mark.parametrize(
    "request_",
    [
        register("*", expires=3600),
        register("*"),  # Expires absent: not 0
        register("*", CONTACT, expires=0),  # two Contact lines
        register(f"*, {CONTACT}", expires=0),  # one line
    ],
)
def test_wildcard_misuse_is_400(request_: Request) -> None:
    table = BindingTable()
    run(register(CONTACT, expires=600, call_id="other"), table)
    outcome = run(request_, table)
    assert outcome.status == 400 and len(table) == 1


@pytest.mark.parametrize(
    "contact",
    [
        "<sip:1001@192.0.2.10>;expires=soon",
        "<sip:1001@192.0.2.10>;q=2",
        "<sip:1001@192.0.2.10>;q=high",
        "<tel:+15551234>",
        "<mailto:a@b.example>",
        "<sip:@192.0.2.10:99999>",
        "<sip:1001@192.0.2.10>, <sip:1001@192.0.2.10>",  # same contact twice
    ],
)
def test_bad_contact_is_400(contact: str) -> None:
    table = BindingTable()
    outcome = run(register(contact, expires=600), table)
    assert outcome.status == 400 and outcome.changes == () and len(table) == 0


def test_malformed_expires_header_is_400() -> None:
    outcome = run(register(CONTACT, extra=("Expires: never",)), BindingTable())
    assert outcome.status == 400


def test_too_brief_is_423_with_min_expires() -> None:
    table = BindingTable()
    outcome = run(register(CONTACT, expires=30), table)
    assert outcome.status == 423 and outcome.response.reason == "Interval Too Brief"
    assert outcome.response.get("min-expires") == "60"
    assert len(table) == 0


def test_one_too_brief_contact_refuses_the_whole_request() -> None:
    table = BindingTable()
    outcome = run(register("<sip:1001@192.0.2.10>", "<sip:1001@192.0.2.11>;expires=5"), table)
    assert outcome.status == 423 and len(table) == 0


def test_exactly_the_minimum_is_accepted() -> None:
    outcome = run(register(CONTACT, expires=60), BindingTable())
    assert outcome.status == 200 and contacts_of(outcome) == {"sip:1001@192.0.2.10:5060": 60}


def test_to_must_be_the_authenticated_users_aor() -> None:
    table = BindingTable()
    outcome = run(register(CONTACT, expires=600, user="1002"), table, user="1001")
    assert outcome.status == 403 and len(table) == 0


@pytest.mark.parametrize(
    ("authenticated", "status"),
    [
        ("1001", 200),
        (f"sip:1001@{DOMAIN}", 200),
        (f"sip:1001@{DOMAIN.upper()}:5060;transport=udp", 200),
        (f"sip:1001@other.{DOMAIN}", 403),
        ("100", 403),
        ("sip:not a uri", 403),
    ],
)
def test_authorization_by_username_or_aor(authenticated: str, status: int) -> None:
    outcome = run(register(CONTACT, expires=600), BindingTable(), user=authenticated)
    assert outcome.status == status


def test_domains_not_served_are_404() -> None:
    config = RegistrarConfig(domains=frozenset({DOMAIN.upper()}))
    assert run(register(CONTACT, expires=600), BindingTable(), config=config).status == 200
    request = register(CONTACT, expires=600, to="<sip:1001@elsewhere.example>")
    assert run(request, BindingTable(), config=config, user=None).status == 404
    request = register(CONTACT, expires=600, ruri="sip:elsewhere.example")
    assert run(request, BindingTable(), config=config).status == 404


def test_tel_to_is_404() -> None:
    outcome = run(register(CONTACT, expires=600, to="<tel:+15551234>"), BindingTable())
    assert outcome.status == 404


def test_unsupported_require_is_420() -> None:
    outcome = run(register(CONTACT, expires=600, extra=("Require: path",)), BindingTable())
    assert outcome.status == 420 and outcome.response.get("unsupported") == "path"
    config = RegistrarConfig(supported=frozenset({"path"}))
    request = register(CONTACT, expires=600, extra=("Require: path",))
    assert run(request, BindingTable(), config=config).status == 200


def test_too_many_contacts_per_aor_is_403() -> None:
    config = RegistrarConfig(max_bindings_per_aor=2)
    table = BindingTable()
    run(
        register("<sip:1001@192.0.2.10>", "<sip:1001@192.0.2.11>", expires=600),
        table,
        config=config,
    )
    outcome = run(register("<sip:1001@192.0.2.12>", expires=600, cseq=2), table, config=config)
    assert outcome.status == 403 and len(table) == 2
    # Replacing one of them in the same request is within the limit.
    request = register("<sip:1001@192.0.2.10>;expires=0", "<sip:1001@192.0.2.12>", cseq=3)
    assert run(request, table, config=config).status == 200


def test_unauthenticated_refresh_only_for_known_binding_from_same_source() -> None:
    table = BindingTable()
    run(register(CONTACT, expires=600), table)
    assert run(register(CONTACT, expires=600, cseq=2), table, user=None).status == 200
    other = Peer("UDP", "192.0.2.99", 5060)
    assert run(register(CONTACT, expires=600, cseq=3), table, user=None, source=other).status == 403
    assert run(register(CONTACT, expires=600, cseq=3, call_id="z"), table, user=None).status == 403
    new = register("<sip:1001@192.0.2.10:5090>", expires=600, cseq=3)
    assert run(new, table, user=None).status == 403
    assert run(register("*", expires=0, cseq=3), table, user=None).status == 403
    assert run(register(cseq=3), table, user=None).status == 403
    # Removing a binding always needs credentials: a spoofed datagram must not cut a device off.
    assert run(register(f"{CONTACT};expires=0", cseq=4), table, user=None).status == 403
    assert run(register(CONTACT, expires=0, cseq=4), table, user=None).status == 403
    assert len(table) == 1
    run(register(CONTACT, expires=600, cseq=5), table)
    # Not once the binding has expired.
    assert run(register(CONTACT, expires=600, cseq=6), table, user=None, now=700.0).status == 403


def test_lightweight_refresh_is_recognised_only_for_a_refresh_of_its_own_binding() -> None:
    """SS_SIP_REGISTRATION_LIGTHWEIGHT: what may skip the challenge (issue 7 §2)."""
    table = BindingTable()
    nat_contact = "<sip:1001@10.0.0.5:5060>"
    run(register(nat_contact, expires=300), table, source=NATTED, now=0.0)
    refresh = register(nat_contact, expires=300, cseq=2)
    assert lightweight_refresh(refresh, NATTED, 10.0, table)
    outcome = run(refresh, table, source=NATTED, now=10.0, user=None)
    assert outcome.status == 200 and contacts_of(outcome) == {"sip:1001@10.0.0.5:5060": 300}
    (b,) = table.lookup(AOR, 10.0)
    assert (b.cseq, b.expires_at, b.behind_nat, b.source) == (2, 310.0, True, NATTED)
    # The same CSeq again (a replay), or a lower one: challenged.
    assert not lightweight_refresh(register(nat_contact, cseq=2), NATTED, 20.0, table)
    assert not lightweight_refresh(register(nat_contact, cseq=1), NATTED, 20.0, table)
    # Another port of the same NAT, another address, another transport, another Call-ID.
    moved = Peer("UDP", NATTED.host, NATTED.port + 1)
    assert not lightweight_refresh(register(nat_contact, cseq=3), moved, 20.0, table)
    tcp = Peer("TCP", NATTED.host, NATTED.port)
    assert not lightweight_refresh(register(nat_contact, cseq=3), tcp, 20.0, table)
    other_call = register(nat_contact, cseq=3, call_id="other")
    assert not lightweight_refresh(other_call, NATTED, 20.0, table)
    # Another contact, an added one, a removal, a query, a wildcard.
    assert not lightweight_refresh(register("<sip:1001@10.0.0.6>", cseq=3), NATTED, 20.0, table)
    both = register(nat_contact, "<sip:1001@10.0.0.6>", cseq=3)
    assert not lightweight_refresh(both, NATTED, 20.0, table)
    assert not lightweight_refresh(register(nat_contact, cseq=3, expires=0), NATTED, 20.0, table)
    assert not lightweight_refresh(register(cseq=3), NATTED, 20.0, table)
    assert not lightweight_refresh(register("*", cseq=3, expires=0), NATTED, 20.0, table)
    # Another AOR, and once the binding has expired.
    assert not lightweight_refresh(register(nat_contact, cseq=3, user="1002"), NATTED, 20.0, table)
    assert not lightweight_refresh(register(nat_contact, cseq=3), NATTED, 310.0, table)
    assert lightweight_refresh(register(nat_contact, cseq=3), NATTED, 309.0, table)


def test_binding_expires_over_time() -> None:
    table = BindingTable()
    run(register(CONTACT, expires=600), table, now=100.0)
    assert table.next_expiry() == 700.0
    assert table.expire(699.0) == [] and len(table.lookup(AOR, 699.0)) == 1
    assert table.lookup(AOR, 700.0) == []
    (gone,) = table.expire(700.0)
    assert gone.contact == "sip:1001@192.0.2.10:5060" and len(table) == 0
    # A new REGISTER after expiry reuses the old Call-ID and CSeq without being out of order.
    table2 = BindingTable()
    run(register(CONTACT, expires=600), table2)
    assert run(register(CONTACT, expires=600), table2, now=601.0).status == 200


def test_non_register_is_a_programming_error() -> None:
    data = (
        b"OPTIONS sip:switch.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    options = parse_message(data)
    assert isinstance(options, Request)
    with pytest.raises(ValueError):
        run(options, BindingTable())


def test_canonical_aor() -> None:
    assert canonical_aor("sip:%31001@Switch.Example:5060;transport=udp?x=y") == AOR
    assert canonical_aor("sips:1001@switch.example") == "sips:1001@switch.example"
    assert canonical_aor("sip:switch.example") == "sip:switch.example"
    with pytest.raises(UriError):
        canonical_aor("tel:+15551234")


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        RegistrarConfig(max_expires=0)
    with pytest.raises(ValueError):
        RegistrarConfig(max_bindings_per_aor=0)
    assert RegistrarConfig(domains=frozenset({"A.Example"})).domains == {"a.example"}


@settings(max_examples=200, deadline=None)
@given(
    requested=st.integers(0, 2**32 - 1),
    in_header=st.booleans(),
    max_expires=st.integers(60, 86400),
    nat_max_expires=st.integers(30, 86400),
    min_expires=st.integers(0, 120),
    natted=st.booleans(),
)
def test_granted_expiry_never_exceeds_the_caps(
    requested: int,
    in_header: bool,
    max_expires: int,
    nat_max_expires: int,
    min_expires: int,
    natted: bool,
) -> None:
    config = RegistrarConfig(
        max_expires=max_expires, nat_max_expires=nat_max_expires, min_expires=min_expires
    )
    contact = "<sip:1001@10.0.0.5:5060>" if natted else CONTACT
    source = NATTED if natted else PHONE
    request = (
        register(contact, expires=requested)
        if in_header
        else register(f"{contact};expires={requested}")
    )
    table = BindingTable()
    outcome = run(request, table, source=source, config=config)
    if 0 < requested < min_expires:
        assert outcome.status == 423 and len(table) == 0
        return
    assert outcome.status == 200
    cap = nat_max_expires if natted else max_expires
    for b in table:
        assert b.behind_nat is natted
        assert 0 < b.expires <= cap and b.expires <= requested
        assert b.expires_at - 0.0 <= cap
    for expires in contacts_of(outcome).values():
        assert expires <= cap
    assert len(table) == (0 if requested == 0 else 1)
