"""API fixtures: each case gets a freshly migrated database of its own, on SQLite and on
PostgreSQL, an admin (``admin`` / ADMIN_PASSWORD), a customer login (``cust`` / USER_PASSWORD)
tied to account ``C1``, a settable clock, a cheap argon2 (logins in microseconds instead of
the production cost), and the app serving on 127.0.0.1 (see ``api_support``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from api_support import Api, FakeClock, seed
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.postgres import ENGINES, empty_database
from fixtures.postgres import postgres_url as postgres_url  # the session-scoped server
from softswitch.storage import create_engine, upgrade_engine


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for one test, on each engine in turn."""
    with empty_database(request.param, request, tmp_path) as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await upgrade_engine(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def api(engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[Api]:
    """The app, seeded and serving."""
    running = Api(engine, clock)
    await seed(running)
    await running.start()
    yield running
    await running.stop()
