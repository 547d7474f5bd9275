"""Credit on the call path with hand-written SIP over real UDP sockets (issue 5 §2).

The SIPp tests (tests/interop/test_sipp_billing.py) cover the flows at volume; these look at
one call at a time, in-process, where the switch's own objects can be read: the reservation a
live call holds, the BYE on both legs when it runs out, and the refusal before any carrier is
tried.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from test_engine_edges import (
    SDP_A,
    SDP_B,
    Bed,
    _answer,
    _cdr,
    _invite_uri,
    _next,
    _request_from,
)
from test_engine_edges import bed as bed

from softswitch.sip import Request, Response

D = Decimal


async def _prepaid(bed: Bed, balance: str, price: str = "0.6000") -> int:
    """Make the bed's account prepaid with a 1/1 rate for 44 and ``balance`` paid in."""
    table = await bed.api.post("/rate-tables", json={"name": "retail", "currency": "USD"})
    assert table.status_code == 201, table.text
    rate = await bed.api.post(
        f"/rate-tables/{table.json()['id']}/rates",
        json={
            "prefix": "44",
            "rate_per_minute": price,
            "initial_increment": 1,
            "subsequent_increment": 1,
        },
    )
    assert rate.status_code == 201, rate.text
    changed = await bed.api.patch(
        f"/accounts/{bed.account_id}",
        json={"billing_mode": "prepaid", "rate_table_id": table.json()["id"]},
    )
    assert changed.status_code == 200, changed.text
    if D(balance) > 0:
        paid = await bed.api.post(f"/accounts/{bed.account_id}/payments", json={"amount": balance})
        assert paid.status_code == 201, paid.text
    server = bed.server
    assert server.rates is not None
    for _ in range(50):  # the rate books follow the change feed
        if server.rates.current.books:
            break
        await asyncio.sleep(0.05)
    return int(table.json()["id"])


async def _account(bed: Bed) -> dict[str, Any]:
    found = await bed.api.get(f"/accounts/{bed.account_id}")
    assert found.status_code == 200, found.text
    return dict(found.json())


async def _param(bed: Bed, name: str, value: str) -> None:
    answer = await bed.api.put(f"/params/{name}", json={"value": value})
    assert answer.status_code == 200, answer.text


