"""The API test harness: the app served by uvicorn on 127.0.0.1 (a free port) inside the
test's event loop, driven over real HTTP with httpx.

A module of its own (not conftest) so the test modules can import its names: ``conftest`` is
ambiguous with several test directories on the path.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

from softswitch.api import HttpServer, create_app, serve_http
from softswitch.calls.control import (
    CallbackOutcome,
    CallbackRequest,
    LiveCallView,
    MonitorFigures,
)
from softswitch.manage.reports import DailyFile, ReportKind
from softswitch.operators import ADMIN_USERNAME, OperatorService, PasswordHashing, Role
from softswitch.params import ParamStore, load_catalog
from softswitch.security import Guard, GuardControl, GuardSettings, SecurityEvent
from softswitch.storage import sessions
from softswitch.storage.models import Account

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
ADMIN_PASSWORD = "admin-password"
USER_PASSWORD = "user-password"
CUSTOMER = "cust"


class FakeClock:
    """A settable clock returning aware UTC datetimes."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class IdleCalls:
    """The call surface of a switch with no live calls: the API tests that are not about
    calls (isolation walks, schemathesis) see every route answer as on an idle switch.
    ``tests/api/test_calls_routes.py`` drives the routes with calls, and a real engine."""

    def calls(self) -> list[LiveCallView]:
        return []

    def call(self, call_id: str) -> LiveCallView | None:
        return None

    def hangup(self, call_id: str) -> bool:
        return False

    def callback(self, request: CallbackRequest) -> CallbackOutcome:
        return CallbackOutcome(None, "NoAvailableRouter", "an idle test switch routes nothing")

    def monitor(self) -> MonitorFigures:
        return MonitorFigures(T0, 0, 0, 0.0, 10, 0, 0, 0, 0, 0, 0, ())


class IdleReports:
    """The daily report job of a switch that has written no report yet: the report routes
    answer as on a real switch (schemathesis must see no 5xx from them);
    ``tests/api/test_api_reports.py`` drives them with a real job."""

    zone = ZoneInfo("UTC")

    async def run_day(self, day: date) -> list[DailyFile]:
        return []

    async def files(self) -> list[DailyFile]:
        return []

    def file(self, day: date, kind: ReportKind) -> Path | None:
        return None


class Api:
    """One running app on one database, plus what a test needs to drive and inspect it."""

    def __init__(self, engine: AsyncEngine, clock: FakeClock) -> None:
        self.engine = engine
        self.clock = clock
        self.params = ParamStore(load_catalog())
        self.operators = OperatorService(
            sessions(engine), self.params, clock, hashing=PasswordHashing(CHEAP)
        )
        self.server: HttpServer | None = None
        self.client = httpx.AsyncClient(timeout=10.0)
        # A real guard on a settable monotonic clock: the security routes answer as on a
        # running switch (tests/api/test_api_security_bans.py drives it).
        self.mono = 1000.0
        self.events: list[SecurityEvent] = []
        self.guard = Guard(GuardSettings(), self.events.append)

    async def start(self) -> None:
        app = create_app(
            engine=self.engine,
            params=self.params,
            operators=self.operators,
            clock=self.clock,
            calls=IdleCalls(),
            reports=IdleReports(),
            security=GuardControl(self.guard, lambda: self.mono, self.clock),
        )
        self.server = await serve_http(app, "127.0.0.1", 0)
        self.client = httpx.AsyncClient(base_url=self.server.url, timeout=10.0)

    async def stop(self) -> None:
        await self.client.aclose()
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def login(self, username: str, password: str) -> dict[str, str]:
        """Authorization headers of a fresh login (asserting it succeeds)."""
        answer = await self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    async def admin(self) -> dict[str, str]:
        return await self.login(ADMIN_USERNAME, ADMIN_PASSWORD)


async def seed(api: Api) -> None:
    """The admin and a customer login on account C1."""
    await api.operators.ensure_admin(ADMIN_PASSWORD)
    admin = await api.operators.get_user(ADMIN_USERNAME)
    assert admin is not None
    async with sessions(api.engine).begin() as session:
        account = Account(code="C1", currency="USD")
        session.add(account)
        await session.flush()
        account_id = account.id
    await api.operators.create_user(
        admin.actor, CUSTOMER, USER_PASSWORD, Role.CUSTOMER, account_id=account_id
    )
