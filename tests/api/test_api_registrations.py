"""Persisted registrations: the repository the registrar writes through (save, reload the live
ones after a restart, purge), and ``GET /api/v1/registrations`` with each role's view."""

from __future__ import annotations

from datetime import timedelta

from api_support import CUSTOMER, T0, USER_PASSWORD, Api

from softswitch.storage import sessions
from softswitch.storage.models import Account, Phone
from softswitch.storage.repos import RegistrationRepo, StoredBinding

V1 = "/api/v1/registrations"


def binding(aor: str, contact: str, *, phone_id: int | None, expires: int = 300) -> StoredBinding:
    return StoredBinding(
        aor=aor,
        contact=contact,
        source_transport="UDP",
        source_host="203.0.113.7",
        source_port=40312,
        behind_nat=True,
        call_id=f"reg-{contact}",
        cseq=1,
        expires=expires,
        expires_at=T0 + timedelta(seconds=expires),
        registered_at=T0,
        phone_id=phone_id,
        user_agent="Yealink T46",
    )


async def _phones(api: Api) -> tuple[int, int]:
    """A phone of C1 (the customer's account) and one of another account."""
    async with sessions(api.engine).begin() as session:
        c1 = await session.get(Account, 1)
        assert c1 is not None and c1.code == "C1"
        other = Account(code="C2", currency="USD")
        session.add(other)
        await session.flush()
        mine = Phone(number="1001", password="secret-1001", account_id=c1.id)
        theirs = Phone(number="2002", password="secret-2002", account_id=other.id)
        session.add_all([mine, theirs])
        await session.flush()
        return mine.id, theirs.id


async def test_the_repository_saves_replaces_reloads_and_purges(api: Api) -> None:
    repo = RegistrationRepo(sessions(api.engine))
    first = binding("sip:1001@example.net", "sip:1001@10.0.0.5:5060", phone_id=None)
    second = binding("sip:1001@example.net", "sip:1001@10.0.0.6:5060", phone_id=None, expires=60)
    await repo.save([first, second])
    # A refresh replaces the row; a removal deletes it; both in one call.
    refreshed = binding(
        "sip:1001@example.net", "sip:1001@10.0.0.5:5060", phone_id=None, expires=900
    )
    await repo.save([refreshed], removals=[(second.aor, second.contact)])
    assert await repo.live(T0) == [refreshed]
    assert await repo.live(T0 + timedelta(seconds=900)) == []
    assert await repo.purge_expired(T0 + timedelta(seconds=900)) == 1
    assert await repo.live(T0) == []


async def test_each_role_sees_the_registrations_it_may(api: Api) -> None:
    mine, theirs = await _phones(api)
    repo = RegistrationRepo(sessions(api.engine))
    await repo.save(
        [
            binding("sip:1001@example.net", "sip:1001@10.0.0.5", phone_id=mine),
            binding("sip:2002@example.net", "sip:2002@10.0.0.9", phone_id=theirs),
            binding("sip:goip@example.net", "sip:goip@10.0.0.20", phone_id=None),
            binding("sip:1001@example.net", "sip:1001@10.0.0.8", phone_id=mine, expires=-10),
        ]
    )
    admin = await api.admin()
    listed = await api.client.get(V1, headers=admin)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 3  # the expired one is left out
    assert {item["contact"] for item in body["items"]} == {
        "sip:1001@10.0.0.5",
        "sip:2002@10.0.0.9",
        "sip:goip@10.0.0.20",
    }
    with_expired = await api.client.get(V1, params={"expired": "true"}, headers=admin)
    assert with_expired.json()["total"] == 4
    only = await api.client.get(V1, params={"phone_id": theirs}, headers=admin)
    assert [item["contact"] for item in only.json()["items"]] == ["sip:2002@10.0.0.9"]
    first = only.json()["items"][0]
    assert (first["source_host"], first["source_port"], first["behind_nat"]) == (
        "203.0.113.7",
        40312,
        True,
    )

    customer = await api.login(CUSTOMER, USER_PASSWORD)
    own = await api.client.get(V1, headers=customer)
    assert [item["contact"] for item in own.json()["items"]] == ["sip:1001@10.0.0.5"]
    probing = await api.client.get(V1, params={"phone_id": theirs}, headers=customer)
    assert probing.json()["items"] == []
    unauthenticated = await api.client.get(V1)
    assert unauthenticated.status_code == 401
