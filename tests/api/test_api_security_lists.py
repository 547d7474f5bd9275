"""Static black- and whitelists over real HTTP (issue 6 §1), on SQLite and PostgreSQL:
``/api/v1/security/lists`` creates global and per-account entries of every kind with their
values canonical, refuses bad values with what to fix, duplicates (global ones too, which SQL's
NULL rule alone would let through) with 409, lists with filters, updates, deletes, audits, and
is invisible to a customer's login.
"""

from __future__ import annotations

from typing import Any

import httpx
from api_support import CUSTOMER, USER_PASSWORD, Api
from sqlalchemy import select

from softswitch.storage import sessions
from softswitch.storage.models import AuditEntry, ChangeRow

V1 = "/api/v1"
LISTS = "/security/lists"


async def _call(
    api: Api, method: str, url: str, headers: dict[str, str], **kwargs: Any
) -> httpx.Response:
    return await api.client.request(method, V1 + url, headers=headers, **kwargs)


async def _create(api: Api, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    answer = await _call(api, "POST", LISTS, headers, json=body)
    assert answer.status_code == 201, (body, answer.text)
    return dict(answer.json())


def _error(answer: httpx.Response, status: int, field: str) -> str:
    """Assert the API's error shape with ``status`` naming ``field``; the message."""
    assert answer.status_code == status, (answer.status_code, answer.text)
    error = answer.json()["error"]
    assert error["field"] == field, error
    assert error["message"], error
    return str(error["message"])


async def _values(api: Api, headers: dict[str, str], **params: Any) -> list[str]:
    answer = await _call(api, "GET", LISTS, headers, params=params)
    assert answer.status_code == 200, (params, answer.text)
    return [item["value"] for item in answer.json()["items"]]


async def _account(api: Api, headers: dict[str, str], code: str) -> int:
    answer = await _call(api, "POST", "/accounts", headers, json={"code": code, "currency": "USD"})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def test_entries_of_every_kind_global_and_per_account_are_stored_canonical(
    api: Api,
) -> None:
    admin = await api.admin()
    account = await _account(api, admin, "SL-1")
    cases: list[tuple[str, str, str, int | None, str]] = [
        ("blacklist", "ip", "203.0.113.7", None, "203.0.113.7/32"),
        ("blacklist", "ip", " 10.1.2.3/8 ", account, "10.0.0.0/8"),
        ("whitelist", "ip", "2001:DB8::1/64", None, "2001:db8::/64"),
        ("whitelist", "ip", "192.0.2.10", account, "192.0.2.10/32"),
        ("blacklist", "caller", " +4420 ", None, "+4420"),
        ("whitelist", "caller", "4420712", account, "4420712"),
        ("blacklist", "callee", "882", None, "882"),
        ("whitelist", "callee", "+88216", account, "+88216"),
    ]
    for list_type, kind, value, account_id, canonical in cases:
        body: dict[str, Any] = {"list_type": list_type, "kind": kind, "value": value}
        if account_id is not None:
            body["account_id"] = account_id
        created = await _create(api, admin, body)
        assert set(created) == {
            "id",
            "list_type",
            "kind",
            "value",
            "account_id",
            "note",
            "created_at",
            "updated_at",
        }
        assert (created["list_type"], created["kind"]) == (list_type, kind)
        assert (created["value"], created["account_id"]) == (canonical, account_id)
        assert created["note"] == ""
        read = await _call(api, "GET", f"{LISTS}/{created['id']}", admin)
        assert read.status_code == 200 and read.json() == created
    listed = await _call(api, "GET", LISTS, admin)
    assert listed.json()["total"] == len(cases)


async def test_bad_values_are_refused_with_what_to_fix(api: Api) -> None:
    admin = await api.admin()
    bad: list[tuple[dict[str, Any], str, str]] = [
        ({"list_type": "blacklist", "kind": "ip", "value": "44"}, "value", "not an IP address"),
        (
            {"list_type": "blacklist", "kind": "caller", "value": "10.0.0.1"},
            "value",
            "not a number prefix",
        ),
        (
            {"list_type": "blacklist", "kind": "ip", "value": "10.0.0.0/33"},
            "value",
            "neither a number prefix",
        ),
        (
            {"list_type": "whitelist", "kind": "callee", "value": "44a"},
            "value",
            "neither a number prefix",
        ),
        ({"list_type": "whitelist", "kind": "callee", "value": "+"}, "value", "number prefix"),
        ({"list_type": "whitelist", "kind": "callee", "value": ""}, "value", "at least 1"),
        ({"list_type": "greylist", "kind": "ip", "value": "10.0.0.1"}, "list_type", "blacklist"),
        ({"list_type": "blacklist", "kind": "host", "value": "10.0.0.1"}, "kind", "caller"),
        ({"list_type": "blacklist", "kind": "ip"}, "value", "required"),
        (
            {"list_type": "blacklist", "kind": "ip", "value": "10.0.0.1", "account_id": 999},
            "account_id",
            "no account 999",
        ),
        (
            {"list_type": "blacklist", "kind": "ip", "value": "10.0.0.1", "colour": "red"},
            "colour",
            "",
        ),
    ]
    for body, field, fix in bad:
        message = _error(await _call(api, "POST", LISTS, admin, json=body), 422, field)
        assert fix in message, (body, message)
    assert await _values(api, admin) == []

    # a PATCH is checked on the complete entry: the new kind against the stored value
    entry = await _create(api, admin, {"list_type": "blacklist", "kind": "ip", "value": "10.0.0.1"})
    url = f"{LISTS}/{entry['id']}"
    message = _error(await _call(api, "PATCH", url, admin, json={"kind": "caller"}), 422, "value")
    assert "'10.0.0.1/32' is not a number prefix" in message, message
    message = _error(await _call(api, "PATCH", url, admin, json={"value": "4420"}), 422, "value")
    assert "not an IP address" in message, message
    _error(await _call(api, "PATCH", url, admin, json={"value": None}), 422, "value")
    assert (await _call(api, "GET", url, admin)).json() == entry


async def test_duplicates_are_refused_global_ones_too(api: Api) -> None:
    admin = await api.admin()
    one = await _account(api, admin, "SL-D1")
    two = await _account(api, admin, "SL-D2")
    black = {"list_type": "blacklist", "kind": "ip"}
    base = await _create(api, admin, {**black, "value": "198.51.100.1"})
    # another spelling of the same network is the same entry
    for value in ("198.51.100.1", "198.51.100.1/32"):
        answer = await _call(api, "POST", LISTS, admin, json={**black, "value": value})
        message = _error(answer, 409, "value")
        assert "account_id null" in message and "198.51.100.1/32" in message, message
    mine = await _create(api, admin, {**black, "value": "198.51.100.1", "account_id": one})
    answer = await _call(
        api, "POST", LISTS, admin, json={**black, "value": "198.51.100.1/32", "account_id": one}
    )
    _error(answer, 409, "value")
    # the same value on the other list, of another kind or for another account is no duplicate
    await _create(api, admin, {**black, "value": "198.51.100.1", "account_id": two})
    await _create(api, admin, {"list_type": "whitelist", "kind": "ip", "value": "198.51.100.1"})
    await _create(api, admin, {"list_type": "blacklist", "kind": "caller", "value": "198"})
    await _create(api, admin, {"list_type": "blacklist", "kind": "callee", "value": "198"})
    # moving an entry onto another one is a duplicate as well, global or not
    url = f"{LISTS}/{mine['id']}"
    _error(await _call(api, "PATCH", url, admin, json={"account_id": None}), 409, "value")
    _error(await _call(api, "PATCH", url, admin, json={"account_id": two}), 409, "value")
    other = await _create(api, admin, {**black, "value": "198.51.100.2"})
    answer = await _call(
        api, "PATCH", f"{LISTS}/{other['id']}", admin, json={"value": "198.51.100.1"}
    )
    _error(answer, 409, "value")
    # patching an entry to what it already is, is not a conflict with itself
    same = await _call(api, "PATCH", f"{LISTS}/{base['id']}", admin, json={"value": "198.51.100.1"})
    assert same.status_code == 200, same.text
    assert len(await _values(api, admin)) == 7


async def test_list_filters_sort_update_and_delete(api: Api) -> None:
    admin = await api.admin()
    account = await _account(api, admin, "SL-L")
    await _create(api, admin, {"list_type": "blacklist", "kind": "callee", "value": "8822"})
    await _create(api, admin, {"list_type": "blacklist", "kind": "callee", "value": "882"})
    await _create(api, admin, {"list_type": "whitelist", "kind": "callee", "value": "88216"})
    await _create(
        api,
        admin,
        {"list_type": "blacklist", "kind": "caller", "value": "+1900", "account_id": account},
    )
    net = await _create(
        api,
        admin,
        {"list_type": "blacklist", "kind": "ip", "value": "10.9.0.0/16", "note": "scanners"},
    )
    everything = ["+1900", "10.9.0.0/16", "882", "88216", "8822"]
    assert sorted(await _values(api, admin)) == everything  # any collation's order of + and .
    listings: list[tuple[dict[str, Any], list[str]]] = [
        ({"list_type": "whitelist"}, ["88216"]),
        ({"kind": "callee", "list_type": "blacklist"}, ["882", "8822"]),
        ({"kind": "ip"}, ["10.9.0.0/16"]),
        ({"account_id": account}, ["+1900"]),
        ({"value": "882*"}, ["882", "88216", "8822"]),
        ({"value": "882"}, ["882"]),
        ({"kind": "callee", "sort": "-value"}, ["8822", "88216", "882"]),
        ({"kind": "callee", "sort": "list_type,-value"}, ["8822", "882", "88216"]),
    ]
    for params, expected in listings:
        assert await _values(api, admin, **params) == expected, params
    for params, field in (
        ({"kind": "host"}, "kind"),
        ({"list_type": "grey"}, "list_type"),
        ({"note": "scanners"}, "note"),
        ({"sort": "note"}, "sort"),
    ):
        _error(await _call(api, "GET", LISTS, admin, params=params), 422, field)

    url = f"{LISTS}/{net['id']}"
    changed = await _call(
        api,
        "PATCH",
        url,
        admin,
        json={"value": "10.9.8.7/24", "note": "one subnet", "account_id": account},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["value"], body["note"], body["account_id"]) == (
        "10.9.8.0/24",
        "one subnet",
        account,
    )
    assert (body["list_type"], body["kind"]) == ("blacklist", "ip")
    moved = await _call(
        api, "PATCH", url, admin, json={"account_id": None, "list_type": "whitelist"}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["account_id"], moved.json()["list_type"]) == (None, "whitelist")

    # an account is not deleted while it has entries; once they are gone it is
    answer = await _call(api, "DELETE", f"/accounts/{account}", admin)
    message = _error(answer, 409, "id")
    assert "1 security list entry" in message, message
    caller = (await _call(api, "GET", LISTS, admin, params={"account_id": account})).json()
    for item in caller["items"]:
        assert (await _call(api, "DELETE", f"{LISTS}/{item['id']}", admin)).status_code == 204
    assert (await _call(api, "DELETE", f"/accounts/{account}", admin)).status_code == 204

    deleted = await _call(api, "DELETE", url, admin)
    assert deleted.status_code == 204 and deleted.content == b""
    for method in ("GET", "DELETE"):
        assert (await _call(api, method, url, admin)).status_code == 404
    assert await _values(api, admin) == ["882", "88216", "8822"]


async def test_writes_are_audited_and_fed(api: Api) -> None:
    admin = await api.admin()
    entry = await _create(
        api, admin, {"list_type": "blacklist", "kind": "caller", "value": "+4470", "note": "spam"}
    )
    url = f"{LISTS}/{entry['id']}"
    assert (await _call(api, "PATCH", url, admin, json={"note": "spam calls"})).status_code == 200
    assert (await _call(api, "PATCH", url, admin, json={})).status_code == 200  # no change
    assert (await _call(api, "DELETE", url, admin)).status_code == 204
    async with sessions(api.engine)() as session:
        audits = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity == "security_list_entry")
                .order_by(AuditEntry.id)
            )
        ).all()
        changes = (
            await session.scalars(
                select(ChangeRow.action)
                .where(ChangeRow.entity == "security_list_entry")
                .order_by(ChangeRow.id)
            )
        ).all()
    assert [a.action for a in audits] == ["create", "update", "delete"]
    assert list(changes) == ["create", "update", "delete"]
    create, update, delete = audits
    assert {a.entity_id for a in audits} == {str(entry["id"])}
    assert all(a.username == "admin" for a in audits)
    assert create.before is None and create.after is not None
    assert create.after["value"] == "+4470" and create.after["list_type"] == "blacklist"
    assert update.before == create.after
    assert update.after is not None and update.after["note"] == "spam calls"
    assert delete.before == update.after and delete.after is None


