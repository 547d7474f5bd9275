"""Storage fixtures: every test runs on SQLite and on PostgreSQL, each on a database of its own.

``database_url`` is parametrised over both engines (issue 3: "the same migrations, the same
tests"); a test that is inherently about one engine (SQLite PRAGMAs) narrows it with
``@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)``. The PostgreSQL server
is started once per session, lazily, only when a PostgreSQL case actually runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fixtures.database import database_url as database_url
from fixtures.database import engine as engine
from fixtures.database import postgres_url as postgres_url
from softswitch.storage import sessions


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with sessions(engine)() as session:
        yield session
