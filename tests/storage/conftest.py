"""Storage fixtures: every test runs on SQLite and on PostgreSQL, each on a database of its own.

``database_url`` is parametrised over both engines (issue 3: "the same migrations, the same
tests"); a test that is inherently about one engine (SQLite PRAGMAs) narrows it with
``@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)``. The PostgreSQL server
is started once per session, lazily, only when a PostgreSQL case actually runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fixtures.postgres import ENGINES, empty_database
from fixtures.postgres import postgres_url as postgres_url  # the session-scoped server
from softswitch.storage import create_engine, sessions, upgrade_engine


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for one test, on each engine in turn."""
    with empty_database(request.param, request, tmp_path) as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a freshly migrated database."""
    engine = create_engine(database_url)
    await upgrade_engine(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with sessions(engine)() as session:
        yield session
