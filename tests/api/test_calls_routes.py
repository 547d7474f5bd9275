"""Live calls, callbacks, the monitor and ``/metrics`` (issue 4 §6).

Two halves. The route rules (who sees which call, what a bad request is refused with, the
answers without a call engine, the exposition format) are tested against the app with a
table-backed ``CallControl`` (:class:`TableCalls`): they are the API's logic, whatever engine
fills the table. The end-to-end half runs the real switch in process (``start_server``) and
places real calls with SIPp through it: a customer trunk on 127.0.0.2 calls, a carrier on
127.0.0.3 answers and holds, and the call is listed, hung up, counted and exported.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from api_support import CUSTOMER, T0, USER_PASSWORD, Api, FakeClock, seed
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.sipp import HOLDING_CARRIER, udp_bound
from softswitch.api import create_app, serve_http
from softswitch.api.routes.metrics import CONTENT_TYPE, render_metrics
from softswitch.api.schemas.calls import (
    GatewayFiguresOut,
    LegOut,
    LiveCallOut,
    MonitorOut,
    PrefixFiguresOut,
)
from softswitch.calls.control import (
    CallbackOutcome,
    CallbackRequest,
    CallState,
    GatewayFigures,
    LegView,
    LiveCallView,
    MonitorFigures,
    PrefixFigures,
)
from softswitch.operators import ADMIN_USERNAME, Role
from softswitch.runtime.server import Server
from softswitch.storage import sessions
from softswitch.storage.models import Account, Agent

V1 = "/api/v1"
NO_ENGINE = "no call engine"


# -- a table-backed CallControl ----------------------------------------------------------------


def leg(side: str, call_id: str, peer: str) -> LegView:
    return LegView(side, call_id, f"{side}-ltag", f"{side}-rtag", peer, "confirmed")


def live_call(
    call_id: str, account_id: int | None, agent_id: int | None, *, callee: str = "4420001"
) -> LiveCallView:
    return LiveCallView(
        id=call_id,
        state=CallState.ANSWERED,
        caller="1001",
        callee=callee,
        caller_out="1001",
        callee_out=f"00{callee}",
        account_id=account_id,
        account_code=f"ACC{account_id}",
        agent_id=agent_id,
        phone_id=None,
        mapping_gateway_id=7,
        routing_gateway_id=3,
        routing_gateway_name="CARRIER-A",
        source_ip="192.0.2.10",
        start_time=T0,
        ring_time=T0 + timedelta(seconds=1),
        answer_time=T0 + timedelta(seconds=3),
        hold_ms=12_500,
        attempts=1,
        legs=(
            leg("caller", f"{call_id}-a@192.0.2.10", "UDP:192.0.2.10:5060"),
            leg("callee", f"{call_id}-b@softswitch", "UDP:198.51.100.20:5060"),
        ),
    )


FIGURES = MonitorFigures(
    at=T0,
    concurrent_calls=4,
    answered_calls=3,
    calls_per_second=1.5,
    cps_window_s=10,
    calls_total=120,
    answered_total=80,
    registered_aors=5,
    registered_bindings=6,
    registered_behind_nat=2,
    cdr_pending=1,
    gateways=(
        GatewayFigures(
            3,
            "CARRIER-A",
            2,
            30,
            50,
            40,
            80.0,
            95.5,
            prefixes=(
                PrefixFigures("4420", 30, 27, 90.0, 100.0),
                PrefixFigures("44", 20, 13, 65.0, None),
            ),
        ),
        GatewayFigures(4, "CARRIER-B", 0, None, 0, 0, None, None),
    ),
)


@dataclass
class TableCalls:
    """A ``CallControl`` over a table the test fills; it records what the routes asked."""

    table: dict[str, LiveCallView] = field(default_factory=dict)
    hung_up: list[str] = field(default_factory=list)
    callbacks: list[CallbackRequest] = field(default_factory=list)
    outcome: CallbackOutcome = field(default_factory=lambda: CallbackOutcome("cb-1@switch"))
    figures: MonitorFigures = FIGURES

    def calls(self) -> list[LiveCallView]:
        return list(self.table.values())

    def call(self, call_id: str) -> LiveCallView | None:
        return self.table.get(call_id)

    def hangup(self, call_id: str) -> bool:
        if self.table.pop(call_id, None) is None:
            return False
        self.hung_up.append(call_id)
        return True

    def callback(self, request: CallbackRequest) -> CallbackOutcome:
        self.callbacks.append(request)
        return self.outcome

    def monitor(self) -> MonitorFigures:
        return self.figures


class CallsApi(Api):
    """The test app of ``api_support`` with the given call engine (None: without one)."""

    def __init__(self, engine: AsyncEngine, clock: FakeClock, calls: TableCalls | None) -> None:
        super().__init__(engine, clock)
        self.calls = calls

    async def start(self) -> None:
        app = create_app(
            engine=self.engine,
            params=self.params,
            operators=self.operators,
            clock=self.clock,
            calls=self.calls,
        )
        self.server = await serve_http(app, "127.0.0.1", 0)
        self.client = httpx.AsyncClient(base_url=self.server.url, timeout=10.0)


@dataclass
class World:
    """Accounts C1 (the customer ``cust``'s, no agent), C2 under agent A (login ``reseller``),
    C3 under agent B; a live call on each and one of no account; logins for every role."""

    api: CallsApi
    calls: TableCalls
    c1: int
    c2: int
    c3: int
    admin: dict[str, str]
    operator: dict[str, str]
    agent: dict[str, str]
    customer: dict[str, str]

    async def get(self, url: str, who: dict[str, str], **params: Any) -> httpx.Response:
        return await self.api.client.get(V1 + url, headers=who, params=params)


@pytest.fixture
async def world(engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[World]:
    table = TableCalls()
    api = CallsApi(engine, clock, table)
    await seed(api)
    async with sessions(engine).begin() as session:
        agent_a, agent_b = Agent(name="AGENT-A"), Agent(name="AGENT-B")
        session.add_all([agent_a, agent_b])
        await session.flush()
        c2 = Account(code="C2", currency="USD", agent_id=agent_a.id)
        c3 = Account(code="C3", currency="USD", agent_id=agent_b.id)
        session.add_all([c2, c3])
        await session.flush()
        c1_id = await session.scalar(select(Account.id).where(Account.code == "C1"))
        ids = (c1_id, c2.id, c3.id, agent_a.id, agent_b.id)
    c1, c2_id, c3_id, a_id, b_id = ids
    assert c1 is not None
    admin_user = await api.operators.get_user(ADMIN_USERNAME)
    assert admin_user is not None
    await api.operators.create_user(
        admin_user.actor, "reseller", USER_PASSWORD, Role.AGENT, agent_id=a_id
    )
    await api.operators.create_user(admin_user.actor, "oper", USER_PASSWORD, Role.OPERATOR)
    for call in (
        live_call("call-c1", c1, None),
        live_call("call-c2", c2_id, a_id),
        live_call("call-c3", c3_id, b_id),
        live_call("call-none", None, None),
    ):
        table.table[call.id] = call
    await api.start()
    try:
        yield World(
            api,
            table,
            c1,
            c2_id,
            c3_id,
            admin=await api.admin(),
            operator=await api.login("oper", USER_PASSWORD),
            agent=await api.login("reseller", USER_PASSWORD),
            customer=await api.login(CUSTOMER, USER_PASSWORD),
        )
    finally:
        await api.stop()


def ids_of(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


# -- reading live calls ------------------------------------------------------------------------


async def test_each_role_lists_the_calls_of_its_scope(world: World) -> None:
    everything = ["call-c1", "call-c2", "call-c3", "call-none"]
    assert ids_of(await world.get("/calls", world.admin)) == everything
    assert ids_of(await world.get("/calls", world.operator)) == everything
    assert ids_of(await world.get("/calls", world.agent)) == ["call-c2"]
    assert ids_of(await world.get("/calls", world.customer)) == ["call-c1"]
    # a filter naming somebody else's account narrows, it never widens
    assert ids_of(await world.get("/calls", world.customer, account_id=world.c2)) == []
    assert ids_of(await world.get("/calls", world.agent, account_id=world.c3)) == []
    assert ids_of(await world.get("/calls", world.admin, account_id=world.c3)) == ["call-c3"]


async def test_a_listed_call_carries_both_legs_and_its_figures(world: World) -> None:
    answer = await world.get("/calls", world.customer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == 1 and body["limit"] == 1000
    (call,) = body["items"]
    assert call["state"] == "answered" and call["account_id"] == world.c1
    assert call["callee_out"] == "004420001" and call["hold_ms"] == 12_500
    assert call["start_time"].startswith("2026-03-01T08:00:00")
    assert [(leg["side"], leg["peer"]) for leg in call["legs"]] == [
        ("caller", "UDP:192.0.2.10:5060"),
        ("callee", "UDP:198.51.100.20:5060"),
    ]


async def test_filters_and_limit(world: World) -> None:
    world.calls.table["call-c1-ringing"] = dataclasses.replace(
        live_call("call-c1-ringing", world.c1, None), state=CallState.RINGING
    )
    ringing = await world.get("/calls", world.admin, state="ringing")
    assert ids_of(ringing) == ["call-c1-ringing"]
    limited = await world.get("/calls", world.admin, limit=2)
    assert ids_of(limited) == ["call-c1", "call-c2"] and limited.json()["total"] == 5
    assert ids_of(await world.get("/calls", world.admin, routing_gateway_id=99)) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "talking"}, "state"),
        ({"limit": 0}, "limit"),
        ({"account_id": "x"}, "account_id"),
        ({"acount_id": 1}, "acount_id"),
    ],
)
async def test_a_bad_list_filter_is_refused_by_name(
    world: World, params: dict[str, Any], field: str
) -> None:
    answer = await world.get("/calls", world.admin, **params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


async def test_one_call_is_visible_only_within_scope(world: World) -> None:
    mine = await world.get("/calls/call-c1", world.customer)
    assert mine.status_code == 200, mine.text
    assert mine.json()["id"] == "call-c1" and len(mine.json()["legs"]) == 2
    for who, call_id in (
        (world.customer, "call-c2"),
        (world.customer, "call-none"),
        (world.agent, "call-c1"),
        (world.agent, "call-c3"),
    ):
        hidden = await world.get(f"/calls/{call_id}", who)
        unknown = await world.get("/calls/no-such-call", who)
        assert hidden.status_code == unknown.status_code == 404, hidden.text
        # the refusal of a hidden call reads like that of a call that never existed
        assert hidden.json()["error"]["message"] == f"no live call {call_id}"
        assert "ACC" not in hidden.text and "CARRIER" not in hidden.text
    assert (await world.get("/calls/call-c3", world.operator)).status_code == 200


async def test_reading_calls_needs_a_token(world: World) -> None:
    answer = await world.api.client.get(f"{V1}/calls")
    assert answer.status_code == 401
    assert answer.json()["error"]["field"] == "Authorization"


# -- hanging up --------------------------------------------------------------------------------


async def test_hangup_reaches_only_calls_in_scope_and_is_audited(world: World) -> None:
    client = world.api.client
    for who, call_id in ((world.customer, "call-c2"), (world.agent, "call-c1")):
        refused = await client.delete(f"{V1}/calls/{call_id}", headers=who)
        assert refused.status_code == 404, refused.text
    assert world.calls.hung_up == []

    own = await client.delete(f"{V1}/calls/call-c1", headers=world.customer)
    assert own.status_code == 204, own.text
    agents = await client.delete(f"{V1}/calls/call-c2", headers=world.agent)
    assert agents.status_code == 204, agents.text
    assert world.calls.hung_up == ["call-c1", "call-c2"]
    again = await client.delete(f"{V1}/calls/call-c1", headers=world.customer)
    assert again.status_code == 404

    audit = await world.get("/audit", world.admin, entity="call", action="hangup")
    assert audit.status_code == 200, audit.text
    rows = {row["entity_id"]: row for row in audit.json()["items"]}
    assert set(rows) == {"call-c1", "call-c2"}
    assert rows["call-c1"]["username"] == CUSTOMER
    assert rows["call-c2"]["username"] == "reseller"
    assert rows["call-c1"]["after"]["callee"] == "4420001"


# -- callbacks ---------------------------------------------------------------------------------


async def callback(world: World, who: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return await world.api.client.post(f"{V1}/calls/callback", headers=who, json=body)


async def test_a_callback_starts_and_says_where_to_follow_it(world: World) -> None:
    answer = await callback(
        world, world.admin, {"a": "1001", "b": "+4420001", "account_id": world.c2}
    )
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"call_id": "cb-1@switch"}
    assert answer.headers["location"] == f"{V1}/calls/cb-1%40switch"
    assert world.calls.callbacks == [CallbackRequest("1001", "+4420001", world.c2, None)]
    audit = await world.get("/audit", world.admin, entity="call", action="callback")
    (row,) = audit.json()["items"]
    assert row["entity_id"] == "cb-1@switch" and row["after"]["account_id"] == world.c2


async def test_a_customer_calls_back_on_its_own_account_only(world: World) -> None:
    default = await callback(world, world.customer, {"a": "1001", "b": "1002"})
    assert default.status_code == 202, default.text
    named = await callback(
        world, world.customer, {"a": "1001", "b": "1002", "account_id": world.c1}
    )
    assert named.status_code == 202, named.text
    assert [request.account_id for request in world.calls.callbacks] == [world.c1, world.c1]

    other = await callback(world, world.customer, {"a": "1", "b": "2", "account_id": world.c2})
    unknown = await callback(world, world.customer, {"a": "1", "b": "2", "account_id": 99999})
    assert other.status_code == unknown.status_code == 422, other.text
    assert other.json()["error"] == {
        "code": "invalid",
        "message": f"no account {world.c2}",
        "field": "account_id",
    }
    assert unknown.json()["error"]["message"] == "no account 99999"
    agent_other = await callback(world, world.agent, {"a": "1", "b": "2", "account_id": world.c3})
    assert agent_other.status_code == 422, agent_other.text
    agent_own = await callback(world, world.agent, {"a": "1", "b": "2", "account_id": world.c2})
    assert agent_own.status_code == 202, agent_own.text
    assert len(world.calls.callbacks) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"a": "", "b": "1002", "account_id": 1}, "a"),
        ({"a": "1001", "account_id": 1}, "b"),
        ({"a": "1001", "b": "10 02", "account_id": 1}, "b"),
        ({"a": "1001", "b": "1002@evil", "account_id": 1}, "b"),
        ({"a": "1" * 65, "b": "1002", "account_id": 1}, "a"),
        ({"a": "1001", "b": "1002", "account_id": 0}, "account_id"),
        ({"a": "1001", "b": "1002", "account_id": 1, "caller_id": ""}, "caller_id"),
        ({"a": "1001", "b": "1002", "account_id": 1, "record": True}, "record"),
        ({"a": "1001", "b": "1002"}, "account_id"),
    ],
)
async def test_a_bad_callback_is_refused_by_name(
    world: World, body: dict[str, Any], field: str
) -> None:
    answer = await callback(world, world.admin, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert world.calls.callbacks == []


async def test_a_callback_the_switch_refuses_is_409_with_the_reason(world: World) -> None:
    world.calls.outcome = CallbackOutcome(None, "NoAvailableRouter", "no gateway serves 999")
    answer = await callback(world, world.admin, {"a": "999", "b": "1", "account_id": world.c1})
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "call_refused"
    assert answer.json()["error"]["message"] == "NoAvailableRouter: no gateway serves 999"


# -- monitor and metrics -----------------------------------------------------------------------


async def test_the_monitor_is_for_admins_and_operators(world: World) -> None:
    for who in (world.admin, world.operator):
        answer = await world.get("/monitor", who)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["concurrent_calls"] == 4 and body["calls_per_second"] == 1.5
        assert body["registered_aors"] == 5 and body["cdr_pending"] == 1
        assert body["gateways"][0] == {
            "id": 3,
            "name": "CARRIER-A",
            "in_use": 2,
            "capacity": 30,
            "attempts": 50,
            "answered": 40,
            "asr": 80.0,
            "acd": 95.5,
            "prefixes": [
                {"prefix": "4420", "attempts": 30, "answered": 27, "asr": 90.0, "acd": 100.0},
                {"prefix": "44", "attempts": 20, "answered": 13, "asr": 65.0, "acd": None},
            ],
        }
        assert body["gateways"][1]["asr"] is None
    for who in (world.agent, world.customer):
        refused = await world.get("/monitor", who)
        assert refused.status_code == 403, refused.text
        assert "CARRIER" not in refused.text


_LABEL_TEXT = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    rf"(?:\{{(?P<labels>(?:{_LABEL_TEXT},?)*)\}})? "
    r"(?P<value>[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))$"
)
ESCAPE = re.compile(r"\\(.)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_exposition(text: str) -> dict[str, Any]:
    """A strict reading of the text format 0.0.4: every line a HELP, a TYPE or a sample; a
    TYPE once per family and before its samples; returns {name: {"type", "help", "samples":
    {labels: value}}} with label values unescaped."""
    assert text.endswith("\n")
    families: dict[str, Any] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP ") :].partition(" ")
            families.setdefault(name, {"samples": {}})["help"] = help_text
            continue
        if line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE ") :].partition(" ")
            assert kind in ("counter", "gauge", "summary", "histogram", "untyped"), line
            family = families.setdefault(name, {"samples": {}})
            assert "type" not in family and not family["samples"], f"late TYPE: {line}"
            family["type"], current = kind, name
            continue
        found = SAMPLE.match(line)
        assert found is not None, f"not a sample line: {line!r}"
        name = found["name"]
        assert name == current, f"{name} outside its family block"
        labels = tuple(
            (key, ESCAPE.sub(lambda m: "\n" if m[1] == "n" else m[1], value))
            for key, value in LABEL.findall(found["labels"] or "")
        )
        families[name]["samples"][labels] = float(found["value"])
    return families


def gateway_labels(gateway_id: int, name: str) -> tuple[tuple[str, str], ...]:
    return (("gateway_id", str(gateway_id)), ("gateway", name))


def test_the_exposition_text_has_the_monitor_figures() -> None:
    families = parse_exposition(render_metrics(FIGURES))
    assert families["softswitch_calls_concurrent"]["type"] == "gauge"
    assert families["softswitch_calls_concurrent"]["samples"] == {(): 4.0}
    assert families["softswitch_calls_answered_concurrent"]["samples"] == {(): 3.0}
    assert families["softswitch_calls_per_second"]["samples"] == {(): 1.5}
    assert families["softswitch_calls_total"]["type"] == "counter"
    assert families["softswitch_calls_total"]["samples"] == {(): 120.0}
    assert families["softswitch_calls_answered_total"]["samples"] == {(): 80.0}
    assert families["softswitch_registered_aors"]["samples"] == {(): 5.0}
    assert families["softswitch_registered_bindings_behind_nat"]["samples"] == {(): 2.0}
    assert families["softswitch_cdr_pending"]["samples"] == {(): 1.0}
    a, b = gateway_labels(3, "CARRIER-A"), gateway_labels(4, "CARRIER-B")
    assert families["softswitch_gateway_calls_concurrent"]["samples"] == {a: 2.0, b: 0.0}
    assert families["softswitch_gateway_capacity"]["samples"] == {a: 30.0}
    assert families["softswitch_gateway_asr_ratio"]["samples"] == {a: 0.8}
    assert families["softswitch_gateway_acd_seconds"]["samples"] == {a: 95.5}
    assert families["softswitch_gateway_window_attempts"]["samples"] == {a: 50.0, b: 0.0}
    a4420, a44 = (*a, ("prefix", "4420")), (*a, ("prefix", "44"))
    assert families["softswitch_gateway_prefix_window_attempts"]["samples"] == {
        a4420: 30.0,
        a44: 20.0,
    }
    assert families["softswitch_gateway_prefix_asr_ratio"]["samples"] == {a4420: 0.9, a44: 0.65}
    assert families["softswitch_gateway_prefix_acd_seconds"]["samples"] == {a4420: 100.0}
    assert all(family.get("help") for family in families.values())


def test_label_values_are_escaped() -> None:
    odd = 'a"b\\c\nd\\n'
    figures = dataclasses.replace(
        FIGURES, gateways=(GatewayFigures(9, odd, 1, None, 0, 0, None, None),)
    )
    text = render_metrics(figures)
    assert 'gateway="a\\"b\\\\c\\nd\\\\n"' in text
    families = parse_exposition(text)
    assert families["softswitch_gateway_calls_concurrent"]["samples"] == {
        gateway_labels(9, odd): 1.0
    }


async def api_key(world: World, who: dict[str, str]) -> dict[str, str]:
    made = await world.api.client.post(f"{V1}/api-keys", headers=who, json={"name": "prometheus"})
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']}"}


async def test_metrics_take_an_operators_api_key(world: World) -> None:
    client = world.api.client
    key = await api_key(world, world.operator)
    answer = await client.get("/metrics", headers=key)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == CONTENT_TYPE
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = parse_exposition(answer.text)
    assert families["softswitch_calls_concurrent"]["samples"] == {(): 4.0}

    assert (await client.get("/metrics")).status_code == 401
    assert (
        await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    ).status_code == 401
    for who in (world.agent, world.customer):
        refused = await client.get("/metrics", headers=await api_key(world, who))
        assert refused.status_code == 403, refused.text
    # /metrics lives at the root only
    assert (await client.get(f"{V1}/metrics", headers=key)).status_code == 404


# -- without a call engine ---------------------------------------------------------------------


@pytest.fixture
async def engineless(engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[Api]:
    """The app as ``create_app`` builds it without ``calls``."""
    api = CallsApi(engine, clock, None)
    await seed(api)
    await api.start()
    yield api
    await api.stop()


async def test_without_a_call_engine_the_routes_say_so_with_503(engineless: Api) -> None:
    api = engineless
    admin = await api.admin()
    client = api.client
    answers = [
        await client.get(f"{V1}/calls", headers=admin),
        await client.get(f"{V1}/calls/x", headers=admin),
        await client.delete(f"{V1}/calls/x", headers=admin),
        await client.post(
            f"{V1}/calls/callback", headers=admin, json={"a": "1", "b": "2", "account_id": 1}
        ),
        await client.get(f"{V1}/monitor", headers=admin),
        await client.get("/metrics", headers=admin),
    ]
    for answer in answers:
        assert answer.status_code == 503, (answer.request.url, answer.text)
        assert answer.json()["error"]["code"] == "unavailable"
        assert NO_ENGINE in answer.json()["error"]["message"]
    # authentication still comes first
    assert (await client.get(f"{V1}/calls")).status_code == 401


# -- the API shapes follow the views -----------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "view"),
    [
        (LiveCallOut, LiveCallView),
        (LegOut, LegView),
        (MonitorOut, MonitorFigures),
        (GatewayFiguresOut, GatewayFigures),
        (PrefixFiguresOut, PrefixFigures),
    ],
)
def test_each_api_shape_has_exactly_the_fields_of_its_view(model: Any, view: Any) -> None:
    assert list(model.model_fields) == [item.name for item in dataclasses.fields(view)]


# == end to end: the real switch, real calls ==================================================
# The switch runs in process (``start_server``) in the test's event loop, so nothing here may
# block it: SIPp runs as a subprocess waited for in a thread, the API is called with an async
# client. Each SIPp run is bounded by its call count (-m), its own global timeout and the wait.

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SIPP_TIMEOUT_S = 25
TRUNK_IP, CARRIER_IP = "127.0.0.2", "127.0.0.3"
E2E_ADMIN_PASSWORD = "calls-e2e-admin-1"
E2E_USER_PASSWORD = "calls-e2e-user-12"
CALLER = "5551000"

_CALLER_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- A customer trunk's call that never hangs up: it waits for the switch's BYE. -->
<scenario name="caller held until the switch hangs up">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
Max-Forwards: 70
From: <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:[caller]@[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=caller 1 1 IN IP[local_ip_type] [local_ip]
s=caller-offer
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
Max-Forwards: 70
From: <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
[routes]
Content-Length: 0

]]></send>
  <recv request="BYE" timeout="20000">
    <action><log message="bye-received [call_id]"/></action>
  </recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""


@dataclass
class Sipp:
    """One SIPp process (UDP); stopped by its PID if still running at the end of the test."""

    name: str
    process: subprocess.Popen[bytes]
    directory: Path

    @classmethod
    async def start(
        cls,
        name: str,
        workdir: Path,
        scenario: str,
        ip: str,
        port: int,
        *,
        remote: str | None = None,
        service: str | None = None,
        calls: int = 1,
    ) -> Sipp:
        directory = workdir / name
        directory.mkdir(parents=True)
        scenario_file = directory / "scenario.xml"
        scenario_file.write_text(scenario, encoding="ascii")
        command = [SIPP, *([remote] if remote else []), "-sf", str(scenario_file)]
        command += ["-t", "u1", "-i", ip, "-p", str(port), "-mi", ip, "-m", str(calls)]
        command += ["-timeout", f"{SIPP_TIMEOUT_S}s", "-timeout_error", "-nostdin"]
        command += ["-key", "caller", CALLER, *(["-s", service] if service else [])]
        command += ["-trace_msg", "-message_file", str(directory / "messages.log")]
        command += ["-trace_logs", "-log_file", str(directory / "actions.log")]
        command += ["-trace_err", "-error_file", str(directory / "errors.log")]
        with (directory / "stdout.log").open("wb") as stdout:
            process = subprocess.Popen(
                command, cwd=directory, stdout=stdout, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        sipp = cls(name, process, directory)
        if remote is None:  # a server: return once it listens
            for _ in range(250):
                if udp_bound(ip, port):
                    break
                assert process.poll() is None, f"{name}: SIPp exited\n{sipp.report()}"
                await asyncio.sleep(0.02)
            else:
                raise AssertionError(f"{name}: SIPp did not listen\n{sipp.report()}")
        return sipp

    async def finished(self) -> int:
        """SIPp's exit code (0: every call of the scenario passed), waited for in a thread."""
        try:
            return await asyncio.to_thread(self.process.wait, SIPP_TIMEOUT_S + 10)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.name}: SIPp did not stop\n{self.report()}") from None

    def logged(self, word: str) -> list[str]:
        """The Call-IDs of the scenario's ``<log message="WORD [call_id]"/>`` lines."""
        path = self.directory / "actions.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return [line.split()[1] for line in text.splitlines() if line.startswith(word)]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(5)

    def report(self) -> str:
        parts = []
        for name in ("errors.log", "stdout.log", "messages.log"):
            path = self.directory / name
            if path.exists():
                parts.append(f"--- {self.name} {name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


@dataclass
class Switch:
    """The running switch, its API as an admin, a customer account with its trunk on
    127.0.0.2, a carrier on 127.0.0.3 for callees 44…, and a customer login of another
    account."""

    server: Server
    client: httpx.AsyncClient
    admin: dict[str, str]
    account: dict[str, Any]
    carrier: dict[str, Any]
    carrier_port: int
    owner: dict[str, str]
    stranger: dict[str, str]
    workdir: Path
    processes: list[Sipp] = field(default_factory=list)

    @property
    def sip_target(self) -> str:
        return str(self.server.listening[0][1])

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.client.post(path, headers=self.admin, json=body)
        assert answer.status_code == 201, f"POST {path}: {answer.text}"
        created: dict[str, Any] = answer.json()
        return created

    async def sipp(self, name: str, scenario: str, ip: str, port: int, **kw: Any) -> Sipp:
        sipp = await Sipp.start(name, self.workdir, scenario, ip, port, **kw)
        self.processes.append(sipp)
        return sipp

    async def live(self, predicate: Any, what: str) -> list[dict[str, Any]]:
        """GET /calls as the admin until ``predicate(items)`` holds (bounded wait)."""
        items: list[dict[str, Any]] = []
        for _ in range(150):
            answer = await self.client.get(f"{V1}/calls", headers=self.admin)
            assert answer.status_code == 200, answer.text
            items = answer.json()["items"]
            if predicate(items):
                return items
            await asyncio.sleep(0.1)
        raise AssertionError(f"{what}: live calls {items}\n" + self.report())

    async def cdr(self, call_id: str) -> dict[str, Any]:
        """The CDR of caller Call-ID ``call_id`` (waiting, bounded, for it to be written)."""
        now = datetime.now(UTC)
        window = {
            "start": (now - timedelta(minutes=5)).isoformat(),
            "end": (now + timedelta(minutes=5)).isoformat(),
        }
        items: list[dict[str, Any]] = []
        for _ in range(100):
            answer = await self.client.get(f"{V1}/cdrs", headers=self.admin, params=window)
            assert answer.status_code == 200, answer.text
            items = answer.json()["items"]
            for cdr in items:
                if cdr["call_id"] == call_id:
                    return dict(cdr)
            await asyncio.sleep(0.1)
        raise AssertionError(f"no CDR of {call_id}: {items}")

    def report(self) -> str:
        return "\n".join(sipp.report() for sipp in self.processes)


async def _login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    answer = await client.post(
        f"{V1}/auth/login", json={"username": username, "password": password}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
async def switch(start_server: Any, free_port_for: Any, tmp_path: Path) -> AsyncIterator[Switch]:
    http = free_port_for("127.0.0.1")
    server = await start_server(http_listen=f"127.0.0.1:{http}", admin_password=E2E_ADMIN_PASSWORD)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{http}", timeout=10.0)
    admin = await _login(client, ADMIN_USERNAME, E2E_ADMIN_PASSWORD)
    bed = Switch(server, client, admin, {}, {}, 0, {}, {}, tmp_path / "sipp")
    try:
        bed.account = await bed.create(
            "/api/v1/accounts",
            {"code": "TRUNKCO", "currency": "USD", "billing_mode": "postpaid",
             "credit_limit": "1000000"},
        )  # fmt: skip
        other = await bed.create("/api/v1/accounts", {"code": "OTHERCO", "currency": "USD"})
        await bed.create(
            "/api/v1/mapping-gateways",
            {"name": "TRUNK", "account_id": bed.account["id"], "source_ips": [f"{TRUNK_IP}/32"]},
        )
        bed.carrier_port = free_port_for(CARRIER_IP)
        bed.carrier = await bed.create(
            "/api/v1/routing-gateways",
            {"name": "CARRIER", "host": CARRIER_IP, "port": bed.carrier_port,
             "prefixes": ["44"]},
        )  # fmt: skip
        for username, account in (("owner", bed.account), ("stranger", other)):
            await bed.create(
                "/api/v1/users",
                {"username": username, "password": E2E_USER_PASSWORD, "role": "customer",
                 "account_id": account["id"]},
            )  # fmt: skip
        bed.owner = await _login(client, "owner", E2E_USER_PASSWORD)
        bed.stranger = await _login(client, "stranger", E2E_USER_PASSWORD)
        yield bed
    finally:
        for sipp in bed.processes:
            sipp.stop()
        await client.aclose()


async def test_a_real_call_is_listed_scoped_counted_exported_and_hung_up(
    switch: Switch, free_port_for: Any
) -> None:
    client = switch.client
    carrier = await switch.sipp("carrier", HOLDING_CARRIER, CARRIER_IP, switch.carrier_port)
    caller = await switch.sipp(
        "caller", _CALLER_SCENARIO, TRUNK_IP, free_port_for(TRUNK_IP),
        remote=switch.sip_target, service="442071234567",
    )  # fmt: skip
    caller_call_id = f"1-{caller.process.pid}@{TRUNK_IP}"  # SIPp's [call_id] of its 1st call

    (call,) = await switch.live(
        lambda items: len(items) == 1 and items[0]["state"] == "answered", "the call answered"
    )
    # both legs, the caller's with its own Call-ID, the carrier's towards 127.0.0.3
    assert call["account_id"] == switch.account["id"]
    assert call["routing_gateway_id"] == switch.carrier["id"]
    assert (call["caller"], call["callee"]) == (CALLER, "442071234567")
    assert call["answer_time"] is not None and call["source_ip"] == TRUNK_IP
    legs = {leg["side"]: leg for leg in call["legs"]}
    assert set(legs) == {"caller", "callee"}, call["legs"]
    assert legs["caller"]["call_id"] == caller_call_id
    assert legs["callee"]["call_id"] not in ("", caller_call_id)
    assert CARRIER_IP in legs["callee"]["peer"] and TRUNK_IP in legs["caller"]["peer"]
    assert legs["caller"]["state"] == legs["callee"]["state"] == "confirmed"
    one = await client.get(f"{V1}/calls/{call['id']}", headers=switch.admin)
    assert one.status_code == 200 and one.json()["id"] == call["id"], one.text

    # scope: the account's customer sees it, another customer sees nothing of it
    owned = await client.get(f"{V1}/calls", headers=switch.owner)
    assert [item["id"] for item in owned.json()["items"]] == [call["id"]]
    hidden = await client.get(f"{V1}/calls", headers=switch.stranger)
    assert hidden.status_code == 200 and hidden.json() == {"items": [], "total": 0, "limit": 1000}
    for method in ("GET", "DELETE"):
        refused = await client.request(method, f"{V1}/calls/{call['id']}", headers=switch.stranger)
        assert refused.status_code == 404, refused.text

    # the monitor and /metrics count it
    monitor = await client.get(f"{V1}/monitor", headers=switch.admin)
    assert monitor.status_code == 200, monitor.text
    figures = monitor.json()
    assert (figures["concurrent_calls"], figures["answered_calls"]) == (1, 1)
    assert figures["calls_total"] >= 1 and figures["answered_total"] >= 1
    (gateway,) = figures["gateways"]
    assert (gateway["id"], gateway["name"], gateway["in_use"]) == (
        switch.carrier["id"], "CARRIER", 1
    )  # fmt: skip
    made = await client.post(f"{V1}/api-keys", headers=switch.admin, json={"name": "prom"})
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    scraped = await client.get("/metrics", headers=key)
    assert scraped.status_code == 200, scraped.text
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = parse_exposition(scraped.text)
    assert families["softswitch_calls_concurrent"]["samples"] == {(): 1.0}
    labels = gateway_labels(switch.carrier["id"], "CARRIER")
    assert families["softswitch_gateway_calls_concurrent"]["samples"] == {labels: 1.0}

    # the operator hangs it up: both sides get a BYE, the call is gone, the CDR says why
    hangup = await client.delete(f"{V1}/calls/{call['id']}", headers=switch.admin)
    assert hangup.status_code == 204, hangup.text
    assert await caller.finished() == 0, switch.report()
    assert await carrier.finished() == 0, switch.report()
    assert caller.logged("bye-received") == [caller_call_id]
    assert carrier.logged("bye-received") == [legs["callee"]["call_id"]]
    await switch.live(lambda items: items == [], "the call gone")
    gone = await client.get(f"{V1}/calls/{call['id']}", headers=switch.admin)
    assert gone.status_code == 404
    cdr = await switch.cdr(caller_call_id)
    assert cdr["termination_reason"] == "OperatorHangup", cdr
    assert cdr["call_id_out"] == legs["callee"]["call_id"]
    assert cdr["hold_time_ms"] > 0
    after = (await client.get(f"{V1}/monitor", headers=switch.admin)).json()
    assert after["concurrent_calls"] == 0 and after["gateways"][0]["in_use"] == 0
    # the finished call counts into the gateway's and its prefix's ASR/ACD
    (gateway,) = after["gateways"]
    assert (gateway["attempts"], gateway["answered"], gateway["asr"]) == (1, 1, 100.0)
    (by_prefix,) = gateway["prefixes"]
    assert (by_prefix["prefix"], by_prefix["attempts"], by_prefix["answered"]) == ("44", 1, 1)
    assert by_prefix["acd"] is not None and by_prefix["acd"] > 0


async def test_a_callback_calls_a_then_b_and_bridges_them(switch: Switch) -> None:
    client = switch.client
    carrier = await switch.sipp(
        "carrier", HOLDING_CARRIER, CARRIER_IP, switch.carrier_port, calls=2
    )
    # the account's customer starts it on its own account (the default for a customer)
    started = await client.post(
        f"{V1}/calls/callback", headers=switch.owner, json={"a": "4411111", "b": "4422222"}
    )
    assert started.status_code == 202, started.text
    call_id = started.json()["call_id"]
    assert started.headers["location"].endswith(f"/calls/{quote(call_id, safe='')}")

    def bridged(items: list[dict[str, Any]]) -> bool:
        return len(items) == 1 and items[0]["state"] == "answered" and len(items[0]["legs"]) == 2

    (call,) = await switch.live(bridged, "the callback bridged")
    assert call["id"] == call_id and call["account_id"] == switch.account["id"]
    assert call["callee"] == "4422222"
    legs = {leg["side"]: leg for leg in call["legs"]}
    assert CARRIER_IP in legs["caller"]["peer"] and CARRIER_IP in legs["callee"]["peer"]

    # not on somebody else's account
    refused = await client.post(
        f"{V1}/calls/callback",
        headers=switch.stranger,
        json={"a": "4411111", "b": "4422222", "account_id": switch.account["id"]},
    )
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "account_id"

    hangup = await client.delete(f"{V1}/calls/{call_id}", headers=switch.owner)
    assert hangup.status_code == 204, hangup.text
    assert await carrier.finished() == 0, switch.report()
    assert sorted(carrier.logged("bye-received")) == sorted(
        [legs["caller"]["call_id"], legs["callee"]["call_id"]]
    )
    await switch.live(lambda items: items == [], "the callback gone")
