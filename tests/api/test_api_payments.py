"""Payments, refunds, adjustments, the ledger and payment batches over real HTTP (issue 3 §2),
on SQLite and PostgreSQL: exact decimals, the overdraft floor (which credit held by live calls
raises, issue 5), concurrent top-ups, all-or-nothing batches with line numbers, the ledger's
call_ref, and role scopes (customer, agent)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from api_support import CUSTOMER, USER_PASSWORD, Api
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from softswitch.manage import Invalid
from softswitch.manage.payment_csv import parse_amount, parse_csv, parse_items
from softswitch.manage.payments import MAX_BALANCE
from softswitch.operators import ADMIN_USERNAME, Role
from softswitch.storage import sessions
from softswitch.storage.models import (
    Account,
    Agent,
    AuditEntry,
    BillingMode,
    LedgerEntry,
    LedgerKind,
    Payment,
    Reservation,
)

AGENT_USER = "reseller"


async def _seed(api: Api) -> dict[str, int]:
    """Accounts P2 (prepaid USD), Q3 (postpaid, credit 50), E4 (EUR), A5 (under an agent with a
    login ``reseller``), besides the fixture's C1 (prepaid USD, the customer's)."""
    async with sessions(api.engine).begin() as session:
        agent = Agent(name="resell")
        session.add(agent)
        await session.flush()
        session.add_all(
            [
                Account(code="P2", currency="USD"),
                Account(
                    code="Q3",
                    currency="USD",
                    billing_mode=BillingMode.POSTPAID,
                    credit_limit=Decimal(50),
                ),
                Account(code="E4", currency="EUR"),
                Account(code="A5", currency="USD", agent_id=agent.id),
            ]
        )
        await session.flush()
        agent_id = agent.id
        rows = (await session.execute(select(Account.code, Account.id))).all()
    admin = await api.operators.get_user(ADMIN_USERNAME)
    assert admin is not None
    await api.operators.create_user(
        admin.actor, AGENT_USER, USER_PASSWORD, Role.AGENT, agent_id=agent_id
    )
    return {code: ident for code, ident in rows}


async def _balance(api: Api, code: str) -> Decimal:
    async with sessions(api.engine)() as session:
        found = await session.scalar(select(Account.balance).where(Account.code == code))
    assert found is not None
    return found


async def _count(api: Api, model: Any) -> int:
    async with sessions(api.engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _post_json(api: Api, url: str, body: str, headers: dict[str, str]) -> Any:
    """A POST with a JSON body written by hand, so amounts can be bare JSON numbers."""
    return api.client.post(
        url, content=body, headers={**headers, "Content-Type": "application/json"}
    )


async def _ledger(api: Api, account_id: int, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = await api.client.get(
        f"/api/v1/accounts/{account_id}/ledger", params={"page_size": 1000}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _assert_chain(entries: list[dict[str, Any]], final: Decimal) -> None:
    """previous balance_after + amount == balance_after, row by row, from zero to ``final``."""
    balance = Decimal(0)
    for entry in sorted(entries, key=lambda e: e["id"]):
        balance += Decimal(entry["amount"])
        assert Decimal(entry["balance_after"]) == balance, entry
    assert balance == final


async def test_top_up_refund_adjustment_and_ledger(api: Api) -> None:
    ids = await _seed(api)
    admin = await api.admin()
    c1 = ids["C1"]
    paid = await _post_json(
        api,
        f"/api/v1/accounts/{c1}/payments",
        '{"amount": 10.5, "method": "cash", "reference": "R-1"}',
        admin,
    )
    assert paid.status_code == 201, paid.text
    assert Decimal(paid.json()["balance_after"]) == Decimal("10.5")
    assert paid.json()["currency"] == "USD"
    refund = await api.client.post(
        f"/api/v1/accounts/{c1}/payments", json={"amount": "-3.25"}, headers=admin
    )
    assert refund.status_code == 201, refund.text
    adjust = await api.client.post(
        f"/api/v1/accounts/{c1}/adjustments",
        json={"amount": "-0.25", "memo": "rounding error in March"},
        headers=admin,
    )
    assert adjust.status_code == 201, adjust.text
    assert adjust.json()["kind"] == "adjustment" and adjust.json()["payment_id"] is None
    assert await _balance(api, "C1") == Decimal("7")

    entries = await _ledger(api, c1, admin)
    assert [e["kind"] for e in entries] == ["adjustment", "refund", "top_up"]  # newest first
    assert entries[2]["payment_id"] == paid.json()["id"]
    assert entries[1]["payment_id"] == refund.json()["id"]
    _assert_chain(entries, Decimal(7))
    assert await _count(api, Payment) == 2

    async with sessions(api.engine)() as session:
        audits = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.entity == "account").order_by(AuditEntry.id)
            )
        ).all()
    assert [a.action for a in audits] == ["top_up", "refund", "adjustment"]
    assert [(a.before, a.after and a.after["balance"]) for a in audits] == [
        ({"balance": "0.000000"}, "10.500000"),
        ({"balance": "10.500000"}, "7.250000"),
        ({"balance": "7.250000"}, "7.000000"),
    ]
    assert all(a.username == ADMIN_USERNAME for a in audits)


async def test_amounts_are_exact_decimals_and_balances_capped(api: Api) -> None:
    ids = await _seed(api)
    admin = await api.admin()
    url = f"/api/v1/accounts/{ids['P2']}/payments"
    for number in ("0.1", "0.2"):
        answer = await _post_json(api, url, f'{{"amount": {number}}}', admin)
        assert answer.status_code == 201, answer.text
    assert await _balance(api, "P2") == Decimal("0.3")
    for bad in ('"0.0000001"', "1e-7", "0", '"0.000"', '"ten"', '"NaN"', '"2e9"'):
        answer = await _post_json(api, url, f'{{"amount": {bad}}}', admin)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["error"]["field"] == "amount", bad
    assert await _balance(api, "P2") == Decimal("0.3")
    big = await api.client.post(url, json={"amount": "999999999.999999"}, headers=admin)
    assert big.status_code == 201, big.text
    assert await _balance(api, "P2") == Decimal("1000000000.299999")
    async with sessions(api.engine).begin() as session:
        account = await session.scalar(select(Account).where(Account.code == "Q3"))
        assert account is not None
        account.balance = MAX_BALANCE - Decimal("0.5")
    over = await api.client.post(
        f"/api/v1/accounts/{ids['Q3']}/payments", json={"amount": "1"}, headers=admin
    )
    assert over.status_code == 422 and over.json()["error"]["field"] == "amount"
    assert await _balance(api, "Q3") == MAX_BALANCE - Decimal("0.5")


async def test_overdraft_currency_and_memo_refusals(api: Api) -> None:
    ids = await _seed(api)
    admin = await api.admin()
    answer = await api.client.post(
        f"/api/v1/accounts/{ids['P2']}/payments", json={"amount": "-0.01"}, headers=admin
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "amount" and "0.000000 USD" in error["message"]
    assert await _balance(api, "P2") == 0 and await _count(api, Payment) == 0

    q3 = ids["Q3"]
    down = await api.client.post(
        f"/api/v1/accounts/{q3}/adjustments",
        json={"amount": "-50", "memo": "usage billed by hand"},
        headers=admin,
    )
    assert down.status_code == 201, down.text
    assert await _balance(api, "Q3") == Decimal(-50)
    beyond = await api.client.post(
        f"/api/v1/accounts/{q3}/payments", json={"amount": "-0.000001"}, headers=admin
    )
    assert beyond.status_code == 422
    assert "-50.000000 USD" in beyond.json()["error"]["message"]
    up = await api.client.post(
        f"/api/v1/accounts/{q3}/payments", json={"amount": "20"}, headers=admin
    )
    assert up.status_code == 201 and Decimal(up.json()["balance_after"]) == Decimal(-30)
    answer = await api.client.post(
        f"/api/v1/accounts/{ids['E4']}/payments",
        json={"amount": "5", "currency": "USD"},
        headers=admin,
    )
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "currency"
    same = await api.client.post(
        f"/api/v1/accounts/{ids['E4']}/payments",
        json={"amount": "5", "currency": "EUR"},
        headers=admin,
    )
    assert same.status_code == 201 and same.json()["currency"] == "EUR"
    missing = await api.client.post(
        "/api/v1/accounts/999999/payments", json={"amount": "5"}, headers=admin
    )
    assert missing.status_code == 404
    nothing = await api.client.post(
        f"/api/v1/accounts/{ids['E4']}/adjustments",
        json={"amount": "5", "memo": "  "},
        headers=admin,
    )
    assert nothing.status_code == 422 and nothing.json()["error"]["field"] == "memo"


async def test_concurrent_movements_lose_nothing_and_never_overdraw(api: Api) -> None:
    ids = await _seed(api)
    admin = await api.admin()
    url = f"/api/v1/accounts/{ids['P2']}/payments"
    answers = await asyncio.gather(
        *(api.client.post(url, json={"amount": "0.05"}, headers=admin) for _ in range(20))
    )
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers]
    assert await _balance(api, "P2") == Decimal("1")
    assert len({a.json()["balance_after"] for a in answers}) == 20

    # Twenty refunds of 0.1 against a balance of 1: exactly ten fit above zero.
    refunds = await asyncio.gather(
        *(api.client.post(url, json={"amount": "-0.1"}, headers=admin) for _ in range(20))
    )
    codes = sorted(a.status_code for a in refunds)
    assert codes == [201] * 10 + [422] * 10, [a.text for a in refunds]
    assert await _balance(api, "P2") == 0
    _assert_chain(await _ledger(api, ids["P2"], admin), Decimal(0))


async def _hold(api: Api, account_id: int, amount: Decimal) -> None:
    """A live call holding ``amount`` on the account, as the call path records it."""
    async with sessions(api.engine).begin() as session:
        ref = f"live-call-{account_id}"
        session.add(Reservation(ref=ref, account_id=account_id, amount=amount, node="n1"))
        account = await session.get(Account, account_id)
        assert account is not None
        account.reserved += amount


async def test_refunds_and_adjustments_leave_the_credit_held_by_live_calls(api: Api) -> None:
    ids = await _seed(api)
    admin = await api.admin()
    p2, q3 = ids["P2"], ids["Q3"]
    topped = await api.client.post(
        f"/api/v1/accounts/{p2}/payments", json={"amount": "10"}, headers=admin
    )
    assert topped.status_code == 201, topped.text
    await _hold(api, p2, Decimal(4))
    over = await api.client.post(
        f"/api/v1/accounts/{p2}/payments", json={"amount": "-6.000001"}, headers=admin
    )
    assert over.status_code == 422 and over.json()["error"]["field"] == "amount"
    message = over.json()["error"]["message"]
    assert "10.000000 USD of which 4.000000 is held by live calls" in message, message
    adjust = await api.client.post(
        f"/api/v1/accounts/{p2}/adjustments",
        json={"amount": "-6.000001", "memo": "wrong top-up"},
        headers=admin,
    )
    assert adjust.status_code == 422
    assert await _balance(api, "P2") == 10
    exact = await api.client.post(
        f"/api/v1/accounts/{p2}/payments", json={"amount": "-6"}, headers=admin
    )
    assert exact.status_code == 201, exact.text  # 10 - 6 - 4 = 0: the floor itself
    assert await _balance(api, "P2") == 4
    batch = await api.client.post(
        "/api/v1/payments/bulk",
        content="account,amount\nP2,-0.000001\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert batch.status_code == 422
    assert [(e["line"], e["field"]) for e in batch.json()["errors"]] == [(2, "amount")]
    # a top-up is never held back, and a postpaid floor is minus the credit limit
    assert (
        await api.client.post(
            f"/api/v1/accounts/{p2}/payments", json={"amount": "1"}, headers=admin
        )
    ).status_code == 201
    await _hold(api, q3, Decimal(45))
    down = await api.client.post(
        f"/api/v1/accounts/{q3}/adjustments",
        json={"amount": "-5", "memo": "usage billed by hand"},
        headers=admin,
    )
    assert down.status_code == 201, down.text  # -5 - 45 = -50, the credit limit
    beyond = await api.client.post(
        f"/api/v1/accounts/{q3}/payments", json={"amount": "-0.000001"}, headers=admin
    )
    assert beyond.status_code == 422
    assert "held by live calls" in beyond.json()["error"]["message"]
    assert await _balance(api, "Q3") == -5


async def test_the_ledger_shows_the_call_a_charge_settles(api: Api) -> None:
    ids = await _seed(api)
    admin = await api.admin()
    c1 = ids["C1"]
    paid = await api.client.post(
        f"/api/v1/accounts/{c1}/payments", json={"amount": "5"}, headers=admin
    )
    assert paid.status_code == 201
    ref = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    async with sessions(api.engine).begin() as session:
        session.add(
            LedgerEntry(
                account_id=c1,
                kind=LedgerKind.CALL_CHARGE,
                amount=Decimal("-0.25"),
                balance_after=Decimal("4.75"),
                occurred_at=api.clock.now,
                call_ref=ref,
            )
        )
    entries = await _ledger(api, c1, admin)
    assert [(e["kind"], e["call_ref"]) for e in entries] == [
        ("call_charge", ref),
        ("top_up", None),
    ]
    charges = await api.client.get(
        f"/api/v1/accounts/{c1}/ledger", params={"kind": "call_charge"}, headers=admin
    )
    assert [e["call_ref"] for e in charges.json()["items"]] == [ref]


_BATCH = (
    "account,amount,method,reference,memo\n"
    "C1,10,cash,R-1,\n"
    "NOPE,5,,,\n"
    "P2,1.0000001,,,\n"
    "P2,-1,,,\n"
    "Q3,-20,bank_transfer,R-2,late fee refund\n"
)


async def test_bulk_is_all_or_nothing_with_line_numbers(api: Api) -> None:
    await _seed(api)
    admin = await api.admin()
    answer = await api.client.post(
        "/api/v1/payments/bulk",
        content=_BATCH,
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["applied"] == 0 and body["error"]["field"] == "lines"
    assert [(e["line"], e["field"]) for e in body["errors"]] == [
        (3, "account"),
        (4, "amount"),
        (5, "amount"),
    ]
    assert "prepaid" in body["errors"][2]["message"]
    assert await _balance(api, "C1") == 0 and await _balance(api, "Q3") == 0
    assert await _count(api, Payment) == 0 and await _count(api, LedgerEntry) == 0

    fixed = "\n".join(line for n, line in enumerate(_BATCH.splitlines(), 1) if n not in (3, 4, 5))
    good = await api.client.post(
        "/api/v1/payments/bulk", content=fixed, headers={**admin, "Content-Type": "text/csv"}
    )
    assert good.status_code == 200, good.text
    assert good.json()["applied"] == 2 and good.json()["errors"] == []
    assert await _balance(api, "C1") == 10 and await _balance(api, "Q3") == -20


async def test_bulk_skip_bad_applies_the_good_lines(api: Api) -> None:
    await _seed(api)
    admin = await api.admin()
    answer = await api.client.post(
        "/api/v1/payments/bulk",
        params={"skip_bad": "true"},
        content=_BATCH,
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["applied"] == 2 and [e["line"] for e in body["errors"]] == [3, 4, 5]
    assert await _balance(api, "C1") == 10 and await _balance(api, "Q3") == -20
    assert await _balance(api, "P2") == 0
    async with sessions(api.engine)() as session:
        methods = (await session.scalars(select(Payment.method).order_by(Payment.id))).all()
    assert sorted(m.value for m in methods) == ["bank_transfer", "cash"]


async def test_bulk_as_json_and_as_uploaded_file(api: Api) -> None:
    await _seed(api)
    admin = await api.admin()
    items = '[{"account": "P2", "amount": 0.1}, {"account": "P2", "amount": 0.2}]'
    answer = await _post_json(api, "/api/v1/payments/bulk", items, admin)
    assert answer.status_code == 200, answer.text
    assert await _balance(api, "P2") == Decimal("0.3")
    # Lines of one account apply in file order: the refund sees the top-up before it.
    upload = "account,amount\nC1,5\nC1,-5\nC1,2.5\n"
    answer = await api.client.post(
        "/api/v1/payments/bulk",
        files={"file": ("batch.csv", upload.encode(), "text/csv")},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["applied"] == 3
    assert await _balance(api, "C1") == Decimal("2.5")
    bad_header = await api.client.post(
        "/api/v1/payments/bulk",
        content="acct,amount\nC1,1\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert bad_header.status_code == 422 and bad_header.json()["error"]["field"] == "file"


async def test_customer_sees_only_its_own_payments(api: Api) -> None:
    ids = await _seed(api)
    admin = await api.admin()
    for code in ("C1", "P2"):
        answer = await api.client.post(
            f"/api/v1/accounts/{ids[code]}/payments", json={"amount": "3"}, headers=admin
        )
        assert answer.status_code == 201
    cust = await api.login(CUSTOMER, USER_PASSWORD)
    mine = await api.client.get("/api/v1/payments", headers=cust)
    assert mine.status_code == 200
    assert [p["account_id"] for p in mine.json()["items"]] == [ids["C1"]]
    assert mine.json()["total"] == 1
    own_ledger = await api.client.get(f"/api/v1/accounts/{ids['C1']}/ledger", headers=cust)
    assert own_ledger.status_code == 200 and own_ledger.json()["total"] == 1
    p2 = ids["P2"]
    for url in (f"/api/v1/accounts/{p2}/ledger", f"/api/v1/payments?account_id={p2}"):
        assert (await api.client.get(url, headers=cust)).status_code == 404, url
    other = await api.client.post(
        f"/api/v1/accounts/{p2}/payments", json={"amount": "1"}, headers=cust
    )
    assert other.status_code == 404
    own = await api.client.post(
        f"/api/v1/accounts/{ids['C1']}/payments", json={"amount": "1"}, headers=cust
    )
    assert own.status_code == 403
    adjust = await api.client.post(
        f"/api/v1/accounts/{ids['C1']}/adjustments",
        json={"amount": "1", "memo": "gift"},
        headers=cust,
    )
    assert adjust.status_code == 403
    bulk = await api.client.post(
        "/api/v1/payments/bulk",
        content="account,amount\nC1,1\n",
        headers={**cust, "Content-Type": "text/csv"},
    )
    assert bulk.status_code == 403
    assert await _balance(api, "C1") == 3


async def test_agent_pays_its_accounts_only_and_cannot_adjust(api: Api) -> None:
    ids = await _seed(api)
    agent = await api.login(AGENT_USER, USER_PASSWORD)
    mine = await api.client.post(
        f"/api/v1/accounts/{ids['A5']}/payments", json={"amount": "4"}, headers=agent
    )
    assert mine.status_code == 201, mine.text
    assert mine.json()["operator_user_id"] is not None
    foreign = await api.client.post(
        f"/api/v1/accounts/{ids['C1']}/payments", json={"amount": "4"}, headers=agent
    )
    assert foreign.status_code == 404
    adjust = await api.client.post(
        f"/api/v1/accounts/{ids['A5']}/adjustments",
        json={"amount": "1", "memo": "x"},
        headers=agent,
    )
    assert adjust.status_code == 403
    bulk = await api.client.post(
        "/api/v1/payments/bulk",
        content="account,amount\nA5,1\nC1,1\n",
        headers={**agent, "Content-Type": "text/csv"},
    )
    assert bulk.status_code == 422
    assert [(e["line"], e["field"]) for e in bulk.json()["errors"]] == [(3, "account")]
    listed = await api.client.get("/api/v1/payments", headers=agent)
    assert [p["account_id"] for p in listed.json()["items"]] == [ids["A5"]]
    assert await _balance(api, "A5") == 4 and await _balance(api, "C1") == 0


async def test_payment_list_filters_and_pages_newest_first(api: Api) -> None:
    ids = await _seed(api)
    admin = await api.admin()
    start = api.clock.now
    for n, method in enumerate(("cash", "card", "cash", "online", "cash")):
        api.clock.advance(60)
        answer = await api.client.post(
            f"/api/v1/accounts/{ids['C1']}/payments",
            json={"amount": str(n + 1), "method": method},
            headers=admin,
        )
        assert answer.status_code == 201
    first = await api.client.get("/api/v1/payments", params={"page_size": 2}, headers=admin)
    body = first.json()
    assert body["total"] == 5 and body["page_size"] == 2
    assert [Decimal(p["amount"]) for p in body["items"]] == [5, 4]
    third = await api.client.get(
        "/api/v1/payments", params={"page_size": 2, "page": 3}, headers=admin
    )
    assert [Decimal(p["amount"]) for p in third.json()["items"]] == [1]
    cash = await api.client.get("/api/v1/payments", params={"method": "cash"}, headers=admin)
    assert [Decimal(p["amount"]) for p in cash.json()["items"]] == [5, 3, 1]
    window = {
        "since": (start.replace(second=0) + _minutes(2)).isoformat(),
        "until": (start + _minutes(4)).isoformat(),
    }
    timed = await api.client.get("/api/v1/payments", params=window, headers=admin)
    assert [Decimal(p["amount"]) for p in timed.json()["items"]] == [3, 2]
    other = await api.client.get(
        "/api/v1/payments", params={"account_id": ids["P2"]}, headers=admin
    )
    assert other.json()["total"] == 0
    assert json.loads(first.text)["items"][0]["amount"] == "5.000000"


def _minutes(count: int) -> timedelta:
    return timedelta(minutes=count)


# -- the batch reader, without HTTP -------------------------------------------------------------


def test_csv_lines_are_numbered_as_in_the_file() -> None:
    text = '\ufeffAmount,Account,Memo\n1.5,C1,"two\nlines"\n\nx,C2,\n,C3,\n2,,\n3,C4\n-4,C5,ok\n'
    lines, errors = parse_csv(text)
    assert [(line.line, line.account, line.amount, line.memo) for line in lines] == [
        (2, "C1", Decimal("1.5"), "two\nlines"),
        (9, "C5", Decimal(-4), "ok"),
    ]
    assert [(e.line, e.field) for e in errors] == [
        (5, "amount"),
        (6, "amount"),
        (7, "account"),
        (8, "file"),
    ]


def test_csv_header_must_name_known_columns() -> None:
    for header, fragment in (("", "empty"), ("account,cost", "cost"), ("account,memo", "amount")):
        try:
            parse_csv(header + "\nC1,1\n")
        except Invalid as exc:
            assert exc.field == "file" and fragment in exc.message
        else:
            raise AssertionError(f"header {header!r} was accepted")


def test_json_items_report_their_position() -> None:
    lines, errors = parse_items(
        [{"account": "C1", "amount": Decimal("0.1")}, "C2", {"account": "C3", "amount": 0.5}]
    )
    assert [line.line for line in lines] == [1]
    assert [(e.line, e.field) for e in errors] == [(2, "file"), (3, "amount")]


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=6, min_value=-(10**9), max_value=10**9
    )
)
def test_amounts_with_six_places_parse_exactly(value: Decimal) -> None:
    if value == 0:
        return
    assert parse_amount(str(value)) == value
    assert parse_amount(value) == value
    finer = value + Decimal("0.0000001")
    try:
        parse_amount(str(finer))
    except ValueError as exc:
        assert "decimal places" in str(exc) or "at most" in str(exc)
    else:
        raise AssertionError(f"{finer} was accepted")
