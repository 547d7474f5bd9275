"""CRUD, listing, validation, conflicts and the audit/change trail of every configuration entity
(agents, accounts, phones, mapping and routing gateways, rate tables, rates, security list
entries) over real HTTP, on SQLite and PostgreSQL (issue 3 §2, §5).

Data-driven: each entity is described once by a :class:`Case` (how to create it, what to change,
which optional field a null clears, which required field a null may not touch) and one walk
checks them all, so a new entity costs one table row. One app serves each test function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from api_support import Api
from sqlalchemy import select

from softswitch.manage.entities import REDACTED
from softswitch.storage import sessions
from softswitch.storage.models import Account, AuditEntry, ChangeRow, Reservation

V1 = "/api/v1"
Ids = dict[str, int]


def _same(expected: Any, got: Any) -> bool:
    """JSON answers carry decimals and datetimes as text: compare them as values."""
    if isinstance(expected, Decimal):
        return got is not None and Decimal(str(got)) == expected
    if isinstance(expected, datetime):
        return got is not None and datetime.fromisoformat(got) == expected
    return bool(expected == got)


def _assert_fields(expected: Mapping[str, Any], got: Mapping[str, Any]) -> None:
    for name, value in expected.items():
        assert _same(value, got.get(name)), (name, value, got.get(name))


def _error(answer: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    """Assert ``answer`` is the API's error shape with ``status``, naming ``field``."""
    assert answer.status_code == status, (answer.status_code, answer.text)
    error = answer.json()["error"]
    assert set(error) == {"code", "message", "field"}, error
    assert error["message"], error
    if field is not None:
        named = error["field"] or ""
        assert named == field or named.startswith(field + "."), (field, error)
    return dict(error)


@dataclass(frozen=True)
class Case:
    """One entity: how to create it (given the ids made so far) and what to change."""

    entity: str
    path: Callable[[Ids], str]
    create: Callable[[Ids], dict[str, Any]]
    created: dict[str, Any]
    """Fields of the answer to the create, as values."""
    patch: dict[str, Any]
    patched: dict[str, Any]
    clears: str | None
    """An optional field PATCH null clears (set to a value first by ``patch`` or ``create``)."""
    required: str
    """A required field PATCH null is refused for."""
    secrets: tuple[str, ...] = field(default=())


