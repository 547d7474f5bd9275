"""Snapshot fixtures: a freshly migrated database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from fixtures.database import database_url as database_url
from fixtures.database import engine as engine
from fixtures.database import postgres_url as postgres_url
