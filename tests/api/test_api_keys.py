"""API keys for scripts over HTTP (issue 3 §3): create (session login only), use, list without
secrets, revoke, expiry on the injected clock, role scope of a customer's key, death with a
disabled or deleted user, and audit rows that never hold the key."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
from api_support import CUSTOMER, T0, USER_PASSWORD, Api
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from softswitch.storage import sessions
from softswitch.storage.models import ApiToken, AuditEntry, OperatorUser
from softswitch.storage.repos import hash_token

KEYS = "/api/v1/api-keys"
PARAMS = "/api/v1/params"


def error_of(answer: httpx.Response) -> dict[str, object]:
    error: dict[str, object] = answer.json()["error"]
    return error


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


async def make_key(
    api: Api, headers: dict[str, str], name: str = "nightly backup", **extra: str
) -> dict[str, object]:
    answer = await api.client.post(KEYS, json={"name": name, **extra}, headers=headers)
    assert answer.status_code == 201, answer.text
    body: dict[str, object] = answer.json()
    return body


async def audit_rows(api: Api) -> list[AuditEntry]:
    async with sessions(api.engine)() as session:
        query = select(AuditEntry).where(AuditEntry.entity == "api_key").order_by(AuditEntry.id)
        return list(await session.scalars(query))


async def set_user(session: AsyncSession, username: str, **values: object) -> None:
    await session.execute(
        update(OperatorUser).where(OperatorUser.username == username).values(**values)
    )


async def test_create_shows_the_key_once_and_it_authenticates_as_its_owner(api: Api) -> None:
    created = await make_key(api, await api.admin())
    key = str(created["key"])
    assert key.startswith("sk_") and len(key) > 40
    assert created["name"] == "nightly backup"
    assert when(str(created["created_at"])) == T0
    assert (created["expires_at"], created["last_used_at"], created["revoked_at"]) == (
        None,
        None,
        None,
    )
    used = await api.client.get(PARAMS, headers=bearer(key))
    assert used.status_code == 200
    assert len(used.json()) == len(api.params.registry)
    async with sessions(api.engine)() as session:
        row = await session.get(ApiToken, created["id"])
    assert row is not None
    assert (row.kind, row.name, row.token_hash) == ("api_key", "nightly backup", hash_token(key))
    assert row.last_used_at == T0


async def test_list_shows_metadata_and_never_the_secret(api: Api) -> None:
    headers = await api.admin()
    first = await make_key(api, headers, "billing export")
    second = await make_key(api, headers, "monitoring", expires_at="2026-06-01T00:00:00+02:00")
    await api.client.get(PARAMS, headers=bearer(str(first["key"])))
    answer = await api.client.get(KEYS, headers=headers)
    assert answer.status_code == 200
    listed = answer.json()
    assert [item["name"] for item in listed] == ["billing export", "monitoring"]
    assert all(
        set(item) == {"id", "name", "created_at", "expires_at", "last_used_at", "revoked_at"}
        for item in listed
    )
    for created in (first, second):
        assert str(created["key"]) not in answer.text
        assert hash_token(str(created["key"])) not in answer.text
    assert when(listed[0]["last_used_at"]) == T0
    assert listed[1]["last_used_at"] is None
    assert when(listed[1]["expires_at"]) == datetime.fromisoformat("2026-05-31T22:00:00+00:00")


async def test_last_use_is_written_at_most_once_a_minute(api: Api) -> None:
    headers = await api.admin()
    key = bearer(str((await make_key(api, headers))["key"]))

    async def last_used() -> datetime | None:
        listed = (await api.client.get(KEYS, headers=headers)).json()
        return when(listed[0]["last_used_at"])

    assert (await api.client.get(PARAMS, headers=key)).status_code == 200
    assert await last_used() == T0
    api.clock.advance(59)
    assert (await api.client.get(PARAMS, headers=key)).status_code == 200
    assert await last_used() == T0
    api.clock.advance(1)
    assert (await api.client.get(PARAMS, headers=key)).status_code == 200
    assert await last_used() == T0 + timedelta(seconds=60)


async def test_revoked_key_gets_401_and_the_audit_rows_hold_no_secret(api: Api) -> None:
    headers = await api.admin()
    created = await make_key(api, headers)
    key = str(created["key"])
    assert (await api.client.get(PARAMS, headers=bearer(key))).status_code == 200
    api.clock.advance(5)
    gone = await api.client.delete(f"{KEYS}/{created['id']}", headers=headers)
    assert gone.status_code == 204
    refused = await api.client.get(PARAMS, headers=bearer(key))
    assert refused.status_code == 401
    assert error_of(refused)["field"] == "Authorization"
    listed = (await api.client.get(KEYS, headers=headers)).json()
    assert when(listed[0]["revoked_at"]) == T0 + timedelta(seconds=5)
    again = await api.client.delete(f"{KEYS}/{created['id']}", headers=headers)
    assert again.status_code == 204
    rows = await audit_rows(api)
    assert [(row.action, row.username, row.entity_id) for row in rows] == [
        ("create", "admin", str(created["id"])),
        ("revoke", "admin", str(created["id"])),
    ]
    assert rows[0].after is not None and rows[0].after["name"] == "nightly backup"
    assert rows[1].before is not None and rows[1].before["revoked_at"] is None
    assert rows[1].after is not None and when(rows[1].after["revoked_at"]) == T0 + timedelta(
        seconds=5
    )
    assert rows[0].remote_addr == "127.0.0.1"
    for row in rows:
        stored = json.dumps([row.before, row.after])
        assert key not in stored and key[3:] not in stored
        assert hash_token(key) not in stored


async def test_expiry_follows_the_clock(api: Api) -> None:
    headers = await api.admin()
    created = await make_key(api, headers, expires_at="2026-03-01T09:00:00Z")
    key = bearer(str(created["key"]))
    api.clock.advance(3599)
    assert (await api.client.get(PARAMS, headers=key)).status_code == 200
    api.clock.advance(1)
    expired = await api.client.get(PARAMS, headers=key)
    assert expired.status_code == 401
    assert error_of(expired)["code"] == "unauthenticated"


async def test_expiry_must_be_aware_and_ahead_and_the_name_not_blank(api: Api) -> None:
    headers = await api.admin()
    cases = [
        ({"name": "x", "expires_at": "2026-03-01T08:00:00Z"}, "expires_at", "future"),
        ({"name": "x", "expires_at": "2020-01-01T00:00:00+00:00"}, "expires_at", "future"),
        ({"name": "x", "expires_at": "2027-01-01T00:00:00"}, "expires_at", "timezone"),
        ({"name": "x", "expires_at": "9999-12-31T23:59:59-23:59"}, "expires_at", "range"),
        ({"name": "   "}, "name", "blank"),
        ({"name": "two\nlines"}, "name", "one line"),
        ({}, "name", "required"),
    ]
    for body, field, words in cases:
        answer = await api.client.post(KEYS, json=body, headers=headers)
        assert answer.status_code == 422, body
        assert error_of(answer)["field"] == field
        assert words in str(error_of(answer)["message"]), error_of(answer)
    assert (await api.client.get(KEYS, headers=headers)).json() == []
    assert await audit_rows(api) == []
    for key_id in (0, 2**31):  # the id column is a 32-bit integer on PostgreSQL
        answer = await api.client.delete(f"{KEYS}/{key_id}", headers=headers)
        assert answer.status_code == 422
        assert error_of(answer)["field"] == "key_id"


async def test_a_key_cannot_make_keys_nor_log_out(api: Api) -> None:
    headers = await api.admin()
    key = bearer(str((await make_key(api, headers))["key"]))
    refused = await api.client.post(KEYS, json={"name": "second"}, headers=key)
    assert refused.status_code == 403
    assert error_of(refused)["field"] == "Authorization"
    assert "log in" in str(error_of(refused)["message"])
    logout = await api.client.post("/api/v1/auth/logout", headers=key)
    assert logout.status_code == 403
    listed = await api.client.get(KEYS, headers=key)
    assert listed.status_code == 200
    assert [item["name"] for item in listed.json()] == ["nightly backup"]
    unauthenticated = await api.client.post(KEYS, json={"name": "x"})
    assert unauthenticated.status_code == 401


async def test_a_customer_key_sees_only_what_the_customer_sees(api: Api) -> None:
    admin = await api.admin()
    admin_key = await make_key(api, admin, "admin script")
    customer = await api.login(CUSTOMER, USER_PASSWORD)
    created = await make_key(api, customer, "my script")
    key = bearer(str(created["key"]))
    assert (await api.client.get(PARAMS, headers=customer)).status_code == 403
    assert (await api.client.get(PARAMS, headers=key)).status_code == 403
    mine = await api.client.get(KEYS, headers=key)
    assert [item["name"] for item in mine.json()] == ["my script"]
    other = await api.client.get(KEYS, params={"username": "admin"}, headers=key)
    assert other.status_code == 403
    assert error_of(other)["field"] == "username"
    theirs = await api.client.delete(f"{KEYS}/{admin_key['id']}", headers=key)
    assert theirs.status_code == 404
    assert (await api.client.get(PARAMS, headers=bearer(str(admin_key["key"])))).status_code == 200
    user = await api.client.post(
        "/api/v1/users",
        json={"username": "sneaky", "password": "long-enough", "role": "admin"},
        headers=key,
    )
    assert user.status_code == 403
    # The admin sees and revokes the customer's keys; its own list stays its own.
    assert [item["name"] for item in (await api.client.get(KEYS, headers=admin)).json()] == [
        "admin script"
    ]
    seen = await api.client.get(KEYS, params={"username": CUSTOMER}, headers=admin)
    assert [item["name"] for item in seen.json()] == ["my script"]
    unknown = await api.client.get(KEYS, params={"username": "nobody"}, headers=admin)
    assert unknown.status_code == 404
    assert error_of(unknown)["field"] == "username"
    assert (await api.client.delete(f"{KEYS}/{created['id']}", headers=admin)).status_code == 204
    assert (await api.client.get(KEYS, headers=key)).status_code == 401
    rows = await audit_rows(api)
    assert [(row.action, row.username) for row in rows] == [
        ("create", "admin"),
        ("create", CUSTOMER),
        ("revoke", "admin"),
    ]


async def test_a_session_token_id_is_not_an_api_key(api: Api) -> None:
    headers = await api.admin()
    async with sessions(api.engine)() as session:
        session_ids = list(await session.scalars(select(ApiToken.id)))
    for token_id in session_ids:
        answer = await api.client.delete(f"{KEYS}/{token_id}", headers=headers)
        assert answer.status_code == 404
        assert error_of(answer)["field"] == "key_id"
    assert (await api.client.get(PARAMS, headers=headers)).status_code == 200


async def test_a_key_dies_with_its_user_disabled_or_deleted(api: Api) -> None:
    customer = await api.login(CUSTOMER, USER_PASSWORD)
    key = bearer(str((await make_key(api, customer))["key"]))
    assert (await api.client.get(KEYS, headers=key)).status_code == 200
    async with sessions(api.engine).begin() as session:
        await set_user(session, CUSTOMER, enabled=False)
    assert (await api.client.get(KEYS, headers=key)).status_code == 401
    async with sessions(api.engine).begin() as session:
        await set_user(session, CUSTOMER, enabled=True)
    assert (await api.client.get(KEYS, headers=key)).status_code == 200
    async with sessions(api.engine).begin() as session:
        await session.execute(delete(OperatorUser).where(OperatorUser.username == CUSTOMER))
    assert (await api.client.get(KEYS, headers=key)).status_code == 401
    async with sessions(api.engine)() as session:
        left = list(await session.scalars(select(ApiToken.kind)))
    assert "api_key" not in left
