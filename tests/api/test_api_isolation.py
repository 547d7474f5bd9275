"""Role isolation over every endpoint (issue 3 §3): a customer cannot read another customer's
CDRs, phones, payments or account, nor change them; an agent sees only its own accounts.

The endpoints are not listed by hand: the test reads ``/openapi.json`` of the running app and
calls every GET route as the customer ``cust`` (account C1), with the other customer's (C2)
ids and names put into the path parameters and into every query filter the route declares, and
checks that no answer carries C2's distinctive marker strings. An endpoint added later is walked
the same way without touching this file. To show the walk reaches the data at all, the same
walk as the admin must see every marker somewhere.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import httpx
from api_support import CUSTOMER, T0, USER_PASSWORD, Api
from sqlalchemy import func, select

from softswitch.operators import ADMIN_USERNAME, Role
from softswitch.storage import sessions
from softswitch.storage.models import Account, Cdr, Payment, Phone

V1 = "/api/v1"
DAY = timedelta(days=1)

# Distinctive strings of C2 that must never reach C1's customer.
C2_CODE = "ZQXACCT2"
C2_NUMBER = "8877553322"
C2_PASSWORD = "zqx-phone-secret-2"
C2_CALL_ID = "zqx-call-c2@test"
C2_CALLEE = "4966778899"
C2_CALLER_PHONE = "8877553323"
C2_GATEWAY = "ZQXMGW2"
C2_TRUNK_USER = "zqxtrunk2"
C2_TRUNK_SECRET = "zqx-trunk-secret-2"
C2_PAY_REF = "ZQXPAYREF2"
C2_LOGIN = "zqxcust2"
C2_KEY_NAME = "zqx-key-of-c2"

MARKERS = (
    C2_CODE,
    C2_NUMBER,
    C2_PASSWORD,
    C2_CALL_ID,
    C2_CALLEE,
    C2_CALLER_PHONE,
    C2_GATEWAY,
    C2_TRUNK_USER,
    C2_PAY_REF,
    C2_LOGIN,
    C2_KEY_NAME,
)
SECRETS = (C2_PASSWORD, C2_TRUNK_SECRET)
"""Secrets of C2, checked as absent for the customer (the admin walk does not need to see them)."""

C1_CALL_ID = "own-call-c1@test"


async def _post(api: Api, url: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
    answer = await api.client.post(V1 + url, headers=headers, json=body)
    assert answer.status_code == 201, (url, answer.text)
    return answer.json()


def _cdr(call_id: str, account_id: int, code: str, caller: str, callee: str, **more: Any) -> Cdr:
    start = T0 - timedelta(hours=2)
    return Cdr(
        call_id=call_id,
        start_time=start,
        answer_time=start + timedelta(seconds=3),
        end_time=start + timedelta(seconds=63),
        billed_seconds=60,
        account_id=account_id,
        account_code=code,
        caller=caller,
        callee=callee,
        termination_reason="normal_clearing",
        sip_status=200,
        currency="USD",
        **more,
    )


class World:
    """C1 (the seeded customer's account) and C2 with everything a customer owns."""

    def __init__(self) -> None:
        self.c1 = 0
        self.c2 = 0
        self.ints: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        self.key_secret = ""

    def secrets(self) -> tuple[str, ...]:
        """Every C2 string the customer must not see."""
        return (*MARKERS, *SECRETS, *([self.key_secret] if self.key_secret else []))


async def _build(api: Api) -> World:
    admin = await api.admin()
    world = World()
    async with sessions(api.engine)() as session:
        c1 = await session.scalar(select(Account.id).where(Account.code == "C1"))
    assert c1 is not None
    world.c1 = int(c1)
    c2 = await _post(api, "/accounts", admin, {"code": C2_CODE, "currency": "USD"})
    world.c2 = c2["id"]
    phone2 = await _post(
        api,
        "/phones",
        admin,
        {"number": C2_NUMBER, "account_id": world.c2, "password": C2_PASSWORD},
    )
    await _post(api, "/phones", admin, {"number": C2_CALLER_PHONE, "account_id": world.c2})
    gateway2 = await _post(
        api,
        "/mapping-gateways",
        admin,
        {
            "name": C2_GATEWAY,
            "account_id": world.c2,
            "auth_username": C2_TRUNK_USER,
            "auth_password": C2_TRUNK_SECRET,
        },
    )
    await _post(api, "/phones", admin, {"number": "1110001", "account_id": world.c1})
    async with sessions(api.engine).begin() as session:
        own = _cdr(C1_CALL_ID, world.c1, "C1", "1110001", "4420000001")
        other = _cdr(
            C2_CALL_ID,
            world.c2,
            C2_CODE,
            C2_CALLER_PHONE,
            C2_CALLEE,
            phone_id=phone2["id"],
            mapping_gateway_id=gateway2["id"],
            mapping_gateway_name=C2_GATEWAY,
        )
        session.add_all([own, other])
        await session.flush()
        cdr2 = other.id
    world.ints = {
        "account": world.c2,
        "phone": phone2["id"],
        "mapping_gateway": gateway2["id"],
        "cdr": cdr2,
    }
    routes = (await api.client.get("/openapi.json")).json()["paths"]
    if f"{V1}/accounts/{{account_id}}/payments" in routes:
        payment = await _post(
            api,
            f"/accounts/{world.c2}/payments",
            admin,
            {"amount": "25", "reference": C2_PAY_REF, "memo": C2_PAY_REF},
        )
        world.ints["payment"] = payment["id"]
    operator = await api.operators.get_user(ADMIN_USERNAME)
    assert operator is not None
    user2 = await api.operators.create_user(
        operator.actor, C2_LOGIN, USER_PASSWORD, Role.CUSTOMER, account_id=world.c2
    )
    world.ints["user"] = user2.id
    if f"{V1}/api-keys" in routes:
        key = await _post(
            api, "/api-keys", await api.login(C2_LOGIN, USER_PASSWORD), {"name": C2_KEY_NAME}
        )
        world.ints["api_key"] = key["id"]
        world.key_secret = str(key["key"])
    world.texts.update(code=C2_CODE, number=C2_NUMBER, login=C2_LOGIN, gateway=C2_GATEWAY)
    return world


def _query_value(name: str, world: World) -> Any:
    """What C2-pointing value a query parameter called ``name`` gets (None: leave it out)."""
    values: dict[str, Any] = {
        "account_id": world.c2,
        "phone_id": world.ints["phone"],
        "mapping_gateway_id": world.ints["mapping_gateway"],
        "number": C2_NUMBER,
        "caller": C2_CALLER_PHONE,
        "callee": C2_CALLEE,
        "code": C2_CODE,
        "account_code": C2_CODE,
        "name": C2_GATEWAY,
        "username": C2_LOGIN,
        "auth_username": C2_TRUNK_USER,
        "reference": C2_PAY_REF,
        "start": (T0 - DAY).isoformat(),
        "since": (T0 - DAY).isoformat(),
        "end": T0.isoformat(),
        "until": T0.isoformat(),
    }
    return values.get(name)


def _time_range() -> dict[str, str]:
    return {"start": (T0 - DAY).isoformat(), "end": T0.isoformat()}


def _path_candidates(schema: dict[str, Any], world: World) -> list[str]:
    ints = sorted({str(value) for value in world.ints.values()})
    if schema.get("type") == "integer":
        return ints
    return [*ints, *sorted(set(world.texts.values()) - {""})]


def _requests(paths: dict[str, Any], world: World) -> list[tuple[str, dict[str, Any]]]:
    """Every GET of the API: (url, query) with C2's ids in the path and C2 filters, and the same
    with only the required query parameters."""
    requests: list[tuple[str, dict[str, Any]]] = []
    for path, operations in sorted(paths.items()):
        get = operations.get("get")
        if get is None or not path.startswith(V1):
            continue
        parameters = get.get("parameters", [])
        in_path = [p for p in parameters if p["in"] == "path"]
        in_query = [p for p in parameters if p["in"] == "query"]
        filtered = {
            p["name"]: _query_value(p["name"], world)
            for p in in_query
            if _query_value(p["name"], world) is not None
        }
        required = {
            p["name"]: _query_value(p["name"], world)
            for p in in_query
            if p.get("required") and _query_value(p["name"], world) is not None
        }
        choices = [_path_candidates(p.get("schema", {}), world) for p in in_path]
        for values in itertools.product(*choices):
            url = path
            for parameter, value in zip(in_path, values, strict=True):
                url = url.replace("{" + parameter["name"] + "}", value)
            requests.append((url, filtered))
            if required != filtered:
                requests.append((url, required))
    return requests


def _leaks(answer: httpx.Response, markers: tuple[str, ...]) -> list[str]:
    """The markers in ``answer`` that the request itself did not carry (an error message may
    quote the value it refuses; that is no leak)."""
    sent = str(answer.request.url)
    return [marker for marker in markers if marker in answer.text and marker not in sent]


async def test_customer_reads_nothing_of_another_customer(api: Api) -> None:
    world = await _build(api)
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    requests = _requests(paths, world)
    assert any(url == f"{V1}/phones" for url, _ in requests)
    cust = await api.login(CUSTOMER, USER_PASSWORD)
    admin = await api.admin()

    leaks: list[tuple[str, dict[str, Any], int, list[str]]] = []
    filtered_of: dict[str, dict[str, Any]] = {}
    for url, query in requests:
        filtered_of.setdefault(url, query)  # the first variant of a url carries the filters
    answered = 0
    seen_by_admin: set[str] = set()
    for url, query in requests:
        answer = await api.client.get(url, headers=cust, params=query)
        assert answer.status_code < 500, (url, query, answer.text)
        answered += answer.status_code == 200
        found = _leaks(answer, world.secrets())
        if found:
            leaks.append((url, query, answer.status_code, found))
        if query is filtered_of.get(url, query):
            as_admin = await api.client.get(url, headers=admin, params=query)
            seen_by_admin |= {marker for marker in MARKERS if marker in as_admin.text}
    assert leaks == [], leaks
    assert answered > 5, answered
    # the walk does reach C2's data: the admin finds every marker of a readable kind
    expected = {C2_CODE, C2_NUMBER, C2_PASSWORD, C2_CALL_ID, C2_CALLEE, C2_GATEWAY}
    if "payment" in world.ints:
        expected.add(C2_PAY_REF)
    assert expected <= seen_by_admin, expected - seen_by_admin

    # and the customer's own queries run and find its own rows
    mine = await api.client.get(f"{V1}/cdrs", headers=cust, params=_time_range())
    assert mine.status_code == 200, mine.text
    assert C1_CALL_ID in mine.text and C2_CALL_ID not in mine.text
    forced = await api.client.get(
        f"{V1}/cdrs", headers=cust, params={**_time_range(), "account_id": world.c2}
    )
    assert C2_CALL_ID not in forced.text
    if f"{V1}/cdrs.csv" in paths:
        exported = await api.client.get(f"{V1}/cdrs.csv", headers=cust, params=_time_range())
        assert exported.status_code == 200, exported.text
        assert C1_CALL_ID in exported.text and C2_CALL_ID not in exported.text
    phones = await api.client.get(f"{V1}/phones", headers=cust)
    assert [p["number"] for p in phones.json()["items"]] == ["1110001"]
    accounts = await api.client.get(f"{V1}/accounts", headers=cust)
    assert [a["code"] for a in accounts.json()["items"]] == ["C1"]


async def _snapshot(api: Api, world: World) -> Any:
    """What a refused write must leave as it was: C2's account, phones and payments."""
    async with sessions(api.engine)() as session:
        account = await session.get(Account, world.c2)
        assert account is not None
        phones = (
            await session.execute(
                select(Phone.id, Phone.number, Phone.password, Phone.account_id, Phone.enabled)
                .where(Phone.account_id == world.c2)
                .order_by(Phone.id)
            )
        ).all()
        payments = await session.scalar(select(func.count()).select_from(Payment))
        return (
            account.code,
            account.status,
            account.balance,
            account.credit_limit,
            account.agent_id,
            [tuple(row) for row in phones],
            payments,
        )


async def test_customer_cannot_change_another_customer(api: Api) -> None:
    world = await _build(api)
    cust = await api.login(CUSTOMER, USER_PASSWORD)
    before = await _snapshot(api, world)
    phone2 = world.ints["phone"]
    own_phone = (await api.client.get(f"{V1}/phones", headers=cust)).json()["items"][0]
    writes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PATCH", f"/phones/{phone2}", {"password": "stolen-secret-1"}),
        ("PATCH", f"/phones/{phone2}", {"account_id": world.c1}),
        ("PATCH", f"/phones/{phone2}", {"enabled": False}),
        ("DELETE", f"/phones/{phone2}", None),
        ("POST", "/phones", {"number": "66600", "account_id": world.c2}),
        ("PATCH", f"/phones/{own_phone['id']}", {"account_id": world.c2}),
        ("PATCH", f"/accounts/{world.c2}", {"status": "locked"}),
        ("PATCH", f"/accounts/{world.c2}", {"credit_limit": "1000"}),
        ("PATCH", f"/accounts/{world.c1}", {"credit_limit": "1000"}),
        ("DELETE", f"/accounts/{world.c2}", None),
        ("POST", "/accounts", {"code": "ZQXNEW", "currency": "USD"}),
        ("PATCH", f"/mapping-gateways/{world.ints['mapping_gateway']}", {"enabled": False}),
        ("DELETE", f"/mapping-gateways/{world.ints['mapping_gateway']}", None),
        ("POST", f"/accounts/{world.c2}/payments", {"amount": "5"}),
        ("POST", f"/accounts/{world.c1}/payments", {"amount": "5"}),
        ("PUT", f"/users/{C2_LOGIN}/password", {"new_password": "taken-over-password"}),
    ]
    if "api_key" in world.ints:
        writes.append(("DELETE", f"/api-keys/{world.ints['api_key']}", None))
    for method, url, body in writes:
        answer = await api.client.request(method, V1 + url, headers=cust, json=body)
        assert answer.status_code in (403, 404, 405), (method, url, answer.status_code, answer.text)
        assert answer.json()["error"]["message"], answer.text
    # a payment batch naming C2 (by code or by id) applies nothing either
    for line in (f"{C2_CODE},5", f"{world.c2},5"):
        answer = await api.client.post(
            f"{V1}/payments/bulk",
            headers={**cust, "Content-Type": "text/csv"},
            params={"skip_bad": "true"},
            content=f"account,amount\n{line}\n",
        )
        assert answer.status_code in (403, 404, 405, 422), (line, answer.text)
    assert await _snapshot(api, world) == before
    # C2's own login still works with its password, and its key is still listed
    c2 = await api.login(C2_LOGIN, USER_PASSWORD)
    if "api_key" in world.ints:
        keys = await api.client.get(f"{V1}/api-keys", headers=c2)
        assert C2_KEY_NAME in keys.text

    # every other write route, with C2's ids in its path, is refused to the customer too
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    for path, operations in sorted(paths.items()):
        for method in ("post", "put", "patch", "delete"):
            operation = operations.get(method)
            if operation is None or "{" not in path:
                continue
            in_path = [p for p in operation.get("parameters", []) if p["in"] == "path"]
            for values in itertools.product(
                *[_path_candidates(p.get("schema", {}), world) for p in in_path]
            ):
                url = path
                for parameter, value in zip(in_path, values, strict=True):
                    url = url.replace("{" + parameter["name"] + "}", value)
                answer = await api.client.request(method.upper(), url, headers=cust, json={})
                assert answer.status_code in (403, 404, 405, 422), (method, url, answer.text)
                assert not _leaks(answer, world.secrets()), (method, url, answer.text)
    assert await _snapshot(api, world) == before


