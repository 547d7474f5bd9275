"""Writing and reading persisted registrations (``storage.models.registrations``).

The registrar service hands its binding changes over as :class:`StoredBinding` values (wall
clock expiry, plain fields) so this layer knows nothing of SIP; at start it loads the live ones
back into its in-memory table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from softswitch.storage.models import RegistrationRow

__all__ = ["RegistrationRepo", "StoredBinding", "stored_binding"]


@dataclass(frozen=True, slots=True)
class StoredBinding:
    """One binding as stored."""

    aor: str
    contact: str
    source_transport: str
    source_host: str
    source_port: int
    behind_nat: bool
    call_id: str
    cseq: int
    expires: int
    expires_at: datetime
    registered_at: datetime
    phone_id: int | None = None
    routing_gateway_id: int | None = None
    user_agent: str = ""
    q: str = "1"


_FIELDS = tuple(StoredBinding.__dataclass_fields__)


def stored_binding(row: RegistrationRow) -> StoredBinding:
    """The stored value of a row (for repositories and services that query the table)."""
    return StoredBinding(**{name: getattr(row, name) for name in _FIELDS})


class RegistrationRepo:
    """The ``registrations`` table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def save(
        self, upserts: Iterable[StoredBinding], removals: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Insert or replace ``upserts`` and delete the (aor, contact) pairs of ``removals``,
        in one transaction (a REGISTER's changes land together)."""
        upserts, removals = list(upserts), list(removals)
        keys = [(b.aor, b.contact) for b in upserts] + removals
        async with self._sessions.begin() as session:
            if keys:
                await session.execute(
                    delete(RegistrationRow).where(
                        tuple_(RegistrationRow.aor, RegistrationRow.contact).in_(keys)
                    )
                )
            session.add_all(
                RegistrationRow(**{name: getattr(b, name) for name in _FIELDS}) for b in upserts
            )

    async def live(self, now: datetime) -> list[StoredBinding]:
        """Every binding that has not expired at ``now`` (what a restart loads back)."""
        query = select(RegistrationRow).where(RegistrationRow.expires_at > now)
        async with self._sessions() as session:
            rows = (await session.scalars(query.order_by(RegistrationRow.id))).all()
        return [stored_binding(row) for row in rows]

    async def purge_expired(self, now: datetime) -> int:
        """Delete bindings expired at ``now``; how many went."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(RegistrationRow).where(RegistrationRow.expires_at <= now)
            )
        return int(getattr(result, "rowcount", 0) or 0)