CASES: tuple[Case, ...] = (
    Case(
        "rate_table",
        lambda ids: "/rate-tables",
        lambda ids: {
            "name": "RT-A",
            "currency": "USD",
            "memo": "retail",
            "time_of_day_mode": "split",
        },
        {
            "name": "RT-A",
            "currency": "USD",
            "memo": "retail",
            "time_of_day_mode": "split",
            "time_zone": "UTC",
        },
        {"memo": "retail 2026", "time_zone": "Europe/London"},
        {
            "memo": "retail 2026",
            "name": "RT-A",
            "currency": "USD",
            "time_zone": "Europe/London",
            "time_of_day_mode": "split",
        },
        None,
        "currency",
    ),
    Case(
        "rate",
        lambda ids: f"/rate-tables/{ids['rate_table']}/rates",
        lambda ids: {
            "prefix": "4420",
            "area_name": "London",
            "rate_per_minute": "0.012345",
            "initial_increment": 6,
            "subsequent_increment": 6,
            "effective_from": "2026-01-01T00:00:00Z",
            "profile": " mon-fri 08:00-18:00 ",
        },
        {
            "prefix": "4420",
            "rate_per_minute": Decimal("0.012345"),
            "connection_fee": Decimal(0),
            "initial_increment": 6,
            "effective_from": datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
            "effective_to": None,
            "first_price": None,
            "min_duration": 0,
            "profile": "mon-fri 08:00-18:00",
        },
        {
            "effective_to": "2026-06-01T00:00:00+00:00",
            "connection_fee": "0.000001",
            "first_price": "0.05",
            "min_duration": 30,
        },
        {
            "effective_to": datetime.fromisoformat("2026-06-01T00:00:00+00:00"),
            "connection_fee": Decimal("0.000001"),
            "area_name": "London",
            "rate_per_minute": Decimal("0.012345"),
            "first_price": Decimal("0.05"),
            "min_duration": 30,
            "profile": "mon-fri 08:00-18:00",
        },
        "effective_to",
        "rate_per_minute",
    ),
    Case(
        "agent",
        lambda ids: "/agents",
        lambda ids: {"name": "AG-A", "rate_table_id": ids["rate_table"]},
        {"name": "AG-A", "enabled": True, "memo": ""},
        {"memo": "wholesale", "enabled": False},
        {"memo": "wholesale", "enabled": False, "name": "AG-A"},
        "rate_table_id",
        "name",
    ),
    Case(
        "account",
        lambda ids: "/accounts",
        lambda ids: {
            "code": "ACC-A",
            "currency": "USD",
            "agent_id": ids["agent"],
            "rate_table_id": ids["rate_table"],
            "billing_mode": "postpaid",
            "credit_limit": "12.5",
            "max_concurrent_calls": 5,
        },
        {
            "code": "ACC-A",
            "billing_mode": "postpaid",
            "credit_limit": Decimal("12.5"),
            "balance": Decimal(0),
            "reserved": Decimal(0),
            "status": "active",
            "max_concurrent_calls": 5,
            "daily_spend_limit": None,
            "routing_mode": "priority",
            "lcr_min_margin": Decimal(0),
        },
        {
            "name": "Acme",
            "credit_limit": "20.000001",
            "daily_spend_limit": "3.5",
            "routing_mode": "least_cost",
            "lcr_min_margin": "0.002",
        },
        {
            "name": "Acme",
            "credit_limit": Decimal("20.000001"),
            "daily_spend_limit": Decimal("3.5"),
            "max_concurrent_calls": 5,
            "code": "ACC-A",
            "routing_mode": "least_cost",
            "lcr_min_margin": Decimal("0.002"),
            "reserved": Decimal(0),
        },
        "max_concurrent_calls",
        "currency",
    ),
    Case(
        "phone",
        lambda ids: "/phones",
        lambda ids: {
            "number": "5551000",
            "account_id": ids["account"],
            "password": "secret-pw-1",
            "caller_id": "5551000",
            "allowed_ips": ["192.0.2.7", "198.51.100.0/24"],
        },
        {
            "number": "5551000",
            "registration": "dynamic",
            "caller_id": "5551000",
            "allowed_ips": ["192.0.2.7/32", "198.51.100.0/24"],
            "enabled": True,
        },
        {"display_name": "Desk", "behind_nat": True},
        {"display_name": "Desk", "behind_nat": True, "caller_id": "5551000"},
        "caller_id",
        "account_id",
        ("password",),
    ),
    Case(
        "mapping_gateway",
        lambda ids: "/mapping-gateways",
        lambda ids: {
            "name": "MG-A",
            "account_id": ids["account"],
            "source_ips": ["10.0.0.1"],
            "capacity": 30,
            "callee_rewrite": ["strip 2", "add 44"],
        },
        {
            "name": "MG-A",
            "source_ips": ["10.0.0.1/32"],
            "capacity": 30,
            "callee_rewrite": ["strip 2", "add 44"],
        },
        {"allowed_prefixes": ["44", "49"], "transport": "tcp"},
        {"allowed_prefixes": ["44", "49"], "transport": "tcp", "capacity": 30},
        "capacity",
        "name",
    ),
    Case(
        "routing_gateway",
        lambda ids: "/routing-gateways",
        lambda ids: {
            "name": "RG-A",
            "host": "carrier.example",
            "port": 5060,
            "prefixes": ["44"],
            "rate_table_id": ids["rate_table"],
            "failover_codes": [503, 486, 503],
            "register_username": "acme",
            "register_password": "carrier-secret",
        },
        {
            "name": "RG-A",
            "registration": "static",
            "failover_codes": [486, 503],
            "priority": 0,
            "weight": 1,
        },
        {"priority": 5, "asr_threshold_percent": 30},
        {"priority": 5, "asr_threshold_percent": 30, "host": "carrier.example"},
        "rate_table_id",
        "priority",
        ("register_password",),
    ),
    Case(
        "security_list_entry",
        lambda ids: "/security/lists",
        lambda ids: {
            "list_type": "blacklist",
            "kind": "ip",
            "value": "203.0.113.7",
            "account_id": ids["account"],
        },
        {"list_type": "blacklist", "kind": "ip", "value": "203.0.113.7/32", "note": ""},
        {"value": "203.0.113.9/24", "note": "scanners"},
        {"value": "203.0.113.0/24", "note": "scanners", "kind": "ip"},
        "account_id",
        "value",
    ),
)


async def _call(
    api: Api, method: str, url: str, headers: dict[str, str], **kwargs: Any
) -> httpx.Response:
    return await api.client.request(method, V1 + url, headers=headers, **kwargs)


async def _create(api: Api, headers: dict[str, str], url: str, body: dict[str, Any]) -> Any:
    answer = await _call(api, "POST", url, headers, json=body)
    assert answer.status_code == 201, (url, answer.text)
    return answer.json()


async def test_crud_of_every_entity(api: Api) -> None:
    admin = await api.admin()
    ids: Ids = {}
    for case in CASES:
        path = case.path(ids)
        created = await _create(api, admin, path, case.create(ids))
        _assert_fields(case.created, created)
        ids[case.entity] = created["id"]
        url = f"{path}/{created['id']}"

        read = await _call(api, "GET", url, admin)
        assert read.status_code == 200, read.text
        assert read.json() == created, case.entity

        listed = await _call(api, "GET", path, admin)
        assert listed.status_code == 200, listed.text
        assert created["id"] in [item["id"] for item in listed.json()["items"]], case.entity

        patched = await _call(api, "PATCH", url, admin, json=case.patch)
        assert patched.status_code == 200, (case.entity, patched.text)
        _assert_fields(case.patched, patched.json())
        unchanged = {k: v for k, v in created.items() if k not in case.patch and k != "updated_at"}
        assert {k: patched.json()[k] for k in unchanged} == unchanged, case.entity
        again = await _call(api, "GET", url, admin)
        assert again.json() == patched.json(), case.entity

        if case.clears is not None:
            assert patched.json()[case.clears] is not None, case.entity
            cleared = await _call(api, "PATCH", url, admin, json={case.clears: None})
            assert cleared.status_code == 200, (case.entity, cleared.text)
            assert cleared.json()[case.clears] is None, case.entity
        before = (await _call(api, "GET", url, admin)).json()
        refused = await _call(api, "PATCH", url, admin, json={case.required: None})
        _error(refused, 422, case.required)
        assert (await _call(api, "GET", url, admin)).json() == before, case.entity

        missing = await _call(api, "GET", f"{path}/999999", admin)
        _error(missing, 404, None)

    # delete in reverse order (dependents first), then each is gone
    for case in reversed(CASES):
        url = f"{case.path(ids)}/{ids[case.entity]}"
        deleted = await _call(api, "DELETE", url, admin)
        assert deleted.status_code == 204, (case.entity, deleted.text)
        assert deleted.content == b""
        _error(await _call(api, "GET", url, admin), 404, None)
        _error(await _call(api, "PATCH", url, admin, json={}), 404, None)
        _error(await _call(api, "DELETE", url, admin), 404, None)