async def test_a_customer_cannot_see_or_change_the_lists(api: Api) -> None:
    admin = await api.admin()
    accounts = await _call(api, "GET", "/accounts", admin, params={"code": "C1"})
    c1 = accounts.json()["items"][0]["id"]  # the customer's own account
    own = await _create(
        api,
        admin,
        {"list_type": "whitelist", "kind": "ip", "value": "192.0.2.1", "account_id": c1},
    )
    customer = await api.login(CUSTOMER, USER_PASSWORD)
    listed = await _call(api, "GET", LISTS, customer)
    assert listed.status_code == 403, listed.text
    assert "may not list security list entries" in listed.json()["error"]["message"]
    url = f"{LISTS}/{own['id']}"
    assert (await _call(api, "GET", url, customer)).status_code == 404
    assert (await _call(api, "PATCH", url, customer, json={"note": "x"})).status_code == 404
    assert (await _call(api, "DELETE", url, customer)).status_code == 404
    body = {"list_type": "whitelist", "kind": "ip", "value": "192.0.2.2", "account_id": c1}
    assert (await _call(api, "POST", LISTS, customer, json=body)).status_code == 403
    assert (await _call(api, "GET", url, admin)).json() == own
    assert await _values(api, admin) == ["192.0.2.1/32"]


async def test_openapi_has_the_routes_and_their_schemas(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    paths = document["paths"]
    assert set(paths[V1 + LISTS]) == {"get", "post"}
    assert set(paths[V1 + LISTS + "/{entity_id}"]) == {"get", "patch", "delete"}
    assert paths[V1 + LISTS]["get"]["summary"] == "List security list entries"
    schemas = document["components"]["schemas"]
    create = schemas["SecurityListEntryCreate"]
    assert set(create["required"]) == {"list_type", "kind", "value"}
    assert "CIDR" in create["properties"]["value"]["description"]
