"""``/api/v1/security/bans`` and ``/security/alarms`` over real HTTP, with a real guard behind
them (issue 6 §1: every ban, suspension and dynamic listing is visible and can be lifted by an
operator, with an audit row). SQLite only: the state is in memory; the database only holds the
audit rows, whose storage the other API tests cover on both engines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_support import CUSTOMER, USER_PASSWORD, Api

from softswitch.security import BanReason, EntryType

ATTACKER = "203.0.113.9"

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def flood(api: Api, host: str = ATTACKER) -> None:
    """Enough packets at one instant to empty the default bucket (burst 200): a flood ban."""
    for _ in range(250):
        api.guard.admit_packet(host, b"OPTIONS sip:x SIP/2.0\r\n\r\n", api.mono)


async def test_bans_suspensions_and_listings_are_listed_with_their_end(api: Api) -> None:
    flood(api)
    for _ in range(6):
        api.guard.auth_failed("198.51.100.7", "1001", api.mono)
    for _ in range(100):
        api.guard.call_ended(None, "4412345", False, api.mono)
    headers = await api.admin()

    answer = await api.client.get("/api/v1/security/bans", headers=headers)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    found = {(item["type"], item["key"], item["reason"]) for item in body["items"]}
    assert found == {
        ("ban", ATTACKER, BanReason.FLOOD.value),
        ("suspension", "198.51.100.7", "auth"),
        ("blacklist", "4412345", "no_answer"),
    }
    ban = next(item for item in body["items"] if item["type"] == "ban")
    assert ban["remaining_s"] == 300  # SS_FLOOD_BAN_TIME's default
    assert ban["until"].startswith((api.clock.now + timedelta(seconds=300)).isoformat()[:19])
    assert ban["dropped"] == 50  # 200 passed (the burst), the other 50 were dropped
    assert body["dropped_packets"] == 50


async def test_lifting_a_ban_admits_the_source_again_and_is_audited(api: Api) -> None:
    flood(api)
    assert not api.guard.admit_packet(ATTACKER, b"x", api.mono)
    headers = await api.admin()

    lifted = await api.client.delete(f"/api/v1/security/bans/ban/{ATTACKER}", headers=headers)

    assert lifted.status_code == 204, lifted.text
    assert api.guard.admit_packet(ATTACKER, b"x", api.mono)
    again = await api.client.delete(f"/api/v1/security/bans/ban/{ATTACKER}", headers=headers)
    assert again.status_code == 404
    assert ATTACKER in again.json()["error"]["message"]
    audit = await api.client.get(
        "/api/v1/audit", params={"entity": "security_ban"}, headers=headers
    )
    assert audit.status_code == 200, audit.text
    rows = audit.json()["items"]
    assert [(row["action"], row["entity_id"]) for row in rows] == [("lift", f"ban:{ATTACKER}")]


async def test_a_username_suspension_is_lifted_by_its_address_and_name(api: Api) -> None:
    api.guard.auth_succeeded("192.0.2.10", "1002", api.mono)  # a proven NAT address
    for _ in range(6):
        api.guard.auth_failed("192.0.2.10", "1001", api.mono)
    assert api.guard.auth_suspended("192.0.2.10", "1001", api.mono)
    headers = await api.admin()

    lifted = await api.client.delete(
        "/api/v1/security/bans/suspension/192.0.2.10/1001", headers=headers
    )

    assert lifted.status_code == 204, lifted.text
    assert not api.guard.auth_suspended("192.0.2.10", "1001", api.mono)


async def test_an_expired_ban_is_neither_listed_nor_lifted(api: Api) -> None:
    flood(api)
    api.mono += 301
    headers = await api.admin()

    listed = await api.client.get("/api/v1/security/bans", headers=headers)
    lifted = await api.client.delete(f"/api/v1/security/bans/ban/{ATTACKER}", headers=headers)

    assert listed.json()["items"] == []
    assert lifted.status_code == 404


async def test_customers_may_not_see_or_lift_bans(api: Api) -> None:
    flood(api)
    headers = await api.login(CUSTOMER, USER_PASSWORD)

    listed = await api.client.get("/api/v1/security/bans", headers=headers)
    lifted = await api.client.delete(f"/api/v1/security/bans/ban/{ATTACKER}", headers=headers)
    alarms = await api.client.get("/api/v1/security/alarms", headers=headers)

    assert (listed.status_code, lifted.status_code, alarms.status_code) == (403, 403, 403)
    assert not api.guard.admit_packet(ATTACKER, b"x", api.mono)  # still banned


async def test_an_unknown_entry_type_is_a_422(api: Api) -> None:
    headers = await api.admin()

    answer = await api.client.delete("/api/v1/security/bans/bogus/1.2.3.4", headers=headers)

    assert answer.status_code == 422
    assert all(item.value in answer.text for item in EntryType), answer.text


async def test_traffic_jump_alarms_are_listed(api: Api) -> None:
    guard, window = api.guard, 300.0
    start = api.mono
    # Twelve quiet windows of history (one call each), then a burst of 30 calls.
    for n in range(12):
        guard.call_admitted(None, f"+88216{n}", "8821600", start + n * window)
    api.mono = start + 12 * window + 1
    for n in range(30):
        guard.call_admitted(None, f"+4420{n}", "8821699", api.mono)
    headers = await api.admin()

    answer = await api.client.get("/api/v1/security/alarms", headers=headers)

    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(a["destination"], a["calls"], a["window_s"]) for a in items] == [("8821", 30, 300)]
    assert items[0]["baseline"] == 1.0