# -- listing ------------------------------------------------------------------------------


async def _set_param(api: Api, headers: dict[str, str], name: str, value: str) -> None:
    answer = await _call(api, "PUT", f"/params/{name}", headers, json={"value": value})
    assert answer.status_code == 200, answer.text


async def _keys(
    api: Api, headers: dict[str, str], path: str, key: str, params: dict[str, Any]
) -> list[Any]:
    answer = await _call(api, "GET", path, headers, params=params)
    assert answer.status_code == 200, (path, params, answer.text)
    body = answer.json()
    assert set(body) == {"items", "total", "page", "page_size"}
    return [item[key] for item in body["items"]]


async def test_list_filters_sort_and_pages(api: Api) -> None:
    admin = await api.admin()
    table = await _create(api, admin, "/rate-tables", {"name": "RT-L", "currency": "EUR"})
    await _create(api, admin, "/rate-tables", {"name": "RT-M", "currency": "USD"})
    agent = await _create(api, admin, "/agents", {"name": "AG-L"})
    codes = ["LST-03", "LST-01", "LST-05", "LST-02", "LST-04"]
    accounts: dict[str, int] = {}
    for index, code in enumerate(codes):
        body: dict[str, Any] = {"code": code, "currency": "EUR", "name": f"n{index % 2}"}
        if index % 2:
            body.update(agent_id=agent["id"], status="locked", rate_table_id=table["id"])
        accounts[code] = (await _create(api, admin, "/accounts", body))["id"]
    await _create(api, admin, "/accounts", {"code": "LSX_1", "currency": "EUR"})
    for number in ("4420700", "4420701", "4930100"):
        await _create(api, admin, "/phones", {"number": number, "account_id": accounts["LST-01"]})
    await _create(
        api,
        admin,
        "/routing-gateways",
        {"name": "RG-OFF", "host": "10.1.1.1", "enabled": False, "priority": 9},
    )
    await _create(api, admin, "/routing-gateways", {"name": "RG-ON", "host": "10.1.1.2"})
    for prefix, rate in (("44", "0.02"), ("4420", "0.01"), ("49", "0.03")):
        await _create(
            api,
            admin,
            f"/rate-tables/{table['id']}/rates",
            {"prefix": prefix, "rate_per_minute": rate, "area_name": f"A{prefix}"},
        )
    rates = f"/rate-tables/{table['id']}/rates"

    listings: list[tuple[str, str, dict[str, Any], list[Any]]] = [
        ("/accounts", "code", {"code": "LST-*"}, sorted(codes)),
        ("/accounts", "code", {"code": "LST-*", "sort": "-code"}, sorted(codes, reverse=True)),
        ("/accounts", "code", {"code": "LS*"}, [*sorted(codes), "LSX_1"]),
        ("/accounts", "code", {"code": "LS_*"}, []),  # _ is no wildcard
        ("/accounts", "code", {"code": "LST-02"}, ["LST-02"]),
        ("/accounts", "code", {"code": "LST-%*"}, []),  # % is no wildcard either
        ("/accounts", "code", {"code": "LST-0"}, []),  # without * the match is exact
        ("/accounts", "code", {"status": "locked"}, ["LST-01", "LST-02"]),
        ("/accounts", "code", {"agent_id": agent["id"]}, ["LST-01", "LST-02"]),
        ("/accounts", "code", {"rate_table_id": table["id"], "name": "n1"}, ["LST-01", "LST-02"]),
        ("/accounts", "code", {"currency": "USD"}, ["C1"]),
        ("/accounts", "code", {"name": "n0", "sort": "-id"}, ["LST-04", "LST-05", "LST-03"]),
        ("/phones", "number", {"number": "4420*"}, ["4420700", "4420701"]),
        ("/phones", "number", {"sort": "-number"}, ["4930100", "4420701", "4420700"]),
        ("/routing-gateways", "name", {"enabled": "false"}, ["RG-OFF"]),
        ("/routing-gateways", "name", {"sort": "-priority"}, ["RG-OFF", "RG-ON"]),
        ("/routing-gateways", "name", {"host": "10.1.1.*"}, ["RG-OFF", "RG-ON"]),
        ("/rate-tables", "name", {"currency": "EUR"}, ["RT-L"]),
        ("/rate-tables", "name", {"sort": "-name"}, ["RT-M", "RT-L"]),
        ("/agents", "name", {"name": "AG-*"}, ["AG-L"]),
        (rates, "prefix", {}, ["44", "4420", "49"]),
        (rates, "prefix", {"prefix": "44*"}, ["44", "4420"]),
        (rates, "prefix", {"sort": "-rate_per_minute"}, ["49", "44", "4420"]),
        (rates, "prefix", {"area_name": "A49"}, ["49"]),
    ]
    for path, key, params, expected in listings:
        assert await _keys(api, admin, path, key, params) == expected, (path, params)

    # pages of 2 walk every row once, in order, with the total on each page
    seen: list[str] = []
    for page in (1, 2, 3, 4):
        answer = await _call(
            api, "GET", "/accounts", admin, params={"code": "LST*", "page": page, "page_size": 2}
        )
        body = answer.json()
        assert (body["total"], body["page"], body["page_size"]) == (5, page, 2), body
        seen += [item["code"] for item in body["items"]]
        assert len(body["items"]) == (2 if page < 3 else 1 if page == 3 else 0)
    assert seen == sorted(codes)

    # the page size is capped by SERVER_QUERY_ONE_PAGE_SIZE, and is its default
    await _set_param(api, admin, "SERVER_QUERY_ONE_PAGE_SIZE", "3")
    for params in ({"page_size": 100}, {}):
        answer = await _call(api, "GET", "/accounts", admin, params=params)
        body = answer.json()
        assert body["page_size"] == 3, body
        assert len(body["items"]) == 3 and body["total"] == 7, body
    answer = await _call(api, "GET", "/accounts", admin, params={"page": 3})
    assert [item["code"] for item in answer.json()["items"]] == ["LSX_1"]

    refusals: list[tuple[str, dict[str, Any], str]] = [
        ("/accounts", {"colour": "red"}, "colour"),
        ("/accounts", {"balance": "1"}, "balance"),  # not a filter of accounts
        ("/accounts", {"sort": "password"}, "sort"),
        ("/accounts", {"sort": "code,-nope"}, "sort"),
        ("/accounts", {"code": "L*T*"}, "code"),
        ("/accounts", {"page": 0}, "page"),
        ("/accounts", {"page_size": 0}, "page_size"),
        ("/accounts", {"agent_id": "x"}, "agent_id"),
        ("/accounts", {"status": "sleeping"}, "status"),
        ("/phones", {"password": "x"}, "password"),
        ("/routing-gateways", {"enabled": "maybe"}, "enabled"),
        (rates, {"rate_per_minute": "1"}, "rate_per_minute"),
    ]
    for path, params, named in refusals:
        _error(await _call(api, "GET", path, admin, params=params), 422, named)

    # matching is case-sensitive, the prefix match like the exact one, on both engines (SQLite's
    # LIKE ignores ASCII case unless told otherwise; PostgreSQL's does not)
    assert await _keys(api, admin, "/accounts", "code", {"code": "lst-02"}) == []
    assert await _keys(api, admin, "/accounts", "code", {"code": "lst-*"}) == []


