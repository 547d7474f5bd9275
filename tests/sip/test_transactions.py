"""The four transaction tables, every state x every input, on UDP and on TCP.

The expected outcome of each pair is computed from the table alone (plus the rule that zero-length
timers fire at once on a reliable transport); the runner must agree, produce the effects the entry's
actions name, and ignore - without raising - every pair the table does not list.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tx_support import TCP, UDP, request, response_to

from softswitch.sip import ict, ist, nict, nist
from softswitch.sip.events import (
    Outgoing,
    Peer,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailed,
)
from softswitch.sip.message import Request, Response
from softswitch.sip.timers import Timer, TimerConfig
from softswitch.sip.transaction import (
    TIMER_INPUTS,
    Act,
    Arm,
    Effect,
    Input,
    Machine,
    StartTimer,
    StopTimer,
    Transaction,
    client_key,
    server_key,
    step,
)

MACHINES: list[Machine[Any]] = [ict.MACHINE, nict.MACHINE, ist.MACHINE, nist.MACHINE]
CONFIG = TimerConfig()
CLIENTS = (ict.MACHINE, nict.MACHINE)


def _request_for(machine: Machine[Any]) -> Request:
    method = "INVITE" if machine in (ict.MACHINE, ist.MACHINE) else "OPTIONS"
    return request(method, "z9hG4bK-table-test")


def _message(machine: Machine[Any], inp: Input) -> Request | Response | None:
    req = _request_for(machine)
    statuses = {
        Input.PROVISIONAL: 180,
        Input.FINAL_2XX: 200,
        Input.FINAL_NON2XX: 486,
        Input.TU_PROVISIONAL: 180,
        Input.TU_2XX: 200,
        Input.TU_NON2XX: 486,
    }
    if inp in statuses:
        return response_to(req, statuses[inp])
    if inp is Input.RETRANSMIT:
        return req
    if inp is Input.ACK:
        return request("ACK", "z9hG4bK-table-test", to_tag="tt1")
    return None


def _new(machine: Machine[Any], peer: Peer) -> Transaction:
    req = _request_for(machine)
    if machine in CLIENTS:
        key = client_key(req)
        return Transaction(machine, key, req, peer, CONFIG, ict.make_ack)
    return Transaction(machine, server_key(req), req, peer, CONFIG)


def _expected(machine: Machine[Any], state: Enum, inp: Input, reliable: bool) -> Enum:
    """The table's answer, following zero-length timers (reliable transports) to their end."""
    entry = step(machine, state, inp)
    if entry is None:
        return state
    nxt: Enum = entry[0]
    for action in entry[1]:
        if isinstance(action, StartTimer) and nxt is not machine.terminated:
            duration = CONFIG.duration(action.timer, reliable=reliable)
            if duration == 0:
                return _expected(machine, nxt, TIMER_INPUTS[action.timer], reliable)
    return nxt


def _check_effects(
    machine: Machine[Any], tx: Transaction, state: Enum, inp: Input, effects: list[Effect]
) -> None:
    entry = step(machine, state, inp)
    if entry is None:
        assert effects == [], (state, inp)
        return
    _, actions = entry
    kinds = [type(e) for e in effects]
    if Act.SEND_REQUEST in actions:
        assert Outgoing(tx.request_bytes, tx.peer, tx.key) in effects
    if Act.SEND_ACK in actions:
        acks = [e for e in effects if isinstance(e, Outgoing) and e.data.startswith(b"ACK ")]
        assert len(acks) == 1
    if Act.SEND_RESPONSE in actions or Act.RESEND_RESPONSE in actions:
        assert Outgoing in kinds
    if Act.PASS_TO_TU in actions:
        assert ResponseReceived in kinds or RequestReceived in kinds
    if Act.REPORT_TIMEOUT in actions:
        assert TransactionTimeout(tx.key, tx.request) in effects
    if Act.REPORT_TRANSPORT_ERROR in actions:
        assert TransportFailed(tx.key, tx.request) in effects
    for action in actions:
        if isinstance(action, StopTimer):
            assert action.timer not in tx.running_timers() or any(
                isinstance(a, StartTimer) and a.timer is action.timer for a in actions
            )
    if tx.terminated:
        assert effects[-1] == TransactionTerminated(tx.key)
        assert tx.running_timers() == frozenset()


PAIRS = [
    (machine, state, inp, peer)
    for machine in MACHINES
    for state in type(machine.initial)
    for inp in Input
    for peer in (UDP, TCP)
]


@pytest.mark.parametrize(
    ("machine", "state", "inp", "peer"),
    PAIRS,
    ids=[f"{m.name}-{s.value}-{i.value}-{p.transport}" for m, s, i, p in PAIRS],
)
def test_every_state_and_input(machine: Machine[Any], state: Enum, inp: Input, peer: Peer) -> None:
    tx = _new(machine, peer)
    tx.state = state
    # Give resend entries something to resend, as if a response had been sent before.
    tx.last_response_bytes = b"SIP/2.0 180 Ringing\r\n\r\n"
    effects = tx.handle(inp, 10.0, _message(machine, inp), peer)
    assert tx.state is _expected(machine, state, inp, peer.reliable)
    _check_effects(machine, tx, state, inp, effects)


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_terminated_ignores_everything_and_tables_are_well_formed(machine: Machine[Any]) -> None:
    states: type[Enum] = type(machine.initial)
    for (state, inp), (nxt, actions) in machine.table.items():
        assert isinstance(state, states) and isinstance(nxt, states) and isinstance(inp, Input)
        assert state is not machine.terminated
        for action in actions:
            assert isinstance(action, Act | StartTimer | StopTimer)
    for inp in Input:
        assert step(machine, machine.terminated, inp) is None
    # Every state can reach Terminated (no transaction lives forever).
    reachable: set[Enum] = {machine.terminated}
    changed = True
    while changed:
        changed = False
        for (state, _), (nxt, _) in machine.table.items():
            if nxt in reachable and state not in reachable:
                reachable.add(state)
                changed = True
    assert reachable == set(states)