async def test_agent_sees_only_its_own_accounts_and_phones(api: Api) -> None:
    admin = await api.admin()
    mine = await _post(api, "/agents", admin, {"name": "AGENT-MINE"})
    theirs = await _post(api, "/agents", admin, {"name": "AGENT-THEIRS"})
    a1 = await _post(
        api, "/accounts", admin, {"code": "AMINE1", "currency": "USD", "agent_id": mine["id"]}
    )
    a2 = await _post(
        api, "/accounts", admin, {"code": "ZQXTHEIRS", "currency": "USD", "agent_id": theirs["id"]}
    )
    await _post(api, "/phones", admin, {"number": "3330001", "account_id": a1["id"]})
    p2 = await _post(api, "/phones", admin, {"number": "9990001", "account_id": a2["id"]})
    operator = await api.operators.get_user(ADMIN_USERNAME)
    assert operator is not None
    await api.operators.create_user(
        operator.actor, "reseller", USER_PASSWORD, Role.AGENT, agent_id=mine["id"]
    )
    agent = await api.login("reseller", USER_PASSWORD)

    async def listed(url: str, key: str, **query: Any) -> list[Any]:
        answer = await api.client.get(V1 + url, headers=agent, params=query)
        assert answer.status_code == 200, answer.text
        return [item[key] for item in answer.json()["items"]]

    assert await listed("/accounts", "code") == ["AMINE1"]
    assert await listed("/accounts", "code", agent_id=theirs["id"]) == []
    assert await listed("/accounts", "code", code="ZQX*") == []
    assert await listed("/phones", "number") == ["3330001"]
    assert await listed("/phones", "number", account_id=a2["id"]) == []
    assert await listed("/agents", "name") == ["AGENT-MINE"]
    for url in (f"/accounts/{a2['id']}", f"/phones/{p2['id']}", f"/agents/{theirs['id']}"):
        answer = await api.client.get(V1 + url, headers=agent)
        assert answer.status_code == 404, (url, answer.text)
        assert "ZQX" not in answer.text and "9990001" not in answer.text
    for method, url, body in (
        ("PATCH", f"/accounts/{a2['id']}", {"status": "locked"}),
        ("DELETE", f"/phones/{p2['id']}", None),
        ("POST", "/phones", {"number": "3330002", "account_id": a2["id"]}),
        ("PATCH", f"/accounts/{a1['id']}", {"agent_id": theirs["id"]}),
    ):
        answer = await api.client.request(method, V1 + url, headers=agent, json=body)
        assert answer.status_code in (403, 404), (method, url, answer.text)
    # an account an agent creates lands under its own agent
    created = await api.client.post(
        f"{V1}/accounts", headers=agent, json={"code": "AMINE2", "currency": "USD"}
    )
    if created.status_code == 201:
        assert created.json()["agent_id"] == mine["id"]
    else:
        assert created.status_code == 403, created.text
    check = await api.client.get(f"{V1}/accounts/{a2['id']}", headers=admin)
    assert check.json()["status"] == "active" and check.json()["agent_id"] == theirs["id"]
    assert (await api.client.get(f"{V1}/phones/{p2['id']}", headers=admin)).status_code == 200


async def test_refusals_do_not_tell_which_ids_or_names_exist(api: Api) -> None:
    """A create outside one's scope is refused before any lookup, so the answer is the same
    for another customer's real account and for an id that does not exist (no 422 "there is
    no account 999999" that would let a customer map the ids in use)."""
    admin = await api.admin()
    other = await _post(api, "/accounts", admin, {"code": "ZQXOTHER", "currency": "USD"})
    await _post(api, "/phones", admin, {"number": "5550001", "account_id": other["id"]})
    customer = await api.login(CUSTOMER, USER_PASSWORD)
    answers = []
    for account_id, number in ((other["id"], "5550002"), (999_999, "5550003"), (1, "5550001")):
        answer = await api.client.post(
            f"{V1}/phones", json={"number": number, "account_id": account_id}, headers=customer
        )
        answers.append((answer.status_code, answer.json()["error"]["code"]))
    assert answers == [(403, "forbidden")] * 3
