"""The NAT keep-alive schedule (issue 7 §2) with a fake clock: exact batch times, cycles that
start over, warnings once per configuration, which bindings are targets."""

from __future__ import annotations

import pytest
from registrar_support import AOR

from softswitch.registrar import (
    Binding,
    BindingTable,
    KeepAliveConfig,
    KeepAliveSchedule,
    KeepAliveTarget,
    NoticeKind,
    nat_targets,
)
from softswitch.sip.events import Peer
from softswitch.sip.uri import SipUri


def targets(n: int, expires_at: float = 1e9) -> list[KeepAliveTarget]:
    return [KeepAliveTarget(Peer("UDP", "127.0.0.2", 40000 + i), expires_at) for i in range(n)]


def ports(peers: tuple[Peer, ...]) -> list[int]:
    return [p.port - 40000 for p in peers]


class Source:
    """The target list, counting how often the schedule asks for it."""

    def __init__(self, items: list[KeepAliveTarget]) -> None:
        self.items = items
        self.calls = 0

    def __call__(self) -> list[KeepAliveTarget]:
        self.calls += 1
        return list(self.items)


def test_batches_leave_at_exact_times_then_the_next_cycle_starts_on_time() -> None:
    config = KeepAliveConfig(period=30.0, interval=0.5, per_batch=2, nat_expire=300.0)
    schedule = KeepAliveSchedule(config, 100.0)
    source = Source(targets(5))

    assert schedule.next_deadline() == 100.0
    assert schedule.due(99.9, source) == [] and source.calls == 0
    sent = []
    for now in (100.0, 100.5, 101.0):
        assert schedule.next_deadline() == now
        (batch,) = schedule.due(now, source)
        sent.append((batch.at, batch.cycle, batch.index, ports(batch.targets)))
    assert sent == [
        (100.0, 0, 0, [0, 1]),
        (100.5, 0, 1, [2, 3]),
        (101.0, 0, 2, [4]),
    ]
    assert source.calls == 1  # the table is read once per cycle
    assert schedule.next_deadline() == 130.0 and schedule.due(129.9, source) == []
    (batch,) = schedule.due(130.0, source)
    assert (batch.at, batch.cycle, ports(batch.targets)) == (130.0, 1, [0, 1])
    assert source.calls == 2
    assert schedule.take_notices() == []


def test_a_late_caller_gets_every_batch_due_with_its_scheduled_time() -> None:
    schedule = KeepAliveSchedule(KeepAliveConfig(period=30.0, interval=0.5, per_batch=2), 0.0)
    batches = schedule.due(1.2, Source(targets(7)))
    assert [(b.at, ports(b.targets)) for b in batches] == [
        (0.0, [0, 1]),
        (0.5, [2, 3]),
        (1.0, [4, 5]),
    ]
    assert schedule.next_deadline() == 1.5


def test_unfinished_cycle_starts_over_and_the_operator_is_warned_once() -> None:
    # Five endpoints one at a time every 4 s need 20 s; the period is 10 s: batches at 0, 4, 8,
    # then the next cycle starts over from the first endpoint at 10. Endpoints 3 and 4 never
    # get one (the guide's warning).
    config = KeepAliveConfig(period=10.0, interval=4.0, per_batch=1, nat_expire=300.0)
    schedule = KeepAliveSchedule(config, 0.0)
    source = Source(targets(5))
    seen = []
    now = 0.0
    while now < 30.0:
        for batch in schedule.due(now, source):
            seen.append((batch.at, batch.cycle, ports(batch.targets)))
        deadline = schedule.next_deadline()
        assert deadline is not None and deadline > now
        now = deadline
    assert seen == [
        (0.0, 0, [0]),
        (4.0, 0, [1]),
        (8.0, 0, [2]),
        (10.0, 1, [0]),
        (14.0, 1, [1]),
        (18.0, 1, [2]),
        (20.0, 2, [0]),
        (24.0, 2, [1]),
        (28.0, 2, [2]),
    ]
    (notice,) = schedule.take_notices()  # once, not once per cycle
    assert notice.kind is NoticeKind.UNREACHABLE
    assert "5 NAT endpoints need 5 keep-alive batches" in notice.text
    assert "20 s, more than SS_SIP_NAT_KEEP_ALIVE_PERIOD 10 s" in notice.text
    assert "after the first 3" in notice.text
    # A parameter change arms the warning again.
    schedule.reconfigure(config, 30.0)
    schedule.due(30.0, source)
    assert [n.kind for n in schedule.take_notices()] == [NoticeKind.UNREACHABLE]


def test_the_sizing_rule_of_the_guide() -> None:
    default = KeepAliveConfig()  # 3000 per batch every 500 ms over 30 s: 60 batches
    assert default.batch_slots == 60
    assert default.reaches(180_000) and not default.reaches(180_001)
    assert KeepAliveConfig(period=25.0, interval=10.0, per_batch=1).batch_slots == 3
    # Exactly one period of batches reaches everybody: no warning.
    schedule = KeepAliveSchedule(KeepAliveConfig(period=10.0, interval=2.0, per_batch=1), 0.0)
    schedule.due(0.0, Source(targets(5)))
    assert schedule.take_notices() == []


def test_a_caller_late_by_more_than_a_period_skips_to_the_cycle_in_force() -> None:
    config = KeepAliveConfig(period=10.0, interval=4.0, per_batch=1)
    schedule = KeepAliveSchedule(config, 0.0)
    source = Source(targets(2))
    batches = schedule.due(25.0, source)
    assert [(b.at, b.cycle, ports(b.targets)) for b in batches] == [(20.0, 2, [0]), (24.0, 2, [1])]
    assert schedule.next_deadline() == 30.0


