"""Storage: SQLAlchemy models, exact column types, engines and Alembic migrations (layer L3).

Nothing here is created at import time; the composition root calls ``create_engine`` and
``upgrade_engine`` and hands sessions to the services.
"""

from softswitch.storage.db import DEFAULT_DB_FILE, create_engine, default_url, sessions
from softswitch.storage.migrate import current_revision, head_revision, upgrade, upgrade_engine
from softswitch.storage.types import Money, UtcDateTime, from_micros, to_micros

__all__ = [
    "DEFAULT_DB_FILE",
    "Money",
    "UtcDateTime",
    "create_engine",
    "current_revision",
    "default_url",
    "from_micros",
    "head_revision",
    "sessions",
    "to_micros",
    "upgrade",
    "upgrade_engine",
]