# -- validation and conflicts ---------------------------------------------------------------


async def test_validation_errors_name_the_field(api: Api) -> None:
    admin = await api.admin()
    table = await _create(api, admin, "/rate-tables", {"name": "RT-V", "currency": "USD"})
    account = await _create(api, admin, "/accounts", {"code": "ACC-V", "currency": "USD"})
    acc = account["id"]
    rates = f"/rate-tables/{table['id']}/rates"
    bad: list[tuple[str, dict[str, Any], int, str]] = [
        ("/accounts", {"code": "X1", "currency": "usd"}, 422, "currency"),
        ("/accounts", {"code": "X1", "currency": "US"}, 422, "currency"),
        ("/accounts", {"code": "X1"}, 422, "currency"),
        ("/accounts", {"code": "X1", "currency": "USD", "credit_limit": "-1"}, 422, "credit_limit"),
        (
            "/accounts",
            {"code": "X1", "currency": "USD", "credit_limit": "0.0000001"},
            422,
            "credit_limit",
        ),
        (
            "/accounts",
            {"code": "X1", "currency": "USD", "daily_spend_limit": "1.1234567"},
            422,
            "daily_spend_limit",
        ),
        ("/accounts", {"code": "X1", "currency": "USD", "agent_id": 999}, 422, "agent_id"),
        (
            "/accounts",
            {"code": "X1", "currency": "USD", "rate_table_id": 999},
            422,
            "rate_table_id",
        ),
        ("/accounts", {"code": "-X1", "currency": "USD"}, 422, "code"),
        ("/accounts", {"code": "X1", "currency": "USD", "colour": "red"}, 422, "colour"),
        (
            "/accounts",
            {"code": "X1", "currency": "USD", "valid_until": "2026-01-01T00:00:00"},
            422,
            "valid_until",
        ),
        ("/accounts", {"code": "C1", "currency": "USD"}, 409, "code"),
        ("/agents", {"name": "AG-X", "rate_table_id": 999}, 422, "rate_table_id"),
        ("/rate-tables", {"name": "RT-V", "currency": "USD"}, 409, "name"),
        ("/rate-tables", {"name": "RT-X", "currency": "EURO"}, 422, "currency"),
        ("/phones", {"number": "100", "account_id": 999}, 422, "account_id"),
        ("/phones", {"number": "10 0", "account_id": acc}, 422, "number"),
        (
            "/phones",
            {"number": "100", "account_id": acc, "allowed_ips": ["1.2.3"]},
            422,
            "allowed_ips",
        ),
        (
            "/phones",
            {"number": "100", "account_id": acc, "allowed_ips": ["10.0.0.0/33"]},
            422,
            "allowed_ips",
        ),
        ("/phones", {"number": "100", "account_id": acc, "password": "short"}, 422, "password"),
        ("/phones", {"number": "100", "account_id": acc, "registration": "static"}, 422, "host"),
        ("/phones", {"number": "100", "account_id": acc, "port": 70000}, 422, "port"),
        ("/mapping-gateways", {"name": "MG-X", "account_id": acc}, 422, "source_ips"),
        (
            "/mapping-gateways",
            {"name": "MG-X", "account_id": acc, "source_ips": ["example.com"]},
            422,
            "source_ips",
        ),
        (
            "/mapping-gateways",
            {"name": "MG-X", "account_id": acc, "auth_username": "trunk"},
            422,
            "auth_password",
        ),
        (
            "/mapping-gateways",
            {
                "name": "MG-X",
                "account_id": acc,
                "source_ips": ["10.0.0.1"],
                "callee_rewrite": ["chop 2"],
            },
            422,
            "callee_rewrite",
        ),
        (
            "/mapping-gateways",
            {"name": "MG-X", "account_id": 999, "source_ips": ["10.0.0.1"]},
            422,
            "account_id",
        ),
        (
            "/mapping-gateways",
            {
                "name": "MG-X",
                "account_id": acc,
                "source_ips": ["10.0.0.1"],
                "allowed_prefixes": ["44a"],
            },
            422,
            "allowed_prefixes",
        ),
        ("/routing-gateways", {"name": "RG-X"}, 422, "host"),
        ("/routing-gateways", {"name": "RG-X", "registration": "dynamic"}, 422, "auth_username"),
        (
            "/routing-gateways",
            {"name": "RG-X", "host": "h", "failover_codes": [200]},
            422,
            "failover_codes",
        ),
        (
            "/routing-gateways",
            {"name": "RG-X", "host": "h", "failover_codes": [700]},
            422,
            "failover_codes",
        ),
        (
            "/routing-gateways",
            {"name": "RG-X", "host": "h", "caller_rewrite": ["strip 0"]},
            422,
            "caller_rewrite",
        ),
        (
            "/routing-gateways",
            {"name": "RG-X", "host": "h", "callee_rewrite": ["regex (1 x"]},
            422,
            "callee_rewrite",
        ),
        (
            "/routing-gateways",
            {"name": "RG-X", "host": "h", "caller_id_rules": ["regex 1(2) \\2"]},
            422,
            "caller_id_rules",
        ),
        ("/routing-gateways", {"name": "RG-X", "host": "bad host"}, 422, "host"),
        ("/routing-gateways", {"name": "RG-X", "host": "h", "priority": -1}, 422, "priority"),
        (
            "/routing-gateways",
            {"name": "RG-X", "host": "h", "register_username": "u"},
            422,
            "register_password",
        ),
        (
            "/routing-gateways",
            {"name": "RG-X", "host": "h", "rate_table_id": 999},
            422,
            "rate_table_id",
        ),
        (rates, {"prefix": "44", "rate_per_minute": "-0.01"}, 422, "rate_per_minute"),
        (rates, {"prefix": "44", "rate_per_minute": "0.0000001"}, 422, "rate_per_minute"),
        (rates, {"prefix": "4x", "rate_per_minute": "0.01"}, 422, "prefix"),
        (
            rates,
            {"prefix": "44", "rate_per_minute": "0.01", "initial_increment": 0},
            422,
            "initial_increment",
        ),
        (
            rates,
            {
                "prefix": "44",
                "rate_per_minute": "0.01",
                "effective_from": "2026-02-01T00:00:00Z",
                "effective_to": "2026-01-01T00:00:00Z",
            },
            422,
            "effective_to",
        ),
        (
            rates,
            {
                "prefix": "44",
                "rate_per_minute": "0.01",
                "effective_from": "2026-02-01T00:00:00Z",
                "effective_to": "2026-02-01T00:00:00Z",
            },
            422,
            "effective_to",
        ),
        (
            "/rate-tables/999/rates",
            {"prefix": "44", "rate_per_minute": "0.01"},
            404,
            "rate_table_id",
        ),
    ]
    for path, body, status, named in bad:
        _error(await _call(api, "POST", path, admin, json=body), status, named)
    # nothing of the refused writes was stored
    assert await _keys(api, admin, "/accounts", "code", {}) == ["ACC-V", "C1"]
    for path in ("/phones", "/mapping-gateways", "/routing-gateways", "/agents", rates):
        assert await _keys(api, admin, path, "id", {}) == [], path

    # duplicates by create and by update, each naming the field
    phone = await _create(api, admin, "/phones", {"number": "200", "account_id": acc})
    other = await _create(api, admin, "/phones", {"number": "201", "account_id": acc})
    _error(
        await _call(api, "POST", "/phones", admin, json={"number": "200", "account_id": acc}),
        409,
        "number",
    )
    _error(
        await _call(api, "PATCH", f"/phones/{other['id']}", admin, json={"number": "200"}),
        409,
        "number",
    )
    assert (
        await _call(api, "PATCH", f"/phones/{phone['id']}", admin, json={"number": "200"})
    ).status_code == 200
    mapping = {"account_id": acc, "auth_username": "trunk1", "auth_password": "trunk-secret"}
    await _create(api, admin, "/mapping-gateways", {"name": "MG-1", **mapping})
    _error(
        await _call(api, "POST", "/mapping-gateways", admin, json={"name": "MG-2", **mapping}),
        409,
        "auth_username",
    )
    _error(
        await _call(
            api,
            "POST",
            "/mapping-gateways",
            admin,
            json={"name": "MG-1", "account_id": acc, "source_ips": ["10.9.9.9"]},
        ),
        409,
        "name",
    )
    await _create(
        api,
        admin,
        rates,
        {"prefix": "44", "rate_per_minute": "0.01", "effective_from": "2026-01-01T00:00:00Z"},
    )
    _error(
        await _call(
            api,
            "POST",
            rates,
            admin,
            json={
                "prefix": "44",
                "rate_per_minute": "0.02",
                "effective_from": "2026-01-01T00:00:00Z",
            },
        ),
        409,
        "effective_from",
    )
    # a cross-field rule is checked on the complete values after a patch
    static = await _create(api, admin, "/routing-gateways", {"name": "RG-S", "host": "h"})
    _error(
        await _call(api, "PATCH", f"/routing-gateways/{static['id']}", admin, json={"host": None}),
        422,
        "host",
    )
    _error(
        await _call(
            api,
            "PATCH",
            f"/routing-gateways/{static['id']}",
            admin,
            json={"registration": "dynamic"},
        ),
        422,
        "auth_username",
    )
    _error(
        await _call(api, "PATCH", f"/accounts/{acc}", admin, json={"agent_id": 999}),
        422,
        "agent_id",
    )
    _error(
        await _call(api, "PATCH", f"/accounts/{acc}", admin, json={"credit_limit": "-5"}),
        422,
        "credit_limit",
    )
    # a rule the regex engine refuses for its size is a bad rule like any other, not a 500
    for rules in (["regex 1{9999999999} 2"], ["strip ²"]):
        body = {"name": "RG-BIG", "host": "h", "callee_rewrite": rules}
        _error(
            await _call(api, "POST", "/routing-gateways", admin, json=body), 422, "callee_rewrite"
        )