def test_endpoints_are_taken_when_a_cycle_starts() -> None:
    schedule = KeepAliveSchedule(KeepAliveConfig(period=10.0, interval=1.0, per_batch=1), 0.0)
    source = Source(targets(2))
    assert ports(schedule.due(0.0, source)[0].targets) == [0]
    source.items = targets(3)  # one registered meanwhile: it waits for the next cycle
    assert ports(schedule.due(1.0, source)[0].targets) == [1]
    assert schedule.due(2.0, source) == [] and schedule.next_deadline() == 10.0
    assert [ports(b.targets) for b in schedule.due(12.0, source)] == [[0], [1], [2]]


def test_an_endpoint_whose_registration_ran_out_is_skipped() -> None:
    schedule = KeepAliveSchedule(KeepAliveConfig(period=10.0, interval=1.0, per_batch=2), 0.0)
    items = [*targets(1, expires_at=0.5), *targets(2, expires_at=100.0)[1:]]
    (batch,) = schedule.due(0.0, Source(items))
    assert ports(batch.targets) == [0, 1]
    schedule = KeepAliveSchedule(KeepAliveConfig(period=10.0, interval=1.0, per_batch=1), 0.0)
    batches = schedule.due(1.0, Source(items))
    assert [ports(b.targets) for b in batches] == [[0], [1]]
    schedule = KeepAliveSchedule(KeepAliveConfig(period=10.0, interval=1.0, per_batch=1), 0.0)
    items = [*targets(1, expires_at=100.0), *targets(2, expires_at=0.5)[1:]]
    assert [ports(b.targets) for b in schedule.due(1.0, Source(items))] == [[0], []]


def test_reconfigure_restarts_at_once_and_an_empty_message_stops() -> None:
    config = KeepAliveConfig(period=30.0, interval=0.5, per_batch=1)
    schedule = KeepAliveSchedule(config, 0.0)
    source = Source(targets(3))
    schedule.due(0.5, source)
    schedule.reconfigure(KeepAliveConfig(period=30.0, interval=0.25, per_batch=2), 0.7)
    assert schedule.next_deadline() == 0.7
    batches = schedule.due(0.95, source)
    assert [(b.at, b.cycle, ports(b.targets)) for b in batches] == [
        (0.7, 0, [0, 1]),
        (0.95, 0, [2]),
    ]
    schedule.reconfigure(KeepAliveConfig(message=b""), 1.0)
    assert schedule.next_deadline() is None
    assert schedule.due(100.0, source) == []
    assert schedule.take_notices() == []
    schedule.reconfigure(config, 200.0)
    assert schedule.next_deadline() == 200.0


def test_a_period_not_well_below_nat_expire_is_warned_at_start_and_on_change() -> None:
    schedule = KeepAliveSchedule(KeepAliveConfig(period=200.0, nat_expire=300.0), 0.0)
    (notice,) = schedule.take_notices()
    assert notice.kind is NoticeKind.PERIOD_NEAR_EXPIRY
    assert "SS_SIP_NAT_KEEP_ALIVE_PERIOD 200 s" in notice.text
    assert "SS_ENDPOINT_NAT_EXPIRE 300 s" in notice.text
    assert schedule.take_notices() == []
    schedule.reconfigure(KeepAliveConfig(period=150.0, nat_expire=300.0), 1.0)
    assert schedule.take_notices() == []  # half is well enough below
    schedule.reconfigure(KeepAliveConfig(period=30.0, nat_expire=40.0), 2.0)
    assert [n.kind for n in schedule.take_notices()] == [NoticeKind.PERIOD_NEAR_EXPIRY]
    schedule.reconfigure(KeepAliveConfig(message=b"", period=30.0, nat_expire=40.0), 3.0)
    assert schedule.take_notices() == []  # off: nothing to warn about


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        KeepAliveConfig(period=0.0)
    with pytest.raises(ValueError):
        KeepAliveConfig(interval=0.0)
    with pytest.raises(ValueError):
        KeepAliveConfig(per_batch=0)
    assert not KeepAliveConfig(message=b"").enabled


def _binding(contact: str, source: Peer, *, nat: bool, expires_at: float = 100.0) -> Binding:
    return Binding(
        aor=AOR,
        uri=SipUri.parse(contact),
        expires_at=expires_at,
        call_id="c",
        cseq=1,
        source=source,
        behind_nat=nat,
        updated_at=0.0,
        expires=int(expires_at),
    )


def test_targets_are_live_udp_nat_bindings_one_per_source() -> None:
    table = BindingTable()
    nat_a = Peer("UDP", "198.51.100.7", 40001)
    table.put(_binding("sip:1001@10.0.0.5", nat_a, nat=True, expires_at=50.0))
    table.put(_binding("sip:1001@10.0.0.6", nat_a, nat=True, expires_at=90.0))  # same NAT port
    table.put(_binding("sip:1001@10.0.0.7", Peer("UDP", "198.51.100.7", 40002), nat=True))
    table.put(_binding("sip:1001@10.0.0.8", Peer("TCP", "198.51.100.8", 40003, 7), nat=True))
    table.put(_binding("sip:1001@192.0.2.10", Peer("UDP", "192.0.2.10", 5060), nat=False))
    table.put(_binding("sip:1001@10.0.0.9", Peer("UDP", "198.51.100.9", 1), nat=True, expires_at=5))
    found = nat_targets(table, 10.0)
    assert found == (
        KeepAliveTarget(Peer("UDP", "198.51.100.7", 40001), 90.0),
        KeepAliveTarget(Peer("UDP", "198.51.100.7", 40002), 100.0),
    )
