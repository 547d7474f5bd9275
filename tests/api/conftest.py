"""API fixtures: each case gets a freshly migrated database of its own, on SQLite and on
PostgreSQL, an admin (``admin`` / ADMIN_PASSWORD), a customer login (``cust`` / USER_PASSWORD)
tied to account ``C1``, a settable clock, a cheap argon2 (logins in microseconds instead of
the production cost), and the app serving on 127.0.0.1 (see ``api_support``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from api_support import Api, FakeClock, seed
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.database import database_url as database_url
from fixtures.database import engine as engine
from fixtures.database import postgres_url as postgres_url


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