async def test_delete_refused_while_used_and_rates_under_their_table(api: Api) -> None:
    admin = await api.admin()
    table = await _create(api, admin, "/rate-tables", {"name": "RT-D", "currency": "USD"})
    agent = await _create(api, admin, "/agents", {"name": "AG-D"})
    account = await _create(
        api,
        admin,
        "/accounts",
        {"code": "ACC-D", "currency": "USD", "rate_table_id": table["id"], "agent_id": agent["id"]},
    )
    phone = await _create(api, admin, "/phones", {"number": "300", "account_id": account["id"]})
    # a phone created without a password gets a long random one
    assert len(phone["password"]) >= 16
    other = await _create(api, admin, "/phones", {"number": "301", "account_id": account["id"]})
    assert other["password"] != phone["password"]
    assert (await _call(api, "DELETE", f"/phones/{other['id']}", admin)).status_code == 204
    used: list[tuple[str, str]] = [
        (f"/rate-tables/{table['id']}", "account"),
        (f"/agents/{agent['id']}", "account"),
        (f"/accounts/{account['id']}", "phone"),
    ]
    for url, by in used:
        error = _error(await _call(api, "DELETE", url, admin), 409, "id")
        assert by in error["message"], error
        assert (await _call(api, "GET", url, admin)).status_code == 200, url
    # once the users are gone, the delete goes through
    assert (await _call(api, "DELETE", f"/phones/{phone['id']}", admin)).status_code == 204
    patch = {"rate_table_id": None, "agent_id": None}
    assert (
        await _call(api, "PATCH", f"/accounts/{account['id']}", admin, json=patch)
    ).status_code == 200
    for url, _ in used:
        assert (await _call(api, "DELETE", url, admin)).status_code == 204, url

    # rates live under their table
    one = await _create(api, admin, "/rate-tables", {"name": "RT-1", "currency": "USD"})
    two = await _create(api, admin, "/rate-tables", {"name": "RT-2", "currency": "USD"})
    rate = await _create(
        api, admin, f"/rate-tables/{one['id']}/rates", {"prefix": "1", "rate_per_minute": "0.5"}
    )
    assert rate["rate_table_id"] == one["id"]
    wrong = f"/rate-tables/{two['id']}/rates/{rate['id']}"
    _error(await _call(api, "GET", wrong, admin), 404, None)
    _error(await _call(api, "PATCH", wrong, admin, json={"area_name": "x"}), 404, None)
    _error(await _call(api, "DELETE", wrong, admin), 404, None)
    assert await _keys(api, admin, f"/rate-tables/{two['id']}/rates", "id", {}) == []
    _error(await _call(api, "GET", "/rate-tables/999/rates", admin), 404, None)
    right = await _call(api, "GET", f"/rate-tables/{one['id']}/rates/{rate['id']}", admin)
    assert right.status_code == 200 and right.json()["area_name"] == ""
    # the rates go with their table
    assert (await _call(api, "DELETE", f"/rate-tables/{one['id']}", admin)).status_code == 204
    _error(
        await _call(api, "GET", f"/rate-tables/{one['id']}/rates/{rate['id']}", admin), 404, None
    )


