"""System parameters over HTTP: list, get (aliases, suggestions), set with validation, audit,
persistence across app instances, reset, and the role rule."""

from __future__ import annotations

import httpx
from api_support import CUSTOMER, USER_PASSWORD, Api, FakeClock
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from softswitch.params import ParamChange
from softswitch.storage import sessions
from softswitch.storage.models import AuditEntry, ParamOverride

TTL = "/api/v1/params/SS_SIP_SESSION_TTL"


def error_of(answer: httpx.Response) -> dict[str, object]:
    error: dict[str, object] = answer.json()["error"]
    return error


async def test_list_shows_every_parameter_with_its_documentation(api: Api) -> None:
    answer = await api.client.get("/api/v1/params", headers=await api.admin())
    assert answer.status_code == 200
    listed = answer.json()
    assert [item["name"] for item in listed] == list(api.params.registry.names())
    ttl = next(item for item in listed if item["name"] == "SS_SIP_SESSION_TTL")
    assert ttl == {
        "name": "SS_SIP_SESSION_TTL",
        "group": "softswitch.sip",
        "type": "int",
        "value": "600",
        "default": "600",
        "range": "60-86400",
        "allowed": "an integer from 60 to 86400 (seconds)",
        "unit": "s",
        "meaning": "Session-Expires offered and enforced (RFC 4028)",
        "aliases": ["SS_SIP_SESSION_TIMER"],
        "overridden": False,
    }


async def test_list_filters_by_group(api: Api) -> None:
    headers = await api.admin()
    answer = await api.client.get("/api/v1/params", params={"group": "server.security"})
    assert answer.status_code == 401
    answer = await api.client.get(
        "/api/v1/params", params={"group": "server.security"}, headers=headers
    )
    assert answer.status_code == 200
    names = [item["name"] for item in answer.json()]
    assert names == [p.name for p in api.params.registry.in_group("server.security")]
    assert "SERVER_PASSWORD_LENGTH" in names
    assert {item["group"] for item in answer.json()} == {"server.security"}
    unknown = await api.client.get("/api/v1/params", params={"group": "nope"}, headers=headers)
    assert unknown.status_code == 422
    assert error_of(unknown)["field"] == "group"


async def test_get_by_name_and_by_alias_in_any_case(api: Api) -> None:
    headers = await api.admin()
    by_name = await api.client.get(TTL, headers=headers)
    by_alias = await api.client.get("/api/v1/params/ss_sip_session_timer", headers=headers)
    assert by_name.status_code == by_alias.status_code == 200
    assert by_alias.json() == by_name.json()
    assert by_alias.json()["name"] == "SS_SIP_SESSION_TTL"


async def test_unknown_name_is_404_with_a_suggestion(api: Api) -> None:
    answer = await api.client.get("/api/v1/params/SS_SIP_SESION_TTL", headers=await api.admin())
    assert answer.status_code == 404
    assert error_of(answer) == {
        "code": "not_found",
        "message": "unknown parameter 'SS_SIP_SESION_TTL'; did you mean SS_SIP_SESSION_TTL?",
        "field": "name",
    }


async def test_put_valid_value_applies_persists_audits_and_notifies(api: Api) -> None:
    seen: list[ParamChange] = []
    api.params.subscribe(seen.append)
    answer = await api.client.put(
        "/api/v1/params/SS_SIP_SESSION_TIMER", json={"value": " 1200 "}, headers=await api.admin()
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["value"] == "1200"
    assert answer.json()["overridden"] is True
    assert api.params.get_int("SS_SIP_SESSION_TTL") == 1200
    assert seen == [ParamChange("SS_SIP_SESSION_TTL", 600, 1200)]
    async with sessions(api.engine)() as session:
        stored = await session.get(ParamOverride, "SS_SIP_SESSION_TTL")
        audit = list(await session.scalars(select(AuditEntry).where(AuditEntry.entity == "param")))
    assert stored is not None
    assert (stored.value, stored.updated_by) == ("1200", "admin")
    assert len(audit) == 1
    assert (audit[0].username, audit[0].action, audit[0].entity_id) == (
        "admin",
        "update",
        "SS_SIP_SESSION_TTL",
    )
    assert audit[0].before == {"name": "SS_SIP_SESSION_TTL", "value": "600"}
    assert audit[0].after == {"name": "SS_SIP_SESSION_TTL", "value": "1200"}
    assert audit[0].remote_addr == "127.0.0.1"


async def test_put_out_of_range_is_422_with_the_registry_message(api: Api) -> None:
    headers = await api.admin()
    answer = await api.client.put(TTL, json={"value": "30"}, headers=headers)
    assert answer.status_code == 422
    assert error_of(answer) == {
        "code": "invalid",
        "message": "SS_SIP_SESSION_TTL must be an integer from 60 to 86400 (seconds); got '30'",
        "field": "value",
    }
    assert api.params.get_int("SS_SIP_SESSION_TTL") == 600
    async with sessions(api.engine)() as session:
        assert await session.get(ParamOverride, "SS_SIP_SESSION_TTL") is None
    not_text = await api.client.put(TTL, json={"value": 1200}, headers=headers)
    assert not_text.status_code == 422
    assert error_of(not_text)["field"] == "value"
    missing = await api.client.put(TTL, json={}, headers=headers)
    assert missing.status_code == 422
    assert error_of(missing) == {
        "code": "invalid",
        "message": "value is required",
        "field": "value",
    }


async def test_override_survives_a_new_app_on_the_same_database(
    api: Api, engine: AsyncEngine, clock: FakeClock
) -> None:
    answer = await api.client.put(TTL, json={"value": "1800"}, headers=await api.admin())
    assert answer.status_code == 200
    await api.stop()
    second = Api(engine, clock)
    assert second.params.get_int("SS_SIP_SESSION_TTL") == 600
    await second.start()
    try:
        assert second.params.get_int("SS_SIP_SESSION_TTL") == 1800
        shown = await second.client.get(TTL, headers=await second.admin())
        assert (shown.json()["value"], shown.json()["overridden"]) == ("1800", True)
    finally:
        await second.stop()


async def test_delete_resets_to_the_default(api: Api) -> None:
    headers = await api.admin()
    assert (await api.client.put(TTL, json={"value": "900"}, headers=headers)).status_code == 200
    answer = await api.client.delete(TTL, headers=headers)
    assert answer.status_code == 200
    assert (answer.json()["value"], answer.json()["overridden"]) == ("600", False)
    assert api.params.get_int("SS_SIP_SESSION_TTL") == 600
    assert not api.params.is_overridden("SS_SIP_SESSION_TTL")
    async with sessions(api.engine)() as session:
        assert await session.get(ParamOverride, "SS_SIP_SESSION_TTL") is None
        actions = list(
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity == "param")
                .order_by(AuditEntry.id)
            )
        )
    assert actions == ["update", "reset"]
    again = await api.client.delete(TTL, headers=headers)
    assert again.status_code == 200
    assert again.json()["value"] == "600"


async def test_a_customer_may_neither_read_nor_change_parameters(api: Api) -> None:
    headers = await api.login(CUSTOMER, USER_PASSWORD)
    for answer in (
        await api.client.get("/api/v1/params", headers=headers),
        await api.client.get(TTL, headers=headers),
        await api.client.put(TTL, json={"value": "1200"}, headers=headers),
        await api.client.delete(TTL, headers=headers),
    ):
        assert answer.status_code == 403
        assert error_of(answer)["code"] == "forbidden"
    assert api.params.get_int("SS_SIP_SESSION_TTL") == 600