class _Counting:
    """The engine's reservation store, counting the statements a call causes."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return await method(*args, **kwargs)

        return counted


async def test_a_prepaid_call_is_cut_when_its_credit_ends_and_billed_exactly(bed: Bed) -> None:
    await _param(bed, "SERVER_BILLING_PREVENT_OVERDRAFT_ADVANCE_TIME", "0")
    await _prepaid(bed, "0.0300")  # 3 s at 0.60/min
    engine = bed.server.calls
    assert engine is not None
    counting = _Counting(engine.metering._store)
    engine.metering._store = counting
    bed.caller.send(
        _request_from(bed.caller, "INVITE", _invite_uri(bed), call_id="meter-cut", body=SDP_A),
        *bed.sip,
    )
    invite = await _next(bed.gateway, lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(invite, Request)
    bed.gateway.send(
        _answer(invite, 200, tag="gw", client=bed.gateway, host="127.0.0.3", body=SDP_B),
        *bed.sip,
    )
    ok = await _next(bed.caller, lambda m: isinstance(m, Response) and m.status == 200)
    assert isinstance(ok, Response)
    live = await _account(bed)
    assert D(live["reserved"]) > 0  # the call holds credit while it runs
    loop = asyncio.get_running_loop()
    answered = loop.time()

    bye_caller = await _next(
        bed.caller, lambda m: isinstance(m, Request) and m.method == "BYE", timeout=8.0
    )
    cut_after = loop.time() - answered
    bye_gateway = await _next(
        bed.gateway, lambda m: isinstance(m, Request) and m.method == "BYE", timeout=2.0
    )
    assert isinstance(bye_caller, Request) and isinstance(bye_gateway, Request)
    assert 2.0 <= cut_after <= 4.0  # 3 s reserved; one second of slack for the test itself

    # The first period (1 s) was reserved, then what the rest pays for (to 3 s); once nothing
    # more can be had the switch stops asking: no retry loop until the cut.
    assert counting.calls.get("reserve") == 1
    assert counting.calls.get("extend", 0) <= 4, counting.calls
    cdr = await _cdr(bed, "meter-cut")
    assert cdr["termination_reason"] == "BalanceExhausted"
    assert D(str(cdr["fee"])) == D("0.03")
    assert cdr["billed_seconds"] == 3
    for _ in range(50):
        after = await _account(bed)
        if D(after["reserved"]) == 0 and D(after["balance"]) == 0:
            break
        await asyncio.sleep(0.1)
    assert (D(after["balance"]), D(after["reserved"])) == (D(0), D(0))


async def test_a_prepaid_call_the_balance_cannot_start_is_refused_before_routing(
    bed: Bed,
) -> None:
    await _prepaid(bed, "0.0100")  # first period 1 s + 1 minute advance = 0.61 > 0.01
    bed.caller.send(
        _request_from(bed.caller, "INVITE", _invite_uri(bed), call_id="meter-poor", body=SDP_A),
        *bed.sip,
    )
    answer = await _next(bed.caller, lambda m: isinstance(m, Response) and m.status >= 200)
    assert isinstance(answer, Response) and answer.status == 403
    with pytest.raises(TimeoutError):
        await bed.gateway.recv(0.3)
    cdr = await _cdr(bed, "meter-poor")
    assert cdr["termination_reason"] == "CallerBalanceInsufficient"
    assert D(str(cdr["fee"])) == 0
    account = await _account(bed)
    assert (D(account["balance"]), D(account["reserved"])) == (D("0.01"), D(0))


async def test_a_did_from_a_carrier_reaches_a_prepaid_phone_without_credit_and_costs_it_nothing(
    bed: Bed,
) -> None:
    """A carrier delivering a call to our number charges nobody: the called phone's prepaid
    account, with no balance and no rate for its own number, must not refuse it."""
    await _prepaid(bed, "0")
    phone = await bed.api.post(
        "/phones",
        json={
            "number": "2001",
            "account_id": bed.account_id,
            "registration": "static",
            "host": "127.0.0.2",
            "port": bed.caller.port,
        },
    )
    assert phone.status_code == 201, phone.text
    server = bed.server
    assert server.snapshots is not None
    for _ in range(50):
        if "2001" in server.snapshots.current.phones:
            break
        await asyncio.sleep(0.05)
    uri = f"sip:2001@{bed.sip[0]}:{bed.sip[1]}"
    bed.gateway.send(
        _request_from(
            bed.gateway, "INVITE", uri, call_id="meter-did", body=SDP_B, host="127.0.0.3"
        ),
        *bed.sip,
    )
    invite = await _next(bed.caller, lambda m: isinstance(m, Request) and m.method == "INVITE")
    assert isinstance(invite, Request)
    bed.caller.send(
        _answer(invite, 200, tag="phone", client=bed.caller, host="127.0.0.2", body=SDP_A),
        *bed.sip,
    )
    ok = await _next(bed.gateway, lambda m: isinstance(m, Response) and m.status == 200)
    assert isinstance(ok, Response)
    await asyncio.sleep(1.2)
    bed.gateway.send(
        _request_from(
            bed.gateway,
            "BYE",
            uri,
            call_id="meter-did",
            to=ok.get("to") or "",
            cseq=2,
            host="127.0.0.3",
        ),
        *bed.sip,
    )
    await _next(bed.gateway, lambda m: isinstance(m, Response) and m.status == 200)
    cdr = await _cdr(bed, "meter-did")
    assert cdr["termination_reason"] == "CallerHangup"
    assert cdr["hold_time_ms"] >= 1000
    assert D(str(cdr["fee"])) == 0 and D(str(cdr["cost"])) == 0
    account = await _account(bed)
    assert (D(account["balance"]), D(account["reserved"])) == (D(0), D(0))