async def test_billing_fields_of_rate_tables_rates_and_accounts(api: Api) -> None:
    """Issue 5: time zones and profiles are checked with the parser's reason, one prefix may
    have a rate per profile from one date, and ``reserved`` is shown but never settable."""
    admin = await api.admin()
    table = await _create(api, admin, "/rate-tables", {"name": "RT-B", "currency": "USD"})
    assert (table["time_of_day_mode"], table["time_zone"]) == ("answer", "UTC")
    url = f"/rate-tables/{table['id']}"
    for body, named in (
        ({"name": "RT-Z", "currency": "USD", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": "RT-Z", "currency": "USD", "time_zone": "../etc/passwd"}, "time_zone"),
        ({"name": "RT-Z", "currency": "USD", "time_of_day_mode": "peak"}, "time_of_day_mode"),
    ):
        _error(await _call(api, "POST", "/rate-tables", admin, json=body), 422, named)
    error = _error(
        await _call(api, "PATCH", url, admin, json={"time_zone": "Europe/Londn"}), 422, "time_zone"
    )
    assert "'Europe/Londn' is not a known IANA time zone" in error["message"], error
    moved = await _call(api, "PATCH", url, admin, json={"time_zone": "America/New_York"})
    assert moved.status_code == 200 and moved.json()["time_zone"] == "America/New_York"

    rates = f"{url}/rates"
    start = "2026-01-01T00:00:00Z"
    base = {"prefix": "44", "rate_per_minute": "0.02", "effective_from": start}
    for extra, named in (
        ({"profile": "mon-fry 08:00-18:00"}, "profile"),
        ({"profile": "mon-fri 25:00-26:00"}, "profile"),
        ({"profile": "x" * 65}, "profile"),
        ({"profile": "sat\n08:00-10:00"}, "profile"),
        ({"min_duration": 86401}, "min_duration"),
        ({"min_duration": -1}, "min_duration"),
        ({"first_price": "-0.01"}, "first_price"),
        ({"first_price": "0.0000001"}, "first_price"),
    ):
        _error(await _call(api, "POST", rates, admin, json={**base, **extra}), 422, named)
    error = _error(
        await _call(api, "POST", rates, admin, json={**base, "profile": "mon-fry"}), 422, "profile"
    )
    assert "unknown day 'fry'" in error["message"], error
    anytime = await _create(api, admin, rates, base)
    assert (anytime["profile"], anytime["first_price"], anytime["min_duration"]) == ("", None, 0)
    peak = await _create(api, admin, rates, {**base, "profile": "mon-fri 08:00-18:00"})
    offpeak = await _create(
        api, admin, rates, {**base, "rate_per_minute": "0.01", "profile": "mon-fri 18:00-08:00"}
    )
    again = await _call(api, "POST", rates, admin, json={**base, "profile": "mon-fri 08:00-18:00"})
    error = _error(again, 409, "effective_from")
    assert "profile mon-fri 08:00-18:00" in error["message"], error
    clash = await _call(
        api, "PATCH", f"{rates}/{offpeak['id']}", admin, json={"profile": "mon-fri 08:00-18:00"}
    )
    _error(clash, 409, "effective_from")
    assert await _keys(api, admin, rates, "id", {"profile": "mon-fri 08*"}) == [peak["id"]]
    assert sorted(await _keys(api, admin, rates, "id", {})) == sorted(
        [anytime["id"], peak["id"], offpeak["id"]]
    )

    account = await _create(api, admin, "/accounts", {"code": "ACC-B", "currency": "USD"})
    assert (account["reserved"], account["routing_mode"]) == ("0.000000", "priority")
    assert Decimal(account["lcr_min_margin"]) == 0
    acc_url = f"/accounts/{account['id']}"
    for method, path, body, named in (
        ("POST", "/accounts", {"code": "ACC-R", "currency": "USD", "reserved": "1"}, "reserved"),
        ("PATCH", acc_url, {"reserved": "0"}, "reserved"),
        ("PATCH", acc_url, {"routing_mode": "cheapest"}, "routing_mode"),
        ("PATCH", acc_url, {"lcr_min_margin": "-0.1"}, "lcr_min_margin"),
        ("PATCH", acc_url, {"lcr_min_margin": None}, "lcr_min_margin"),
    ):
        _error(await _call(api, method, path, admin, json=body), 422, named)
    # reserved is the call path's: the API shows it, and a live call keeps the account
    async with sessions(api.engine).begin() as session:
        session.add(
            Reservation(ref="live-1", account_id=account["id"], amount=Decimal(2), node="n1")
        )
        row = await session.get(Account, account["id"])
        assert row is not None
        row.reserved = Decimal(2)
    shown = (await _call(api, "GET", acc_url, admin)).json()
    assert Decimal(shown["reserved"]) == 2
    error = _error(await _call(api, "DELETE", acc_url, admin), 409, "id")
    assert "1 live call reservation" in error["message"], error


# -- audit and change feed ------------------------------------------------------------------


async def _trail(api: Api, entity: str, entity_id: int) -> tuple[list[AuditEntry], list[ChangeRow]]:
    async with sessions(api.engine)() as session:
        audits = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id))
                .order_by(AuditEntry.id)
            )
        ).all()
        changes = (
            await session.scalars(
                select(ChangeRow)
                .where(ChangeRow.entity == entity, ChangeRow.entity_id == str(entity_id))
                .order_by(ChangeRow.id)
            )
        ).all()
    return list(audits), list(changes)


