"""Operator users over HTTP: create with role and scope (admin only), password rules, and
setting passwords."""

from __future__ import annotations

import httpx
from api_support import ADMIN_PASSWORD, CUSTOMER, USER_PASSWORD, Api

from softswitch.operators import ADMIN_USERNAME


def error_of(answer: httpx.Response) -> dict[str, object]:
    error: dict[str, object] = answer.json()["error"]
    return error


async def test_admin_creates_an_operator_who_can_log_in(api: Api) -> None:
    answer = await api.client.post(
        "/api/v1/users",
        json={"username": "olga", "password": "long-enough", "role": "operator"},
        headers=await api.admin(),
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["username"], body["role"], body["enabled"]) == ("olga", "operator", True)
    assert "password" not in body and "password_hash" not in body
    headers = await api.login("olga", "long-enough")
    changed = await api.client.put(
        "/api/v1/params/SS_SIP_SESSION_TTL", json={"value": "700"}, headers=headers
    )
    assert changed.status_code == 200


async def test_password_too_short_is_422_naming_password(api: Api) -> None:
    answer = await api.client.post(
        "/api/v1/users",
        json={"username": "olga", "password": "short", "role": "operator"},
        headers=await api.admin(),
    )
    assert answer.status_code == 422
    error = error_of(answer)
    assert error["field"] == "password"
    assert "8" in str(error["message"])


async def test_bad_role_username_taken_and_scope_name_their_field(api: Api) -> None:
    headers = await api.admin()
    role = await api.client.post(
        "/api/v1/users",
        json={"username": "x1", "password": "long-enough", "role": "king"},
        headers=headers,
    )
    assert role.status_code == 422
    assert error_of(role)["field"] == "role"
    taken = await api.client.post(
        "/api/v1/users",
        json={"username": CUSTOMER, "password": "long-enough", "role": "operator"},
        headers=headers,
    )
    assert taken.status_code == 409
    assert error_of(taken)["field"] == "username"
    scope = await api.client.post(
        "/api/v1/users",
        json={"username": "x2", "password": "long-enough", "role": "customer"},
        headers=headers,
    )
    assert scope.status_code == 422
    assert error_of(scope)["field"] == "role"
    name = await api.client.post(
        "/api/v1/users",
        json={"username": "bad name", "password": "long-enough", "role": "operator"},
        headers=headers,
    )
    assert name.status_code == 422
    assert error_of(name)["field"] == "username"


async def test_only_an_admin_creates_users(api: Api) -> None:
    answer = await api.client.post(
        "/api/v1/users",
        json={"username": "olga", "password": "long-enough", "role": "operator"},
        headers=await api.login(CUSTOMER, USER_PASSWORD),
    )
    assert answer.status_code == 403
    assert error_of(answer)["code"] == "forbidden"


async def test_admin_sets_a_password_and_a_user_changes_its_own(api: Api) -> None:
    admin = await api.admin()
    url = f"/api/v1/users/{CUSTOMER}/password"
    answer = await api.client.put(url, json={"new_password": "second-pass"}, headers=admin)
    assert answer.status_code == 204
    own = await api.login(CUSTOMER, "second-pass")
    short = await api.client.put(
        url, json={"new_password": "tiny", "old_password": "second-pass"}, headers=own
    )
    assert short.status_code == 422
    assert error_of(short)["field"] == "new_password"
    wrong_old = await api.client.put(
        url, json={"new_password": "third-pass", "old_password": "not-mine"}, headers=own
    )
    assert wrong_old.status_code == 422
    assert error_of(wrong_old)["field"] == "old_password"
    ok = await api.client.put(
        url, json={"new_password": "third-pass", "old_password": "second-pass"}, headers=own
    )
    assert ok.status_code == 204
    await api.login(CUSTOMER, "third-pass")
    others = await api.client.put(
        f"/api/v1/users/{ADMIN_USERNAME}/password",
        json={"new_password": "taken-over", "old_password": ADMIN_PASSWORD},
        headers=own,
    )
    assert others.status_code == 403
    unknown = await api.client.put(
        "/api/v1/users/nobody/password", json={"new_password": "whatever1"}, headers=admin
    )
    assert unknown.status_code == 404
    assert error_of(unknown)["field"] == "username"


