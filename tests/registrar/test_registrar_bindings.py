"""The binding table: put/refresh/remove by §19.1.4 contact equality, expiry, lookup order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from registrar_support import AOR, binding

from softswitch.registrar import BindingChange, BindingCounts, BindingTable, ChangeKind
from softswitch.sip.uri import SipUri


def test_put_adds_then_updates_the_same_contact() -> None:
    table = BindingTable()
    first = table.put(binding("sip:1001@192.0.2.10:5060", expires_at=60.0))
    # Same contact by RFC 3261 §19.1.4: host case and escaping do not matter.
    second = table.put(binding("sip:%31001@192.0.2.10:5060", expires_at=90.0))
    assert first.kind is ChangeKind.ADDED and second.kind is ChangeKind.UPDATED
    assert len(table) == 1
    (stored,) = table.bindings(AOR)
    assert stored.expires_at == 90.0


def test_several_contacts_per_aor_and_remove() -> None:
    table = BindingTable()
    table.put(binding("sip:1001@192.0.2.10"))
    table.put(binding("sip:1001@192.0.2.11"))
    assert len(table) == 2
    removed = table.remove(AOR, SipUri.parse("sip:1001@192.0.2.10"))
    assert removed is not None and removed.contact == "sip:1001@192.0.2.10"
    assert [b.contact for b in table.bindings(AOR)] == ["sip:1001@192.0.2.11"]
    assert table.remove(AOR, SipUri.parse("sip:1001@192.0.2.10")) is None
    assert table.remove("sip:nobody@x", SipUri.parse("sip:1001@192.0.2.11")) is None


def test_find_uses_uri_equivalence() -> None:
    table = BindingTable()
    table.put(binding("sip:1001@Phone.Example:5070;transport=udp"))
    assert table.find(AOR, SipUri.parse("sip:1001@phone.example:5070;transport=UDP")) is not None
    # A port given on one side only makes the URIs different (§19.1.4).
    assert table.find(AOR, SipUri.parse("sip:1001@phone.example;transport=udp")) is None


def test_expire_removes_exactly_the_bindings_due() -> None:
    table = BindingTable()
    table.put(binding("sip:a@192.0.2.1", expires_at=10.0))
    table.put(binding("sip:b@192.0.2.1", expires_at=20.0))
    assert table.next_expiry() == 10.0
    assert table.expire(9.999) == []
    gone = table.expire(10.0)  # at expires_at the binding is no longer live
    assert [b.contact for b in gone] == ["sip:a@192.0.2.1"]
    assert table.next_expiry() == 20.0
    assert [b.contact for b in table.expire(100.0)] == ["sip:b@192.0.2.1"]
    assert len(table) == 0 and table.next_expiry() is None
    assert table.bindings(AOR) == ()


def test_refresh_moves_the_deadline() -> None:
    table = BindingTable()
    table.put(binding("sip:a@192.0.2.1", expires_at=10.0))
    table.put(binding("sip:a@192.0.2.1", expires_at=50.0, updated_at=5.0))
    assert table.next_expiry() == 50.0  # the stale heap entry for 10.0 is skipped
    assert table.expire(10.0) == []
    assert len(table) == 1
    assert len(table.expire(50.0)) == 1


def test_removed_binding_does_not_expire_later() -> None:
    table = BindingTable()
    b = binding("sip:a@192.0.2.1", expires_at=10.0)
    table.put(b)
    table.apply([BindingChange(ChangeKind.REMOVED, b)])
    assert table.expire(11.0) == [] and len(table) == 0


def test_lookup_orders_by_q_then_most_recent_and_hides_expired() -> None:
    table = BindingTable()
    table.put(binding("sip:old@192.0.2.1", q=0.5, updated_at=1.0, expires_at=100.0))
    table.put(binding("sip:new@192.0.2.1", q=0.5, updated_at=2.0, expires_at=100.0))
    table.put(binding("sip:best@192.0.2.1", q=1.0, updated_at=0.0, expires_at=100.0))
    table.put(binding("sip:dead@192.0.2.1", q=1.0, updated_at=3.0, expires_at=5.0))
    order = [b.contact for b in table.lookup(AOR, now=6.0)]
    assert order == ["sip:best@192.0.2.1", "sip:new@192.0.2.1", "sip:old@192.0.2.1"]
    assert table.lookup("sip:other@switch.example", 6.0) == []


def test_counts_only_live_bindings() -> None:
    table = BindingTable()
    table.put(binding("sip:a@192.0.2.1", nat=True, expires_at=100.0))
    table.put(binding("sip:b@192.0.2.1", expires_at=100.0))
    table.put(binding("sip:c@192.0.2.1", aor="sip:1002@switch.example", expires_at=5.0))
    assert table.counts(6.0) == BindingCounts(aors=1, bindings=2, behind_nat=1)
    assert table.counts(0.0) == BindingCounts(aors=2, bindings=3, behind_nat=1)


def test_load_restores_bindings_and_remaining_rounds_up() -> None:
    table = BindingTable()
    table.load([binding("sip:a@192.0.2.1", expires_at=10.5), binding("sip:b@192.0.2.1")])
    assert len(table) == 2 and {b.contact for b in table} == {"sip:a@192.0.2.1", "sip:b@192.0.2.1"}
    (a,) = [b for b in table if b.contact == "sip:a@192.0.2.1"]
    assert a.remaining(10.1) == 1 and a.remaining(10.5) == 0 and a.remaining(0.0) == 11


def test_heap_is_compacted_under_many_refreshes() -> None:
    table = BindingTable()
    for i in range(1000):
        table.put(binding("sip:a@192.0.2.1", expires_at=100.0 + i, updated_at=float(i)))
    assert len(table) == 1
    assert len(table._heap) <= 2 * len(table) + 65
    assert table.next_expiry() == 1099.0


_ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "remove", "expire"]),
        st.integers(0, 4),  # which contact
        st.integers(0, 2),  # which AOR
        st.floats(0, 200, allow_nan=False),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_ops)
def test_never_holds_an_expired_binding_after_expire(
    ops: list[tuple[str, int, int, float]],
) -> None:
    table = BindingTable()
    now = 0.0
    for op, contact, aor_no, value in ops:
        aor = f"sip:{aor_no}@switch.example"
        uri = f"sip:dev{contact}@192.0.2.1"
        if op == "put":
            table.put(binding(uri, aor=aor, expires_at=now + value, updated_at=now))
        elif op == "remove":
            table.remove(aor, SipUri.parse(uri))
        else:
            now += value
            gone = table.expire(now)
            assert all(b.expires_at <= now for b in gone)
            assert all(b.expires_at > now for b in table)
            assert len(table) == sum(1 for _ in table)
            nxt = table.next_expiry()
            assert nxt is None or nxt == min(b.expires_at for b in table)


@settings(max_examples=200, deadline=None)
@given(
    now=st.floats(min_value=0.0, max_value=1e7, allow_nan=False),
    granted=st.integers(min_value=1, max_value=86400),
)
def test_remaining_reports_the_granted_seconds_despite_float_noise(
    now: float, granted: int
) -> None:
    """``(now + granted) - now`` may exceed ``granted`` by a rounding error; the 200 OK must
    still echo the interval that was granted, not one second more."""
    assert binding(expires_at=now + granted).remaining(now) == granted
    assert binding(expires_at=now + granted).remaining(now + 0.5) == granted  # rounds up