async def test_every_write_is_audited_and_fed(api: Api) -> None:
    admin = await api.admin()
    ids: Ids = {}
    for case in CASES:
        path = case.path(ids)
        created = await _create(api, admin, path, case.create(ids))
        ids[case.entity] = created["id"]
        url = f"{path}/{created['id']}"
        patched = (await _call(api, "PATCH", url, admin, json=case.patch)).json()
        # a refused write and a no-op patch leave no trace
        await _call(api, "PATCH", url, admin, json={case.required: None})
        await _call(api, "PATCH", url, admin, json={})
        audits, changes = await _trail(api, case.entity, created["id"])
        assert [a.action for a in audits] == ["create", "update"], case.entity
        assert [c.action for c in changes] == ["create", "update"], case.entity
        assert all(a.username == "admin" and a.remote_addr == "127.0.0.1" for a in audits)
        create, update = audits
        assert create.before is None and update.after is not None and create.after is not None
        assert create.after["id"] == created["id"]
        assert update.before == create.after, case.entity
        for name in case.patch:
            assert _same(case.patched[name], update.after[name]), (case.entity, name)
        for secret in case.secrets:
            assert create.after[secret] == REDACTED, (case.entity, secret)
            assert update.before[secret] == REDACTED
            assert REDACTED not in (created[secret], patched[secret])
            text = repr([a.before for a in audits] + [a.after for a in audits])
            assert str(created[secret]) not in text, (case.entity, secret)
    # a refused delete writes nothing
    table = await _create(api, admin, "/rate-tables", {"name": "RT-Z", "currency": "USD"})
    await _create(
        api, admin, "/accounts", {"code": "Z1", "currency": "USD", "rate_table_id": table["id"]}
    )
    assert (await _call(api, "DELETE", f"/rate-tables/{table['id']}", admin)).status_code == 409
    audits, changes = await _trail(api, "rate_table", table["id"])
    assert [a.action for a in audits] == ["create"] and [c.action for c in changes] == ["create"]
    for case in reversed(CASES):
        url = f"{case.path(ids)}/{ids[case.entity]}"
        assert (await _call(api, "DELETE", url, admin)).status_code == 204
        audits, changes = await _trail(api, case.entity, ids[case.entity])
        assert [a.action for a in audits] == ["create", "update", "delete"], case.entity
        assert [c.action for c in changes] == ["create", "update", "delete"], case.entity
        assert audits[-1].after is None and audits[-1].before == audits[-2].after