async def test_admin_lists_reads_changes_and_deletes_users(api: Api) -> None:
    admin = await api.admin()
    client = api.client
    created = await client.post(
        "/api/v1/users",
        json={"username": "olga", "password": "long-enough", "role": "operator"},
        headers=admin,
    )
    assert created.status_code == 201
    listed = await client.get("/api/v1/users", headers=admin)
    assert [u["username"] for u in listed.json()] == [ADMIN_USERNAME, CUSTOMER, "olga"]
    olga = await api.login("olga", "long-enough")

    # An operator sees only its own login and may not change or delete users.
    own = await client.get("/api/v1/users", headers=olga)
    assert [u["username"] for u in own.json()] == ["olga"]
    assert (await client.get(f"/api/v1/users/{CUSTOMER}", headers=olga)).status_code == 404
    refused = await client.patch(f"/api/v1/users/{CUSTOMER}", json={"enabled": False}, headers=olga)
    assert refused.status_code == 403
    assert (await client.delete(f"/api/v1/users/{CUSTOMER}", headers=olga)).status_code == 403

    # Disabling a user ends its session at the next request.
    disabled = await client.patch("/api/v1/users/olga", json={"enabled": False}, headers=admin)
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert (await client.get("/api/v1/users", headers=olga)).status_code == 401

    # A role change drops the scope the new role does not use; a scoped role needs its scope.
    to_agent = await client.patch("/api/v1/users/olga", json={"role": "agent"}, headers=admin)
    assert to_agent.status_code == 422 and error_of(to_agent)["field"] == "role"
    to_customer = await client.patch(
        "/api/v1/users/olga", json={"role": "customer", "account_id": 1}, headers=admin
    )
    assert to_customer.status_code == 200
    assert (to_customer.json()["role"], to_customer.json()["account_id"]) == ("customer", 1)

    deleted = await client.delete("/api/v1/users/olga", headers=admin)
    assert deleted.status_code == 204
    assert (await client.get("/api/v1/users/olga", headers=admin)).status_code == 404


async def test_the_last_admin_cannot_be_demoted_disabled_or_deleted(api: Api) -> None:
    admin = await api.admin()
    client = api.client
    for body in ({"role": "operator"}, {"enabled": False}):
        answer = await client.patch(f"/api/v1/users/{ADMIN_USERNAME}", json=body, headers=admin)
        assert answer.status_code == 409, answer.text
        assert "last enabled admin" in str(error_of(answer)["message"])
    own = await client.delete(f"/api/v1/users/{ADMIN_USERNAME}", headers=admin)
    assert own.status_code == 403
    # With a second admin, the first may step down.
    await client.post(
        "/api/v1/users",
        json={"username": "root2", "password": "long-enough", "role": "admin"},
        headers=admin,
    )
    stepped = await client.patch(
        f"/api/v1/users/{ADMIN_USERNAME}", json={"role": "operator"}, headers=admin
    )
    assert stepped.status_code == 200 and stepped.json()["role"] == "operator"


async def test_an_admin_lifts_a_lockout(api: Api) -> None:
    for _ in range(5):
        await api.client.post(
            "/api/v1/auth/login", json={"username": CUSTOMER, "password": "wrong-password"}
        )
    locked = await api.client.post(
        "/api/v1/auth/login", json={"username": CUSTOMER, "password": USER_PASSWORD}
    )
    assert locked.status_code == 423
    admin = await api.login(ADMIN_USERNAME, ADMIN_PASSWORD)
    lifted = await api.client.patch(
        f"/api/v1/users/{CUSTOMER}", json={"unlock": True}, headers=admin
    )
    assert lifted.status_code == 200 and lifted.json()["locked_until"] is None
    await api.login(CUSTOMER, USER_PASSWORD)


async def test_the_audit_log_lists_changes_newest_first_for_admins_only(api: Api) -> None:
    admin = await api.admin()
    client = api.client
    for name in ("olga", "oleg"):
        await client.post(
            "/api/v1/users",
            json={"username": name, "password": "long-enough", "role": "operator"},
            headers=admin,
        )
    listed = await client.get(
        "/api/v1/audit", params={"entity": "operator_user", "action": "create"}, headers=admin
    )
    assert listed.status_code == 200, listed.text
    body = listed.json()
    names = [row["after"]["username"] for row in body["items"]]
    assert names[:2] == ["oleg", "olga"]  # newest first
    assert all(row["after"]["password_hash"] == "[redacted]" for row in body["items"])
    one = await client.get(
        "/api/v1/audit", params={"entity": "operator_user", "page_size": 1}, headers=admin
    )
    assert len(one.json()["items"]) == 1 and one.json()["total"] >= 3
    customer = await api.login(CUSTOMER, USER_PASSWORD)
    assert (await client.get("/api/v1/audit", headers=customer)).status_code == 403
    reversed_range = await client.get(
        "/api/v1/audit",
        params={"start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
        headers=admin,
    )
    assert reversed_range.status_code == 422 and error_of(reversed_range)["field"] == "end"