def test_client_only_and_server_only_actions() -> None:
    for machine in MACHINES:
        acts = {a for _, actions in machine.table.values() for a in actions}
        acts |= set(machine.initial_actions)
        if machine in CLIENTS:
            assert Act.SEND_RESPONSE not in acts and Act.RESEND_RESPONSE not in acts
        else:
            assert Act.SEND_REQUEST not in acts and Act.SEND_ACK not in acts
    assert Act.SEND_ACK not in {a for _, actions in nict.TABLE.values() for a in actions}


def test_initial_transitions() -> None:
    tx = _new(ict.MACHINE, UDP)
    effects = tx.start(0.0)
    assert effects[0] == Outgoing(tx.request_bytes, UDP, tx.key)
    arms = {e.timer: e.deadline for e in effects if isinstance(e, Arm)}
    assert arms == {Timer.A: 0.5, Timer.B: 32.0}
    tx = _new(nict.MACHINE, TCP)
    effects = tx.start(0.0)
    arms = {e.timer: e.deadline for e in effects if isinstance(e, Arm)}
    assert arms == {Timer.F: 32.0}  # no Timer E on a reliable transport
    for machine in (ist.MACHINE, nist.MACHINE):
        assert _new(machine, UDP).start(0.0) == []


@settings(max_examples=200, deadline=None)
@given(
    machine=st.sampled_from(MACHINES),
    reliable=st.booleans(),
    inputs=st.lists(st.sampled_from(list(Input)), max_size=25),
)
def test_random_input_sequences_follow_the_table(
    machine: Machine[Any], reliable: bool, inputs: list[Input]
) -> None:
    peer = TCP if reliable else UDP
    tx = _new(machine, peer)
    tx.start(0.0)
    now = 0.0
    terminated_seen = 0
    for inp in inputs:
        now += 1.0
        before = tx.state
        effects = tx.handle(inp, now, _message(machine, inp), peer)
        assert tx.state is _expected(machine, before, inp, reliable)
        terminated_seen += sum(isinstance(e, TransactionTerminated) for e in effects)
        if tx.terminated:
            assert tx.running_timers() == frozenset()
    assert terminated_seen == (1 if tx.terminated else 0)


@settings(max_examples=100, deadline=None)
@given(
    machine=st.sampled_from(MACHINES),
    timers=st.lists(st.sampled_from(list(Timer)), max_size=30),
)
def test_fire_only_acts_on_armed_timers(machine: Machine[Any], timers: list[Timer]) -> None:
    tx = _new(machine, UDP)
    tx.start(0.0)
    now = 0.0
    for timer in timers:
        now += 0.25
        token = tx.timer_token(timer)
        before = tx.state
        if token is None:
            assert tx.fire(timer, 12345, now) == []
            assert tx.state is before
        else:
            tx.fire(timer, token, now)
            assert tx.state is _expected(machine, before, TIMER_INPUTS[timer], False)
            assert tx.fire(timer, token, now) == []  # a stale token is ignored


@pytest.mark.parametrize("peer", (UDP, TCP), ids=lambda p: p.transport)
def test_a_lingering_server_transaction_keeps_bytes_and_tags_but_lets_go_of_parsed_messages(
    peer: Peer,
) -> None:
    tx = _new(nist.MACHINE, peer)
    assert tx.request.from_.tag  # a view the TU read, now cached
    assert tx.request._cache  # type: ignore[attr-defined]
    ok = response_to(tx.request, 200, to_tag="done")
    tx.handle(Input.TU_2XX, 1.0, ok, peer)

    if not peer.reliable:  # Timer J is 0 on a reliable transport: Terminated at once
        assert tx.state is nist.State.COMPLETED and nist.State.COMPLETED in nist.MACHINE.lingering
        assert tx.last_response is None and tx.request._cache == {}  # type: ignore[attr-defined]
        assert (tx.last_response_bytes, tx.last_response_tag) == (bytes(ok), "done")
        again = tx.handle(Input.RETRANSMIT, 2.0, tx.request, peer)
        assert again == [Outgoing(bytes(ok), peer, tx.key)]
        assert tx.request.from_.tag  # a view is rebuilt on demand


def test_the_client_invite_lingers_in_completed_with_its_ack_bytes() -> None:
    tx = _new(ict.MACHINE, UDP)
    tx.start(0.0)
    busy = response_to(tx.request, 486)
    first = tx.handle(Input.FINAL_NON2XX, 1.0, busy, UDP)
    (ack,) = [e for e in first if isinstance(e, Outgoing)]
    assert tx.state is ict.State.COMPLETED and tx.make_ack is None
    # The 486 again: the same ACK, from the bytes kept.
    assert [
        e for e in tx.handle(Input.FINAL_NON2XX, 2.0, busy, UDP) if isinstance(e, Outgoing)
    ] == [ack]