async def test_patch_refuses_fields_the_entity_does_not_have(api: Api) -> None:
    """A PATCH body with an unknown field is refused as a POST body is (``extra="forbid"``): a
    typo (``pasword``) or a field only other paths may change (``balance``, a rate's table) must
    not answer 200 while changing nothing."""
    admin = await api.admin()
    table = await _create(api, admin, "/rate-tables", {"name": "RT-P", "currency": "USD"})
    other = await _create(api, admin, "/rate-tables", {"name": "RT-Q", "currency": "USD"})
    account = await _create(api, admin, "/accounts", {"code": "ACC-P", "currency": "USD"})
    phone = await _create(api, admin, "/phones", {"number": "400", "account_id": account["id"]})
    rates = f"/rate-tables/{table['id']}/rates"
    rate = await _create(api, admin, rates, {"prefix": "1", "rate_per_minute": "0.5"})
    for url, body in (
        (f"/accounts/{account['id']}", {"colour": "red"}),
        (f"/accounts/{account['id']}", {"balance": "1000"}),
        (f"/phones/{phone['id']}", {"pasword": "new-secret-1"}),
        (f"{rates}/{rate['id']}", {"rate_table_id": other["id"]}),
    ):
        before = (await _call(api, "GET", url, admin)).json()
        _error(await _call(api, "PATCH", url, admin, json=body), 422, next(iter(body)))
        assert (await _call(api, "GET", url, admin)).json() == before, url


async def test_a_secret_only_change_is_audited_and_fed_without_showing_it(api: Api) -> None:
    """Snapshots redact secrets, so comparing them cannot tell that a password changed; the
    write must still leave its audit row (marked as changed) and its change-feed row."""
    admin = await api.admin()
    phone = await api.client.post(
        "/api/v1/phones",
        json={"number": "7001", "account_id": 1, "password": "old-secret-1"},
        headers=admin,
    )
    assert phone.status_code == 201
    phone_id = phone.json()["id"]
    changed = await api.client.patch(
        f"/api/v1/phones/{phone_id}", json={"password": "new-secret-2"}, headers=admin
    )
    assert changed.status_code == 200 and changed.json()["password"] == "new-secret-2"
    async with sessions(api.engine)() as session:
        audit = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.entity == "phone",
                    AuditEntry.entity_id == str(phone_id),
                    AuditEntry.action == "update",
                )
            )
        ).all()
        feed = (
            await session.scalars(
                select(ChangeRow).where(
                    ChangeRow.entity == "phone",
                    ChangeRow.entity_id == str(phone_id),
                    ChangeRow.action == "update",
                )
            )
        ).all()
    assert len(audit) == 1 and len(feed) == 1
    assert audit[0].before is not None and audit[0].after is not None
    assert audit[0].before["password"] == REDACTED
    assert audit[0].after["password"] == "[redacted, changed]"
    assert "new-secret-2" not in str(audit[0].after) and "old-secret-1" not in str(audit[0].before)
    same = await api.client.patch(
        f"/api/v1/phones/{phone_id}", json={"password": "new-secret-2"}, headers=admin
    )
    assert same.status_code == 200
    async with sessions(api.engine)() as session:
        rows = (
            await session.scalars(select(AuditEntry).where(AuditEntry.entity_id == str(phone_id)))
        ).all()
    assert len([row for row in rows if row.action == "update"]) == 1  # no-op writes nothing
