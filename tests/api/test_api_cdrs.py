"""CDR query and CSV export over real HTTP, on SQLite and PostgreSQL.

CDRs are written straight into the table with the ORM (the call path's writer is not part of
this issue); each test builds the few rows it needs with :func:`cdr` and checks the answer
against those rows: the time-range rules, the deny hours on the injected clock, every filter,
a keyset walk that sees each row once and in order, the CSV equal to the rows to the last
decimal, the role scope through both endpoints, and the SERVER_QUERY_MAX_SIZE cap.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from api_support import CUSTOMER, T0, USER_PASSWORD, Api
from sqlalchemy import select

from softswitch.api.schemas import CdrOut, CdrPageOut
from softswitch.manage.cdrs import CSV_COLUMNS
from softswitch.operators import Role
from softswitch.storage import sessions
from softswitch.storage.models import Account, Agent
from softswitch.storage.models.cdrs import Cdr

CDRS = "/api/v1/cdrs"
CSV_URL = "/api/v1/cdrs.csv"
DAY = timedelta(days=1)
_calls = itertools.count(1)


def cdr(start: datetime, **values: Any) -> Cdr:
    """An answered one-minute call at ``start`` unless ``values`` say otherwise."""
    number = next(_calls)
    row: dict[str, Any] = {
        "call_id": f"call-{number}@test",
        "start_time": start,
        "answer_time": start + timedelta(seconds=4),
        "end_time": start + timedelta(seconds=64),
        "hold_time_ms": 60_000,
        "billed_seconds": 60,
        "caller": "4420700000",
        "callee": "4930100000",
        "termination_reason": "normal_clearing",
        "sip_status": 200,
        "hangup_side": "caller",
        "currency": "USD",
        "fee": Decimal("0.012345"),
        "agent_fee": Decimal("0.010000"),
        "cost": Decimal("0"),
    }
    row.update(values)
    return Cdr(**row)


async def insert(api: Api, rows: Sequence[Cdr]) -> list[int]:
    """Store ``rows``; their ids in the given order."""
    async with sessions(api.engine).begin() as session:
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def account(api: Api, code: str, agent_id: int | None = None) -> int:
    async with sessions(api.engine).begin() as session:
        if code == "C1":
            found = await session.scalar(select(Account.id).where(Account.code == "C1"))
            assert found is not None
            return int(found)
        row = Account(code=code, currency="USD", agent_id=agent_id)
        session.add(row)
        await session.flush()
        return row.id


def window(start: datetime = T0 - DAY, end: datetime = T0) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


async def ids(api: Api, headers: dict[str, str], **params: Any) -> list[int]:
    answer = await api.client.get(CDRS, params={**window(), **params}, headers=headers)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


async def set_param(api: Api, name: str, value: str) -> None:
    answer = await api.client.put(
        f"/api/v1/params/{name}", json={"value": value}, headers=await api.admin()
    )
    assert answer.status_code == 200, answer.text


def refusal(answer: httpx.Response, status: int, field: str | None) -> str:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["field"] == field
    return str(error["message"])


def csv_rows(answer: httpx.Response) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    reader = csv.reader(io.StringIO(answer.text))
    header = next(reader)
    assert tuple(header) == CSV_COLUMNS
    return [dict(zip(header, line, strict=True)) for line in reader]


# -- time range ------------------------------------------------------------------------------


async def test_time_range_is_required_ordered_and_at_most_the_day_interval(api: Api) -> None:
    headers = await api.admin()
    get = api.client.get
    for url in (CDRS, CSV_URL):
        missing = await get(url, params={"end": T0.isoformat()}, headers=headers)
        assert "start is required" in refusal(missing, 422, "start")
        no_end = await get(url, params={"start": T0.isoformat()}, headers=headers)
        refusal(no_end, 422, "end")
        naive = await get(url, params={"start": "2026-03-01T00:00:00", "end": T0.isoformat()})
        assert naive.status_code in (401, 422)  # no login: refused either way
        naive = await get(
            url, params={"start": "2026-03-01T00:00:00", "end": T0.isoformat()}, headers=headers
        )
        refusal(naive, 422, "start")
        reversed_range = await get(url, params=window(T0, T0 - DAY), headers=headers)
        assert "after start" in refusal(reversed_range, 422, "end")
        empty_range = await get(url, params=window(T0, T0), headers=headers)
        refusal(empty_range, 422, "end")
        too_long = await get(url, params=window(T0 - 32 * DAY, T0), headers=headers)
        assert "31 days" in refusal(too_long, 422, "end")
        assert (await get(url, params=window(T0 - 31 * DAY, T0), headers=headers)).is_success

    await set_param(api, "SERVER_QUERY_CDR_MAX_DAY_INTERVAL", "2")
    for url in (CDRS, CSV_URL):
        three = await get(url, params=window(T0 - 3 * DAY, T0), headers=headers)
        assert "at most 2 days" in refusal(three, 422, "end")
        two = await get(url, params=window(T0 - 2 * DAY, T0), headers=headers)
        assert two.status_code == 200, two.text


async def test_range_is_start_inclusive_end_exclusive_in_any_offset(api: Api) -> None:
    first, middle, last = await insert(api, [cdr(T0 - DAY), cdr(T0 - timedelta(hours=1)), cdr(T0)])
    headers = await api.admin()
    assert await ids(api, headers) == [middle, first]
    # The same instants written with a +05:30 offset select the same rows.
    india = timedelta(hours=5, minutes=30)
    shifted = {
        "start": (T0 - DAY).astimezone(UTC).replace(tzinfo=None).isoformat() + "Z",
        "end": (T0 + india).replace(tzinfo=None).isoformat() + "+05:30",
    }
    answer = await api.client.get(CDRS, params=shifted, headers=headers)
    assert [item["id"] for item in answer.json()["items"]] == [middle, first]
    wider = window(T0 - DAY, T0 + timedelta(seconds=1))
    assert await ids(api, headers, **wider) == [last, middle, first]


# -- deny time -------------------------------------------------------------------------------


async def at(api: Api, when: datetime) -> dict[str, str]:
    """Move the clock to ``when`` and log in again (tokens expire as the clock moves)."""
    api.clock.now = when
    return await api.admin()


async def test_deny_hours_refuse_both_endpoints_with_503_and_the_reopening_hour(api: Api) -> None:
    await insert(api, [cdr(T0 - timedelta(hours=2))])
    await set_param(api, "SERVER_QUERY_CDR_DENY_TIME", "18,19,20,21")
    headers = await at(api, datetime(2026, 3, 1, 19, 30, tzinfo=UTC))
    for url in (CDRS, CSV_URL):
        answer = await api.client.get(url, params=window(), headers=headers)
        assert answer.headers["content-type"].startswith("application/json")
        message = refusal(answer, 503, None)
        assert answer.json()["error"]["code"] == "unavailable"
        assert "19:00-19:59 UTC" in message
        assert "open again at 22:00 UTC" in message
    headers = await at(api, datetime(2026, 3, 1, 21, 59, 59, tzinfo=UTC))
    assert (await api.client.get(CDRS, params=window(), headers=headers)).status_code == 503
    headers = await at(api, datetime(2026, 3, 1, 22, 0, tzinfo=UTC))
    assert len(await ids(api, headers)) == 1
    assert len(csv_rows(await api.client.get(CSV_URL, params=window(), headers=headers))) == 1
    headers = await at(api, datetime(2026, 3, 1, 17, 59, tzinfo=UTC))
    assert len(await ids(api, headers)) == 1


async def test_deny_hours_accept_ranges_that_wrap_past_midnight(api: Api) -> None:
    await set_param(api, "SERVER_QUERY_CDR_DENY_TIME", "23-1")
    headers = await at(api, datetime(2026, 3, 2, 0, 15, tzinfo=UTC))
    answer = await api.client.get(CDRS, params=window(), headers=headers)
    assert "open again at 02:00 UTC" in refusal(answer, 503, None)
    headers = await at(api, datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    assert (await api.client.get(CDRS, params=window(), headers=headers)).status_code == 200
    await set_param(api, "SERVER_QUERY_CDR_DENY_TIME", ",".join(str(h) for h in range(24)))
    closed = await api.client.get(CDRS, params=window(), headers=await api.admin())
    assert "every hour" in refusal(closed, 503, None)


# -- filters ---------------------------------------------------------------------------------


async def test_each_filter_selects_exactly_its_rows(api: Api) -> None:
    c1 = await account(api, "C1")
    c2 = await account(api, "C2")
    t = T0 - timedelta(hours=3)
    rows = [
        cdr(t, caller="4420700001", callee="4930100001", account_id=c1, routing_gateway_id=7),
        cdr(t + timedelta(minutes=1), caller="4420800002", callee="4412345", account_id=c2),
        cdr(
            t + timedelta(minutes=2),
            caller="3314000003",
            callee="441%_x",
            account_id=c2,
            mapping_gateway_id=3,
            answer_time=None,
            termination_reason="no_answer",
            sip_status=480,
        ),
        cdr(t + timedelta(minutes=3), caller="44207", callee="4930100001", routing_gateway_id=8),
    ]
    a, b, c, d = await insert(api, rows)
    headers = await api.admin()
    assert await ids(api, headers) == [d, c, b, a]
    assert await ids(api, headers, caller="4420700001") == [a]
    assert await ids(api, headers, caller="4420*") == [d, b, a]
    assert await ids(api, headers, caller="44208*") == [b]
    assert await ids(api, headers, caller="44207*") == [d, a]
    assert await ids(api, headers, caller="44*") == [d, b, a]
    assert await ids(api, headers, caller="*") == [d, c, b, a]
    assert await ids(api, headers, callee="4930100001") == [d, a]
    assert await ids(api, headers, callee="44*") == [c, b]
    assert await ids(api, headers, callee="441%*") == [c]  # LIKE characters are literal
    assert await ids(api, headers, callee="441_*") == []
    assert await ids(api, headers, account_id=c2) == [c, b]
    assert await ids(api, headers, routing_gateway_id=7) == [a]
    assert await ids(api, headers, mapping_gateway_id=3) == [c]
    assert await ids(api, headers, termination_reason="no_answer") == [c]
    assert await ids(api, headers, answered="true") == [d, b, a]
    assert await ids(api, headers, answered="false") == [c]
    assert await ids(api, headers, account_id=c2, callee="44*", answered="true") == [b]
    bad = await api.client.get(CDRS, params={**window(), "caller": "4*4*"}, headers=headers)
    assert "trailing *" in refusal(bad, 422, "caller")
    unknown = await api.client.get(CDRS, params={**window(), "colour": "red"}, headers=headers)
    refusal(unknown, 422, "colour")


# -- keyset pagination -----------------------------------------------------------------------


async def test_keyset_pages_walk_every_row_once_newest_first(api: Api) -> None:
    base = T0 - timedelta(hours=10)
    # Ties on start_time (three calls per second) must be ordered by id, not lost or repeated.
    rows = [cdr(base + timedelta(seconds=n // 3)) for n in range(23)]
    inserted = await insert(api, rows)
    starts = {ident: row.start_time for ident, row in zip(inserted, rows, strict=True)}
    expected = sorted(inserted, key=lambda ident: (starts[ident], ident), reverse=True)
    headers = await api.admin()
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {**window(), "page_size": 5}
        if cursor is not None:
            params["cursor"] = cursor
        answer = await api.client.get(CDRS, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"items", "next_cursor", "page_size"}
        assert body["page_size"] == 5
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(body["items"]) == 5
    assert seen == expected
    assert pages == 5
    # An exact multiple of the page size ends without an empty extra page.
    twenty = await api.client.get(CDRS, params={**window(), "page_size": 23}, headers=headers)
    assert twenty.json()["next_cursor"] is None and len(twenty.json()["items"]) == 23


async def test_page_size_is_capped_and_bad_cursors_are_refused(api: Api) -> None:
    await insert(api, [cdr(T0 - timedelta(minutes=n + 1)) for n in range(4)])
    headers = await api.admin()
    await set_param(api, "SERVER_QUERY_ONE_PAGE_SIZE", "3")
    answer = await api.client.get(CDRS, params={**window(), "page_size": 50}, headers=headers)
    assert answer.json()["page_size"] == 3 and len(answer.json()["items"]) == 3
    default = await api.client.get(CDRS, params=window(), headers=headers)
    assert len(default.json()["items"]) == 3 and default.json()["next_cursor"] is not None
    for cursor in ("garbage!", "MXxub3R8YQ", ""):
        bad = await api.client.get(CDRS, params={**window(), "cursor": cursor}, headers=headers)
        assert "next_cursor" in refusal(bad, 422, "cursor")
    zero = await api.client.get(CDRS, params={**window(), "page_size": 0}, headers=headers)
    refusal(zero, 422, "page_size")


# -- CSV export ------------------------------------------------------------------------------


async def test_csv_export_equals_the_rows_to_the_last_decimal(api: Api) -> None:
    c1 = await account(api, "C1")
    t = T0 - timedelta(hours=5)
    rows = [
        cdr(
            t + timedelta(seconds=n),
            account_id=c1,
            account_code="C1",
            fee=Decimal(n) / Decimal(1_000_000),
            cost=Decimal("123456789.000001"),
            area_name='Germany, "mobile"',
            fee_unrounded=Decimal(n) / Decimal(1_000_000) - Decimal("0.000001") * (n % 2),
            profit=Decimal(n) - Decimal("3.5"),  # a call sold below cost earns a negative profit
            cost_prefix=f"49{n}",
            record_id=f"00000000-0000-0000-0000-00000000000{n}",
        )
        for n in range(7)
    ]
    rows.append(cdr(t + timedelta(seconds=30), answer_time=None, sip_status=None, fee=Decimal(0)))
    await insert(api, rows)
    headers = await api.admin()
    answer = await api.client.get(CDRS, params=window(), headers=headers)
    items = answer.json()["items"]
    exported = csv_rows(await api.client.get(CSV_URL, params=window(), headers=headers))
    assert len(exported) == len(items) == 8
    for item in items:  # the documented shape, exactly
        assert set(item) == set(CdrOut.model_fields)
        CdrOut.model_validate(item)
    assert set(answer.json()) == set(CdrPageOut.model_fields)
    for line, item in zip(exported, items, strict=True):
        assert int(line["id"]) == item["id"]
        assert datetime.fromisoformat(line["start_time"]) == datetime.fromisoformat(
            item["start_time"]
        )
        assert line["start_time"].endswith("Z")
        for money in ("fee", "agent_fee", "cost", "fee_unrounded", "profit"):
            assert line[money] == item[money]  # the same exact text in JSON and CSV
        for text in ("cost_prefix", "record_id"):
            assert line[text] == (item[text] or "")
    by_id = {int(line["id"]): line for line in exported}
    stored = {row.id: row for row in rows}
    for ident, line in by_id.items():
        row = stored[ident]
        assert Decimal(line["fee"]) == row.fee
        assert Decimal(line["cost"]) == row.cost
        assert Decimal(line["fee_unrounded"]) == row.fee_unrounded
        assert Decimal(line["profit"]) == row.profit
        assert (line["cost_prefix"], line["record_id"]) == (row.cost_prefix, row.record_id or "")
        assert line["area_name"] == row.area_name
        assert datetime.fromisoformat(line["start_time"]) == row.start_time
    unanswered = next(line for line in exported if line["answer_time"] == "")
    assert unanswered["sip_status"] == "" and unanswered["fee"] == "0.000000"
    assert (unanswered["profit"], unanswered["cost_prefix"], unanswered["record_id"]) == (
        "0.000000",
        "",
        "",
    )
    below_cost = next(line for line in exported if line["cost_prefix"] == "490")
    assert below_cost["profit"] == "-3.500000"
    assert exported[-1]["fee"] == "0.000000"  # the oldest row: fee 0 stored, six places shown


async def test_csv_export_streams_in_batches_and_stops_at_the_max_size(api: Api) -> None:
    await insert(api, [cdr(T0 - timedelta(minutes=n + 1)) for n in range(12)])
    headers = await api.admin()
    full = await api.client.get(CSV_URL, params=window(), headers=headers)
    everything = [int(line["id"]) for line in csv_rows(full)]
    assert len(everything) == 12
    assert full.headers["x-row-limit"] == "30000000"
    await set_param(api, "SERVER_QUERY_MAX_SIZE", "5")
    capped = await api.client.get(CSV_URL, params=window(), headers=headers)
    assert [int(line["id"]) for line in csv_rows(capped)] == everything[:5]
    assert capped.headers["x-row-limit"] == "5"
    # The cap is on the export; a page still follows SERVER_QUERY_ONE_PAGE_SIZE.
    assert len(await ids(api, headers)) == 12


# -- role scope ------------------------------------------------------------------------------


async def test_customer_sees_only_its_own_account_through_both_endpoints(api: Api) -> None:
    c1 = await account(api, "C1")
    c2 = await account(api, "C2")
    t = T0 - timedelta(hours=1)
    mine = await insert(api, [cdr(t, account_id=c1), cdr(t + timedelta(seconds=1), account_id=c1)])
    await insert(api, [cdr(t + timedelta(seconds=2), account_id=c2), cdr(t, account_id=None)])
    customer = await api.login(CUSTOMER, USER_PASSWORD)
    assert await ids(api, customer) == mine[::-1]
    exported = csv_rows(await api.client.get(CSV_URL, params=window(), headers=customer))
    assert [int(line["id"]) for line in exported] == mine[::-1]
    # Asking for another account does not widen the scope: the answer is empty, exactly as
    # for an account that does not exist (nothing about other customers is revealed).
    assert await ids(api, customer, account_id=c2) == []
    assert await ids(api, customer, account_id=999_999) == []
    other = await api.client.get(CSV_URL, params={**window(), "account_id": c2}, headers=customer)
    assert csv_rows(other) == []
    assert await ids(api, customer, account_id=c1) == mine[::-1]
    unauthenticated = await api.client.get(CDRS, params=window())
    assert unauthenticated.status_code == 401


async def test_agent_sees_the_cdrs_of_its_accounts_only(api: Api) -> None:
    async with sessions(api.engine).begin() as session:
        agent = Agent(name="reseller")
        session.add(agent)
        await session.flush()
        agent_id = agent.id
    mine = await account(api, "A1", agent_id=agent_id)
    theirs = await account(api, "C9")
    admin = await api.operators.get_user("admin")
    assert admin is not None
    await api.operators.create_user(
        admin.actor, "reseller", USER_PASSWORD, Role.AGENT, agent_id=agent_id
    )
    t = T0 - timedelta(hours=2)
    (visible,) = await insert(api, [cdr(t, account_id=mine, agent_id=agent_id)])
    await insert(api, [cdr(t, account_id=theirs), cdr(t, account_id=None)])
    headers = await api.login("reseller", USER_PASSWORD)
    assert await ids(api, headers) == [visible]
    assert await ids(api, headers, account_id=theirs) == []
    exported = csv_rows(await api.client.get(CSV_URL, params=window(), headers=headers))
    assert [int(line["id"]) for line in exported] == [visible]
    assert len(await ids(api, await api.admin())) == 3


async def test_absurd_inputs_are_422_not_server_errors_on_either_engine(api: Api) -> None:
    """Values a database would choke on (NUL bytes, ids beyond BIGINT, forged cursors with
    far-off times) are refused by the API before they reach it."""
    headers = await api.admin()
    forged = "MXwwMDAxLTAxLTAxVDAwOjAwOjAwKzE0OjAwfDE"  # 1|0001-01-01T00:00:00+14:00|1
    cases = {
        "caller": "44\x00*",
        "callee": "x" * 66,
        "termination_reason": "a\x00b",
        "account_id": str(2**70),
        "routing_gateway_id": "-1",
        "cursor": forged,
    }
    for field, value in cases.items():
        answer = await api.client.get(CDRS, params={**window(), field: value}, headers=headers)
        refusal(answer, 422, field)
    far = {"start": "0001-01-01T00:00:00+14:00", "end": T0.isoformat()}
    for url in (CDRS, CSV_URL):
        refusal(await api.client.get(url, params=far, headers=headers), 422, "start")
